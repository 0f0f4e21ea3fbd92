"""Putting a finished AI generation on the timeline (replace, overlay, append) and taking it off again.

Each apply runs in one transaction and records what it changed in clip_applications, so applying the
same generation in the same mode again changes nothing and undo restores the timeline.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from clip_pipeline.db.generations import get_generation
from clip_pipeline.db.timeline import get_clip, insert_clip, insert_track
from clip_pipeline.errors import Conflict

ApplyMode = Literal["replace", "overlay", "append"]
APPLY_MODES: tuple[ApplyMode, ...] = ("replace", "overlay", "append")
OVERLAY_TRACK_NAME = "AI overlay"


@dataclass(frozen=True)
class AppliedClip:
    """Where the applied result plays: the clip, its track and its timeline span (ms)."""

    clip_id: uuid.UUID
    track_id: uuid.UUID
    start_time: int
    end_time: int


def apply_generation(
    engine: Engine,
    generation_id: str | uuid.UUID,
    mode: ApplyMode = "replace",
    target_clip_id: str | uuid.UUID | None = None,
) -> AppliedClip:
    """Put a completed generation whose final check passed on the timeline (one transaction)."""
    with engine.begin() as connection:
        return apply_generation_in(connection, generation_id, mode, target_clip_id)


def apply_generation_in(
    connection: Connection,
    generation_id: str | uuid.UUID,
    mode: ApplyMode = "replace",
    target_clip_id: str | uuid.UUID | None = None,
) -> AppliedClip:
    """apply_generation inside the caller's transaction (auto_apply runs it with its own writes).

    TARGET_CLIP_ID (default: the generation's source clip) is the clip replaced, overlaid or
    appended after."""
    if mode not in APPLY_MODES:
        raise ValueError(f"apply mode must be one of {', '.join(APPLY_MODES)}, not '{mode}'")
    generation = get_generation(connection, generation_id, lock=True)
    target = get_clip(connection, target_clip_id) if target_clip_id is not None else None
    previous = _application(connection, generation["id"])
    if previous is not None:
        if previous["mode"] == mode and (target is None or target["id"] == previous["target_clip_id"]):
            return _applied_clip(connection, previous["clip_id"])
        raise Conflict(
            f"generation '{generation['id']}' is already applied ({previous['mode']}, clip "
            f"'{previous['clip_id']}'); undo it before applying it another way"
        )
    _require_ready(generation)
    anchor = target or get_clip(connection, generation["source_clip_id"])
    lock_timeline(connection, anchor["timeline_id"])
    anchor = get_clip(connection, anchor["id"])  # as it is now that no other change can interleave
    if mode == "replace":
        applied = _replace(connection, generation, anchor)
    elif mode == "overlay":
        applied = _overlay(connection, generation, anchor)
    else:
        applied = _append(connection, generation, anchor)
    _mark_applied(connection, generation["id"], applied.clip_id)
    return applied


def undo_apply(engine: Engine, generation_id: str | uuid.UUID) -> None:
    """Take an applied generation off the timeline, restoring what apply changed (one transaction)."""
    with engine.begin() as connection:
        generation = get_generation(connection, generation_id, lock=True)
        application = _application(connection, generation["id"])
        if application is None:
            raise Conflict(f"generation '{generation['id']}' is not applied; there is nothing to undo")
        connection.execute(
            sa.text("DELETE FROM clip_applications WHERE generation_id = :id"), {"id": generation["id"]}
        )
        # Before the clip goes: applied_clip_id must not be left pointing at a deleted clip.
        connection.execute(
            sa.text(
                "UPDATE clip_ai_generations SET applied = FALSE, applied_clip_id = NULL WHERE id = :id"
            ),
            {"id": generation["id"]},
        )
        clip = get_clip(connection, application["clip_id"])
        lock_timeline(connection, clip["timeline_id"])
        clip = get_clip(connection, clip["id"])
        if application["mode"] == "replace":
            _restore_replaced(connection, clip, application)
        else:
            _remove_added(connection, clip, application)


def lock_timeline(connection: Connection, timeline_id: uuid.UUID) -> None:
    """One timeline change at a time: ripples and track reordering never interleave. Locks are
    taken in one order (generation, then timeline), so concurrent applies cannot deadlock."""
    connection.execute(sa.text("SELECT id FROM timelines WHERE id = :id FOR UPDATE"), {"id": timeline_id})


def _application(connection: Connection, generation_id: uuid.UUID) -> RowMapping | None:
    return (
        connection.execute(
            sa.text("SELECT * FROM clip_applications WHERE generation_id = :id"), {"id": generation_id}
        )
        .mappings()
        .first()
    )


def _require_ready(generation: RowMapping) -> None:
    name = f"generation '{generation['id']}'"
    if generation["status"] != "completed":
        raise Conflict(f"{name} is {generation['status']}, not completed; apply it once it has finished")
    if generation["result_asset_id"] is None:
        raise Conflict(f"{name} has no result asset yet; apply it once the pipeline has stored it")
    if generation["final_check_passed"] is not True:
        state = "failed" if generation["final_check_passed"] is False else "has not run"
        raise Conflict(f"{name}: the final check of its result {state}; it cannot be applied")


def _result_duration_ms(generation: RowMapping) -> int:
    return (
        generation["actual_duration_ms"]
        or generation["result_asset_duration_ms"]
        or generation["expected_duration_ms"]
    )


def _playable_span(generation: RowMapping, clip: RowMapping) -> int:
    """The clip's timeline span, which the result must be long enough to fill."""
    span = clip["end_time"] - clip["start_time"]
    duration = _result_duration_ms(generation)
    if duration < span:
        raise Conflict(
            f"generation '{generation['id']}' lasts {duration} ms but clip '{clip['id']}' spans "
            f"{span} ms; it cannot fill that clip"
        )
    return span


def _replace(connection: Connection, generation: RowMapping, clip: RowMapping) -> AppliedClip:
    span = _playable_span(generation, clip)
    connection.execute(
        sa.text(
            "UPDATE clips SET asset_id = :asset, source_start = 0, source_end = :span WHERE id = :id"
        ),
        {"asset": generation["result_asset_id"], "span": span, "id": clip["id"]},
    )
    _record(
        connection,
        generation["id"],
        "replace",
        clip["id"],
        clip["id"],
        previous_asset_id=clip["asset_id"],
        previous_source_start=clip["source_start"],
        previous_source_end=clip["source_end"],
    )
    return AppliedClip(clip["id"], clip["track_id"], clip["start_time"], clip["end_time"])


def _overlay(connection: Connection, generation: RowMapping, anchor: RowMapping) -> AppliedClip:
    span = _playable_span(generation, anchor)
    track_id, created = _overlay_track_above(connection, anchor)
    clip_id = _insert_result_clip(connection, generation, track_id, anchor["start_time"], span, "AI overlay")
    _record(connection, generation["id"], "overlay", anchor["id"], clip_id, created_track_id=track_id if created else None)
    return AppliedClip(clip_id, track_id, anchor["start_time"], anchor["end_time"])


def _overlay_track_above(connection: Connection, anchor: RowMapping) -> tuple[uuid.UUID, bool]:
    """The overlay track right above the anchor's track with room for its span, created if needed."""
    timeline_id = anchor["timeline_id"]
    position = connection.execute(
        sa.text("SELECT position FROM tracks WHERE id = :id"), {"id": anchor["track_id"]}
    ).scalar_one()
    above = (
        connection.execute(
            sa.text(
                "SELECT t.id, t.kind, EXISTS (SELECT 1 FROM clips c WHERE c.track_id = t.id"
                " AND c.start_time < :end AND c.end_time > :start) AS busy"
                " FROM tracks t WHERE t.timeline_id = :timeline AND t.position = :position"
            ),
            {
                "timeline": timeline_id,
                "position": position + 1,
                "start": anchor["start_time"],
                "end": anchor["end_time"],
            },
        )
        .mappings()
        .first()
    )
    if above is not None and above["kind"] == "overlay" and not above["busy"]:
        return above["id"], False
    if above is not None:
        _make_room_above(connection, timeline_id, position)
    return insert_track(connection, timeline_id, position=position + 1, kind="overlay", name=OVERLAY_TRACK_NAME), True


def _make_room_above(connection: Connection, timeline_id: uuid.UUID, position: int) -> None:
    """Move every track above POSITION up by one.

    UNIQUE(timeline_id, position) is checked row by row, so a single `position + 1` update can collide
    with a row not yet moved; first lift the tracks clear of all positions in use, then lower them.
    """
    lift = connection.execute(
        sa.text("SELECT max(position) + 1 FROM tracks WHERE timeline_id = :timeline"),
        {"timeline": timeline_id},
    ).scalar_one()
    params = {"timeline": timeline_id, "position": position, "lift": lift}
    connection.execute(
        sa.text(
            "UPDATE tracks SET position = position + :lift + 1"
            " WHERE timeline_id = :timeline AND position > :position"
        ),
        params,
    )
    connection.execute(
        sa.text(
            "UPDATE tracks SET position = position - :lift"
            " WHERE timeline_id = :timeline AND position > :position + :lift"
        ),
        params,
    )


def _append(connection: Connection, generation: RowMapping, anchor: RowMapping) -> AppliedClip:
    duration = _result_duration_ms(generation)
    track_id = anchor["track_id"]
    _shift_clips(connection, track_id, from_time=anchor["end_time"], by_ms=duration)
    clip_id = _insert_result_clip(connection, generation, track_id, anchor["end_time"], duration, "AI result")
    _record(connection, generation["id"], "append", anchor["id"], clip_id, ripple_ms=duration)
    return AppliedClip(clip_id, track_id, anchor["end_time"], anchor["end_time"] + duration)


def _insert_result_clip(
    connection: Connection, generation: RowMapping, track_id: uuid.UUID, start_time: int, duration: int, name: str
) -> uuid.UUID:
    """A clip playing the first DURATION ms of the generation's result from START_TIME."""
    return insert_clip(
        connection,
        track_id=track_id,
        asset_id=generation["result_asset_id"],
        start_time=start_time,
        source_start=0,
        source_end=duration,
        name=name,
    )


def _shift_clips(connection: Connection, track_id: uuid.UUID, *, from_time: int, by_ms: int) -> None:
    """Ripple: clips starting at or after FROM_TIME move by BY_MS (one statement; start and end move
    together, so every row keeps its span and the CHECK constraints hold row by row)."""
    connection.execute(
        sa.text(
            "UPDATE clips SET start_time = start_time + :by, end_time = end_time + :by"
            " WHERE track_id = :track AND start_time >= :from"
        ),
        {"by": by_ms, "track": track_id, "from": from_time},
    )


def _record(
    connection: Connection, generation_id: uuid.UUID, mode: ApplyMode, target_clip_id: uuid.UUID, clip_id: uuid.UUID, **changes
) -> None:
    columns = {"generation_id": generation_id, "mode": mode, "target_clip_id": target_clip_id, "clip_id": clip_id, **changes}
    connection.execute(
        sa.text(
            f"INSERT INTO clip_applications ({', '.join(columns)})"
            f" VALUES ({', '.join(':' + name for name in columns)})"
        ),
        columns,
    )


def _mark_applied(connection: Connection, generation_id: uuid.UUID, clip_id: uuid.UUID) -> None:
    connection.execute(
        sa.text("UPDATE clip_ai_generations SET applied = TRUE, applied_clip_id = :clip WHERE id = :id"),
        {"clip": clip_id, "id": generation_id},
    )


def _applied_clip(connection: Connection, clip_id: uuid.UUID) -> AppliedClip:
    clip = get_clip(connection, clip_id)
    return AppliedClip(clip["id"], clip["track_id"], clip["start_time"], clip["end_time"])


def _restore_replaced(connection: Connection, clip: RowMapping, application: RowMapping) -> None:
    previous_span = application["previous_source_end"] - application["previous_source_start"]
    if clip["end_time"] - clip["start_time"] != previous_span:
        raise Conflict(
            f"clip '{clip['id']}' was resized after the generation was applied; it cannot be restored"
        )
    connection.execute(
        sa.text(
            "UPDATE clips SET asset_id = :asset, source_start = :start, source_end = :end WHERE id = :id"
        ),
        {
            "asset": application["previous_asset_id"],
            "start": application["previous_source_start"],
            "end": application["previous_source_end"],
            "id": clip["id"],
        },
    )


def _remove_added(connection: Connection, clip: RowMapping, application: RowMapping) -> None:
    connection.execute(sa.text("DELETE FROM clips WHERE id = :id"), {"id": clip["id"]})
    if application["ripple_ms"]:
        _shift_clips(connection, clip["track_id"], from_time=clip["end_time"], by_ms=-application["ripple_ms"])
    if application["created_track_id"] is not None:
        connection.execute(
            sa.text(
                "DELETE FROM tracks t WHERE t.id = :id AND NOT EXISTS (SELECT 1 FROM clips c WHERE c.track_id = t.id)"
            ),
            {"id": application["created_track_id"]},
        )
