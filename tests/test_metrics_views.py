"""The analyst views against the hand-computed world of tests/support/metrics_fixture.py."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from clip_pipeline.services import requests
from tests.support.metrics_fixture import load_metrics_fixture
from tests.support.timeline import make_timeline

D1, D2, D3, D4 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)
KLING = ("kling", "kling-v2", "background_replace")
VEO = ("veo", "veo-3", "scene_generate")


def rows(engine: sa.Engine, sql: str) -> list[dict]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(sa.text(sql))]


@pytest.fixture
def world(engine) -> dict[str, str]:
    return load_metrics_fixture(engine)


def test_generation_metrics_daily_matches_hand_computed_numbers(engine, world):
    result = {
        (r["day"], r["provider"], r["model"], r["task_type"]): r
        for r in rows(engine, "SELECT * FROM generation_metrics_daily")
    }
    # 3 days (the empty 2026-03-02 included) x 2 provider/model/task series; nothing for 03-04
    assert sorted(result) == sorted((day, *series) for day in (D1, D2, D3) for series in (KLING, VEO))

    kling_d1 = result[(D1, *KLING)]
    assert {k: kling_d1[k] for k in ("requested", "completed", "failed", "in_progress")} == {
        "requested": 4, "completed": 3, "failed": 1, "in_progress": 0,
    }
    assert kling_d1["success_rate"] == pytest.approx(0.75)
    # completed times 10000 and 20000 (g4 has none): interpolated percentiles
    assert kling_d1["p50_processing_time_ms"] == pytest.approx(15000)
    assert kling_d1["p95_processing_time_ms"] == pytest.approx(19500)
    # g1 trimmed (flag and adjustment), g4 adjustment freeze without the flag; g2 none
    assert kling_d1["adjusted"] == 2
    assert kling_d1["adjusted_share"] == pytest.approx(2 / 3)
    # misses 100, 50, 0; g3 has no provider duration and is left out
    assert kling_d1["duration_measured"] == 3
    assert kling_d1["mean_duration_miss_ms"] == pytest.approx(50.0)
    assert kling_d1["max_duration_miss_ms"] == 100
    assert kling_d1["credits_used"] == 25

    veo_d1 = result[(D1, *VEO)]  # one pending request: nothing finished, nothing measured
    assert (veo_d1["requested"], veo_d1["completed"], veo_d1["failed"], veo_d1["in_progress"]) == (1, 0, 0, 1)
    for column in ("success_rate", "p50_processing_time_ms", "p95_processing_time_ms", "adjusted_share",
                   "mean_duration_miss_ms", "max_duration_miss_ms"):
        assert veo_d1[column] is None, column
    assert (veo_d1["adjusted"], veo_d1["duration_measured"], veo_d1["credits_used"]) == (0, 0, 0)

    for series in (KLING, VEO):  # the empty day: zeros and NULL rates
        empty = result[(D2, *series)]
        assert (empty["requested"], empty["completed"], empty["failed"], empty["credits_used"]) == (0, 0, 0, 0)
        assert empty["success_rate"] is None and empty["p95_processing_time_ms"] is None

    kling_d3 = result[(D3, *KLING)]  # g8, created 00:30 at +01:00, is a 03-03 UTC request
    assert (kling_d3["requested"], kling_d3["completed"]) == (1, 1)
    assert kling_d3["success_rate"] == 1.0
    assert kling_d3["p50_processing_time_ms"] == kling_d3["p95_processing_time_ms"] == 40000
    assert (kling_d3["adjusted"], kling_d3["adjusted_share"]) == (0, 0.0)
    assert (kling_d3["mean_duration_miss_ms"], kling_d3["max_duration_miss_ms"]) == (0.0, 0)

    veo_d3 = result[(D3, *VEO)]  # merging g6 and failed g7 (23:59:59Z stays on 03-03)
    assert (veo_d3["requested"], veo_d3["completed"], veo_d3["failed"], veo_d3["in_progress"]) == (2, 0, 1, 1)
    assert veo_d3["success_rate"] == 0.0
    assert veo_d3["p50_processing_time_ms"] is None  # g7's time is a failure's: not counted
    assert veo_d3["adjusted_share"] is None
    assert veo_d3["duration_measured"] == 2
    assert veo_d3["mean_duration_miss_ms"] == pytest.approx(150.0)
    assert veo_d3["max_duration_miss_ms"] == 200
    assert veo_d3["credits_used"] == 10


def test_day_is_the_utc_date_whatever_the_session_time_zone(engine, world):
    with engine.connect() as connection:
        connection.execute(sa.text("SET TIME ZONE 'Pacific/Kiritimati'"))  # UTC+14
        days = connection.execute(
            sa.text("SELECT DISTINCT day FROM generation_metrics_daily ORDER BY day")
        ).scalars().all()
        export_days = connection.execute(sa.text("SELECT day FROM export_metrics_daily ORDER BY day")).scalars().all()
    assert days == [D1, D2, D3]
    assert export_days == [D1, D2, D3, D4]


def test_export_metrics_daily_matches_hand_computed_numbers(engine, world):
    result = {r["day"]: r for r in rows(engine, "SELECT * FROM export_metrics_daily")}
    assert sorted(result) == [D1, D2, D3, D4]

    d1 = result[D1]  # e1 ready, e3 expired and deleted
    assert (d1["exports"], d1["exported"], d1["failed"], d1["cache_hits"]) == (2, 2, 0, 3)
    assert d1["cache_hit_rate"] == pytest.approx(3 / 5)
    assert d1["p50_export_ms_per_clip_second"] == pytest.approx(650)  # of 500 and 800
    assert d1["p95_export_ms_per_clip_second"] == pytest.approx(785)
    assert d1["bytes_stored"] == 1000  # e3's file was removed
    assert (d1["expired"], d1["deleted"]) == (1, 1)

    d2 = result[D2]  # e2, created 23:30 at -02:00: a 03-02 UTC export; URL expired, file still kept
    assert (d2["exports"], d2["exported"], d2["cache_hits"], d2["cache_hit_rate"]) == (1, 1, 0, 0.0)
    assert d2["p50_export_ms_per_clip_second"] == d2["p95_export_ms_per_clip_second"] == pytest.approx(1500)
    assert (d2["bytes_stored"], d2["expired"], d2["deleted"]) == (3000, 1, 0)

    d3 = result[D3]  # no exports
    assert (d3["exports"], d3["exported"], d3["failed"], d3["cache_hits"], d3["bytes_stored"]) == (0, 0, 0, 0, 0)
    assert d3["cache_hit_rate"] is None and d3["p50_export_ms_per_clip_second"] is None

    d4 = result[D4]  # e4 failed without a time, e5 ready
    assert (d4["exports"], d4["exported"], d4["failed"], d4["cache_hits"]) == (2, 1, 1, 5)
    assert d4["cache_hit_rate"] == pytest.approx(5 / 7)
    assert d4["p50_export_ms_per_clip_second"] == d4["p95_export_ms_per_clip_second"] == pytest.approx(300)
    assert (d4["bytes_stored"], d4["expired"], d4["deleted"]) == (700, 0, 0)


FUNNEL_STEPS = ["selected", "exported", "generated", "final", "applied"]


def funnel(engine: sa.Engine) -> dict[str | None, list[dict]]:
    by_scope: dict[str | None, list[dict]] = {}
    for row in rows(engine, "SELECT * FROM clip_funnel ORDER BY scope, timeline_name, step_number"):
        by_scope.setdefault(row["timeline_name"], []).append(row)
    return by_scope


def test_clip_funnel_per_timeline_and_overall(engine, world):
    result = funnel(engine)
    assert set(result) == {"Promo", "Interview", "Empty", None}
    for steps in result.values():
        assert [s["step"] for s in steps] == FUNNEL_STEPS
        assert [s["step_number"] for s in steps] == [1, 2, 3, 4, 5]

    # Promo: c1 all the way; c2 final (failed try, then completed); c3 generated (merging) from an
    # expired export; c4's export failed; c7 never selected
    promo = result["Promo"]
    assert [s["clips"] for s in promo] == [4, 3, 3, 2, 1]
    assert [s["dropped"] for s in promo] == [None, 1, 0, 1, 1]
    assert [s["drop_off_rate"] for s in promo] == pytest.approx([None, 0.25, 0.0, 1 / 3, 0.5])
    assert [s["conversion_rate"] for s in promo] == pytest.approx([1.0, 0.75, 0.75, 0.5, 0.25])
    assert str(promo[0]["timeline_id"]) == world["Promo"] and promo[0]["scope"] == "timeline"

    # Interview: c5 generated (failed after the provider returned); c6 completed without an export,
    # so it stops at selected
    interview = result["Interview"]
    assert [s["clips"] for s in interview] == [2, 1, 1, 0, 0]
    assert [s["previous_step_clips"] for s in interview] == [None, 2, 1, 1, 0]
    assert [s["drop_off_rate"] for s in interview] == pytest.approx([None, 0.5, 0.0, 1.0, None])

    empty = result["Empty"]
    assert [s["clips"] for s in empty] == [0, 0, 0, 0, 0]
    assert all(s["drop_off_rate"] is None and s["conversion_rate"] is None for s in empty)

    overall = result[None]
    assert {s["scope"] for s in overall} == {"overall"} and overall[0]["timeline_id"] is None
    assert [s["clips"] for s in overall] == [6, 4, 4, 2, 1]
    assert [s["dropped"] for s in overall] == [None, 2, 0, 2, 1]


def test_views_are_empty_on_an_empty_database(engine):
    assert rows(engine, "SELECT * FROM generation_metrics_daily") == []
    assert rows(engine, "SELECT * FROM export_metrics_daily") == []
    overall = rows(engine, "SELECT clips, drop_off_rate FROM clip_funnel WHERE scope = 'overall'")
    assert overall == [{"clips": 0, "drop_off_rate": None}] * 5


def test_every_view_column_is_documented(engine):
    undocumented = rows(
        engine,
        """
        SELECT c.relname AS view, a.attname AS column_name
        FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE c.relname IN ('generation_outcomes', 'generation_metrics_daily', 'export_metrics_daily',
                            'clip_funnel')
          AND a.attnum > 0 AND col_description(c.oid, a.attnum) IS NULL
        """,
    )
    assert undocumented == []
    views = rows(
        engine,
        "SELECT relname, obj_description(oid, 'pg_class') AS comment FROM pg_class "
        "WHERE relname IN ('generation_outcomes', 'generation_metrics_daily', 'export_metrics_daily', "
        "'clip_funnel')",
    )
    assert len(views) == 4 and all(v["comment"] for v in views)


def test_daily_metrics_read_the_covering_index(engine, world):
    with engine.connect() as connection:
        connection.execute(sa.text("SET enable_seqscan = off"))  # tiny tables: make the choice visible
        plan = "\n".join(
            connection.execute(sa.text("EXPLAIN SELECT * FROM generation_metrics_daily")).scalars()
        )
    assert "idx_clip_ai_generations_daily_metrics" in plan


def readme_analyst_queries() -> list[str]:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## For analysts", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)
    return [statement.strip() for block in blocks for statement in block.split(";") if statement.strip()]


def test_the_readme_example_queries_run_and_answer(engine, world):
    queries = readme_analyst_queries()
    assert len(queries) >= 5
    with engine.connect() as connection:
        answers = [connection.execute(sa.text(query)).all() for query in queries]
    assert all(answers), "every example returns rows on the fixture"
    success_by_model = {(r.provider, r.model): float(r.success_rate) for r in answers[0]}
    assert success_by_model == {("kling", "kling-v2"): 0.8, ("veo", "veo-3"): 0.0}


def test_asking_again_for_a_ready_export_counts_one_cache_hit(engine):
    timeline = make_timeline(engine, "https://cdn.example/a.mp4", [(0, 2_000)])
    clip_id = str(timeline.clip_ids[0])
    [export] = requests.select_clips(engine, [clip_id])
    requests.select_clips(engine, [clip_id])  # still pending: the same request, not a hit
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE clip_exports SET status = 'ready', storage_path = 'exports/a.mp4', "
                    "duration_ms = 2000 WHERE id = :id"),
            {"id": export["id"]},
        )
    requests.select_clips(engine, [clip_id])
    requests.request_generation(engine, timeline.clip_ids[0], provider="local", task_type="scene_generate")
    [day] = rows(engine, "SELECT exports, cache_hits, cache_hit_rate FROM export_metrics_daily")
    assert day == {"exports": 1, "cache_hits": 2, "cache_hit_rate": pytest.approx(2 / 3)}
