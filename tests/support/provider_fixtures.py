"""Tiny test media and polling helpers for the provider tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from clip_pipeline.media.ffmpeg import run_ffmpeg
from clip_pipeline.media.probe import probe


def make_clip(path: Path, seconds: float, *, size: str = "256x144", fps: int = 30) -> Path:
    """A test-pattern clip with a tone that is silent for the first half (loudness changes)."""
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d={seconds}",
         "-f", "lavfi", "-i", f"sine=f=440:d={seconds},volume='if(lt(t,{seconds / 2}),0,1)':eval=frame",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
         "-y", str(path)],
        timeout_s=60,
    )
    return path


def make_audio(path: Path, seconds: float) -> Path:
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"sine=f=300:d={seconds},volume='if(lt(t,{seconds / 2}),0,1)':eval=frame",
         "-c:a", "aac", "-y", str(path)],
        timeout_s=60,
    )
    return path


def make_image(path: Path) -> Path:
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=256x144", "-frames:v", "1", "-y", str(path)], timeout_s=60)
    return path


def wait_for(condition, *, timeout_s: float = 60.0, interval_s: float = 0.05, what: str = "condition"):
    """Poll CONDITION until it returns something truthy; fail after TIMEOUT_S."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def wait_finished(provider, task_id: str, timeout_s: float = 90.0):
    return wait_for(lambda: (state := provider.get(task_id)).finished and state, timeout_s=timeout_s,
                    interval_s=0.1, what=f"{provider.name} task {task_id}")


@dataclass(frozen=True)
class Facts:
    duration_ms: int
    fps: float | None
    width: int | None
    height: int | None
    has_audio: bool


def facts(path: Path) -> Facts:
    """The few facts the provider tests compare, from the media core's probe."""
    result = probe(str(path))
    video = result.video
    return Facts(round(result.duration_ms), video.fps if video else None, video.width if video else None,
                 video.height if video else None, result.audio is not None)
