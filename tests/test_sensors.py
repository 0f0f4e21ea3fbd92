"""The sensors as Dagster evaluates them: cursor, batching, partitions added, idempotent run keys."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from clip_pipeline.defs.clips.sensors import REQUEST_BATCH, provider_completion_sensor, selected_clips_sensor
from clip_pipeline.defs.local_daemon import dagster_instance
from clip_pipeline.defs.resources import DatabaseResource, SettingsResource
from clip_pipeline.settings import get_settings
from tests.support.timeline import make_timeline


@pytest.fixture
def instance(clip_env, monkeypatch, tmp_path):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("CLIP_PIPELINE_DAGSTER_PG_URL", "unset")
    return dagster_instance(get_settings().home, clip_env["CLIP_PIPELINE_DATABASE_URL"])


def _evaluate(sensor, instance, database_url, cursor=None):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"database": DatabaseResource(url=database_url), "app_settings": SettingsResource()},
    )
    return sensor(context)


def test_selected_clips_sensor_batches_2500_requests_with_a_cursor(instance, clip_env, engine):
    rows = make_timeline(engine, "cloudflare:x", [(0, 1_000)])
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO clips (track_id, asset_id, start_time, end_time, source_start, source_end)"
                " SELECT :track, :asset, i * 1000, i * 1000 + 1000, 0, 1000 FROM generate_series(1, 2499) i"
            ),
            {"track": rows.track_id, "asset": rows.asset_id},
        )
        connection.execute(
            sa.text(
                "INSERT INTO clip_exports (clip_id, source_start, source_end, fingerprint)"
                " SELECT id, 0, 1000, 'fp-' || id FROM clips ORDER BY start_time"
            )
        )
    url = clip_env["CLIP_PIPELINE_DATABASE_URL"]
    cursor, keys, run_keys = None, [], []
    for _ in range(3):
        result = _evaluate(selected_clips_sensor, instance, url, cursor)
        assert isinstance(result, dg.SensorResult)
        assert len(result.run_requests) <= REQUEST_BATCH
        added = [key for request in result.dynamic_partitions_requests for key in request.partition_keys]
        assert added == [r.partition_key for r in result.run_requests]
        instance.add_dynamic_partitions("clips", added)
        # evaluating the same tick again asks for the very same runs (Dagster dedupes by run key)
        again = _evaluate(selected_clips_sensor, instance, url, cursor)
        assert [r.run_key for r in again.run_requests] == [r.run_key for r in result.run_requests]
        assert again.dynamic_partitions_requests == []  # the partitions exist now
        keys += added
        run_keys += [r.run_key for r in result.run_requests]
        cursor = result.cursor
    assert len(keys) == len(set(keys)) == 2_500
    assert len(set(run_keys)) == 2_500
    assert isinstance(_evaluate(selected_clips_sensor, instance, url, cursor), dg.SkipReason)


def test_completion_sensor_requests_a_finalize_run_per_clip_with_finished_generations(instance, clip_env, engine):
    rows = make_timeline(engine, "cloudflare:x", [(0, 1_000), (1_000, 2_000)])
    with engine.begin() as connection:
        for clip, status in zip(rows.clip_ids, ("merging", "processing")):
            connection.execute(
                sa.text(
                    "INSERT INTO clip_ai_generations (source_clip_id, provider, model, task_type,"
                    " expected_duration_ms, status, task_id, last_polled_at) VALUES (:c, 'local', 'local-v1',"
                    " 'lip_sync', 1000, :s, 'local-' || :s, now())"
                ),
                {"c": clip, "s": status},
            )
    result = _evaluate(provider_completion_sensor, instance, clip_env["CLIP_PIPELINE_DATABASE_URL"])
    assert [r.partition_key for r in result.run_requests] == [str(rows.clip_ids[0])]
    assert result.run_requests[0].run_key.startswith(f"final:{rows.clip_ids[0]}:")
