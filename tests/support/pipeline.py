"""The pipeline under test: an HLS source on the loopback CDN, the local-disk store with its file
server, a migrated database with Dagster's storage in it, and a LocalDaemon ticking the sensors."""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest
import sqlalchemy as sa

from clip_pipeline.db.engine import get_engine
from clip_pipeline.defs.local_daemon import LocalDaemon, dagster_instance
from clip_pipeline.settings import Settings, get_settings, reset_settings_cache
from clip_pipeline.simulators.loopback import free_port
from clip_pipeline.storage import get_store
from clip_pipeline.storage.file_server import start_file_server
from tests.support.media import SourceSpec, make_hls, make_source

SOURCE = SourceSpec("e2e", fps=Fraction(25), sample_rate=48000, channels=2, gop=50, duration_s=6.0)
SOURCE_UID = "rec42"


@dataclass
class Pipeline:
    settings: Settings
    engine: sa.Engine
    daemon: LocalDaemon
    source_mp4: Path
    playlist: Path  # the HLS rendition served as cloudflare:<uid>; clips are exact against it
    env: dict[str, str]

    def run_until(self, done, step=None, deadline_s: float = 240.0) -> None:
        """Tick the sensors (or STEP), at a daemon's cadence, until done() holds or the deadline passes."""
        deadline = time.monotonic() + deadline_s
        while not done():
            assert time.monotonic() < deadline, f"the pipeline did not get there in time: {self.snapshot()}"
            (step or self.daemon.cycle)()
            time.sleep(0.2)

    def snapshot(self) -> list[dict]:
        with self.engine.connect() as connection:
            return [
                dict(row)
                for row in connection.execute(
                    sa.text(
                        "SELECT g.status, g.error_message, g.leased_until, g.finalize_attempts, e.status AS export_status,"
                        " e.error_message AS export_error FROM clip_ai_generations g JOIN clip_exports e ON e.id = g.clip_export_id"
                    )
                ).mappings()
            ]

    def generation(self, generation_id) -> dict:
        with self.engine.connect() as connection:
            return dict(
                connection.execute(
                    sa.text("SELECT * FROM clip_ai_generations WHERE id = :id"), {"id": generation_id}
                ).mappings().one()
            )

    def statuses(self, generation_ids) -> set[str]:
        return {self.generation(g)["status"] for g in generation_ids}


@pytest.fixture
def pipeline(clip_env, file_server, tmp_path, monkeypatch) -> Pipeline:
    port = free_port()
    env = {
        **clip_env,
        "CLIP_PIPELINE_STORAGE_BACKEND": "local",
        "CLIP_PIPELINE_FILE_SERVER_PORT": str(port),
        "CLIP_PIPELINE_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "CLIP_PIPELINE_CLOUDFLARE_STREAM_BASE": file_server.base_url,
        "CLIP_PIPELINE_PROVIDER_POLL_INTERVAL_S": "0.1",
        "CLIP_PIPELINE_RETRY_DELAY_S": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # restored after the test
    monkeypatch.setenv("CLIP_PIPELINE_DAGSTER_PG_URL", "unset")
    reset_settings_cache()
    settings = get_settings()
    files = start_file_server(settings, port=port)
    source_mp4 = make_source(tmp_path / "source.mp4", SOURCE)
    playlist = make_hls(source_mp4, file_server.root / SOURCE_UID / "manifest", segment_s=2.0)
    playlist = playlist.rename(playlist.with_name("video.m3u8"))
    engine = get_engine(clip_env["CLIP_PIPELINE_DATABASE_URL"])
    from clip_pipeline.definitions import defs

    daemon = LocalDaemon(defs, dagster_instance(settings.home, clip_env["CLIP_PIPELINE_DATABASE_URL"]))
    yield Pipeline(settings, engine, daemon, source_mp4, playlist, env)
    files.stop()


def provider_tasks(pipeline: Pipeline) -> list[Path]:
    """The local provider's task folders (each one a paid task at a real provider)."""
    return sorted((pipeline.settings.home / "local-provider").glob("local-*"))


def download(settings: Settings, bucket: str, key: str, dest: Path) -> Path:
    return get_store(settings, bucket).download(key, dest)


