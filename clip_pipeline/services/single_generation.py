"""One generation end to end, outside the pipeline (the `generate` command): upload the inputs through
the storage layer, submit to the provider, poll, download at once, fit to the exact duration.

With local storage the inputs are served over this call's own signed URLs (a file server on a free
loopback port, or CLIP_PIPELINE_PUBLIC_BASE_URL when set) for as long as the call runs.
"""

from __future__ import annotations

import mimetypes
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from clip_pipeline.media.ffmpeg import run_ffmpeg
from clip_pipeline.providers import get_provider
from clip_pipeline.providers.base import (
    GenerationInput,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
    TaskState,
    TaskType,
)
from clip_pipeline.providers.planning import plan_generation
from clip_pipeline.settings import Settings

INPUT_URL_TTL = timedelta(hours=2)
GIVE_UP_AFTER_S = 3600.0


@dataclass(frozen=True)
class GenerateResult:
    output_path: str
    duration_ms: int
    provider_duration_ms: int | None
    task_id: str
    adjustment: str
    credits: int


def generate_once(
    settings: Settings,
    *,
    provider_name: str,
    task_type: TaskType,
    duration_ms: int,
    out: Path,
    video: Path | None = None,
    audio: Path | None = None,
    image: Path | None = None,
    prompt: str | None = None,
    model: str | None = None,
    poll_interval_s: float = 2.0,
    on_progress: Callable[[TaskState], None] = lambda state: None,
) -> GenerateResult:
    from clip_pipeline.media.fit import fit_to_duration
    from clip_pipeline.media.options import MediaOptions

    for name, path in (("video", video), ("audio", audio), ("image", image)):
        if path is not None and not Path(path).is_file():
            raise PermanentProviderError(f"--{name} {path}: no such file")
    provider = get_provider(provider_name, settings)
    plan = plan_generation(provider.capabilities, duration_ms, task_type)
    if plan.split:
        raise PermanentProviderError(
            f"{provider_name} takes at most {plan.pieces[0].length_ms} ms per {task_type} piece; "
            f"generate makes one piece: pass --duration-ms up to that, or run the clip through the pipeline"
        )
    piece = plan.pieces[0]
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="generate-", dir=settings.temp_dir) as work, \
            _serving_storage(settings) as served_settings:
        work_dir = Path(work)
        if plan.padding:
            video = _pad(video, piece.input_ms, work_dir / "padded-video.mp4") if video else None
            audio = _pad(audio, piece.input_ms, work_dir / "padded-audio.m4a") if audio else None
        urls = _upload_inputs(served_settings, {"video": video, "audio": audio or video, "image": image})
        generation_id = f"cli-{uuid.uuid4().hex[:12]}"
        inp = GenerationInput(
            generation_id=generation_id, task_type=task_type, model=model or provider_name, prompt=prompt,
            video_url=urls.get("video"), audio_url=urls.get("audio") if task_type != "background_replace" else None,
            image_url=urls.get("image"), duration_ms=piece.input_ms,
        )
        task_id = provider.submit(inp)
        state = _wait(provider, task_id, poll_interval_s, on_progress)
        if state.status != "succeeded":
            raise ProviderError(f"{provider_name} task {task_id} {state.status}: {state.error or 'no reason given'}")
        ai_video = provider.download(state.output_urls[0], work_dir / "ai-result.mp4")
        fitted = fit_to_duration(ai_video, audio or video, duration_ms, Path(out),
                                 options=MediaOptions.from_settings(settings))
    return GenerateResult(
        output_path=str(fitted.output_path),
        duration_ms=fitted.duration_ms,
        provider_duration_ms=state.duration_ms if state.duration_ms is not None else fitted.source_duration_ms,
        task_id=task_id,
        adjustment=fitted.adjustment,
        credits=state.credits,
    )


def _wait(provider, task_id: str, interval_s: float, on_progress) -> TaskState:
    deadline = time.monotonic() + GIVE_UP_AFTER_S
    while True:
        try:
            state = provider.get(task_id)
        except RetryableProviderError:
            state = None  # a busy provider does not fail the generation; ask again next round
        if state is not None:
            on_progress(state)
            if state.finished:
                return state
        if time.monotonic() > deadline:
            raise ProviderError(f"{provider.name} task {task_id} did not finish within {GIVE_UP_AFTER_S:g} s")
        time.sleep(interval_s)


@contextmanager
def _serving_storage(settings: Settings) -> Iterator[Settings]:
    """Settings whose storage URLs work during the call: local storage gets its own file server."""
    if settings.storage_backend != "local" or settings.public_base_url:
        yield settings
        return
    from clip_pipeline.storage.file_server import start_file_server

    with socket.socket() as probe:
        probe.bind((settings.file_server_host, 0))
        port = probe.getsockname()[1]
    served = settings.model_copy(update={"file_server_port": port})
    server = start_file_server(served, port=port)
    try:
        yield served
    finally:
        server.stop()


def _upload_inputs(settings: Settings, files: dict[str, Path | None]) -> dict[str, str]:
    from clip_pipeline.storage import get_store

    store = get_store(settings, settings.exports_bucket)
    batch = uuid.uuid4().hex[:12]
    urls = {}
    for kind, path in files.items():
        if path is None:
            continue
        key = f"generate-inputs/{batch}/{kind}{Path(path).suffix}"
        content_type = mimetypes.guess_type(Path(path).name)[0] or "application/octet-stream"
        store.put_file(key, Path(path), content_type=content_type)
        urls[kind] = store.url(key, INPUT_URL_TTL)
    return urls


def _pad(path: Path, length_ms: int, out: Path) -> Path:
    """PATH held on its last frame (video) and followed by silence (audio) up to LENGTH_MS."""
    seconds = f"{length_ms / 1000:.3f}"
    video_filters = ["-vf", f"tpad=stop_mode=clone:stop_duration={seconds}"] if out.suffix == ".mp4" else ["-vn"]
    run_ffmpeg(["-i", str(path), *video_filters, "-af", "apad", "-t", seconds, "-y", str(out)],
               timeout_s=300, what=f"padding {Path(path).name} to {length_ms} ms")
    return out
