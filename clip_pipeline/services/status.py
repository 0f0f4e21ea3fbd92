"""Where each clip stands: its exports and generations, newest first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clip_pipeline.db.timeline import parse_id


def clip_statuses(engine: Engine, clip_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """One entry per clip that has requests: export state and each generation's state."""
    conditions = ["EXISTS (SELECT 1 FROM clip_exports e WHERE e.clip_id = c.id)"]
    params: dict[str, Any] = {"limit": limit}
    if clip_id:
        conditions.append("c.id = :clip_id")
        params["clip_id"] = parse_id(clip_id, "clip")
    with engine.connect() as connection:
        clips = connection.execute(
            sa.text(
                "SELECT c.id, c.start_time, c.end_time, c.source_start, c.source_end FROM clips c"
                f" WHERE {' AND '.join(conditions)} ORDER BY c.start_time LIMIT :limit"
            ),
            params,
        ).mappings().all()
        ids = [c["id"] for c in clips]
        exports = connection.execute(
            sa.text(
                "SELECT clip_id, status, duration_ms, exactness_error_ms, public_url, error_message"
                " FROM clip_exports WHERE clip_id = ANY(:ids) ORDER BY seq"
            ),
            {"ids": ids},
        ).mappings().all()
        generations = connection.execute(
            sa.text(
                "SELECT id, source_clip_id, provider, model, task_type, status, progress, task_id,"
                " expected_duration_ms, provider_duration_ms, adjustment, final_duration_ms, final_error_ms, final_url,"
                " applied, error_message FROM clip_ai_generations WHERE source_clip_id = ANY(:ids)"
                " ORDER BY seq"
            ),
            {"ids": ids},
        ).mappings().all()
    return [
        {
            "clip_id": str(clip["id"]),
            "duration_ms": clip["source_end"] - clip["source_start"],
            "exports": [dict(e) for e in exports if e["clip_id"] == clip["id"]],
            "generations": [dict(g) for g in generations if g["source_clip_id"] == clip["id"]],
        }
        for clip in clips
    ]


def is_terminal(status: str) -> bool:
    return status in ("ready", "completed", "failed", "error", "expired")


def summarize(statuses: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in statuses:
        for generation in entry["generations"]:
            counts[generation["status"]] = counts.get(generation["status"], 0) + 1
    return counts



def generation_states(engine: Engine, generation_ids: set[str]) -> dict[str, str]:
    """Generation id -> status."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT id, status FROM clip_ai_generations WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": sorted(generation_ids)},
        ).all()
    return {str(generation_id): status for generation_id, status in rows}
