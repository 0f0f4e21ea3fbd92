"""Read views over the request tables for the editor: an export, a generation, and how long a provider
usually takes."""

from __future__ import annotations

import statistics
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from clip_pipeline.db import generations as db_generations
from clip_pipeline.db.timeline import parse_id
from clip_pipeline.errors import NotFound

# Typical seconds from submission to result when a provider has no history here yet (the providers'
# documented or observed typical times for a 5-10 s clip).
TYPICAL_SECONDS: dict[str, float] = {"kling": 120.0, "veo": 90.0, "runway": 60.0, "local": 10.0}
# How many recent completed generations the estimate looks at.
RECENT_GENERATIONS = 20


def get_export(engine: Engine, clip_id: str | uuid.UUID, export_id: str | uuid.UUID) -> RowMapping:
    """The clip's export, or NotFound (also when the export belongs to another clip)."""
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.text("SELECT * FROM clip_exports WHERE id = :id AND clip_id = :clip"),
                {"id": parse_id(export_id, "export"), "clip": parse_id(clip_id, "clip")},
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"export '{export_id}' of clip '{clip_id}' does not exist")
    return row


def get_generation(engine: Engine, generation_id: str | uuid.UUID) -> RowMapping:
    with engine.connect() as connection:
        return db_generations.get_generation(connection, generation_id)


def estimated_seconds(engine: Engine, provider: str) -> float:
    """Median processing time of the provider's recent completed generations, else its typical time."""
    with engine.connect() as connection:
        recent = connection.execute(
            sa.text(
                "SELECT processing_time_ms FROM clip_ai_generations WHERE provider = :provider"
                " AND status = 'completed' AND processing_time_ms IS NOT NULL"
                " ORDER BY completed_at DESC NULLS LAST, created_at DESC LIMIT :limit"
            ),
            {"provider": provider, "limit": RECENT_GENERATIONS},
        ).scalars().all()
    if recent:
        return statistics.median(recent) / 1000
    return TYPICAL_SECONDS[provider]

