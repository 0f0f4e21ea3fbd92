"""Queries over clip_ai_generations."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from clip_pipeline.db.timeline import parse_id
from clip_pipeline.errors import NotFound


def get_generation(connection: Connection, generation_id: str | uuid.UUID, *, lock: bool = False) -> RowMapping:
    """The generation with its result asset's duration (result_asset_duration_ms), or NotFound.
    lock=True holds the row until the transaction ends."""
    row = (
        connection.execute(
            sa.text(
                "SELECT g.*, a.duration_ms AS result_asset_duration_ms FROM clip_ai_generations g"
                " LEFT JOIN assets a ON a.id = g.result_asset_id WHERE g.id = :id"
                + (" FOR UPDATE OF g" if lock else "")
            ),
            {"id": parse_id(generation_id, "generation")},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"generation '{generation_id}' does not exist")
    return row
