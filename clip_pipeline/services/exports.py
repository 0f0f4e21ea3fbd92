"""Export a clip (seed section 5.1): cut it and its audio with the media core, upload both, record.

An export row moves pending -> processing -> ready (or error). A ready export with the same
fingerprint is reused; a processing row whose lease passed is taken to be abandoned and redone.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from clip_pipeline.db.timeline import get_clip
from clip_pipeline.errors import ClipPipelineError
from clip_pipeline.media.export import export_clip as cut_clip
from clip_pipeline.media.options import MediaOptions
from clip_pipeline.media.probe import measure_durations
from clip_pipeline.services.sources import resolve_source
from clip_pipeline.settings import Settings
from clip_pipeline.storage import get_store
from clip_pipeline.storage.keys import export_audio_key, export_key
from clip_pipeline.storage.uploads import upload_with_fallback

CONTENT_TYPES = {"mp4": "video/mp4", "webm": "video/webm", "m4a": "audio/mp4", "wav": "audio/wav"}


@dataclass(frozen=True)
class ExportOutcome:
    export_id: uuid.UUID
    clip_id: uuid.UUID
    status: str
    reused: bool
    url: str | None
    duration_ms: int | None
    exactness_error_ms: float | None
    file_size: int | None
    bytes_fetched: int | None
    elapsed_ms: int | None
    error: str | None = None


def _outcome(row: RowMapping, reused: bool) -> ExportOutcome:
    return ExportOutcome(
        export_id=row["id"],
        clip_id=row["clip_id"],
        status=row["status"],
        reused=reused,
        url=row["public_url"],
        duration_ms=row["duration_ms"],
        exactness_error_ms=row["exactness_error_ms"],
        file_size=row["file_size"],
        bytes_fetched=row["bytes_fetched"],
        elapsed_ms=row["elapsed_ms"],
        error=row["error_message"],
    )


def exports_to_run(engine: Engine, clip_id: str | uuid.UUID) -> list[RowMapping]:
    """The clip's exports that still need work: pending, or abandoned in processing (lease passed)."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.text(
                    "SELECT * FROM clip_exports WHERE clip_id = :clip_id AND (status = 'pending'"
                    " OR (status = 'processing' AND leased_until < now())) ORDER BY seq"
                ),
                {"clip_id": clip_id},
            ).mappings()
        )


def _claim(engine: Engine, export_id: uuid.UUID, settings: Settings, owner: str) -> RowMapping | None:
    """Move the export to processing under a lease; None if another worker holds it or it is done.

    An export abandoned (lease passed) max_attempts times is given up: status error."""
    with engine.begin() as connection:
        return (
            connection.execute(
                sa.text(
                    "UPDATE clip_exports SET"
                    " status = CASE WHEN attempts >= :max THEN 'error' ELSE 'processing' END,"
                    " error_message = CASE WHEN attempts >= :max THEN 'gave up after ' || attempts"
                    " || ' attempts: ' || coalesce(error_message, 'the export was interrupted')"
                    " ELSE error_message END,"
                    " leased_until = CASE WHEN attempts >= :max THEN NULL"
                    " ELSE now() + make_interval(secs => :lease) END,"
                    " attempts = attempts + (attempts < :max)::int, lease_owner = :owner"
                    " WHERE id = :id AND (status = 'pending'"
                    " OR (status = 'processing' AND leased_until < now())) RETURNING *"
                ),
                {"id": export_id, "lease": settings.work_lease_s, "max": settings.max_attempts, "owner": owner},
            )
            .mappings()
            .first()
        )


def _fail(engine: Engine, export_id: uuid.UUID, message: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE clip_exports SET status = 'error', error_message = :message, leased_until = NULL"
                " WHERE id = :id"
            ),
            {"id": export_id, "message": message[:2000]},
        )


def run_export(engine: Engine, export_id: uuid.UUID, settings: Settings, owner: str = "cli") -> ExportOutcome:
    """Do one export end to end; a ready export is returned as is (reused). OWNER names who holds
    the lease while it runs (the Dagster run id)."""
    with engine.connect() as connection:
        current = connection.execute(
            sa.text("SELECT * FROM clip_exports WHERE id = :id"), {"id": export_id}
        ).mappings().one()
    if current["status"] == "ready":
        return _outcome(current, reused=True)
    row = _claim(engine, export_id, settings, owner)
    if row is None or row["status"] == "error":
        with engine.connect() as connection:
            latest = connection.execute(
                sa.text("SELECT * FROM clip_exports WHERE id = :id"), {"id": export_id}
            ).mappings().one()
        return _outcome(latest, reused=latest["status"] == "ready")
    try:
        return _outcome(_export(engine, row, settings), reused=False)
    except ClipPipelineError as exc:
        _fail(engine, export_id, str(exc))
        raise


def _export(engine: Engine, row: RowMapping, settings: Settings) -> RowMapping:
    with engine.connect() as connection:
        clip = get_clip(connection, row["clip_id"])
    store = get_store(settings, settings.exports_bucket)
    options = MediaOptions.from_settings(settings)
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="export-", dir=settings.temp_dir) as work_dir:
        result = cut_clip(
            resolve_source(clip["asset_storage_path"], settings),
            row["source_start"],
            row["source_end"],
            Path(work_dir),
            resolution=row["resolution"],
            quality=row["quality"],
            fmt=row["format"],
            with_audio=row["with_audio"],
            options=options,
        )
        expected_ms = row["source_end"] - row["source_start"]
        report = measure_durations(Path(result.video_path))
        video = upload_with_fallback(
            store,
            export_key(row["clip_id"], row["fingerprint"], row["format"]),
            Path(result.video_path),
            content_type=CONTENT_TYPES[row["format"]],
            cache_dir=settings.cache_dir,
        )
        audio = None
        if result.audio_path:
            audio_path = Path(result.audio_path)
            audio = upload_with_fallback(
                store,
                export_audio_key(row["clip_id"], row["fingerprint"]),
                audio_path,
                content_type=CONTENT_TYPES.get(audio_path.suffix.lstrip("."), "application/octet-stream"),
                cache_dir=settings.cache_dir,
            )
    ttl = timedelta(seconds=settings.export_url_ttl_s)
    uploaded = video.uploaded and (audio is None or audio.uploaded)
    with engine.begin() as connection:
        return (
            connection.execute(
                sa.text(
                    "UPDATE clip_exports SET status = 'ready', storage_path = :video_key,"
                    " public_url = :video_url, audio_storage_path = :audio_key, audio_url = :audio_url,"
                    " duration_ms = :duration_ms, file_size = :file_size, width = :width,"
                    " height = :height, fps = :fps, has_audio = :has_audio, encoder = :encoder,"
                    " exactness_error_ms = :error_ms, bytes_fetched = :bytes_fetched,"
                    " elapsed_ms = :elapsed_ms, expires_at = now() + make_interval(secs => :ttl),"
                    " leased_until = NULL, error_message = NULL, upload_pending = :pending,"
                    " cached_video_path = :cached_video, cached_audio_path = :cached_audio"
                    " WHERE id = :id RETURNING *"
                ),
                {
                    "id": row["id"],
                    "video_key": video.key,
                    "video_url": store.url(video.key, ttl) if video.uploaded else None,
                    "audio_key": audio.key if audio else None,
                    "audio_url": store.url(audio.key, ttl) if audio and audio.uploaded else None,
                    "duration_ms": result.duration_ms,
                    "file_size": result.file_size,
                    "width": result.width,
                    "height": result.height,
                    "fps": result.fps,
                    "has_audio": result.has_audio,
                    "encoder": result.encoder,
                    "error_ms": report.max_error_ms(expected_ms),
                    "bytes_fetched": result.bytes_fetched,
                    "elapsed_ms": result.elapsed_ms,
                    "ttl": ttl.total_seconds(),
                    "pending": not uploaded,
                    "cached_video": str(video.cache_path) if video.cache_path else None,
                    "cached_audio": str(audio.cache_path) if audio and audio.cache_path else None,
                },
            )
            .mappings()
            .one()
        )


def ready_exports(engine: Engine, clip_id: str | uuid.UUID) -> list[ExportOutcome]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT * FROM clip_exports WHERE clip_id = :clip_id AND status = 'ready' ORDER BY seq"),
            {"clip_id": clip_id},
        ).mappings()
        return [_outcome(row, reused=True) for row in rows]


def export_in_progress(engine: Engine, clip_id: str | uuid.UUID) -> bool:
    """Whether a live run holds one of the clip's exports (processing, lease not passed)."""
    with engine.connect() as connection:
        return connection.execute(
            sa.text(
                "SELECT EXISTS (SELECT 1 FROM clip_exports WHERE clip_id = :clip_id"
                " AND status = 'processing' AND leased_until >= now())"
            ),
            {"clip_id": clip_id},
        ).scalar_one()
