"""Scale out on dagster-celery: steps of the clip jobs run on two worker processes (separate homes and
temp folders, standing in for two hosts) over the RabbitMQ broker running here, with Postgres and an
S3 store (SeaweedFS) shared. Runs are driven by sensor ticks as the daemon would, and execute through
the celery executor."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from clip_pipeline.defs.executors import celery_config
from clip_pipeline.defs.local_daemon import LocalDaemon, code_location, dagster_instance
from clip_pipeline.errors import ConfigurationError
from clip_pipeline.media.ffmpeg import ffmpeg_binary
from clip_pipeline.settings import Settings, get_settings, reset_settings_cache
from tests.support.celery_cluster import (
    ASSETS,
    Cluster,
    broker_reachable,
    cluster_env,
    generation_statuses,
    make_backfill,
    purge_queue,
    run_backfill,
    step_workers,
)
from tests.support.seaweedfs import SeaweedUnavailable, start_seaweedfs

BROKER_URL = "pyamqp://guest:guest@127.0.0.1:5672//"
CLIPS = 20

# ffmpeg for the worker that gets killed: marks that a step of it is under way, then works slowly
MARKED_SLOW_FFMPEG = """#!/bin/sh
touch "{marker}"
sleep 3
exec "{ffmpeg}" "$@"
"""


def test_celery_executor_refuses_the_local_disk_store(tmp_path):
    settings = Settings(_env_file=None, home=tmp_path, storage_backend="local", executor="celery")
    with pytest.raises(ConfigurationError, match="cannot be shared between hosts"):
        celery_config(settings)
    shared = settings.model_copy(update={"storage_backend": "s3"})
    assert celery_config(shared)["broker"] == settings.celery_broker_url
    assert celery_config(shared)["config_source"]["task_acks_late"] is True


def test_worker_command_refuses_the_local_disk_store_in_one_line(cli):
    result = cli("worker", env={"CLIP_PIPELINE_STORAGE_BACKEND": "local"}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: the celery executor needs a shared object store: set CLIP_PIPELINE_STORAGE_BACKEND=s3 "
        "or supabase (the local-disk store cannot be shared between hosts)"
    ]


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    try:
        server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), ["clip-exports", "ai-results"],
                                 public_buckets=["ai-results"])
    except SeaweedUnavailable as exc:
        pytest.skip(f"SeaweedFS (S3) cannot start here: {exc}")
    yield server
    server.stop()


@pytest.fixture
def cluster(clip_env, file_server, seaweed, tmp_path, monkeypatch):
    why = broker_reachable(BROKER_URL)
    if why:
        pytest.skip(f"the RabbitMQ broker at 127.0.0.1:5672 cannot be reached ({why})")
    env = cluster_env(tmp_path, clip_env["CLIP_PIPELINE_DATABASE_URL"], seaweed.endpoint_url,
                      file_server.base_url, BROKER_URL)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # restored after the test
    monkeypatch.setenv("CLIP_PIPELINE_DAGSTER_PG_URL", "unset")
    reset_settings_cache()
    purge_queue(get_settings())
    cluster = Cluster(tmp_path / "hosts", env)
    yield cluster
    cluster.stop()


def _kill_when_marked(cluster: Cluster, name: str, marker: Path, killed: threading.Event) -> None:
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and cluster.workers[name].alive():
        time.sleep(0.05)
    if marker.exists():
        cluster.kill(name)
        killed.set()


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_backfill_spreads_over_two_workers_and_survives_losing_one(cluster, clip_env, file_server, tmp_path):
    from clip_pipeline.definitions import defs

    settings = get_settings()
    engine_url = clip_env["CLIP_PIPELINE_DATABASE_URL"]
    from clip_pipeline.db.engine import get_engine

    engine = get_engine(engine_url)
    instance = dagster_instance(settings.home, engine_url)
    daemon = LocalDaemon(defs, instance, recon_repository=code_location(), concurrent_runs=6)
    generations = make_backfill(engine, file_server.root, tmp_path, CLIPS)

    cluster.start_worker("alpha")
    cluster.start_worker("beta")
    cluster.wait_ready(settings)
    try:
        run_backfill(daemon, engine, generations, deadline_s=400)
        _check_backfill(cluster, daemon, engine, generations, tmp_path)
        _lose_a_worker_mid_step(cluster, daemon, engine, settings, file_server, tmp_path)
    finally:
        daemon.close()


def _check_backfill(cluster, daemon, engine, generations, tmp_path) -> None:
    instance = daemon.instance
    assert generation_statuses(engine, generations) == {"completed": CLIPS}

    partitions = set(daemon.partitions())
    assert len(partitions) == CLIPS
    for asset in ASSETS:
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == partitions, asset
    for asset, check in (("clip_exports", "export_durations_exact"), ("final_assets", "final_durations_exact")):
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(asset), check), limit=1_000
        )
        assert {instance.get_run_by_id(r.run_id).tags["dagster/partition"] for r in records} == partitions, asset
        assert all(r.status.value == "SUCCEEDED" for r in records), asset
    # every step ran on a worker (not in this process), and both workers took part
    steps = Counter(
        cluster.worker_of(host_pid) for asset in ASSETS for host_pid in step_workers(instance, asset).values()
    )
    assert set(steps) == {"alpha", "beta"}, steps
    assert min(steps.values()) >= 5, steps

    # nothing went through a disk between steps: no IO manager output anywhere (the assets return
    # MaterializeResults without values), and each worker's temp folder is empty after its steps
    for asset in ASSETS:
        assert not list(tmp_path.rglob(f"storage/{asset}")), asset
    for worker in cluster.workers.values():
        assert not any((worker.home / "tmp").iterdir()), worker.name


def _celery_workers_by_step(instance: dg.DagsterInstance) -> dict[tuple[str, str], set[str]]:
    """(run id, step) -> the Celery workers that received it (dagster-celery logs one engine event
    per delivery)."""
    seen: dict[tuple[str, str], set[str]] = {}
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            event = entry.dagster_event
            data = event.engine_event_data if event else None
            if data and "Celery worker" in data.metadata:
                seen.setdefault((run.run_id, event.step_key), set()).add(str(data.metadata["Celery worker"].value))
    return seen


def _lose_a_worker_mid_step(cluster, daemon, engine, settings, file_server, tmp_path) -> None:
    """SIGKILL a worker while it runs a step: RabbitMQ redelivers the unacknowledged step to the
    other worker, and the backfill still finishes."""
    marker = tmp_path / "gamma-busy"
    slow = tmp_path / "slow-ffmpeg"
    slow.write_text(MARKED_SLOW_FFMPEG.format(marker=marker, ffmpeg=ffmpeg_binary()))
    slow.chmod(0o755)
    cluster.kill("beta")
    gamma = cluster.start_worker("gamma", {"CLIP_PIPELINE_FFMPEG_BINARY": str(slow)})
    cluster.wait_ready(settings)
    generations = make_backfill(engine, file_server.root, tmp_path / "second", 3)
    killed = threading.Event()
    watcher = threading.Thread(target=_kill_when_marked, args=(cluster, "gamma", marker, killed), daemon=True)
    watcher.start()
    run_backfill(daemon, engine, generations, deadline_s=240)
    watcher.join(timeout=5)
    assert killed.is_set(), "gamma never started an FFmpeg step"
    assert generation_statuses(engine, generations) == {"completed": 3}
    alpha = cluster.workers["alpha"]
    redelivered = [
        step for step, nodes in _celery_workers_by_step(daemon.instance).items()
        if any(gamma.node in n for n in nodes) and any(alpha.node in n for n in nodes)
    ]
    assert redelivered, "no step of the killed worker was delivered again to the other one"
