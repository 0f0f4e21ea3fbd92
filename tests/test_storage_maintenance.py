"""The storage chores against a real migrated PostgreSQL and the local disk store: expiring exports
(objects deleted, rows marked, idempotent) and uploading what a failed upload left in the cache."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from clip_pipeline.services.storage_maintenance import expire_exports, upload_pending_files
from clip_pipeline.settings import Settings
from clip_pipeline.storage import get_store
from clip_pipeline.storage.file_server import start_file_server
from clip_pipeline.storage.keys import export_audio_key, export_key, result_key

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def stores(tmp_path):
    settings = Settings(_env_file=None, home=tmp_path / "home")
    handle = start_file_server(settings, port=0)
    settings = Settings(_env_file=None, home=tmp_path / "home", public_base_url=handle.base_url)
    yield get_store(settings, settings.exports_bucket), get_store(settings, settings.results_bucket)
    handle.stop()


@pytest.fixture
def clip_id(engine) -> uuid.UUID:
    with engine.begin() as connection:
        asset = connection.execute(sa.text("INSERT INTO assets (storage_path) VALUES ('src.mp4') RETURNING id")).scalar()
        timeline = connection.execute(sa.text("INSERT INTO timelines (name) VALUES ('t') RETURNING id")).scalar()
        track = connection.execute(sa.text("INSERT INTO tracks (timeline_id, position) VALUES (:t, 0) RETURNING id"),
                                   {"t": timeline}).scalar()
        return connection.execute(sa.text(
            "INSERT INTO clips (track_id, asset_id, start_time, end_time, source_start, source_end)"
            " VALUES (:track, :asset, 0, 1000, 0, 1000) RETURNING id"), {"track": track, "asset": asset}).scalar()


def insert_export(engine, clip_id, **columns) -> uuid.UUID:
    values = {"clip_id": clip_id, "source_start": 0, "source_end": 1000, "fingerprint": uuid.uuid4().hex[:16], **columns}
    names = ", ".join(values)
    params = ", ".join(f":{name}" for name in values)
    with engine.begin() as connection:
        return connection.execute(sa.text(f"INSERT INTO clip_exports ({names}) VALUES ({params}) RETURNING id"), values).scalar()


def export_row(engine, export_id):
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT * FROM clip_exports WHERE id = :id"), {"id": export_id}).mappings().one()


def put(store, key: str, tmp_path: Path, data: bytes = b"clip") -> None:
    source = tmp_path / f"src-{uuid.uuid4().hex}"
    source.write_bytes(data)
    store.put_file(key, source, content_type="video/mp4")


def test_migration_adds_the_upload_columns(engine):
    columns = {c["name"]: c for c in sa.inspect(engine).get_columns("clip_exports")}
    assert {"upload_pending", "cached_video_path", "cached_audio_path"} <= set(columns)
    assert columns["upload_pending"]["nullable"] is False
    generation_columns = {c["name"] for c in sa.inspect(engine).get_columns("clip_ai_generations")}
    assert {"upload_pending", "cached_final_path"} <= generation_columns
    with engine.begin() as connection:  # safe to run again by hand
        connection.exec_driver_sql((Path(__file__).parents[1] / "sql" / "0002_storage.sql").read_text())


def test_expire_exports_deletes_objects_marks_rows_and_is_idempotent(engine, clip_id, stores, tmp_path):
    exports, _ = stores
    old_video, old_audio, fresh_video = "exports/old.mp4", "exports/old.m4a", "exports/fresh.mp4"
    for key in (old_video, old_audio, fresh_video):
        put(exports, key, tmp_path)
    old = insert_export(engine, clip_id, status="ready", storage_path=old_video, audio_storage_path=old_audio,
                        duration_ms=1000, public_url="http://x/old", expires_at=NOW - timedelta(seconds=1))
    fresh = insert_export(engine, clip_id, status="ready", storage_path=fresh_video, duration_ms=1000,
                          expires_at=NOW + timedelta(days=1))
    failed = insert_export(engine, clip_id, status="error", error_message="boom", expires_at=NOW - timedelta(days=1))

    assert expire_exports(engine, exports, now=NOW) == [str(old)]
    assert not exports.exists(old_video) and not exports.exists(old_audio)
    assert exports.exists(fresh_video)
    row = export_row(engine, old)
    assert row["status"] == "expired" and row["public_url"] is None
    assert export_row(engine, fresh)["status"] == "ready"
    assert export_row(engine, failed)["status"] == "error"
    assert expire_exports(engine, exports, now=NOW) == []


def test_expire_exports_also_drops_a_pending_upload_cache(engine, clip_id, stores, tmp_path):
    exports, _ = stores
    cached = tmp_path / "cache.mp4"
    cached.write_bytes(b"never uploaded")
    export = insert_export(engine, clip_id, status="ready", storage_path="exports/p.mp4", duration_ms=1000,
                           upload_pending=True, cached_video_path=str(cached), expires_at=NOW - timedelta(hours=1))
    assert expire_exports(engine, exports, now=NOW) == [str(export)]
    row = export_row(engine, export)
    assert (row["status"], row["upload_pending"], row["cached_video_path"]) == ("expired", False, None)
    assert not cached.exists()


def test_upload_pending_files_uploads_sets_urls_and_clears_the_flag(engine, clip_id, stores, tmp_path):
    exports, results = stores
    video, audio, final = tmp_path / "v.mp4", tmp_path / "a.m4a", tmp_path / "f.mp4"
    video.write_bytes(b"video bytes")
    audio.write_bytes(b"audio bytes")
    final.write_bytes(b"final bytes")
    fingerprint = "fp123"
    now = datetime.now(timezone.utc)
    export = insert_export(engine, clip_id, fingerprint=fingerprint, status="ready", duration_ms=1000,
                           storage_path=export_key(clip_id, fingerprint), upload_pending=True,
                           cached_video_path=str(video), cached_audio_path=str(audio),
                           expires_at=now + timedelta(days=7))
    with engine.begin() as connection:
        asset = connection.execute(sa.text("INSERT INTO assets (storage_path) VALUES (:path) RETURNING id"),
                                   {"path": str(final)}).scalar()
        generation = connection.execute(sa.text(
            "INSERT INTO clip_ai_generations (source_clip_id, provider, model, task_type, expected_duration_ms,"
            " upload_pending, cached_final_path, result_asset_id)"
            " VALUES (:clip, 'local', 'm', 'scene_generate', 1000, TRUE, :path, :asset) RETURNING id"),
            {"clip": clip_id, "path": str(final), "asset": asset}).scalar()

    assert upload_pending_files(engine, exports, results, now=now) == 2

    row = export_row(engine, export)
    assert row["upload_pending"] is False and row["cached_video_path"] is None and row["cached_audio_path"] is None
    assert row["audio_storage_path"] == export_audio_key(clip_id, fingerprint)
    assert httpx.get(row["public_url"]).content == b"video bytes"
    assert httpx.get(row["audio_url"]).content == b"audio bytes"
    assert not video.exists() and not audio.exists()
    with engine.connect() as connection:
        gen = connection.execute(sa.text("SELECT * FROM clip_ai_generations WHERE id = :id"), {"id": generation}).mappings().one()
    assert gen["upload_pending"] is False and gen["final_storage_path"] == result_key(generation)
    assert httpx.get(gen["final_url"]).content == b"final bytes"
    with engine.connect() as connection:
        asset_path = connection.execute(sa.text("SELECT storage_path FROM assets WHERE id = :id"), {"id": asset}).scalar()
    assert asset_path == f"{results.bucket}/{result_key(generation)}"
    assert upload_pending_files(engine, exports, results, now=now) == 0


def test_a_missing_cache_file_keeps_the_row_pending(engine, clip_id, stores, tmp_path):
    exports, results = stores
    export = insert_export(engine, clip_id, status="ready", storage_path="exports/m.mp4", duration_ms=1000,
                           upload_pending=True, cached_video_path=str(tmp_path / "gone.mp4"))
    assert upload_pending_files(engine, exports, results) == 0
    row = export_row(engine, export)
    assert row["upload_pending"] is True and row["public_url"] is None
