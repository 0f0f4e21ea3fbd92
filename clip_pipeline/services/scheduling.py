"""What the sensors ask the database: new requests past a cursor, work that needs another try, and
rows left behind by a failed run."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class RequestCursor:
    """The highest request sequence numbers the selected-clips sensor has seen."""

    exports: int = 0
    generations: int = 0

    def serialize(self) -> str:
        return f"{self.exports}:{self.generations}"

    @classmethod
    def parse(cls, value: str | None) -> "RequestCursor":
        if not value:
            return cls()
        exports, _, generations = value.partition(":")
        return cls(int(exports), int(generations or 0))


@dataclass(frozen=True)
class NewRequests:
    clip_ids: list[str]  # clips with pending work among the rows read, in request order
    cursor: RequestCursor
    rows_read: int


def new_requests(engine: Engine, cursor: RequestCursor, batch_size: int) -> NewRequests:
    """Request rows created after the cursor (at most batch_size of each kind), grouped by clip."""
    with engine.connect() as connection:
        exports = connection.execute(
            sa.text(
                "SELECT seq, clip_id, status FROM clip_exports WHERE seq > :after ORDER BY seq LIMIT :n"
            ),
            {"after": cursor.exports, "n": batch_size},
        ).all()
        generations = connection.execute(
            sa.text(
                "SELECT seq, source_clip_id, status FROM clip_ai_generations WHERE seq > :after"
                " ORDER BY seq LIMIT :n"
            ),
            {"after": cursor.generations, "n": batch_size},
        ).all()
    clip_ids: dict[str, None] = {}
    for _, clip_id, status in [*exports, *generations]:
        if status == "pending":
            clip_ids[str(clip_id)] = None
    return NewRequests(
        clip_ids=list(clip_ids),
        cursor=RequestCursor(
            exports=exports[-1][0] if exports else cursor.exports,
            generations=generations[-1][0] if generations else cursor.generations,
        ),
        rows_read=len(exports) + len(generations),
    )


def clips_needing_retry(engine: Engine, limit: int) -> list[str]:
    """Clips whose work stalled: an export abandoned in processing (lease passed), or a generation
    still pending a while after its export became ready (e.g. it waited for a provider slot)."""
    with engine.connect() as connection:
        return [
            str(clip_id)
            for clip_id in connection.execute(
                sa.text(
                    "SELECT clip_id FROM clip_exports WHERE status = 'processing' AND leased_until < now()"
                    " UNION SELECT g.source_clip_id FROM clip_ai_generations g"
                    " JOIN clip_exports e ON e.id = g.clip_export_id WHERE g.status = 'pending'"
                    " AND e.status = 'ready' AND g.updated_at < now() - interval '1 minute'"
                    " AND e.updated_at < now() - interval '1 minute' LIMIT :n"
                ),
                {"n": limit},
            ).scalars()
        ]


def clips_ready_to_finalize(engine: Engine, limit: int) -> dict[str, list[str]]:
    """Clip id -> ids of its generations the provider finished (status merging)."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT source_clip_id, id FROM clip_ai_generations WHERE status = 'merging'"
                " ORDER BY seq LIMIT :n"
            ),
            {"n": limit},
        ).all()
    ready: dict[str, list[str]] = {}
    for clip_id, generation_id in rows:
        ready.setdefault(str(clip_id), []).append(str(generation_id))
    return ready


def mark_failed_run(engine: Engine, clip_id: str | uuid.UUID, stage: str, message: str) -> int:
    """After a run died: its clip's rows still in flight for that stage get the run's error."""
    statement = {
        "export": "UPDATE clip_exports SET status = 'error', error_message = :m, leased_until = NULL"
        " WHERE clip_id = :clip_id AND status = 'processing'",
        "finalize": "UPDATE clip_ai_generations SET status = 'failed', error_message = :m"
        " WHERE source_clip_id = :clip_id AND status = 'merging'",
    }[stage]
    with engine.begin() as connection:
        return connection.execute(sa.text(statement), {"clip_id": clip_id, "m": message[:2000]}).rowcount
