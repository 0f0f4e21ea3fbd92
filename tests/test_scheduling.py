"""What the sensors ask the database: request cursor and batching, retries, failed-run marking, temp cleanup."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import sqlalchemy as sa

from clip_pipeline.services import requests, scheduling
from clip_pipeline.services.cleanup import remove_stale_temp_files
from tests.support.timeline import make_timeline


def _bulk_clips(engine, count: int) -> list[str]:
    """COUNT one-second clips on one track, inserted server-side, with a pending export each."""
    rows = make_timeline(engine, "https://cdn.example/long.mp4", [(0, 1_000)])
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO clips (track_id, asset_id, start_time, end_time, source_start, source_end)"
                " SELECT :track, :asset, i * 1000, i * 1000 + 1000, i * 1000, i * 1000 + 1000"
                " FROM generate_series(1, :n - 1) AS i"
            ),
            {"track": rows.track_id, "asset": rows.asset_id, "n": count},
        )
        connection.execute(
            sa.text(
                "INSERT INTO clip_exports (clip_id, source_start, source_end, fingerprint)"
                " SELECT id, source_start, source_end, 'fp-' || id FROM clips ORDER BY start_time"
            )
        )
        return [str(c) for c in connection.execute(sa.text("SELECT id FROM clips ORDER BY start_time")).scalars()]


def test_cursor_walks_10000_pending_requests_in_batches_without_loss_or_duplicates(engine):
    clip_ids = _bulk_clips(engine, 10_000)
    cursor, seen, ticks = scheduling.RequestCursor(), [], 0
    while True:
        found = scheduling.new_requests(engine, cursor, batch_size=1_000)
        if found.rows_read == 0:
            break
        assert len(found.clip_ids) <= 1_000
        seen += found.clip_ids
        cursor = found.cursor
        ticks += 1
    assert ticks == 10
    assert len(seen) == len(set(seen)) == 10_000
    assert set(seen) == set(clip_ids)
    # a new request after the cursor is found, nothing older is read again
    requests.request_generation(engine, clip_ids[5], provider="local", task_type="lip_sync")
    found = scheduling.new_requests(engine, cursor, batch_size=1_000)
    assert found.clip_ids == [clip_ids[5]]
    assert scheduling.RequestCursor.parse(found.cursor.serialize()) == found.cursor


def test_rows_no_longer_pending_advance_the_cursor_but_request_nothing(engine):
    rows = make_timeline(engine, "https://cdn.example/a.mp4", [(0, 1_000), (1_000, 2_000)])
    requests.select_clips(engine, [str(c) for c in rows.clip_ids])
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE clip_exports SET status = 'processing' WHERE clip_id = :c"), {"c": rows.clip_ids[0]})
    found = scheduling.new_requests(engine, scheduling.RequestCursor(), 100)
    assert found.clip_ids == [str(rows.clip_ids[1])]
    assert found.rows_read == 2
    assert scheduling.new_requests(engine, found.cursor, 100).rows_read == 0


def test_abandoned_and_stale_exports_are_retried(engine):
    rows = make_timeline(engine, "https://cdn.example/a.mp4", [(0, 1_000), (1_000, 2_000), (2_000, 3_000)])
    abandoned, stalled, fresh = (str(c) for c in rows.clip_ids)
    requests.select_clips(engine, [abandoned, fresh])
    requests.request_generation(engine, stalled, provider="local", task_type="lip_sync")
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE clip_exports SET status = 'processing', leased_until = now() - interval '1 second' WHERE clip_id = :c"),
            {"c": abandoned},
        )
        connection.execute(
            sa.text(
                "UPDATE clip_exports SET status = 'ready', storage_path = 'k', duration_ms = 1000 WHERE clip_id = :c"
            ),
            {"c": stalled},
        )
        # both rows were last touched two minutes ago (the trigger sets updated_at, so disable it briefly)
        connection.execute(sa.text("ALTER TABLE clip_exports DISABLE TRIGGER clip_exports_updated_at"))
        connection.execute(sa.text("ALTER TABLE clip_ai_generations DISABLE TRIGGER clip_ai_generations_updated_at"))
        connection.execute(sa.text("UPDATE clip_exports SET updated_at = now() - interval '2 minutes'"))
        connection.execute(sa.text("UPDATE clip_ai_generations SET updated_at = now() - interval '2 minutes'"))
        connection.execute(sa.text("ALTER TABLE clip_exports ENABLE TRIGGER clip_exports_updated_at"))
        connection.execute(sa.text("ALTER TABLE clip_ai_generations ENABLE TRIGGER clip_ai_generations_updated_at"))
    # untouched for two minutes: stale after one minute, not after five (a passed lease always is);
    # the stalled generation waits for a provider slot, which is not an export retry
    assert set(scheduling.clips_needing_retry(engine, 100, timedelta(minutes=1))) == {abandoned, fresh}
    assert set(scheduling.clips_needing_retry(engine, 100, timedelta(minutes=5))) == {abandoned}


def _states(engine):
    with engine.connect() as connection:
        export = connection.execute(sa.text("SELECT status, error_message, leased_until FROM clip_exports")).one()
        generation = connection.execute(sa.text("SELECT status, error_message, leased_until FROM clip_ai_generations")).one()
    return tuple(export), tuple(generation)


def test_failed_run_releases_its_stage_rows_for_another_try_then_fails_them(engine):
    rows = make_timeline(engine, "https://cdn.example/a.mp4", [(0, 1_000)])
    clip = rows.clip_ids[0]
    requests.request_generation(engine, clip, provider="local", task_type="lip_sync")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE clip_exports SET status = 'processing', attempts = 1, leased_until = now() + interval '1 hour', lease_owner = 'run-a'"))
        connection.execute(sa.text("UPDATE clip_ai_generations SET status = 'merging', finalize_attempts = 1, leased_until = now() + interval '1 hour', lease_owner = 'run-b'"))
    # another run's failure leaves rows it did not hold alone
    assert scheduling.mark_failed_run(engine, clip, "export", "run zzz failed", max_attempts=3, run_id="run-z") == 0
    assert scheduling.mark_failed_run(engine, clip, "export", "run abc failed: killed", max_attempts=3, run_id="run-a") == 1
    export, generation = _states(engine)
    assert export == ("pending", "run abc failed: killed", None)
    assert generation[0] == "merging" and generation[2] is not None  # another stage: untouched
    assert scheduling.mark_failed_run(engine, clip, "finalize", "run def failed", max_attempts=3, run_id="run-b") == 1
    assert _states(engine)[1] == ("merging", "run def failed", None)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE clip_exports SET status = 'processing', attempts = 3, lease_owner = 'run-c'"))
        connection.execute(sa.text("UPDATE clip_ai_generations SET finalize_attempts = 3, lease_owner = 'run-d'"))
    scheduling.mark_failed_run(engine, clip, "export", "run ghi failed", max_attempts=3, run_id="run-c")
    scheduling.mark_failed_run(engine, clip, "finalize", "run jkl failed", max_attempts=3, run_id="run-d")
    export, generation = _states(engine)
    assert export[:2] == ("error", "run ghi failed")
    assert generation[:2] == ("failed", "run jkl failed")


def test_temp_cleanup_removes_only_stale_entries(tmp_path):
    stale_dir, stale_file, fresh = tmp_path / "export-old", tmp_path / "old.mp4", tmp_path / "new.mp4"
    stale_dir.mkdir()
    (stale_dir / "part.ts").write_bytes(b"x")
    stale_file.write_bytes(b"x")
    fresh.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    for path in (stale_dir, stale_file):
        os.utime(path, (two_hours_ago, two_hours_ago))
    removed = remove_stale_temp_files(tmp_path, timedelta(hours=1))
    assert set(removed) == {stale_dir, stale_file}
    assert fresh.exists() and not stale_dir.exists() and not stale_file.exists()
    assert remove_stale_temp_files(tmp_path / "missing") == []


def test_waiting_generations_are_requested_as_their_provider_frees_slots(engine):
    rows = make_timeline(engine, "https://cdn.example/a.mp4", [(i * 1_000, i * 1_000 + 1_000) for i in range(5)])
    clips = [str(c) for c in rows.clip_ids]
    for clip in clips:
        requests.request_generation(engine, clip, provider="local", task_type="lip_sync")
    requests.request_generation(engine, clips[0], provider="kling", task_type="scene_generate")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE clip_exports SET status = 'ready', storage_path = 'k', duration_ms = 1000"))
        # clips 0 and 1 already run on the local provider
        connection.execute(
            sa.text("UPDATE clip_ai_generations SET status = 'processing', task_id = 't' || seq"
                    " WHERE provider = 'local' AND source_clip_id = ANY(CAST(:c AS uuid[]))"),
            {"c": clips[:2]},
        )
    assert set(scheduling.pending_providers(engine)) == {"local", "kling"}
    # local: 3 slots, 2 taken -> the oldest waiting clip; kling: 1 free slot -> its clip
    assert set(scheduling.clips_with_free_provider_slots(engine, {"local": 3, "kling": 1})) == {clips[2], clips[0]}
    assert set(scheduling.clips_with_free_provider_slots(engine, {"local": 5})) == set(clips[2:])
    assert scheduling.clips_with_free_provider_slots(engine, {"local": 2}) == []
