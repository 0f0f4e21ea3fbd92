"""Temp-file cleanup (seed section 7.1): files are removed after each step; this catches what a
killed process left behind."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path


def remove_stale_temp_files(temp_dir: Path, older_than: timedelta = timedelta(hours=1)) -> list[Path]:
    """Delete entries of temp_dir not modified for `older_than`; return what was removed."""
    if not temp_dir.is_dir():
        return []
    cutoff = time.time() - older_than.total_seconds()
    removed = []
    for entry in temp_dir.iterdir():
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:  # another cleanup got there first
            continue
        removed.append(entry)
    return removed
