"""Applying finished AI generations to the timeline: replace, overlay, append (ripple), undo,
idempotence and all-or-nothing transactions."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from clip_pipeline.db import timeline as db_timeline
from clip_pipeline.errors import Conflict, NotFound
from clip_pipeline.services import timeline
from tests.support.generations import make_generation
from tests.support.timeline import make_timeline


def snapshot(engine) -> dict:
    """Everything apply may touch: clips, tracks and the generations' applied flags."""
    with engine.connect() as connection:
        return {
            "clips": sorted(
                tuple(r) for r in connection.execute(
                    sa.text("SELECT id, track_id, asset_id, start_time, end_time, source_start, source_end FROM clips")
                )
            ),
            "tracks": sorted(tuple(r) for r in connection.execute(sa.text("SELECT id, position, kind FROM tracks"))),
            "applied": sorted(
                tuple(r) for r in connection.execute(sa.text("SELECT id, applied, applied_clip_id FROM clip_ai_generations"))
            ),
        }


def clip_row(engine, clip_id):
    with engine.connect() as connection:
        return db_timeline.get_clip(connection, clip_id)


def clips_on(engine, track_id) -> list[tuple[int, int]]:
    with engine.connect() as connection:
        return [
            tuple(r) for r in connection.execute(
                sa.text("SELECT start_time, end_time FROM clips WHERE track_id = :t ORDER BY start_time"),
                {"t": track_id},
            )
        ]


def test_replace_plays_the_result_over_the_same_span_and_undo_restores(engine):
    rows = make_timeline(engine, "cloudflare:abc", [(1_000, 4_000), (10_000, 12_500)])
    before = snapshot(engine)
    generation = make_generation(engine, rows.clip_ids[1])

    applied = timeline.apply_generation(engine, generation["id"], "replace")

    clip = clip_row(engine, rows.clip_ids[1])
    assert applied == timeline.AppliedClip(rows.clip_ids[1], rows.track_id, 3_000, 5_500)
    assert clip["asset_id"] == generation["result_asset_id"]
    assert (clip["start_time"], clip["end_time"], clip["source_start"], clip["source_end"]) == (3_000, 5_500, 0, 2_500)
    with engine.connect() as connection:
        flags = connection.execute(
            sa.text("SELECT applied, applied_clip_id FROM clip_ai_generations WHERE id = :id"), {"id": generation["id"]}
        ).one()
    assert tuple(flags) == (True, rows.clip_ids[1])

    timeline.undo_apply(engine, generation["id"])
    assert snapshot(engine) == before | {"applied": [(generation["id"], False, None)]}
    with pytest.raises(Conflict, match="not applied"):
        timeline.undo_apply(engine, generation["id"])


def test_replace_a_chosen_target_clip(engine):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 2_000), (5_000, 7_000)])
    generation = make_generation(engine, rows.clip_ids[0])
    applied = timeline.apply_generation(engine, str(generation["id"]), "replace", target_clip_id=str(rows.clip_ids[1]))
    assert applied.clip_id == rows.clip_ids[1]
    assert clip_row(engine, rows.clip_ids[1])["asset_id"] == generation["result_asset_id"]
    assert clip_row(engine, rows.clip_ids[0])["asset_id"] == rows.asset_id


def test_replace_refuses_a_target_longer_than_the_result(engine):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 2_000), (5_000, 9_000)])
    generation = make_generation(engine, rows.clip_ids[0])
    before = snapshot(engine)
    with pytest.raises(Conflict, match="lasts 2000 ms but clip .* spans 4000 ms"):
        timeline.apply_generation(engine, generation["id"], "replace", target_clip_id=rows.clip_ids[1])
    assert snapshot(engine) == before


def test_overlay_goes_on_a_new_overlay_track_right_above_shifting_upper_tracks(engine):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 2_000), (3_000, 4_000)])
    with engine.begin() as connection:
        upper = [
            db_timeline.insert_track(connection, rows.timeline_id, position=p, kind="audio") for p in (1, 2, 5)
        ]
    first = make_generation(engine, rows.clip_ids[1])
    before = snapshot(engine)

    applied = timeline.apply_generation(engine, first["id"], "overlay")

    assert (applied.start_time, applied.end_time) == (2_000, 3_000)
    with engine.connect() as connection:
        positions = dict(connection.execute(sa.text("SELECT id, position FROM tracks")).all())
        kind = connection.execute(sa.text("SELECT kind FROM tracks WHERE id = :id"), {"id": applied.track_id}).scalar()
    assert positions[applied.track_id] == 1 and kind == "overlay"
    assert [positions[t] for t in upper] == [2, 3, 6]
    assert clip_row(engine, rows.clip_ids[1])["asset_id"] == rows.asset_id  # original untouched

    # A second result over the same span does not stack on the busy overlay track.
    second = make_generation(engine, rows.clip_ids[1])
    again = timeline.apply_generation(engine, second["id"], "overlay")
    assert again.track_id != applied.track_id
    # Another clip's overlay fits on the existing overlay track (its span is free there).
    third = make_generation(engine, rows.clip_ids[0])
    with engine.connect() as connection:
        above_source = connection.execute(
            sa.text("SELECT id FROM tracks WHERE timeline_id = :t AND position = 1"), {"t": rows.timeline_id}
        ).scalar()
    assert timeline.apply_generation(engine, third["id"], "overlay").track_id == above_source

    for generation in (third, second, first):
        timeline.undo_apply(engine, generation["id"])
    after = snapshot(engine)
    assert after["clips"] == before["clips"]
    assert {t[0] for t in after["tracks"]} == {t[0] for t in before["tracks"]}  # overlay tracks removed


def test_append_ripples_later_clips_and_undo_moves_them_back(engine):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 1_000), (2_000, 3_500), (8_000, 9_000)], gap_ms=500)
    assert clips_on(engine, rows.track_id) == [(0, 1_000), (1_500, 3_000), (3_500, 4_500)]
    before = snapshot(engine)
    generation = make_generation(engine, rows.clip_ids[0], duration_ms=1_250)

    applied = timeline.apply_generation(engine, generation["id"], "append")

    assert (applied.track_id, applied.start_time, applied.end_time) == (rows.track_id, 1_000, 2_250)
    assert clips_on(engine, rows.track_id) == [(0, 1_000), (1_000, 2_250), (2_750, 4_250), (4_750, 5_750)]
    new_clip = clip_row(engine, applied.clip_id)
    assert (new_clip["asset_id"], new_clip["source_start"], new_clip["source_end"]) == (
        generation["result_asset_id"], 0, 1_250,
    )

    timeline.undo_apply(engine, generation["id"])
    assert snapshot(engine)["clips"] == before["clips"]


def test_applying_twice_in_the_same_mode_changes_nothing(engine):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 1_000), (1_000, 2_000)])
    generation = make_generation(engine, rows.clip_ids[0])
    first = timeline.apply_generation(engine, generation["id"], "append")
    after_first = snapshot(engine)
    assert timeline.apply_generation(engine, generation["id"], "append") == first
    assert snapshot(engine) == after_first
    with pytest.raises(Conflict, match="already applied \\(append"):
        timeline.apply_generation(engine, generation["id"], "overlay")
    assert snapshot(engine) == after_first


@pytest.mark.parametrize(
    ("status", "check", "message"),
    [
        ("processing", None, "is processing, not completed"),
        ("failed", None, "is failed, not completed"),
        ("completed", None, "final check of its result has not run"),
        ("completed", False, "final check of its result failed"),
    ],
)
def test_unfinished_or_unchecked_generations_are_refused(engine, status, check, message):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 1_000)])
    generation = make_generation(engine, rows.clip_ids[0], status=status, final_check_passed=check)
    before = snapshot(engine)
    with pytest.raises(Conflict, match=message):
        timeline.apply_generation(engine, generation["id"], "replace")
    assert snapshot(engine) == before


def test_unknown_generation_or_target_is_not_found(engine):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 1_000)])
    generation = make_generation(engine, rows.clip_ids[0])
    with pytest.raises(NotFound, match="generation"):
        timeline.apply_generation(engine, uuid.uuid4())
    with pytest.raises(NotFound, match="not a valid id"):
        timeline.apply_generation(engine, "gen-1")
    with pytest.raises(NotFound, match="clip"):
        timeline.apply_generation(engine, generation["id"], target_clip_id=uuid.uuid4())


@pytest.mark.parametrize("mode", ["replace", "overlay", "append"])
def test_a_failure_midway_leaves_the_timeline_as_it_was(engine, monkeypatch, mode):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 1_000), (1_000, 2_000)])
    with engine.begin() as connection:
        db_timeline.insert_track(connection, rows.timeline_id, position=1, kind="audio")
    generation = make_generation(engine, rows.clip_ids[0])
    before = snapshot(engine)

    def fail(*args, **kwargs):
        raise RuntimeError("injected failure after the timeline changed")

    monkeypatch.setattr(timeline, "_mark_applied", fail)
    with pytest.raises(RuntimeError, match="injected"):
        timeline.apply_generation(engine, generation["id"], mode)
    assert snapshot(engine) == before
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM clip_applications")).scalar() == 0


def test_a_target_clip_anchors_overlay_and_append(engine):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 1_000), (1_000, 2_000), (2_000, 3_000)])
    overlay = make_generation(engine, rows.clip_ids[0])
    on_top = timeline.apply_generation(engine, overlay["id"], "overlay", target_clip_id=rows.clip_ids[2])
    assert (on_top.start_time, on_top.end_time) == (2_000, 3_000)

    append = make_generation(engine, rows.clip_ids[0])
    after = timeline.apply_generation(engine, append["id"], "append", target_clip_id=rows.clip_ids[1])
    assert (after.start_time, after.end_time) == (2_000, 3_000)
    assert clips_on(engine, rows.track_id) == [(0, 1_000), (1_000, 2_000), (2_000, 3_000), (3_000, 4_000)]
    # same mode and target again: nothing changes; another target is a different request
    unchanged = snapshot(engine)
    assert timeline.apply_generation(engine, append["id"], "append", target_clip_id=rows.clip_ids[1]) == after
    assert snapshot(engine) == unchanged
    with pytest.raises(Conflict, match="already applied"):
        timeline.apply_generation(engine, append["id"], "append", target_clip_id=rows.clip_ids[0])


def test_concurrent_applies_on_one_timeline_all_land_once(engine):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 1_000), (1_000, 2_000), (2_000, 3_000)])
    generations = [make_generation(engine, clip, duration_ms=1_000) for clip in rows.clip_ids]
    requests = [(generations[0]["id"], "append"), (generations[1]["id"], "append"),
                (generations[2]["id"], "overlay"), (generations[0]["id"], "append")]
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        applied = list(pool.map(lambda r: timeline.apply_generation(engine, *r), requests))

    assert applied[0] == applied[3]  # the same generation twice: one clip
    assert clips_on(engine, rows.track_id) == [(i * 1_000, (i + 1) * 1_000) for i in range(5)]
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM clip_applications")).scalar() == 3
