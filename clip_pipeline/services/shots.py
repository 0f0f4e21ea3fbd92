"""Shots: PySceneDetect finds the cuts in a source asset; the shots are stored per asset and can
split a timeline clip at the cuts inside its range."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from clip_pipeline.db.timeline import get_clip, insert_clip, parse_id
from clip_pipeline.errors import Conflict, NotFound


@dataclass(frozen=True)
class Shot:
    """A shot of an asset (ms from its start); score is the detector's score of the cut that starts it."""

    start_ms: int
    end_ms: int
    score: float | None = None


def _require_asset(connection: sa.Connection, asset_id: str | uuid.UUID) -> uuid.UUID:
    parsed = parse_id(asset_id, "asset")
    if connection.execute(sa.text("SELECT 1 FROM assets WHERE id = :id"), {"id": parsed}).first() is None:
        raise NotFound(f"asset '{asset_id}' does not exist")
    return parsed


def store_shots(engine: Engine, asset_id: str | uuid.UUID, shots: list[Shot]) -> int:
    """Replace the asset's stored shots with SHOTS (a re-detection supersedes the last one)."""
    with engine.begin() as connection:
        parsed = _require_asset(connection, asset_id)
        connection.execute(sa.text("DELETE FROM shot_segments WHERE asset_id = :id"), {"id": parsed})
        if shots:
            connection.execute(
                sa.text(
                    "INSERT INTO shot_segments (asset_id, start_ms, end_ms, score)"
                    " VALUES (:asset, :start, :end, :score)"
                ),
                [{"asset": parsed, "start": s.start_ms, "end": s.end_ms, "score": s.score} for s in shots],
            )
    return len(shots)


def list_shots(engine: Engine, asset_id: str | uuid.UUID) -> list[Shot]:
    """The asset's stored shots in order (empty when detection has not run)."""
    with engine.connect() as connection:
        parsed = _require_asset(connection, asset_id)
        rows = connection.execute(
            sa.text("SELECT start_ms, end_ms, score FROM shot_segments WHERE asset_id = :id ORDER BY start_ms"),
            {"id": parsed},
        )
        return [Shot(r.start_ms, r.end_ms, r.score) for r in rows]


def split_clip_at_shots(engine: Engine, clip_id: str | uuid.UUID) -> list[RowMapping]:
    """Cut a timeline clip at every detected shot boundary inside its source range, in place on its
    track: the clip keeps its first shot and a new clip follows for each later one, so the timeline
    plays exactly as before. Returns the clips in timeline order. Running it again changes nothing."""
    with engine.begin() as connection:
        clip = get_clip(connection, clip_id)
        connection.execute(sa.text("SELECT id FROM clips WHERE id = :id FOR UPDATE"), {"id": clip["id"]})
        if not connection.execute(
            sa.text("SELECT 1 FROM shot_segments WHERE asset_id = :asset LIMIT 1"), {"asset": clip["asset_id"]}
        ).first():
            raise Conflict(
                f"no shots detected for asset '{clip['asset_id']}' yet; materialize the shot_segments"
                " asset for it first"
            )
        busy = connection.execute(
            sa.text(
                "SELECT 1 FROM clip_ai_generations WHERE source_clip_id = :id"
                " AND status IN ('pending', 'processing', 'merging') LIMIT 1"
            ),
            {"id": clip["id"]},
        ).first()
        if busy:
            raise Conflict(f"clip '{clip['id']}' has an AI generation in progress; split it once that has finished")
        cuts = connection.execute(
            sa.text(
                "SELECT start_ms FROM shot_segments WHERE asset_id = :asset"
                " AND start_ms > :start AND start_ms < :end ORDER BY start_ms"
            ),
            {"asset": clip["asset_id"], "start": clip["source_start"], "end": clip["source_end"]},
        ).scalars().all()
        bounds = [clip["source_start"], *cuts, clip["source_end"]]
        offset = clip["start_time"] - clip["source_start"]
        if cuts:
            connection.execute(
                sa.text("UPDATE clips SET source_end = :end, end_time = :end + :offset WHERE id = :id"),
                {"end": bounds[1], "offset": offset, "id": clip["id"]},
            )
        clip_ids = [clip["id"]]
        for start, end in zip(bounds[1:-1], bounds[2:]):
            clip_ids.append(
                insert_clip(
                    connection,
                    track_id=clip["track_id"],
                    asset_id=clip["asset_id"],
                    start_time=start + offset,
                    source_start=start,
                    source_end=end,
                    name=clip["name"],
                )
            )
        return [get_clip(connection, piece) for piece in clip_ids]
