"""Several `clip-pipeline worker` processes on this machine, each with its own home and temp folder
(standing in for hosts), sharing the broker, Postgres and an S3 store; and a backfill of N one-second
clips through all three assets with the local provider. Used by tests/test_scale_celery.py and
bench/scale.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import dagster as dg
import psutil
import sqlalchemy as sa
from kombu import Connection

from clip_pipeline.defs.celery_worker import QUEUE, celery_app
from clip_pipeline.defs.local_daemon import LocalDaemon
from clip_pipeline.services import requests
from clip_pipeline.settings import Settings
from tests.support.media import SourceSpec, make_hls, make_source
from tests.support.seaweedfs import ACCESS_KEY, SECRET_KEY
from tests.support.timeline import make_timeline

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE = SourceSpec("scale", fps=Fraction(25), sample_rate=48000, channels=2, gop=25, duration_s=6.0)
SOURCE_UID = "scale-rec"
CLIP_MS = 1_000
ASSETS = ("clip_exports", "ai_generations", "final_assets")


def broker_reachable(url: str, timeout_s: float = 3.0) -> str | None:
    """None if the broker answers, else why not."""
    try:
        with Connection(url, connect_timeout=timeout_s) as connection:
            connection.ensure_connection(max_retries=1)
        return None
    except Exception as exc:  # refused, auth, DNS: all mean "no broker here"
        return f"{type(exc).__name__}: {exc}"


def cluster_env(root: Path, database_url: str, s3_endpoint: str, cdn_base: str, broker_url: str) -> dict[str, str]:
    """Settings every process of the cluster shares (each worker adds its own home)."""
    return {
        "CLIP_PIPELINE_DATABASE_URL": database_url,
        "CLIP_PIPELINE_EXECUTOR": "celery",
        "CLIP_PIPELINE_CELERY_BROKER_URL": broker_url,
        "CLIP_PIPELINE_STORAGE_BACKEND": "s3",
        "CLIP_PIPELINE_S3_ENDPOINT_URL": s3_endpoint,
        "CLIP_PIPELINE_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "CLIP_PIPELINE_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "CLIP_PIPELINE_CLOUDFLARE_STREAM_BASE": cdn_base,
        # the local provider stands in for a remote API: one task store for every host
        "CLIP_PIPELINE_LOCAL_PROVIDER_ROOT": str(root / "provider"),
        "CLIP_PIPELINE_LOCAL_PROVIDER_SIZE": "320x180",
        "CLIP_PIPELINE_PROVIDER_POLL_INTERVAL_S": "0.1",
        "CLIP_PIPELINE_RETRY_DELAY_S": "0",
        # an export or finalize of a killed worker is redone after this
        "CLIP_PIPELINE_WORK_LEASE_S": "2",
    }


@dataclass
class Worker:
    name: str
    node: str  # the Celery node name, unique per start (a killed worker's pidbox queue lingers)
    home: Path
    process: subprocess.Popen
    pids: set[int] = field(default_factory=set)  # the worker and its pool processes
    killed: bool = False

    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    workers: dict[str, Worker] = field(default_factory=dict)

    def start_worker(self, name: str, extra_env: dict[str, str] | None = None) -> Worker:
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **self.env, "CLIP_PIPELINE_HOME": str(home), **(extra_env or {})}
        log = open(home / "worker.log", "ab")
        node = f"{name}-{uuid.uuid4().hex[:6]}"
        process = subprocess.Popen(
            [sys.executable, "-m", "clip_pipeline", "worker", "--name", node, "--concurrency", "1", "--loglevel", "WARNING"],
            env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        worker = Worker(name, node, home, process)
        self.workers[name] = worker
        return worker

    def wait_ready(self, settings: Settings, timeout_s: float = 60) -> None:
        """Until every started worker answers a ping over the broker; then note their processes."""
        app = celery_app(settings)
        wanted = {f"{w.node}@{socket.gethostname()}" for w in self.workers.values() if not w.killed}
        deadline = time.monotonic() + timeout_s
        while True:
            answered = {name for reply in app.control.ping(timeout=0.5) for name in reply}
            if wanted <= answered:
                break
            for worker in self.workers.values():
                assert worker.killed or worker.alive(), f"worker {worker.name} exited: {self.log_tail(worker)}"
            assert time.monotonic() < deadline, f"workers not ready: {wanted - answered}"
        for worker in self.workers.values():
            if worker.alive():
                worker.pids = {worker.process.pid} | {c.pid for c in psutil.Process(worker.process.pid).children(recursive=True)}

    def kill(self, name: str) -> None:
        """As if the host died: SIGKILL the worker and its pool, no chance to finish or ack."""
        worker = self.workers[name]
        worker.killed = True
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait()

    def stop(self) -> None:
        for worker in self.workers.values():
            if worker.alive():
                os.killpg(worker.process.pid, signal.SIGTERM)
        for worker in self.workers.values():
            try:
                worker.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.process.pid, signal.SIGKILL)
                worker.process.wait()

    def worker_of(self, host_pid: str) -> str | None:
        pid = int(host_pid.rsplit(":", 1)[1])
        return next((w.name for w in self.workers.values() if pid in w.pids), None)

    @staticmethod
    def log_tail(worker: Worker) -> str:
        path = worker.home / "worker.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def purge_queue(settings: Settings) -> None:
    """Drop step messages a previous, aborted run left on the broker (they name databases long gone)."""
    with Connection(settings.celery_broker_url) as connection:
        channel = connection.channel()
        try:
            channel.queue_purge(QUEUE)
        except Exception:  # the queue does not exist yet
            pass


def make_backfill(engine: sa.Engine, served_root: Path, work: Path, clips: int, first_ms: int = 40) -> list:
    """A source on the loopback CDN, CLIPS one-second clips on its timeline, one local-provider
    generation requested per clip; returns the generation ids."""
    source = make_source(work / "source.mp4", SOURCE, size=(320, 180))
    playlist = make_hls(source, served_root / SOURCE_UID / "manifest", segment_s=2.0)
    playlist.rename(playlist.with_name("video.m3u8"))
    step = (int(SOURCE.duration_s * 1000) - CLIP_MS - 2 * first_ms) // max(clips - 1, 1)
    ranges = [(first_ms + i * step, first_ms + i * step + CLIP_MS) for i in range(clips)]
    rows = make_timeline(engine, f"cloudflare:{SOURCE_UID}", ranges, asset_duration_ms=int(SOURCE.duration_s * 1000))
    spec = requests.ExportSpec(resolution="original")
    return [
        requests.request_generation(engine, clip, provider="local", task_type="lip_sync", spec=spec)["id"]
        for clip in rows.clip_ids
    ]


def generation_statuses(engine: sa.Engine, generation_ids: list) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT status, count(*) FROM clip_ai_generations WHERE id = ANY(:ids) GROUP BY status"),
            {"ids": list(generation_ids)},
        ).all()
    return {status: count for status, count in rows}


def run_backfill(daemon: LocalDaemon, engine: sa.Engine, generation_ids: list, deadline_s: float) -> float:
    """Tick the sensors until every generation is completed or failed; returns the seconds it took."""
    started = time.monotonic()
    while True:
        statuses = generation_statuses(engine, generation_ids)
        if set(statuses) <= {"completed", "failed"}:
            return time.monotonic() - started
        assert time.monotonic() - started < deadline_s, f"backfill unfinished after {deadline_s}s: {statuses}"
        daemon.cycle()
        time.sleep(0.2)


def step_workers(instance: dg.DagsterInstance, asset: str) -> dict[str, str]:
    """partition -> the "worker" (host:pid) metadata of its latest materialization."""
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=10_000, ascending=True).records
    return {
        record.partition_key: record.asset_materialization.metadata["worker"].value
        for record in records
        if record.asset_materialization and "worker" in record.asset_materialization.metadata
    }
