"""Knobs of the media layer, as one immutable value built from Settings (or by hand in tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clip_pipeline.settings import Settings


@dataclass(frozen=True)
class MediaOptions:
    ffmpeg_binary: str | None = None
    timeout_s: float = 600.0
    encoder: str = "libx264"
    http_retries: int = 3
    cloudflare_stream_base: str = "https://videodelivery.net"
    cloudflare_fallback_bases: tuple[str, ...] = ()
    temp_dir: Path | None = None
    retry_wait_s: float = 0.5  # first backoff step; doubles per retry

    @classmethod
    def from_settings(cls, settings: Settings) -> "MediaOptions":
        return cls(
            ffmpeg_binary=settings.ffmpeg_binary,
            timeout_s=settings.ffmpeg_timeout_s,
            encoder=settings.video_encoder,
            http_retries=settings.http_retries,
            cloudflare_stream_base=settings.cloudflare_stream_base,
            cloudflare_fallback_bases=tuple(settings.cloudflare_fallback_bases),
            temp_dir=settings.temp_dir,
        )
