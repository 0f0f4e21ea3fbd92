"""The object store interface every backend implements, its errors, and key validation.

Keys are backend-neutral relative paths such as `exports/{clip_id}_{fingerprint}.mp4`; the bucket is
part of the store, not of the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from clip_pipeline.errors import ClipPipelineError

MAX_KEY_LENGTH = 1024
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,62}$")


class StorageError(ClipPipelineError):
    """An object store refused or failed an operation."""


class ObjectNotFound(StorageError):
    """The key has no object in the bucket."""

    exit_code = 3


class ObjectExists(StorageError):
    """An upload without upsert met an existing object."""


class InvalidKey(StorageError):
    """The key is empty, absolute, has control characters or would escape the bucket."""

    exit_code = 2


class StorageUnavailable(StorageError):
    """The store cannot be reached or answered with a server error; worth retrying later."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


@runtime_checkable
class ObjectStore(Protocol):
    bucket: str

    def put_file(
        self, key: str, local_path: Path, *, content_type: str, upsert: bool = True
    ) -> StoredObject:
        """Store the file under key; the size is the one the store reports after the upload."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    def download(self, key: str, dest: Path) -> Path: ...

    def open(self, key: str) -> BinaryIO: ...

    def url(self, key: str, expires_in: timedelta | None) -> str:
        """A URL anyone can GET: signed and expiring, or public (permanent) when expires_in is None."""
        ...


def validate_key(key: str) -> str:
    """Return key unchanged if it is a safe relative object key, else raise InvalidKey."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("object key is empty; use a relative path such as exports/clip.mp4")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"object key is longer than {MAX_KEY_LENGTH} characters")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in key):
        raise InvalidKey(f"object key {key!r} contains control characters")
    if key.startswith(("/", "\\")) or (len(key) > 1 and key[1] == ":"):
        raise InvalidKey(f"object key {key!r} is absolute; use a path relative to the bucket")
    if "\\" in key:
        raise InvalidKey(f"object key {key!r} contains a backslash; use '/' between parts")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidKey(f"object key {key!r} has an empty, '.' or '..' part")
    return key


def is_valid_bucket_name(bucket: str) -> bool:
    """3-63 lowercase letters, digits, '.', '-' or '_', starting with a letter or digit."""
    return bool(_BUCKET_NAME.match(bucket)) and ".." not in bucket


def local_file_size(local_path: Path) -> int:
    """Size of a file about to be uploaded; a missing file is a StorageError naming it."""
    try:
        return Path(local_path).stat().st_size
    except FileNotFoundError:
        raise StorageError(f"file to upload does not exist: {local_path}") from None


def expires_in_seconds(expires_in: timedelta) -> int:
    seconds = int(expires_in.total_seconds())
    if seconds < 1:
        raise StorageError(f"signed URL lifetime must be at least 1 second, got {expires_in}")
    return seconds


def download_via_open(store: ObjectStore, key: str, dest: Path) -> Path:
    """Stream store.open(key) into dest through a temporary file, so dest is whole or absent."""
    dest = Path(dest)
    temp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    try:
        with store.open(key) as source, open(temp, "wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)
    return dest
