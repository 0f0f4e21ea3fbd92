"""Foundation: migrations, constraints, triggers, URL handling and the one-line errors of the CLI."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from clip_pipeline.db import engine as db_engine
from clip_pipeline.db import migrate as db_migrate
from tests.conftest import run_cli


def test_migrate_twice_applies_nothing_the_second_time(empty_database_url, tmp_path):
    env = {"CLIP_PIPELINE_DATABASE_URL": empty_database_url, "CLIP_PIPELINE_HOME": str(tmp_path)}
    first = run_cli("db", "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert first.json["applied"] == [m.version for m in db_migrate.available_migrations()]
    second = run_cli("db", "migrate", env=env)
    assert second.returncode == 0, second.stderr
    assert second.json["applied"] == []
    status = run_cli("db", "status", env=env)
    assert status.json["pending"] == []
    engine = db_engine.get_engine(empty_database_url)
    with engine.connect() as connection:
        recorded = connection.execute(sa.text("SELECT count(*) FROM schema_migrations")).scalar()
    assert recorded == len(first.json["applied"])


def test_status_lists_pending_on_an_empty_database(empty_database_url, tmp_path):
    env = {"CLIP_PIPELINE_DATABASE_URL": empty_database_url, "CLIP_PIPELINE_HOME": str(tmp_path)}
    result = run_cli("db", "status", env=env)
    assert result.returncode == 0, result.stderr
    assert result.json["applied"] == []
    assert "0001_schema" in result.json["pending"]


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("postgresql://someone:hunter2secret@127.0.0.1:1/nowhere", "127.0.0.1:1/nowhere"),
        ("not a url at all", "not a database URL"),
        ("mysql://root@127.0.0.1/test", "needs a postgresql:// URL"),
    ],
)
def test_wrong_database_url_is_one_clear_line_and_status_2(url, fragment, tmp_path):
    result = run_cli("db", "migrate", env={"CLIP_PIPELINE_DATABASE_URL": url, "CLIP_PIPELINE_HOME": str(tmp_path)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "hunter2secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_driver_urls_for_app_and_dagster():
    url = "postgresql://u:p%40ss@db.example:5433/app"
    assert db_engine.app_url(url).startswith("postgresql+psycopg://u:p%40ss@db.example:5433/app")
    assert db_engine.dagster_url(url).startswith("postgresql+psycopg2://")
    assert db_engine.describe_server(url) == "db.example:5433/app"


# --- constraints -------------------------------------------------------------------------------


def _insert(connection, table: str, **values):
    columns = ", ".join(values)
    placeholders = ", ".join(f":{k}" for k in values)
    return connection.execute(
        sa.text(f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id"), values
    ).scalar_one()


@pytest.fixture
def timeline_rows(engine):
    with engine.begin() as connection:
        asset = _insert(connection, "assets", storage_path="cloudflare:abc123", duration_ms=60_000)
        timeline = _insert(connection, "timelines", name="Episode 1")
        track = _insert(connection, "tracks", timeline_id=timeline, position=0)
        clip = _insert(
            connection, "clips", track_id=track, asset_id=asset,
            start_time=0, end_time=5_000, source_start=1_000, source_end=6_000,
        )
    return {"asset": asset, "timeline": timeline, "track": track, "clip": clip}


BAD_ROWS = [
    ("clips", {"start_time": 0, "end_time": 1000, "source_start": 2000, "source_end": 1000}, "clips_source_range"),
    ("clips", {"start_time": 0, "end_time": 1000, "source_start": -1, "source_end": 999}, "clips_source_range"),
    ("clips", {"start_time": 0, "end_time": 1000, "source_start": 0, "source_end": 2000}, "clips_span_matches_source"),
    ("clip_exports", {"source_start": 500, "source_end": 500, "fingerprint": "f1"}, "clip_exports_source_range"),
    ("clip_exports", {"source_start": 0, "source_end": 500, "fingerprint": "f2", "status": "done"}, "clip_exports_status_check"),
    ("clip_exports", {"source_start": 0, "source_end": 500, "fingerprint": "f3", "status": "ready"}, "clip_exports_ready_has_result"),
    ("clip_exports", {"source_start": 0, "source_end": 500, "fingerprint": "f4", "quality": "ultra"}, "clip_exports_quality_check"),
    ("clip_ai_generations", {"provider": "sora", "model": "m", "task_type": "lip_sync", "expected_duration_ms": 5000}, "clip_ai_generations_provider_check"),
    ("clip_ai_generations", {"provider": "kling", "model": "m", "task_type": "enhance", "expected_duration_ms": 5000}, "clip_ai_generations_task_type_check"),
    ("clip_ai_generations", {"provider": "kling", "model": "m", "task_type": "lip_sync", "expected_duration_ms": 0}, "clip_ai_generations_expected_duration_ms_check"),
    ("clip_ai_generations", {"provider": "kling", "model": "m", "task_type": "lip_sync", "expected_duration_ms": 5000, "status": "unknown"}, "clip_ai_generations_status_check"),
    ("clip_ai_generations", {"provider": "kling", "model": "m", "task_type": "lip_sync", "expected_duration_ms": 5000, "status": "failed"}, "clip_ai_generations_failed_has_message"),
    ("clip_ai_generations", {"provider": "kling", "model": "m", "task_type": "lip_sync", "expected_duration_ms": 5000, "progress": 101}, "clip_ai_generations_progress_check"),
]


@pytest.mark.parametrize("table, values, constraint", BAD_ROWS, ids=[c for _, _, c in BAD_ROWS])
def test_constraints_reject_impossible_rows(engine, timeline_rows, table, values, constraint):
    owner = {
        "clips": {"track_id": timeline_rows["track"], "asset_id": timeline_rows["asset"]},
        "clip_exports": {"clip_id": timeline_rows["clip"]},
        "clip_ai_generations": {"source_clip_id": timeline_rows["clip"]},
    }[table]
    with pytest.raises(IntegrityError) as caught:
        with engine.begin() as connection:
            _insert(connection, table, **owner, **values)
    assert constraint in str(caught.value.orig)


def test_export_fingerprint_is_unique(engine, timeline_rows):
    row = {"clip_id": timeline_rows["clip"], "source_start": 0, "source_end": 500, "fingerprint": "same"}
    with engine.begin() as connection:
        _insert(connection, "clip_exports", **row)
    with pytest.raises(IntegrityError) as caught:
        with engine.begin() as connection:
            _insert(connection, "clip_exports", **row)
    assert "idx_clip_exports_fingerprint" in str(caught.value.orig)


def test_unknown_clip_is_rejected_by_foreign_key(engine):
    with pytest.raises(IntegrityError) as caught:
        with engine.begin() as connection:
            _insert(connection, "clip_exports", clip_id=uuid.uuid4(), source_start=0, source_end=10, fingerprint="x")
    assert "clip_exports_clip_id_fkey" in str(caught.value.orig)


def test_updated_at_is_maintained_by_trigger(engine, timeline_rows):
    with engine.begin() as connection:
        before = connection.execute(
            sa.text("SELECT updated_at FROM clips WHERE id = :id"), {"id": timeline_rows["clip"]}
        ).scalar_one()
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE clips SET name = 'renamed' WHERE id = :id"), {"id": timeline_rows["clip"]})
        after, created = connection.execute(
            sa.text("SELECT updated_at, created_at FROM clips WHERE id = :id"), {"id": timeline_rows["clip"]}
        ).one()
    assert after > before
    assert created <= before


def test_deleting_an_applied_clip_unapplies_its_generation(engine, timeline_rows):
    with engine.begin() as connection:
        result_asset = _insert(connection, "assets", storage_path="ai-results/x.mp4", duration_ms=5_000)
        applied_clip = _insert(
            connection, "clips", track_id=timeline_rows["track"], asset_id=result_asset,
            start_time=10_000, end_time=15_000, source_start=0, source_end=5_000,
        )
        generation = _insert(
            connection, "clip_ai_generations", source_clip_id=timeline_rows["clip"], provider="local",
            model="m", task_type="lip_sync", expected_duration_ms=5_000, applied=True, applied_clip_id=applied_clip,
        )
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM clips WHERE id = :id"), {"id": applied_clip})
        applied, clip = connection.execute(
            sa.text("SELECT applied, applied_clip_id FROM clip_ai_generations WHERE id = :id"), {"id": generation}
        ).one()
    assert (applied, clip) == (False, None)
