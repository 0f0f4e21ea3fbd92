"""Time the analyst views at scale: fill a throwaway database with N clip_ai_generations rows
(1,000,000 by default, generated server-side) and run each view.

    python bench/metrics_views.py [--generations 1000000] [--clips 100000] [--days 365]

Uses CLIP_PIPELINE_DATABASE_URL's server, or the embedded one, and a database of its own that it
drops at the end (--keep keeps it). Prints, per query, the server's execution time (EXPLAIN ANALYZE)
and the wall time to fetch every row, best of --repeat runs, then one JSON line with all numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from clip_pipeline.db import engine as db_engine
from clip_pipeline.db import migrate as db_migrate
from clip_pipeline.settings import get_settings

QUERIES = {
    "generation_metrics_daily": "SELECT * FROM generation_metrics_daily",
    "generation_metrics_daily (last 30 days)": (
        "SELECT * FROM generation_metrics_daily "
        "WHERE day > (SELECT max(day) FROM generation_outcomes) - 30"
    ),
    "export_metrics_daily": "SELECT * FROM export_metrics_daily",
    "clip_funnel": "SELECT * FROM clip_funnel",
    "generation_outcomes (one day)": (
        "SELECT * FROM generation_outcomes WHERE day = (SELECT max(day) FROM generation_outcomes)"
    ),
}

# Server-side generators: no row crosses the wire. setseed makes the data the same on every run.
FILL = [
    "SELECT setseed(0.42)",
    "INSERT INTO assets (name, storage_path, duration_ms) VALUES ('bench source', 'bench/source.mp4', 3600000)",
    "INSERT INTO timelines (name) SELECT 'timeline ' || t FROM generate_series(1, :timelines) t",
    "INSERT INTO tracks (timeline_id, name, position) SELECT id, 'V1', 0 FROM timelines",
    """
    CREATE TEMP TABLE track_ix AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM tracks
    """,
    """
    INSERT INTO clips (track_id, asset_id, name, start_time, end_time, source_start, source_end)
    SELECT tr.id, (SELECT id FROM assets LIMIT 1), 'clip ' || i,
           (i / :timelines) * 10000, (i / :timelines) * 10000 + len,
           i % 3000000, i % 3000000 + len
    FROM generate_series(0, :clips - 1) i
    CROSS JOIN LATERAL (SELECT 1000 + (i * 7919) % 9000 AS len) l
    JOIN track_ix tr ON tr.n = i % :timelines + 1
    """,
    "CREATE TEMP TABLE clip_ix AS SELECT row_number() OVER (ORDER BY id) AS n, id, source_start, source_end FROM clips",
    """
    INSERT INTO clip_exports (clip_id, source_start, source_end, fingerprint, status, storage_path,
                              duration_ms, file_size, elapsed_ms, error_message, cache_hits,
                              expires_at, created_at)
    SELECT c.id, c.source_start, c.source_end, md5(c.id::text), s.status,
           CASE WHEN s.status IN ('ready', 'expired') THEN 'exports/' || c.id || '.mp4' END,
           CASE WHEN s.status IN ('ready', 'expired') THEN c.source_end - c.source_start END,
           CASE WHEN s.status IN ('ready', 'expired') THEN (c.source_end - c.source_start) * 250 END,
           CASE WHEN s.status IN ('ready', 'expired', 'error') THEN (200 + random() * 3000)::int END,
           CASE WHEN s.status = 'error' THEN 'bench: source unreachable' END,
           (random() * 3)::int,
           created + interval '7 days',
           created
    FROM clip_ix c
    CROSS JOIN LATERAL (
        -- c.n makes the subquery correlated, so it runs (and draws) once per row
        SELECT timestamptz '2026-01-01 00:00:00+00' + random() * :days * interval '1 day' + 0 * c.n
                   * interval '1 s' AS created,
               random() + 0 * c.n AS r
    ) t
    CROSS JOIN LATERAL (
        SELECT CASE WHEN t.r < 0.90 THEN 'ready' WHEN t.r < 0.95 THEN 'error'
                    WHEN t.r < 0.98 THEN 'expired' ELSE 'pending' END AS status
    ) s
    """,
    """
    INSERT INTO clip_ai_generations (source_clip_id, provider, model, task_type, expected_duration_ms,
                                     provider_duration_ms, actual_duration_ms, duration_adjusted,
                                     adjustment, status, error_message, ai_result_url,
                                     final_storage_path, applied, applied_clip_id, credits_used,
                                     processing_time_ms, created_at)
    SELECT c.id, p.provider, p.provider || '-v' || (i % 2 + 1),
           (ARRAY['background_replace', 'scene_generate', 'lip_sync'])[i % 3 + 1],
           expected,
           CASE WHEN done OR r < 0.85 THEN expected + ((random() - 0.5) * 400)::int END,
           CASE WHEN done THEN expected END,
           done AND r < 0.3,
           CASE WHEN done THEN (ARRAY['none', 'trim', 'freeze'])[(r * 10)::int % 3 + 1] END,
           s.status,
           CASE WHEN s.status = 'failed' THEN 'bench: provider error' END,
           CASE WHEN done OR r < 0.85 THEN 'https://provider.example/' || i END,
           CASE WHEN done THEN 'results/' || i || '.mp4' END,
           done AND r < 0.5,
           CASE WHEN done AND r < 0.5 THEN c.id END,
           (random() * 100)::int,
           CASE WHEN s.status IN ('completed', 'failed') THEN (20000 + random() * 280000)::int END,
           timestamptz '2026-01-01 00:00:00+00' + random() * :days * interval '1 day'
    FROM generate_series(0, :generations - 1) i
    JOIN clip_ix c ON c.n = i % :clips + 1
    CROSS JOIN LATERAL (SELECT c.source_end - c.source_start AS expected, random() AS r) e
    CROSS JOIN LATERAL (
        SELECT (ARRAY['kling', 'veo', 'runway', 'local'])[i % 4 + 1] AS provider
    ) p
    CROSS JOIN LATERAL (
        SELECT CASE WHEN r < 0.80 THEN 'completed' WHEN r < 0.92 THEN 'failed'
                    WHEN r < 0.95 THEN 'merging' WHEN r < 0.98 THEN 'processing'
                    ELSE 'pending' END AS status
    ) s
    CROSS JOIN LATERAL (SELECT s.status = 'completed' AS done) d
    """,
]


def _admin(url: str) -> sa.Engine:
    return sa.create_engine(db_engine.app_url(url), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def fill(engine: sa.Engine, generations: int, clips: int, timelines: int, days: int) -> float:
    started = time.perf_counter()
    params = {"generations": generations, "clips": clips, "timelines": timelines, "days": days}
    with engine.begin() as connection:
        for statement in FILL:
            needed = {k: v for k, v in params.items() if f":{k}" in statement}
            connection.execute(sa.text(statement), needed)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # index-only scans need the visibility map that VACUUM sets; a live database's autovacuum does it
        connection.execute(sa.text("VACUUM ANALYZE"))
    return time.perf_counter() - started


def time_query(engine: sa.Engine, sql: str, repeat: int) -> dict[str, float]:
    server_ms, wall_ms, rows = [], [], 0
    with engine.connect() as connection:
        for _ in range(repeat):
            plan = connection.execute(sa.text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")).scalar_one()
            server_ms.append(plan[0]["Execution Time"] + plan[0]["Planning Time"])
            started = time.perf_counter()
            rows = len(connection.execute(sa.text(sql)).all())
            wall_ms.append((time.perf_counter() - started) * 1000)
    return {
        "rows": rows,
        "server_ms_best": round(min(server_ms), 1),
        "server_ms_median": round(statistics.median(server_ms), 1),
        "wall_ms_best": round(min(wall_ms), 1),
        "wall_ms_median": round(statistics.median(wall_ms), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=1_000_000)
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--timelines", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    server_url = db_engine.database_url(get_settings())
    name = f"clip_metrics_bench_{uuid.uuid4().hex[:8]}"
    with _admin(server_url).connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    bench_url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    engine = sa.create_engine(db_engine.app_url(bench_url), poolclass=sa.NullPool)
    try:
        db_migrate.migrate(engine)
        fill_s = fill(engine, args.generations, args.clips, args.timelines, args.days)
        print(f"filled {args.generations:,} generations, {args.clips:,} clips and exports, "
              f"{args.timelines} timelines over {args.days} days in {fill_s:.1f} s "
              f"({db_engine.describe_server(bench_url)})")
        results = {}
        for label, sql in QUERIES.items():
            results[label] = time_query(engine, sql, args.repeat)
            r = results[label]
            print(f"{label:42s} {r['rows']:>7,} rows  server {r['server_ms_best']:8.1f} ms "
                  f"(median {r['server_ms_median']:.1f})  fetch {r['wall_ms_best']:8.1f} ms "
                  f"(median {r['wall_ms_median']:.1f})")
        print(json.dumps({"generations": args.generations, "clips": args.clips, "fill_s": round(fill_s, 1),
                          "queries": results}))
    finally:
        engine.dispose()
        if not args.keep:
            with _admin(server_url).connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {name}")


if __name__ == "__main__":
    main()
