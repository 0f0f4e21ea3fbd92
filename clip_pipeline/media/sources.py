"""What a SOURCE string means: a local path, an http(s) URL or `cloudflare:<uid>`.

`supabase:<bucket>/<path>` belongs to the storage layer, which turns it into a URL before calling
the media layer; getting one here is a wiring mistake and says so.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from clip_pipeline.media.ffmpeg import MediaError
from clip_pipeline.media.options import MediaOptions


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def source_candidates(source: str, options: MediaOptions) -> list[str]:
    """The locations to try for SOURCE, in order (several only for cloudflare: with fallbacks)."""
    if source.startswith("supabase:"):
        raise MediaError(f"{source}: supabase: sources need the storage layer (resolve them to a URL first)")
    if source.startswith("cloudflare:"):
        uid = source.removeprefix("cloudflare:").strip("/")
        if not uid or "/" in uid:
            raise MediaError(f"{source}: expected cloudflare:<video uid>")
        bases = (options.cloudflare_stream_base, *options.cloudflare_fallback_bases)
        return [f"{base.rstrip('/')}/{uid}/manifest/video.m3u8" for base in bases]
    scheme = urlsplit(source).scheme
    if scheme in ("http", "https"):
        return [source]
    if scheme and len(scheme) > 1:  # "c:" style drive letters are paths
        raise MediaError(f"{source}: unsupported source scheme '{scheme}:' (use a path, http(s), cloudflare: or supabase:)")
    path = Path(source).expanduser()
    if not path.is_file():
        raise MediaError(f"{source}: no such file")
    return [str(path.resolve())]
