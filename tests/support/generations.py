"""Finished AI generations for tests, written as rows (the pipeline that makes them is elsewhere)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from clip_pipeline.db import timeline as db_timeline
from clip_pipeline.services.requests import request_generation


def make_generation(
    engine: Engine,
    clip_id: uuid.UUID,
    *,
    duration_ms: int | None = None,
    status: str = "completed",
    final_check_passed: bool | None = True,
    provider: str = "kling",
    processing_time_ms: int | None = None,
) -> RowMapping:
    """A generation of CLIP in STATUS; completed ones have a result asset of DURATION_MS
    (default: the clip's duration) and the given final check outcome."""
    generation = request_generation(engine, clip_id, provider=provider, task_type="background_replace")
    duration = duration_ms or generation["expected_duration_ms"]
    with engine.begin() as connection:
        values: dict = {"id": generation["id"], "status": status, "check": final_check_passed,
                        "processing": processing_time_ms}
        if status == "completed":
            values["asset"] = db_timeline.insert_asset(
                connection, storage_path=f"ai-results/{generation['id']}.mp4", name="AI result",
                duration_ms=duration,
            )
            values["url"] = f"https://files.example/ai-results/{generation['id']}.mp4"
            values["duration"] = duration
        else:
            values.update(asset=None, url=None, duration=None)
        return (
            connection.execute(
                sa.text(
                    "UPDATE clip_ai_generations SET status = :status, final_check_passed = :check,"
                    " result_asset_id = :asset, final_url = :url, actual_duration_ms = :duration,"
                    " final_storage_path = CASE WHEN :status = 'completed' THEN :url END,"
                    " error_message = CASE WHEN :status = 'failed' THEN 'provider failed' END,"
                    " progress = CASE WHEN :status = 'completed' THEN 100 ELSE 0 END,"
                    " processing_time_ms = :processing"
                    " WHERE id = :id RETURNING *"
                ),
                values,
            )
            .mappings()
            .one()
        )
