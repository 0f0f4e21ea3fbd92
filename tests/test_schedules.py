"""The schedules' jobs, run as Dagster runs them: hourly temp cleanup, daily expiry and cache upload."""

from __future__ import annotations

import os
import time

import dagster as dg
import sqlalchemy as sa

from clip_pipeline.defs.clips.schedules import (
    expiry_cleanup_job,
    expiry_cleanup_schedule,
    temp_cleanup_job,
    temp_cleanup_schedule,
)
from clip_pipeline.defs.resources import DatabaseResource, SettingsResource
from clip_pipeline.settings import get_settings
from clip_pipeline.storage import get_store
from clip_pipeline.storage.keys import export_key
from tests.support.timeline import make_timeline


def _resources(database_url):
    return {"database": DatabaseResource(url=database_url), "app_settings": SettingsResource()}


def test_schedules_are_hourly_and_daily():
    assert temp_cleanup_schedule.cron_schedule == "0 * * * *"
    assert expiry_cleanup_schedule.cron_schedule == "30 3 * * *"


def test_temp_cleanup_job_removes_files_older_than_an_hour(clip_env):
    temp_dir = get_settings().temp_dir
    temp_dir.mkdir(parents=True)
    old, new = temp_dir / "export-abandoned", temp_dir / "final-running"
    old.mkdir()
    new.mkdir()
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    result = temp_cleanup_job.execute_in_process(resources=_resources(clip_env["CLIP_PIPELINE_DATABASE_URL"]))
    assert result.success
    assert result.output_for_node("remove_stale_temp_files_op") == 1
    assert not old.exists() and new.exists()


def test_expiry_job_deletes_expired_exports_and_uploads_cached_files(clip_env, engine, tmp_path):
    settings = get_settings()
    store = get_store(settings, settings.exports_bucket)
    rows = make_timeline(engine, "cloudflare:x", [(0, 1_000), (1_000, 2_000)])
    expired_clip, cached_clip = rows.clip_ids
    expired_key = export_key(expired_clip, "f1")
    payload = tmp_path / "clip.mp4"
    payload.write_bytes(b"\x00" * 2048)
    store.put_file(expired_key, payload, content_type="video/mp4")
    cache_file = settings.cache_dir / settings.exports_bucket / export_key(cached_clip, "f2")
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(b"\x01" * 1024)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO clip_exports (clip_id, source_start, source_end, fingerprint, status, storage_path,"
                " duration_ms, expires_at) VALUES (:c, 0, 1000, 'f1', 'ready', :k, 1000, now() - interval '1 hour')"
            ),
            {"c": expired_clip, "k": expired_key},
        )
        connection.execute(
            sa.text(
                "INSERT INTO clip_exports (clip_id, source_start, source_end, fingerprint, status, storage_path,"
                " duration_ms, expires_at, upload_pending, cached_video_path) VALUES (:c, 1000, 2000, 'f2',"
                " 'ready', :k, 1000, now() + interval '6 days', TRUE, :cache)"
            ),
            {"c": cached_clip, "k": export_key(cached_clip, "f2"), "cache": str(cache_file)},
        )
    result = expiry_cleanup_job.execute_in_process(resources=_resources(clip_env["CLIP_PIPELINE_DATABASE_URL"]))
    assert result.success
    assert result.output_for_node("expire_and_upload_op") == {"expired": 1, "uploaded": 1}
    assert not store.exists(expired_key)
    assert store.exists(export_key(cached_clip, "f2")) and not cache_file.exists()
    with engine.connect() as connection:
        states = dict(connection.execute(sa.text("SELECT fingerprint, status FROM clip_exports")).all())
        pending = connection.execute(sa.text("SELECT upload_pending, public_url FROM clip_exports WHERE fingerprint = 'f2'")).one()
    assert states == {"f1": "expired", "f2": "ready"}
    assert pending[0] is False and pending[1]


def test_each_schedule_runs_its_cleanup_job_and_starts_on():
    assert temp_cleanup_schedule.job_name == temp_cleanup_job.name
    assert expiry_cleanup_schedule.job_name == expiry_cleanup_job.name
    for schedule in (temp_cleanup_schedule, expiry_cleanup_schedule):
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        assert len(schedule.evaluate_tick(dg.build_schedule_context()).run_requests) == 1
