"""One typed settings object, read from CLIP_PIPELINE_* environment variables and an optional .env.

Every field is documented in the README's Configuration table. Secrets are SecretStr so that they
never show up in reprs, logs, Dagster metadata or error messages.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

StorageBackend = Literal["local", "supabase", "s3"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CLIP_PIPELINE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- Home and database -------------------------------------------------------------------
    home: Path = Field(
        default=Path("~/.clip-pipeline"),
        description="Folder for the embedded database, local storage, cache and temp files.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL for app tables and Dagster storage; unset = embedded pgserver.",
    )

    # --- Media (FFmpeg) ----------------------------------------------------------------------
    ffmpeg_binary: str | None = Field(
        default=None, description="ffmpeg executable; unset = the static build from imageio-ffmpeg."
    )
    ffmpeg_timeout_s: float = Field(default=600.0, gt=0, description="Kill an ffmpeg run after this.")
    video_encoder: Literal["libx264", "h264_nvenc"] = Field(
        default="libx264", description="H.264 encoder; h264_nvenc falls back to libx264 if absent."
    )
    cloudflare_stream_base: str = Field(
        default="https://videodelivery.net", description="Base URL for cloudflare:<uid> sources."
    )
    cloudflare_fallback_bases: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated fallback CDN bases tried in order when the main base fails.",
    )
    http_retries: int = Field(default=3, ge=0, description="Retries for a failing source fetch.")

    # --- Storage -----------------------------------------------------------------------------
    storage_backend: StorageBackend = Field(default="local", description="local, supabase or s3.")
    storage_root: Path | None = Field(
        default=None, description="Local storage root; unset = HOME/storage."
    )
    file_server_host: str = Field(default="127.0.0.1", description="serve-files bind address.")
    file_server_port: int = Field(default=8787, description="serve-files port.")
    public_base_url: str | None = Field(
        default=None,
        description="Base URL under which serve-files is reachable; unset = http://HOST:PORT.",
    )
    url_signing_key: SecretStr | None = Field(
        default=None,
        description="HMAC key for local signed URLs; unset = a random key kept in HOME.",
    )
    export_url_ttl_s: int = Field(
        default=7 * 24 * 3600, gt=0, description="Lifetime of export URLs (seconds)."
    )
    exports_bucket: str = Field(default="clip-exports", description="Bucket for clip exports.")
    results_bucket: str = Field(default="ai-results", description="Bucket for final AI results.")
    supabase_url: str | None = Field(default=None, description="https://<ref>.supabase.co")
    supabase_key: SecretStr | None = Field(default=None, description="Supabase service role key.")
    s3_endpoint_url: str | None = Field(default=None, description="S3 endpoint (R2, SeaweedFS...).")
    s3_region: str = Field(default="us-east-1", description="S3 region.")
    s3_access_key_id: SecretStr | None = Field(default=None, description="S3 access key id.")
    s3_secret_access_key: SecretStr | None = Field(default=None, description="S3 secret key.")

    # --- Providers ---------------------------------------------------------------------------
    kling_access_key: SecretStr | None = Field(default=None, description="Kling access key.")
    kling_secret_key: SecretStr | None = Field(default=None, description="Kling secret key.")
    kling_base_url: str = Field(
        default="https://api-singapore.klingai.com", description="Kling API base URL."
    )
    google_api_key: SecretStr | None = Field(default=None, description="Vertex AI express key.")
    veo_base_url: str | None = Field(default=None, description="Override Vertex AI base URL.")
    runway_api_secret: SecretStr | None = Field(default=None, description="Runway API secret.")
    runway_base_url: str = Field(
        default="https://api.dev.runwayml.com", description="Runway API base URL."
    )
    provider_poll_interval_s: float = Field(
        default=10.0, gt=0, description="Least time between two status polls of one provider task."
    )
    work_lease_s: float = Field(
        default=1800.0, gt=0,
        description="How long an export or finalize may run before it counts as abandoned and is redone.",
    )
    max_attempts: int = Field(default=3, ge=1, description="Tries of an export or finalize before it fails.")
    retry_delay_s: float = Field(
        default=60.0, ge=0, description="How long stalled work waits before the sensor requests it again."
    )
    callback_base_url: str | None = Field(
        default=None, description="Public base URL of the HTTP API, for provider callbacks."
    )
    provider_retry_attempts: int = Field(
        default=4, ge=1, description="Attempts per provider call on 429/5xx/network errors."
    )
    provider_retry_max_wait_s: float = Field(
        default=30.0, gt=0, description="Longest back-off (with jitter) between provider attempts."
    )
    local_provider_size: str = Field(
        default="640x360", pattern=r"^\d+x\d+$", description="WIDTHxHEIGHT of local provider results."
    )

    # --- HTTP API and workers ----------------------------------------------------------------
    api_key: SecretStr | None = Field(default=None, description="Bearer key the HTTP API requires.")
    api_host: str = Field(default="127.0.0.1", description="serve-api bind address.")
    api_port: int = Field(default=8000, description="serve-api port.")
    celery_broker_url: str = Field(
        default="pyamqp://guest:guest@127.0.0.1:5672//", description="Celery broker URL."
    )
    executor: Literal["in_process", "celery"] = Field(
        default="in_process",
        description="How the clip jobs run their steps: in the run's process, or on Celery workers.",
    )
    celery_backend_url: str = Field(
        default="rpc://",
        description="Celery result backend; rpc:// sends step results back over the broker to the run.",
    )
    local_provider_root: Path | None = Field(
        default=None,
        description="Where the local provider keeps its tasks; unset = HOME/local-provider. Share it "
        "between workers on one machine (it stands in for a remote provider).",
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("cloudflare_fallback_bases", mode="before")
    @classmethod
    def _split_bases(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def temp_dir(self) -> Path:
        return self.home / "tmp"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def local_storage_root(self) -> Path:
        return (self.storage_root or self.home / "storage").expanduser().resolve()

    @property
    def file_server_base_url(self) -> str:
        return (self.public_base_url or f"http://{self.file_server_host}:{self.file_server_port}").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
