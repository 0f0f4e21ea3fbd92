"""The generation_metrics asset (snapshot, summary, plots), its schedule, and `clip-pipeline db url`."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import re
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from PIL import Image

from clip_pipeline.defs.metrics import defs as metrics_defs
from clip_pipeline.defs.metrics.assets import generation_metrics
from clip_pipeline.defs.resources import DatabaseResource
from clip_pipeline.services.metrics import refresh_generation_metrics
from tests.conftest import REPO_ROOT
from tests.support.metrics_fixture import load_metrics_fixture


def materialize(database_url: str, lookback_days: int = 30) -> dg.AssetMaterialization:
    result = dg.materialize(
        [generation_metrics],
        resources={"database": DatabaseResource(url=database_url)},
        run_config={"ops": {"generation_metrics": {"config": {"lookback_days": lookback_days}}}},
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("generation_metrics")
    return materialization


def assert_png(path: Path) -> None:
    assert path.is_file()
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 300


def snapshot(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as connection:
        return connection.execute(
            sa.text(
                "SELECT snapshot_date, day, provider, requested, completed, failed, success_rate, "
                "p95_processing_time_ms, mean_duration_miss_ms, credits_used "
                "FROM generation_metrics_snapshots ORDER BY snapshot_date, day, provider"
            )
        ).all()


def test_asset_materializes_summary_plots_and_snapshot(clip_env, database_url, engine):
    load_metrics_fixture(engine)
    materialization = materialize(database_url)
    metadata = materialization.metadata

    assert metadata["window"].value == "2026-02-02 to 2026-03-03"
    assert metadata["snapshot_rows"].value == 6  # 3 days x 2 series, the empty day included
    summary = metadata["summary"].value
    assert "| kling | 5 | 4 | 1 | 80.0% |" in summary  # requested, completed, failed, success
    assert "| veo | 3 | 0 | 1 | 0.0% |" in summary
    images = re.findall(r"!\[([^\]]+)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", summary)
    assert [name for name, _ in images] == ["provider trends", "duration misses"]
    for name, encoded in images:
        path = Path(metadata[f"{name.replace(' ', '_')}_plot"].value)
        assert Path(clip_env["CLIP_PIPELINE_HOME"]) in path.parents
        assert_png(path)
        assert base64.b64decode(encoded) == path.read_bytes()

    stored = snapshot(engine)
    assert len(stored) == 6
    assert {row.snapshot_date for row in stored} == {datetime.now(timezone.utc).date()}
    kling_first_day = next(r for r in stored if r.day == date(2026, 3, 1) and r.provider == "kling")
    assert (kling_first_day.requested, kling_first_day.completed, kling_first_day.failed) == (4, 3, 1)
    assert kling_first_day.p95_processing_time_ms == pytest.approx(19500)
    assert kling_first_day.credits_used == 25


def test_rerun_on_the_same_date_replaces_the_snapshot_and_another_date_adds_one(tmp_path, engine):
    load_metrics_fixture(engine)
    first = datetime(2026, 3, 4, 6, 0, tzinfo=timezone.utc)
    refresh_generation_metrics(engine, tmp_path, lookback_days=30, taken_at=first)
    refresh_generation_metrics(engine, tmp_path, lookback_days=30, taken_at=first.replace(hour=9))
    assert len(snapshot(engine)) == 6

    report = refresh_generation_metrics(
        engine, tmp_path, lookback_days=1, taken_at=datetime(2026, 3, 5, 6, 0, tzinfo=timezone.utc)
    )
    assert report.snapshot_rows == 2  # only the last day with data: 2026-03-03
    assert [(r.snapshot_date, r.day) for r in snapshot(engine)][-2:] == [(date(2026, 3, 5), date(2026, 3, 3))] * 2


def test_provider_numbers_come_from_the_views_and_outcomes(tmp_path, engine):
    load_metrics_fixture(engine)
    report = refresh_generation_metrics(engine, tmp_path, lookback_days=30)
    kling = report.providers.set_index("provider").loc["kling"]
    # completed kling times over the window: 10000, 20000, 40000 (g4 has none)
    assert kling["p50_processing_time_ms"] == pytest.approx(20000)
    assert kling["p95_processing_time_ms"] == pytest.approx(38000)
    assert kling["adjusted_share"] == pytest.approx(2 / 4)
    assert kling["mean_duration_miss_ms"] == pytest.approx((100 + 50 + 0 + 0) / 4)
    veo_days = report.provider_days[report.provider_days["provider"] == "veo"].set_index("day")
    assert veo_days["success_rate"].isna().tolist() == [True, True, False]  # pending, empty, 0/1
    assert veo_days.loc[date(2026, 3, 3), "success_rate"] == 0.0


def test_asset_on_an_empty_database_still_renders(clip_env, database_url):
    metadata = materialize(database_url).metadata
    assert "No generations yet" in metadata["summary"].value
    assert metadata["snapshot_rows"].value == 0
    assert_png(Path(metadata["provider_trends_plot"].value))
    assert_png(Path(metadata["duration_misses_plot"].value))


def test_definitions_expose_the_asset_and_a_daily_schedule():
    [schedule] = list(metrics_defs.schedules)
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "UTC"
    code_location = dg.Definitions.merge(
        metrics_defs, dg.Definitions(resources={"database": DatabaseResource()})
    )
    job = code_location.resolve_job_def(schedule.job_name)
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("generation_metrics")}


def test_db_url_hides_the_password_unless_asked(cli):
    env = {"CLIP_PIPELINE_DATABASE_URL": "postgresql+psycopg://analyst:s3cret@db.example:5433/clips"}
    hidden = cli("db", "url", env=env)
    assert hidden.returncode == 0, hidden.stderr
    assert hidden.json == {"url": "postgresql://analyst:***@db.example:5433/clips", "embedded": False}
    assert "s3cret" not in hidden.stdout + hidden.stderr

    shown = cli("db", "url", "--show-password", "--plain", env=env)
    assert shown.stdout.strip() == "postgresql://analyst:s3cret@db.example:5433/clips"


def test_db_url_connects_to_the_test_database(cli, database_url):
    result = cli("db", "url", "--plain", "--show-password")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("postgresql://")
    with sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.NullPool).connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM generation_metrics_daily")).scalar_one() == 0


def test_db_url_hold_keeps_the_embedded_server_up_until_terminated(tmp_path, monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIP_PIPELINE_")}
    env.update({"CLIP_PIPELINE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO_ROOT)})
    holder = subprocess.Popen(
        [sys.executable, "-m", "clip_pipeline", "db", "url", "--hold", "--show-password"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT,
    )
    try:
        reported = json.loads(holder.stdout.readline())  # printed once the server is up
        assert reported["embedded"] is True
        url = reported["url"].replace("postgresql://", "postgresql+psycopg://", 1)
        with sa.create_engine(url, poolclass=sa.NullPool).connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
        assert holder.poll() is None  # still holding after our connection closed
        holder.terminate()
        assert holder.wait(timeout=60) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
