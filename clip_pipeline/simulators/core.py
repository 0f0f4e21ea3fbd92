"""What the three simulators share: fault knobs, a task table with a render worker, file serving
(with truncation faults) and running a FastAPI app on loopback in a thread or in the foreground."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from clip_pipeline.media.probe import probe
from clip_pipeline.providers.local_render import RenderSpec, render_task

FAULT_ENV_PREFIX = "CLIP_PIPELINE_SIM_"


@dataclass
class Faults:
    """Fault injection. Rates are probabilities per request; `next_*` counters force the next N.

    Environment: CLIP_PIPELINE_SIM_RATE_429, _RATE_5XX, _FAIL_RATE, _TRUNCATE_RATE, _LATENCY_S.
    """

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    fail_rate: float = 0.0  # tasks that end failed
    truncate_rate: float = 0.0  # downloads cut short (Content-Length kept)
    latency_s: float = 0.0  # added to every API answer
    next_429: int = 0
    next_5xx: int = 0
    next_fail: int = 0
    next_truncate: int = 0
    # create the task, then answer 5xx as if the response were lost on the way back
    next_lost_create: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_env(cls, **overrides: Any) -> "Faults":
        values = {}
        for name in ("rate_429", "rate_5xx", "fail_rate", "truncate_rate", "latency_s"):
            raw = os.environ.get(FAULT_ENV_PREFIX + name.upper())
            if raw:
                values[name] = float(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def take(self, counter: str, rate: float) -> bool:
        """Whether this request gets the fault: a pending forced one first, else by rate."""
        with self._lock:
            pending = getattr(self, counter)
            if pending > 0:
                setattr(self, counter, pending - 1)
                return True
        return rate > 0 and random.random() < rate


@dataclass
class SimTask:
    id: str
    kind: str
    body: dict
    created_at: float = field(default_factory=time.time)
    status: str = "queued"  # queued | running | succeeded | failed | canceled
    progress: float = 0.0
    output: Path | None = None
    frames: int | None = None
    fps: int = 24
    error: str | None = None
    error_code: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def output_seconds(self) -> float | None:
        return self.frames / self.fps if self.frames else None


# decides the result from the fetched inputs: (spec, task type) or raises ValueError for a failure
Planner = Callable[[SimTask, dict[str, Path]], tuple[RenderSpec, str]]


class SimulatorCore:
    def __init__(self, name: str, work_dir: Path, *, faults: Faults | None = None, size: str = "640x360",
                 min_task_s: float = 0.3, concurrency: int = 2) -> None:
        self.name = name
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.faults = faults or Faults()
        self.size = size
        self.min_task_s = min_task_s  # a task stays queued/running at least this long (observable states)
        self.concurrency = concurrency
        self.tasks: dict[str, SimTask] = {}
        self.create_requests = 0
        self.on_change: Callable[[SimTask], None] | None = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"{name}-render")

    # --- tasks ---------------------------------------------------------------------------------
    def add_task(self, kind: str, body: dict, inputs: dict[str, str | bytes], plan: Planner, *,
                 task_id: str | None = None, **extra: Any) -> SimTask:
        task = SimTask(id=task_id or str(uuid.uuid4()), kind=kind, body=body, extra=extra)
        with self._lock:
            self.tasks[task.id] = task
        self._pool.submit(self._run, task, inputs, plan)
        return task

    def running_count(self) -> int:
        return sum(1 for t in self.tasks.values() if t.status == "running")

    def _set(self, task: SimTask, **changes: Any) -> None:
        if task.status == "canceled":
            return
        for key, value in changes.items():
            setattr(task, key, value)
        if self.on_change is not None:
            self.on_change(task)

    def _run(self, task: SimTask, inputs: dict[str, str | bytes], plan: Planner) -> None:
        if task.status == "canceled":
            return
        started = time.monotonic()
        self._set(task, status="running", progress=0.1)
        task_dir = self.work_dir / task.id
        task_dir.mkdir(parents=True, exist_ok=True)
        try:
            fetched = {kind: fetch_input(source, task_dir / f"input-{kind}") for kind, source in inputs.items()}
            self._set(task, progress=0.4)
            spec, task_type = plan(task, fetched)
            if self.faults.take("next_fail", self.faults.fail_rate):
                raise ValueError("simulated generation failure")
            out = render_task(task_type, task_dir / "output.mp4", spec, prompt=task.body.get("prompt")
                              or task.body.get("promptText"), **fetched)
            remaining = self.min_task_s - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)  # the simulated provider takes at least this long
            self._set(task, status="succeeded", progress=1.0, output=out, frames=spec.frames, fps=spec.fps)
        except Exception as exc:  # a failed task records why, as the real APIs do
            self._set(task, status="failed", progress=1.0, error=str(exc))

    def cancel(self, task: SimTask) -> None:
        if task.status in ("queued", "running"):
            self._set(task, status="canceled")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- HTTP helpers ----------------------------------------------------------------------------
    def file_url(self, base_url: str, task: SimTask) -> str:
        return f"{base_url.rstrip('/')}/files/{task.id}.mp4"

    def install_common_routes(self, app: FastAPI) -> None:
        @app.middleware("http")
        async def add_latency(request: Request, call_next):
            if self.faults.latency_s:
                await asyncio.sleep(self.faults.latency_s)
            return await call_next(request)

        @app.get("/files/{name}")
        def serve_file(name: str) -> Response:
            task = self.tasks.get(name.removesuffix(".mp4"))
            if task is None or task.output is None:
                return Response(status_code=404, content=b"not found")
            data = task.output.read_bytes()
            if self.faults.take("next_truncate", self.faults.truncate_rate):
                return Response(content=data[: len(data) // 2], media_type="video/mp4",
                                headers={"content-length": str(len(data))})
            return Response(content=data, media_type="video/mp4")


def fetch_input(source: str | bytes, stem: Path) -> Path:
    """Save an input (bytes, a data: URI, an http(s) URL or a local path) next to the task."""
    if isinstance(source, bytes):
        path = stem.with_suffix(".bin")
        path.write_bytes(source)
        return path
    if source.startswith("data:"):
        header, _, payload = source.partition(",")
        path = stem.with_suffix(".bin")
        path.write_bytes(base64.b64decode(payload) if header.endswith(";base64") else payload.encode())
        return path
    if source.startswith(("http://", "https://")):
        path = stem.with_suffix(Path(source.split("?")[0]).suffix or ".bin")
        with httpx.stream("GET", source, follow_redirects=True, timeout=60) as response:
            if response.status_code != 200:
                raise ValueError(f"could not fetch input {source.split('?')[0]}: HTTP {response.status_code}")
            with path.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        return path
    raise ValueError(f"input must be a URL the provider can fetch, got {source[:60]}")


def input_seconds(path: Path) -> float:
    return probe(str(path)).duration_ms / 1000


class RunningServer:
    """A uvicorn server on loopback in a background thread (tests); stop() ends it."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("simulator did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
