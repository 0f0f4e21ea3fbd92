"""A private temp folder per run: outputs are written there and moved into place only when the
run succeeded, and the folder is removed whatever happens (a failed run leaves nothing behind)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clip_pipeline.media.options import MediaOptions


@contextmanager
def workspace(options: MediaOptions, near: Path) -> Iterator[Path]:
    parent = options.temp_dir or near
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".clip-media-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(temporary: Path, final: Path) -> Path:
    """Move a finished file into place (atomic within one file system)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(temporary), str(final))
    return final
