"""The local provider: no network, FFmpeg-made results, asynchronous like a real provider.

submit() records the task under HOME/local-provider/<task_id>/ (request.json, and an index entry
by generation id *before* the worker starts, so a retry finds the task instead of making a second),
then starts a detached `python -m clip_pipeline.providers.local_worker <task folder>` and returns.
get() reads the worker's state.json. Durations are whole seconds (the shortest covering the clip),
so results come back longer than the clip, like a real provider's.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import clip_pipeline
from clip_pipeline.providers.base import (
    Capabilities,
    GenerationInput,
    PermanentProviderError,
    TaskLimits,
    TaskState,
    download_to,
)
from clip_pipeline.settings import Settings

LOCAL_FPS = 24


def local_capabilities() -> Capabilities:
    with_input = TaskLimits(durations_s=list(range(1, 31)), min_input_ms=1000, max_input_ms=30_000)
    return Capabilities(
        task_types=["background_replace", "scene_generate", "lip_sync"],
        durations_s=list(range(1, 31)),
        min_input_ms=0,
        max_input_ms=30_000,
        max_input_bytes=500 * 1024 * 1024,
        max_resolution="1920x1080",
        output_fps=LOCAL_FPS,
        output_has_audio=True,
        typical_seconds=5,
        max_concurrency=2,
        can_find_tasks=True,
        task_limits={"background_replace": with_input, "lip_sync": with_input},
    )


def write_json_atomic(path: Path, payload: dict) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(payload))
    partial.replace(path)


class LocalProvider:
    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.capabilities = local_capabilities()
        self.root = settings.local_provider_root or settings.home / "local-provider"
        self._by_generation = self.root / "by-generation"

    def submit(self, inp: GenerationInput) -> str:
        existing = self.find_task(inp.generation_id)
        if existing:
            return existing
        self.capabilities.limits_for(inp.task_type)
        if inp.task_type == "background_replace" and not inp.video_url:
            raise PermanentProviderError("local: background_replace needs a video_url")
        if inp.task_type == "lip_sync" and not inp.audio_url:
            raise PermanentProviderError("local: lip_sync needs an audio_url")
        seconds = int(inp.parameters.get("duration_s") or math.ceil(inp.duration_ms / 1000))
        if seconds not in self.capabilities.durations_s:
            raise PermanentProviderError(
                f"local: duration {seconds} s is not offered; choose 1-{self.capabilities.durations_s[-1]} s"
            )
        task_id = f"local-{uuid.uuid4().hex[:16]}"
        task_dir = self.root / task_id
        task_dir.mkdir(parents=True)
        request = {**inp.model_dump(), "task_id": task_id, "duration_s": seconds,
                   "size": inp.parameters.get("size") or self.settings.local_provider_size, "fps": LOCAL_FPS}
        write_json_atomic(task_dir / "request.json", request)
        write_json_atomic(task_dir / "state.json", TaskState(task_id=task_id, status="queued").model_dump())
        self._by_generation.mkdir(parents=True, exist_ok=True)
        (self._by_generation / _safe(inp.generation_id)).write_text(task_id)
        self._start_worker(task_dir)
        return task_id

    def _start_worker(self, task_dir: Path) -> None:
        package_root = str(Path(clip_pipeline.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        with (task_dir / "worker.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "clip_pipeline.providers.local_worker", str(task_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
            )
        (task_dir / "worker.pid").write_text(str(process.pid))

    def find_task(self, generation_id: str) -> str | None:
        entry = self._by_generation / _safe(generation_id)
        return entry.read_text().strip() if entry.is_file() else None

    def _task_dir(self, task_id: str) -> Path:
        task_dir = self.root / _safe(task_id)
        if not (task_dir / "state.json").is_file():
            raise PermanentProviderError(f"local: no task {task_id}")
        return task_dir

    def get(self, task_id: str) -> TaskState:
        return TaskState.model_validate_json((self._task_dir(task_id) / "state.json").read_text())

    def cancel(self, task_id: str) -> None:
        task_dir = self._task_dir(task_id)
        if self.get(task_id).finished:
            return
        (task_dir / "cancel").touch()
        pid_file = task_dir / "worker.pid"
        if pid_file.is_file():
            try:  # the worker leads its own session: end it and the ffmpeg it started
                os.killpg(int(pid_file.read_text()), signal.SIGTERM)
            except ProcessLookupError:
                pass
        write_json_atomic(task_dir / "state.json",
                          TaskState(task_id=task_id, status="canceled", error="canceled by request").model_dump())

    def download(self, url: str, dest: Path) -> Path:
        return download_to(url, dest, provider=self.name)


def _safe(name: str) -> str:
    """A file name for an id (ids come from us, but never let one escape the folder)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
