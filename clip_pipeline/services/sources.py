"""Turn an asset's storage_path into something the media core can read.

`supabase:<bucket>/<path>` goes through the storage layer (a short-lived signed URL); local paths,
http(s) URLs and `cloudflare:<uid>` are handled by the media core itself.
"""

from __future__ import annotations

from datetime import timedelta

from clip_pipeline.settings import Settings
from clip_pipeline.storage import get_store

SOURCE_URL_TTL = timedelta(hours=2)


def resolve_source(storage_path: str, settings: Settings) -> str:
    if storage_path.startswith("supabase:"):
        bucket, _, key = storage_path.removeprefix("supabase:").partition("/")
        return get_store(settings, bucket).url(key, SOURCE_URL_TTL)
    return storage_path
