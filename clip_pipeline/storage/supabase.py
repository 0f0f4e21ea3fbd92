"""Supabase Storage through the official storage3 client; TUS (tuspy) for files over 6 MiB.

Supabase answers HTTP 400 for every non-500 error on object routes and puts the real code in the
JSON body (`statusCode`), which storage3 surfaces as StorageApiError.status; errors are mapped from
that field, never from the HTTP status.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import quote

import httpx
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError

from clip_pipeline.storage.base import (
    ObjectExists,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
    StoredObject,
    download_via_open,
    expires_in_seconds,
    local_file_size,
    validate_key,
)

# Supabase's standard upload is meant for files up to 6 MB; TUS needs exactly 6 MiB chunks.
TUS_THRESHOLD_BYTES = 6 * 1024 * 1024
TUS_CHUNK_BYTES = 6 * 1024 * 1024
CACHE_CONTROL_S = "3600"


class SupabaseStore:
    def __init__(
        self,
        supabase_url: str,
        service_key: str,
        bucket: str,
        *,
        public: bool,
        http_client: httpx.Client | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.bucket = bucket
        self.public = public
        self._storage_url = f"{supabase_url.rstrip('/')}/storage/v1"
        self._auth_headers = {"apiKey": service_key, "Authorization": f"Bearer {service_key}"}
        self._http = http_client or httpx.Client(timeout=timeout_s, follow_redirects=True)
        client = SyncStorageClient(f"{self._storage_url}/", self._auth_headers, http_client=self._http)
        self._bucket_api = client.from_(bucket)

    def __repr__(self) -> str:
        return f"SupabaseStore(url={self._storage_url!r}, bucket={self.bucket!r})"

    def put_file(self, key: str, local_path: Path, *, content_type: str, upsert: bool = True) -> StoredObject:
        validate_key(key)
        size = local_file_size(local_path)
        with self._errors(key):
            if size > TUS_THRESHOLD_BYTES:
                self._upload_resumable(key, Path(local_path), content_type=content_type, upsert=upsert)
            else:
                self._bucket_api.upload(
                    key,
                    Path(local_path),
                    {"content-type": content_type, "cache-control": CACHE_CONTROL_S, "upsert": str(upsert).lower()},
                )
            return StoredObject(key, self._stored_size(key))

    def _stored_size(self, key: str) -> int:
        """The size Storage reports (`size` of the object info; older servers: the object's HEAD)."""
        size = self._bucket_api.info(key).get("size")
        if size is None:
            response = self._http.head(self._object_url(key), headers=self._auth_headers)
            if response.status_code != 200:
                _raise_for_body(response, self.bucket, key)
            size = response.headers.get("content-length", -1)
        return int(size)

    def _object_url(self, key: str) -> str:
        return f"{self._storage_url}/object/authenticated/{quote(self.bucket)}/{quote(key, safe='/')}"

    def _upload_resumable(self, key: str, local_path: Path, *, content_type: str, upsert: bool) -> None:
        client = TusClient(
            f"{self._storage_url}/upload/resumable",
            headers={**self._auth_headers, "x-upsert": str(upsert).lower()},
        )
        uploader = client.uploader(
            file_path=str(local_path),
            chunk_size=TUS_CHUNK_BYTES,
            metadata={
                "bucketName": self.bucket,
                "objectName": key,
                "contentType": content_type,
                "cacheControl": CACHE_CONTROL_S,
            },
            retries=2,
            retry_delay=1,
        )
        try:
            uploader.upload()
        except TusCommunicationError as exc:
            status = exc.status_code
            if status == 409:
                raise ObjectExists(f"object {self.bucket}/{key} already exists (upload without upsert)") from None
            if status is None or status >= 500:
                raise StorageUnavailable(
                    f"Supabase resumable upload of {self.bucket}/{key} failed: {status or 'no connection'}"
                ) from None
            hint = "; check CLIP_PIPELINE_SUPABASE_KEY" if status in (401, 403) else ""
            raise StorageError(
                f"Supabase refused the resumable upload of {self.bucket}/{key} (HTTP {status}){hint}"
            ) from None

    def exists(self, key: str) -> bool:
        validate_key(key)
        with self._errors(key):
            return self._bucket_api.exists(key)

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._errors(key):
            self._bucket_api.remove([key])

    def download(self, key: str, dest: Path) -> Path:
        return download_via_open(self, key, dest)

    def open(self, key: str) -> BinaryIO:
        """A streaming reader (storage3's download() would load the whole file into memory)."""
        validate_key(key)
        with self._errors(key):
            request = self._http.build_request("GET", self._object_url(key), headers=self._auth_headers)
            response = self._http.send(request, stream=True)
            if response.status_code != 200:
                response.read()
                response.close()
                _raise_for_body(response, self.bucket, key)
        return io.BufferedReader(_ResponseReader(response), 1024 * 1024)

    def url(self, key: str, expires_in: timedelta | None) -> str:
        validate_key(key)
        if expires_in is None:
            if not self.public:
                raise StorageError(
                    f"bucket {self.bucket} is private: ask for a signed URL with an expiry instead"
                )
            if not self.exists(key):
                raise ObjectNotFound(f"object {self.bucket}/{key} not found")
            return self._bucket_api.get_public_url(key)
        with self._errors(key):
            signed = self._bucket_api.create_signed_url(key, expires_in_seconds(expires_in))
        return signed["signedURL"]

    def _errors(self, key: str) -> "_SupabaseErrors":
        return _SupabaseErrors(self.bucket, key)


class _SupabaseErrors:
    """Context manager mapping storage3/httpx failures to our storage errors."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket, self.key = bucket, key

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            return False
        if isinstance(exc, StorageApiError):
            _raise_mapped(str(exc.status), exc.code, exc.message, self.bucket, self.key)
        if isinstance(exc, httpx.TransportError):
            raise StorageUnavailable(
                f"Supabase Storage cannot be reached for {self.bucket}/{self.key}: {type(exc).__name__}"
            ) from None
        return False


def _raise_mapped(status: str, code: str, message: str, bucket: str, key: str) -> None:
    where = f"{bucket}/{key}"
    if status == "404" and code == "not_found":
        raise ObjectNotFound(f"object {where} not found") from None
    if status == "404":
        raise StorageError(f"Supabase: {message} (bucket {bucket}); create it in the dashboard") from None
    if status == "409":
        raise ObjectExists(f"object {where} already exists (upload without upsert)") from None
    if status in ("401", "403"):
        raise StorageError(
            f"Supabase refused access to {where} ({message}); check CLIP_PIPELINE_SUPABASE_KEY"
        ) from None
    if status == "413":
        raise StorageError(f"Supabase: {where} is larger than the bucket's file size limit") from None
    if not status.isdigit() or int(status) >= 500:
        raise StorageUnavailable(f"Supabase Storage failed for {where}: {message}") from None
    raise StorageError(f"Supabase Storage refused {where}: {message}") from None


def _raise_for_body(response: httpx.Response, bucket: str, key: str) -> None:
    try:
        body = response.json()
        status, code, message = str(body["statusCode"]), body.get("error", ""), body.get("message", "")
    except (ValueError, KeyError, TypeError):
        status, code, message = str(response.status_code), "", response.reason_phrase
    _raise_mapped(status, code, message, bucket, key)


class _ResponseReader(io.RawIOBase):
    """A read-only binary file over a streamed httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = response.iter_bytes(1024 * 1024)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
            except httpx.TransportError as exc:
                raise StorageUnavailable(f"Supabase download was cut off: {type(exc).__name__}") from None
        count = min(len(buffer), len(self._buffer))
        buffer[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()
