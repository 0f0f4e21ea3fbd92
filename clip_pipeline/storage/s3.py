"""S3-compatible storage (AWS S3, Cloudflare R2, Supabase's /storage/v1/s3, SeaweedFS) via boto3."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

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

# SigV4 presigned URLs cannot live longer than 7 days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_AUTH_CODES = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


class S3Store:
    def __init__(
        self,
        bucket: str,
        *,
        public: bool,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> None:
        self.bucket = bucket
        self.public = public
        self._endpoint_url = endpoint_url
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
            ),
        )

    def __repr__(self) -> str:
        return f"S3Store(endpoint={self._endpoint_url!r}, bucket={self.bucket!r})"

    def put_file(self, key: str, local_path: Path, *, content_type: str, upsert: bool = True) -> StoredObject:
        validate_key(key)
        local_file_size(local_path)
        if not upsert and self.exists(key):
            raise ObjectExists(f"object {self.bucket}/{key} already exists (upload without upsert)")
        with _S3Errors(self.bucket, key):
            # Multipart uploads become visible only when complete, so readers never see half a file.
            self._client.upload_file(
                str(local_path),
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=TransferConfig(multipart_threshold=64 * 1024 * 1024, use_threads=False),
            )
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        return StoredObject(key, int(head["ContentLength"]))

    def exists(self, key: str) -> bool:
        validate_key(key)
        try:
            with _S3Errors(self.bucket, key):
                self._client.head_object(Bucket=self.bucket, Key=key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        validate_key(key)
        with _S3Errors(self.bucket, key):
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def download(self, key: str, dest: Path) -> Path:
        return download_via_open(self, key, dest)

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        with _S3Errors(self.bucket, key):
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"]

    def url(self, key: str, expires_in: timedelta | None) -> str:
        if not self.exists(key):
            raise ObjectNotFound(f"object {self.bucket}/{key} not found")
        if expires_in is None:
            if not self.public:
                raise StorageError(
                    f"bucket {self.bucket} is private: ask for a signed URL with an expiry instead"
                )
            base = self._client.meta.endpoint_url.rstrip("/")
            return f"{base}/{quote(self.bucket)}/{quote(key, safe='/')}"
        seconds = expires_in_seconds(expires_in)
        if seconds > MAX_PRESIGN_SECONDS:
            raise StorageError(f"S3 presigned URLs live at most 7 days; asked for {expires_in}")
        with _S3Errors(self.bucket, key):
            return self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
            )


class _S3Errors:
    """Map botocore failures to our storage errors (never echoing credentials)."""

    def __init__(self, bucket: str, key: str) -> None:
        self.where = f"{bucket}/{key}"
        self.bucket = bucket

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _NOT_FOUND_CODES:
                raise ObjectNotFound(f"object {self.where} not found") from None
            if code == "NoSuchBucket":
                raise StorageError(f"S3 bucket {self.bucket} does not exist; create it first") from None
            if code in _AUTH_CODES:
                raise StorageError(
                    f"S3 refused access to {self.where} ({code}); check the S3 access key settings"
                ) from None
            if status >= 500:
                raise StorageUnavailable(f"S3 failed for {self.where}: {code or status}") from None
            raise StorageError(f"S3 refused {self.where}: {code or status}") from None
        if isinstance(exc, NoCredentialsError):
            raise StorageError("S3 credentials are not set; set CLIP_PIPELINE_S3_ACCESS_KEY_ID and _SECRET_ACCESS_KEY") from None
        if isinstance(exc, S3UploadFailedError):
            raise StorageUnavailable(f"S3 upload of {self.where} failed: {str(exc).split(':')[-1].strip()}") from None
        if isinstance(exc, EndpointConnectionError):
            raise StorageUnavailable(f"S3 endpoint cannot be reached for {self.where}") from None
        if isinstance(exc, BotoCoreError):
            raise StorageUnavailable(f"S3 failed for {self.where}: {type(exc).__name__}") from None
        return False
