"""Locating and running ffmpeg: the static build from imageio-ffmpeg unless a setting names another.

Every run has a timeout (the process is killed when it passes) and failures become one-line
MediaError messages built from ffmpeg's last meaningful stderr line.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from functools import lru_cache

from clip_pipeline.errors import ClipPipelineError


class MediaError(ClipPipelineError):
    """A media operation failed (bad input, unreadable source, ffmpeg failure)."""


class FFmpegTimeout(MediaError):
    """ffmpeg ran past its timeout and was killed."""


@lru_cache(maxsize=4)
def ffmpeg_binary(configured: str | None = None) -> str:
    """The ffmpeg executable: `configured` (a path or a name on PATH) or imageio-ffmpeg's build."""
    if configured:
        found = shutil.which(configured)
        if not found:
            raise MediaError(
                f"ffmpeg binary '{configured}' (CLIP_PIPELINE_FFMPEG_BINARY) was not found or is not executable"
            )
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("frame=", "size=", "video:", "[out#", "Press [q]")):
            return line
    return "no error output"


def run_ffmpeg(
    args: Sequence[str],
    *,
    timeout_s: float,
    binary: str | None = None,
    what: str = "ffmpeg",
) -> subprocess.CompletedProcess[str]:
    """Run ffmpeg with ARGS (without the program name); raise MediaError on failure or timeout."""
    command = [ffmpeg_binary(binary), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        # subprocess.run kills the child before re-raising
        raise FFmpegTimeout(f"{what}: ffmpeg did not finish within {timeout_s:g} s and was stopped") from None
    if completed.returncode != 0:
        raise MediaError(f"{what}: {_last_error_line(completed.stderr)}")
    return completed
