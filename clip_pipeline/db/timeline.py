"""Queries over the timeline tables: assets, timelines, tracks and clips."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from clip_pipeline.errors import NotFound


def insert_asset(
    connection: Connection,
    *,
    storage_path: str,
    name: str | None = None,
    duration_ms: int | None = None,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    has_audio: bool | None = None,
    file_size: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> uuid.UUID:
    return connection.execute(
        sa.text(
            "INSERT INTO assets (name, storage_path, duration_ms, width, height, fps, has_audio,"
            " file_size, metadata) VALUES (:name, :storage_path, :duration_ms, :width, :height,"
            " :fps, :has_audio, :file_size, CAST(:metadata AS jsonb)) RETURNING id"
        ),
        {
            "name": name,
            "storage_path": storage_path,
            "duration_ms": duration_ms,
            "width": width,
            "height": height,
            "fps": fps,
            "has_audio": has_audio,
            "file_size": file_size,
            "metadata": json.dumps(metadata or {}),
        },
    ).scalar_one()


def insert_timeline(connection: Connection, name: str, fps: float | None = None) -> uuid.UUID:
    return connection.execute(
        sa.text("INSERT INTO timelines (name, fps) VALUES (:name, :fps) RETURNING id"),
        {"name": name, "fps": fps},
    ).scalar_one()


def insert_track(
    connection: Connection, timeline_id: uuid.UUID, *, position: int, kind: str = "video", name: str | None = None
) -> uuid.UUID:
    return connection.execute(
        sa.text(
            "INSERT INTO tracks (timeline_id, position, kind, name)"
            " VALUES (:timeline_id, :position, :kind, :name) RETURNING id"
        ),
        {"timeline_id": timeline_id, "position": position, "kind": kind, "name": name},
    ).scalar_one()


def insert_clip(
    connection: Connection,
    *,
    track_id: uuid.UUID,
    asset_id: uuid.UUID,
    start_time: int,
    source_start: int,
    source_end: int,
    name: str | None = None,
) -> uuid.UUID:
    """A clip playing [source_start, source_end) of the asset from `start_time` on the timeline."""
    return connection.execute(
        sa.text(
            "INSERT INTO clips (track_id, asset_id, name, start_time, end_time, source_start, source_end)"
            " VALUES (:track_id, :asset_id, :name, :start_time, :end_time, :source_start, :source_end)"
            " RETURNING id"
        ),
        {
            "track_id": track_id,
            "asset_id": asset_id,
            "name": name,
            "start_time": start_time,
            "end_time": start_time + (source_end - source_start),
            "source_start": source_start,
            "source_end": source_end,
        },
    ).scalar_one()


def parse_id(value: str | uuid.UUID, what: str) -> uuid.UUID:
    """A UUID from user input, or a NotFound naming the thing (a malformed id matches nothing)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} '{value}' does not exist (not a valid id)") from None


def get_clip(connection: Connection, clip_id: str | uuid.UUID) -> RowMapping:
    """The clip with its asset's storage path and its timeline, or NotFound."""
    row = (
        connection.execute(
            sa.text(
                "SELECT c.*, a.storage_path AS asset_storage_path, a.duration_ms AS asset_duration_ms,"
                " t.timeline_id FROM clips c JOIN assets a ON a.id = c.asset_id"
                " JOIN tracks t ON t.id = c.track_id WHERE c.id = :id"
            ),
            {"id": parse_id(clip_id, "clip")},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"clip '{clip_id}' does not exist")
    return row
