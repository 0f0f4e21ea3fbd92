"""Uploads that never lose a file: retry with backoff, else keep it in a local cache for later.

An upload counts only once the store reports the same size as the local file; otherwise the caller
gets uploaded=False and a cache path to record (upload_pending) until upload_cached succeeds.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from tenacity import Retrying, before_sleep_log, retry_if_exception, stop_after_attempt, wait_exponential

from clip_pipeline.storage.base import (
    InvalidKey,
    ObjectExists,
    ObjectStore,
    StorageError,
    local_file_size,
    validate_key,
)

log = logging.getLogger(__name__)

UPLOAD_ATTEMPTS = 3
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 15.0


@dataclass(frozen=True)
class UploadOutcome:
    key: str
    uploaded: bool
    cache_path: Path | None = None
    size: int | None = None
    error: str | None = None


def _worth_retrying(exc: BaseException) -> bool:
    # A bad key or a refused overwrite fails the same way every time.
    return isinstance(exc, StorageError) and not isinstance(exc, (InvalidKey, ObjectExists))


def _upload_verified(
    store: ObjectStore, key: str, local_path: Path, *, content_type: str, attempts: int, backoff_s: float
) -> int:
    expected = local_file_size(local_path)
    for attempt in Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff_s, max=BACKOFF_MAX_S),
        retry=retry_if_exception(_worth_retrying),
        reraise=True,
        before_sleep=before_sleep_log(log, logging.WARNING),
    ):
        with attempt:
            stored = store.put_file(key, local_path, content_type=content_type, upsert=True)
            if stored.size != expected:
                raise StorageError(
                    f"upload of {store.bucket}/{key} stored {stored.size} bytes, expected {expected}"
                )
    return expected


def upload_with_fallback(
    store: ObjectStore,
    key: str,
    local_path: Path,
    *,
    content_type: str,
    cache_dir: Path,
    attempts: int = UPLOAD_ATTEMPTS,
    backoff_s: float = BACKOFF_INITIAL_S,
) -> UploadOutcome:
    """Upload with retries; if the store keeps failing, copy the file to cache_dir and say so."""
    validate_key(key)
    local_path = Path(local_path)
    local_file_size(local_path)  # a missing work file is the caller's bug, not a storage outage
    try:
        size = _upload_verified(
            store, key, local_path, content_type=content_type, attempts=attempts, backoff_s=backoff_s
        )
        return UploadOutcome(key, uploaded=True, size=size)
    except (InvalidKey, ObjectExists):
        raise
    except StorageError as exc:
        cache_path = _copy_to_cache(local_path, Path(cache_dir) / store.bucket / key)
        log.warning("upload of %s/%s failed (%s); kept it at %s for a later retry", store.bucket, key, exc, cache_path)
        return UploadOutcome(key, uploaded=False, cache_path=cache_path, size=cache_path.stat().st_size, error=str(exc))


def upload_cached(
    store: ObjectStore,
    key: str,
    cache_path: Path,
    *,
    content_type: str | None = None,
    attempts: int = UPLOAD_ATTEMPTS,
    backoff_s: float = BACKOFF_INITIAL_S,
) -> UploadOutcome:
    """Retry a cached upload; the cache file is removed once the store holds a verified copy."""
    cache_path = Path(cache_path)
    if not cache_path.is_file():
        raise StorageError(f"cached file for {store.bucket}/{key} is missing: {cache_path}; export it again")
    content_type = content_type or mimetypes.guess_type(cache_path.name)[0] or "application/octet-stream"
    try:
        size = _upload_verified(
            store, key, cache_path, content_type=content_type, attempts=attempts, backoff_s=backoff_s
        )
    except (InvalidKey, ObjectExists):
        raise
    except StorageError as exc:
        log.warning("cached upload of %s/%s failed again (%s); keeping %s", store.bucket, key, exc, cache_path)
        return UploadOutcome(key, uploaded=False, cache_path=cache_path, error=str(exc))
    cache_path.unlink(missing_ok=True)
    return UploadOutcome(key, uploaded=True, size=size)


def _copy_to_cache(local_path: Path, cache_path: Path) -> Path:
    """Copy atomically (temp file + rename) so a crash never leaves half a cached file."""
    if local_path.resolve() == cache_path.resolve():
        return cache_path
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    temp = cache_path.with_name(f".{cache_path.name}.{uuid.uuid4().hex}.part")
    try:
        shutil.copyfile(local_path, temp)
        os.replace(temp, cache_path)
    except OSError as exc:
        raise StorageError(f"upload failed and the file could not be cached at {cache_path}: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return cache_path
