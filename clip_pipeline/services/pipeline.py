"""Glue between the pipeline's steps that belongs to no single step: what a failed export means for
the generations waiting on it, and auto-apply of checked results."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clip_pipeline.services.finalize import FinalOutcome
from clip_pipeline.services.timeline import AppliedClip, apply_generation


def fail_generations_of_failed_exports(engine: Engine, clip_id: str | uuid.UUID) -> list[uuid.UUID]:
    """Pending generations whose export failed cannot go on: fail them with the export's error."""
    with engine.begin() as connection:
        return list(
            connection.execute(
                sa.text(
                    "UPDATE clip_ai_generations g SET status = 'failed',"
                    " error_message = 'the clip export failed: ' || e.error_message"
                    " FROM clip_exports e WHERE e.id = g.clip_export_id AND g.source_clip_id = :clip_id"
                    " AND g.status = 'pending' AND e.status = 'error' RETURNING g.id"
                ),
                {"clip_id": clip_id},
            ).scalars()
        )


def apply_if_requested(engine: Engine, outcome: FinalOutcome) -> AppliedClip | None:
    """Auto-apply (replace mode) a completed generation that asked for it and passed its check."""
    if outcome.status != "completed" or not outcome.check_passed:
        return None
    with engine.connect() as connection:
        auto_apply = connection.execute(
            sa.text("SELECT auto_apply FROM clip_ai_generations WHERE id = :id"), {"id": outcome.generation_id}
        ).scalar_one()
    if not auto_apply:
        return None
    return apply_generation(engine, outcome.generation_id, "replace")
