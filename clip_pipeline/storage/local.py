"""Local disk store: objects are files under ROOT/<bucket>/<key>, served by `serve-files`."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from clip_pipeline.storage.base import (
    ObjectExists,
    ObjectNotFound,
    StorageError,
    StoredObject,
    download_via_open,
    expires_in_seconds,
    local_file_size,
    validate_key,
)
from clip_pipeline.storage.signing import UrlSigner

# Uploads land here first and are renamed into place, so a reader never sees half a file.
INCOMING_DIR = ".incoming"
SIGNED_PREFIX = "o"
PUBLIC_PREFIX = "public"


class LocalDiskStore:
    def __init__(self, root: Path, bucket: str, *, base_url: str, signer: UrlSigner, public: bool) -> None:
        self.root = Path(root)
        self.bucket = bucket
        self.public = public
        self._base_url = base_url.rstrip("/")
        self._signer = signer

    def __repr__(self) -> str:
        return f"LocalDiskStore(root={str(self.root)!r}, bucket={self.bucket!r})"

    def path_for(self, key: str) -> Path:
        return self.root / self.bucket / validate_key(key)

    def put_file(self, key: str, local_path: Path, *, content_type: str, upsert: bool = True) -> StoredObject:
        target = self.path_for(key)
        local_file_size(local_path)
        if not upsert and target.exists():
            raise ObjectExists(f"object {self.bucket}/{key} already exists (upload without upsert)")
        incoming = self.root / INCOMING_DIR
        incoming.mkdir(parents=True, exist_ok=True)
        temp = incoming / f"{uuid.uuid4().hex}.part"
        try:
            shutil.copyfile(local_path, temp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
        except OSError as exc:
            raise StorageError(f"could not write {target}: {exc.strerror or exc}") from exc
        finally:
            temp.unlink(missing_ok=True)
        return StoredObject(key, target.stat().st_size)

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        if not path.is_dir():  # a folder is a key prefix, not an object
            path.unlink(missing_ok=True)

    def download(self, key: str, dest: Path) -> Path:
        return download_via_open(self, key, dest)

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self.path_for(key), "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFound(f"object {self.bucket}/{key} not found") from None

    def url(self, key: str, expires_in: timedelta | None) -> str:
        if not self.exists(key):
            raise ObjectNotFound(f"object {self.bucket}/{key} not found")
        path = f"{quote(self.bucket)}/{quote(key, safe='/')}"
        if expires_in is None:
            if not self.public:
                raise StorageError(
                    f"bucket {self.bucket} is private: ask for a signed URL with an expiry instead"
                )
            return f"{self._base_url}/{PUBLIC_PREFIX}/{path}"
        expires = int(time.time()) + expires_in_seconds(expires_in)
        query = urlencode({"expires": expires, "signature": self._signer.signature(self.bucket, key, expires)})
        return f"{self._base_url}/{SIGNED_PREFIX}/{path}?{query}"
