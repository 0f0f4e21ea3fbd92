"""Object storage: one interface (ObjectStore), three backends chosen by settings.storage_backend.

The results bucket (settings.results_bucket) is the public one: url(key, None) gives a permanent
URL there; every other bucket hands out signed, expiring URLs only.
"""

from __future__ import annotations

from clip_pipeline.errors import ConfigurationError
from clip_pipeline.settings import Settings
from clip_pipeline.storage.base import (
    InvalidKey,
    ObjectExists,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageUnavailable,
    StoredObject,
    is_valid_bucket_name,
    validate_key,
)

__all__ = [
    "InvalidKey",
    "ObjectExists",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "StorageUnavailable",
    "StoredObject",
    "get_store",
    "validate_key",
]

def get_store(settings: Settings, bucket: str) -> ObjectStore:
    if not is_valid_bucket_name(bucket):
        raise ConfigurationError(
            f"bucket name {bucket!r} is not valid: use 3-63 lowercase letters, digits, '.', '-' or '_'"
        )
    public = bucket == settings.results_bucket
    if settings.storage_backend == "local":
        from clip_pipeline.storage.local import LocalDiskStore
        from clip_pipeline.storage.signing import signer_for

        return LocalDiskStore(
            settings.local_storage_root,
            bucket,
            base_url=settings.file_server_base_url,
            signer=signer_for(settings),
            public=public,
        )
    if settings.storage_backend == "supabase":
        if not settings.supabase_url or settings.supabase_key is None:
            raise ConfigurationError(
                "storage backend supabase needs CLIP_PIPELINE_SUPABASE_URL and CLIP_PIPELINE_SUPABASE_KEY"
            )
        from clip_pipeline.storage.supabase import SupabaseStore

        return SupabaseStore(
            settings.supabase_url, settings.supabase_key.get_secret_value(), bucket, public=public
        )
    from clip_pipeline.storage.s3 import S3Store

    return S3Store(
        bucket,
        public=public,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=_secret(settings.s3_access_key_id),
        secret_access_key=_secret(settings.s3_secret_access_key),
    )


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None
