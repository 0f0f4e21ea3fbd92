"""Finalize a generation its provider finished: download the AI picture, fit it to the clip's exact
duration with the clip's own audio, check it, upload it, and register it as a new asset."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from clip_pipeline.db.timeline import insert_asset
from clip_pipeline.errors import ClipPipelineError
from clip_pipeline.media.fit import fit_to_duration
from clip_pipeline.media.options import MediaOptions
from clip_pipeline.media.probe import measure_durations
from clip_pipeline.providers.base import Provider
from clip_pipeline.settings import Settings
from clip_pipeline.storage import get_store
from clip_pipeline.storage.keys import result_key
from clip_pipeline.storage.uploads import upload_with_fallback

# The promise: the final lasts the clip's duration to the millisecond, picture and sound both.
EXACTNESS_TOLERANCE_MS = 1.0


@dataclass(frozen=True)
class FinalOutcome:
    generation_id: uuid.UUID
    clip_id: uuid.UUID
    provider: str
    status: str
    expected_ms: int
    final_ms: float | None = None
    provider_ms: int | None = None
    error_ms: float | None = None
    adjustment: str | None = None
    check_passed: bool = False
    url: str | None = None
    asset_id: uuid.UUID | None = None
    error: str | None = None


def generations_to_finalize(engine: Engine, clip_id: str | uuid.UUID) -> list[RowMapping]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.text(
                    "SELECT g.*, e.audio_storage_path, e.storage_path AS export_storage_path"
                    " FROM clip_ai_generations g JOIN clip_exports e ON e.id = g.clip_export_id"
                    " WHERE g.source_clip_id = :clip_id AND g.status = 'merging' ORDER BY g.seq"
                ),
                {"clip_id": clip_id},
            ).mappings()
        )


def _fail(engine: Engine, row: RowMapping, message: str) -> FinalOutcome:
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE clip_ai_generations SET status = 'failed', error_message = :m WHERE id = :id"),
            {"id": row["id"], "m": message[:2000]},
        )
    return FinalOutcome(row["id"], row["source_clip_id"], row["provider"], "failed", row["expected_duration_ms"], error=message)


def finalize_generation(engine: Engine, row: RowMapping, provider: Provider, settings: Settings) -> FinalOutcome:
    """Build, check, upload and register the final video of one generation (status merging)."""
    try:
        return _finalize(engine, row, provider, settings)
    except ClipPipelineError as exc:
        return _fail(engine, row, str(exc))


def _finalize(engine: Engine, row: RowMapping, provider: Provider, settings: Settings) -> FinalOutcome:
    expected_ms = row["expected_duration_ms"]
    exports = get_store(settings, settings.exports_bucket)
    results = get_store(settings, settings.results_bucket)
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="final-", dir=settings.temp_dir) as work:
        work_dir = Path(work)
        ai_video = provider.download(row["ai_result_url"], work_dir / "ai-result.mp4")
        audio = None
        if row["audio_storage_path"]:
            audio = exports.download(row["audio_storage_path"], work_dir / Path(row["audio_storage_path"]).name)
        fitted = fit_to_duration(
            ai_video, audio, expected_ms, work_dir / "final.mp4", options=MediaOptions.from_settings(settings)
        )
        report = measure_durations(Path(fitted.output_path))
        error_ms = report.max_error_ms(expected_ms)
        check_passed = error_ms <= EXACTNESS_TOLERANCE_MS and report.has_video and (report.has_audio or audio is None)
        key = result_key(row["id"])
        stored = upload_with_fallback(
            results, key, Path(fitted.output_path), content_type="video/mp4", cache_dir=settings.cache_dir
        )
        file_size = Path(fitted.output_path).stat().st_size
    url = results.url(key, None) if stored.uploaded else None
    now = datetime.now(timezone.utc)
    started = row["submitted_at"] or row["created_at"]
    with engine.begin() as connection:
        asset_id = insert_asset(
            connection,
            storage_path=f"{settings.results_bucket}/{key}" if stored.uploaded else str(stored.cache_path),
            name=f"AI {row['task_type']} of clip {row['source_clip_id']}",
            duration_ms=round(report.container_ms),
            has_audio=report.has_audio,
            file_size=file_size,
            metadata={
                "ai_generated": True,
                "provider": row["provider"],
                "model": row["model"],
                "task_type": row["task_type"],
                "generation_id": str(row["id"]),
                "source_clip_id": str(row["source_clip_id"]),
                "storage_key": key,
                "bucket": settings.results_bucket,
            },
        )
        connection.execute(
            sa.text(
                "UPDATE clip_ai_generations SET status = 'completed', progress = 100,"
                " actual_duration_ms = :actual, duration_adjusted = :adjusted, adjustment = :adjustment,"
                " final_storage_path = :key, final_url = :url, result_asset_id = :asset_id,"
                " final_duration_ms = :final_ms, final_error_ms = :error_ms, final_check_passed = :passed, completed_at = :now,"
                " processing_time_ms = :processing_ms, upload_pending = :pending,"
                " cached_final_path = :cached WHERE id = :id"
            ),
            {
                "id": row["id"],
                "actual": fitted.source_duration_ms,
                "adjusted": fitted.adjustment != "none",
                "adjustment": fitted.adjustment,
                "key": key,
                "url": url,
                "asset_id": asset_id,
                "final_ms": report.container_ms,
                "error_ms": error_ms,
                "passed": check_passed,
                "now": now,
                "processing_ms": int((now - started).total_seconds() * 1000),
                "pending": not stored.uploaded,
                "cached": str(stored.cache_path) if stored.cache_path else None,
            },
        )
    return FinalOutcome(
        generation_id=row["id"],
        clip_id=row["source_clip_id"],
        provider=row["provider"],
        status="completed",
        expected_ms=expected_ms,
        final_ms=report.container_ms,
        provider_ms=row["provider_duration_ms"],
        error_ms=error_ms,
        adjustment=fitted.adjustment,
        check_passed=check_passed,
        url=url,
        asset_id=asset_id,
    )
