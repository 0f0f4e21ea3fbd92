"""Timeline rows for tests: an asset, a timeline with one video track, and clips on it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from clip_pipeline.db import timeline as db_timeline


@dataclass
class TimelineRows:
    asset_id: uuid.UUID
    timeline_id: uuid.UUID
    track_id: uuid.UUID
    clip_ids: list[uuid.UUID] = field(default_factory=list)


def make_timeline(
    engine: Engine,
    storage_path: str,
    ranges_ms: list[tuple[int, int]],
    *,
    asset_duration_ms: int | None = None,
    gap_ms: int = 0,
) -> TimelineRows:
    """One clip per (source_start, source_end) range, laid end to end (plus gap_ms) on one track."""
    with engine.begin() as connection:
        asset_id = db_timeline.insert_asset(
            connection, storage_path=storage_path, name="source", duration_ms=asset_duration_ms
        )
        timeline_id = db_timeline.insert_timeline(connection, "Test timeline")
        track_id = db_timeline.insert_track(connection, timeline_id, position=0, name="V1")
        rows = TimelineRows(asset_id, timeline_id, track_id)
        cursor = 0
        for start, end in ranges_ms:
            rows.clip_ids.append(
                db_timeline.insert_clip(
                    connection, track_id=track_id, asset_id=asset_id, start_time=cursor,
                    source_start=start, source_end=end,
                )
            )
            cursor += end - start + gap_ms
    return rows
