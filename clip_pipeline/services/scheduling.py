"""What the sensors ask the database: new requests past a cursor, work that needs another try, and
rows left behind by a failed run."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

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
        busy = set(
            connection.execute(
                sa.text(
                    "SELECT DISTINCT clip_id FROM clip_exports WHERE status = 'processing'"
                    " AND leased_until >= now() AND clip_id = ANY(:ids)"
                ),
                {"ids": [row[1] for row in [*exports, *generations]]},
            ).scalars()
        )
    # a clip whose export a live run holds is left to that run (its submit step follows)
    clip_ids: dict[str, None] = {}
    for _, clip_id, status in [*exports, *generations]:
        if status == "pending" and clip_id not in busy:
            clip_ids[str(clip_id)] = None
    return NewRequests(
        clip_ids=list(clip_ids),
        cursor=RequestCursor(
            exports=exports[-1][0] if exports else cursor.exports,
            generations=generations[-1][0] if generations else cursor.generations,
        ),
        rows_read=len(exports) + len(generations),
    )


def clips_needing_retry(engine: Engine, limit: int, stale_after: timedelta) -> list[str]:
    """Clips whose export stalled: abandoned in processing (lease passed) or left pending (its run
    failed). `stale_after` is how long a pending row must have been untouched."""
    with engine.connect() as connection:
        return [
            str(clip_id)
            for clip_id in connection.execute(
                sa.text(
                    "SELECT DISTINCT clip_id FROM clip_exports WHERE (status = 'processing' AND leased_until < now())"
                    " OR (status = 'pending' AND updated_at < now() - make_interval(secs => :stale)) LIMIT :n"
                ),
                {"n": limit, "stale": stale_after.total_seconds()},
            ).scalars()
        ]


def pending_providers(engine: Engine) -> list[str]:
    """Providers that have generations waiting for submission with their export ready."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.text(
                    "SELECT DISTINCT g.provider FROM clip_ai_generations g JOIN clip_exports e"
                    " ON e.id = g.clip_export_id WHERE g.status = 'pending' AND e.status = 'ready'"
                )
            ).scalars()
        )


def clips_with_free_provider_slots(engine: Engine, capacities: dict[str, int]) -> list[str]:
    """Clips whose oldest waiting generations fit in their provider's free slots right now
    (capacity minus the tasks it is running): a slot freed by a finished task is used at once."""
    if not capacities:
        return []
    with engine.connect() as connection:
        return [
            str(clip_id)
            for clip_id in connection.execute(
                sa.text(
                    "WITH caps AS (SELECT * FROM unnest(CAST(:providers AS text[]), CAST(:caps AS int[]))"
                    " AS c(provider, capacity)),"
                    " running AS (SELECT provider, count(*) AS n FROM clip_ai_generations"
                    " WHERE status = 'processing' GROUP BY provider),"
                    " waiting AS (SELECT g.provider, g.source_clip_id, row_number() OVER"
                    " (PARTITION BY g.provider ORDER BY g.seq) AS rank FROM clip_ai_generations g"
                    " JOIN clip_exports e ON e.id = g.clip_export_id"
                    " WHERE g.status = 'pending' AND e.status = 'ready')"
                    " SELECT DISTINCT w.source_clip_id FROM waiting w JOIN caps c USING (provider)"
                    " LEFT JOIN running r USING (provider) WHERE w.rank <= c.capacity - coalesce(r.n, 0)"
                ),
                {"providers": list(capacities), "caps": list(capacities.values())},
            ).scalars()
        ]


def clips_ready_to_finalize(engine: Engine, limit: int) -> dict[str, list[str]]:
    """Clip id -> run-key parts ("<generation id>.<attempt>") of its generations the provider
    finished (status merging) and no live run holds; a retry after a failed run gets a new key."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT source_clip_id, id, finalize_attempts FROM clip_ai_generations"
                " WHERE status = 'merging' AND (leased_until IS NULL OR leased_until < now())"
                " ORDER BY seq LIMIT :n"
            ),
            {"n": limit},
        ).all()
    ready: dict[str, list[str]] = {}
    for clip_id, generation_id, attempts in rows:
        ready.setdefault(str(clip_id), []).append(f"{generation_id}.{attempts}")
    return ready


def mark_failed_run(
    engine: Engine, clip_id: str | uuid.UUID, stage: str, message: str, max_attempts: int, run_id: str
) -> int:
    """After run RUN_ID failed: the rows of its clip that it held for that stage get the run's error
    and are released for another try, or fail for good once they used max_attempts. Rows another
    live run holds are left alone."""
    statement = {
        "export": "UPDATE clip_exports SET error_message = :m, leased_until = NULL,"
        " status = CASE WHEN attempts >= :max THEN 'error' ELSE 'pending' END"
        " WHERE clip_id = :clip_id AND status = 'processing' AND lease_owner = :run_id",
        "finalize": "UPDATE clip_ai_generations SET error_message = :m, leased_until = NULL,"
        " status = CASE WHEN finalize_attempts >= :max THEN 'failed' ELSE 'merging' END"
        " WHERE source_clip_id = :clip_id AND status = 'merging' AND lease_owner = :run_id",
    }[stage]
    with engine.begin() as connection:
        return connection.execute(
            sa.text(statement),
            {"clip_id": clip_id, "m": message[:2000], "max": max_attempts, "run_id": run_id},
        ).rowcount
