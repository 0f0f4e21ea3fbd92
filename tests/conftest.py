"""Fixtures shared by the whole suite: databases, an isolated home, a CDN-like file server, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from clip_pipeline.db import engine as db_engine
from clip_pipeline.settings import reset_settings_cache
from tests.support import database as test_db
from tests.support.http_server import LoopbackFileServer, serve_directory

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory) -> str:
    """Admin URL of the session's PostgreSQL: CLIP_PIPELINE_TEST_DATABASE_URL or an embedded one."""
    test_url = os.environ.get("CLIP_PIPELINE_TEST_DATABASE_URL")
    return test_db.server_url(test_url, tmp_path_factory.mktemp("embedded-pg"))


@pytest.fixture(scope="session")
def template_database(pg_server_url) -> str:
    name = test_db.create_template(pg_server_url)
    yield name
    test_db.drop_database(pg_server_url, name)


@pytest.fixture
def database_url(pg_server_url, template_database) -> str:
    """A fresh, migrated database for this test only."""
    name = test_db.create_from_template(pg_server_url, template_database)
    yield test_db.database_on(pg_server_url, name)
    db_engine._engine_for.cache_clear()
    test_db.drop_database(pg_server_url, name)


@pytest.fixture
def engine(database_url) -> sa.Engine:
    return db_engine.get_engine(database_url)


@pytest.fixture
def clip_env(tmp_path, database_url, monkeypatch) -> dict[str, str]:
    """Environment for the app (in this process and in CLI subprocesses): own home, own database."""
    env = {
        "CLIP_PIPELINE_HOME": str(tmp_path / "home"),
        "CLIP_PIPELINE_DATABASE_URL": database_url,
    }
    for key in [k for k in os.environ if k.startswith("CLIP_PIPELINE_") and k not in env]:
        if key != "CLIP_PIPELINE_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    yield env
    reset_settings_cache()


@pytest.fixture
def file_server(tmp_path) -> LoopbackFileServer:
    """A loopback CDN over tmp_path/served (HEAD, Range, request log, fault injection)."""
    root = tmp_path / "served"
    root.mkdir()
    server = serve_directory(root)
    yield server
    server.stop()


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert lines, f"no stdout; stderr was: {self.stderr}"
        return json.loads(lines[-1])


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> CliResult:
    """Run `clip-pipeline ARGS` as a user would, in a subprocess of this checkout."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    completed = subprocess.run(
        [sys.executable, "-m", "clip_pipeline", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO_ROOT,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture
def cli(clip_env):
    """run_cli bound to this test's environment."""

    def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> CliResult:
        return run_cli(*args, env={**clip_env, **(env or {})}, timeout=timeout)

    return _run


@pytest.fixture
def empty_database_url(pg_server_url) -> str:
    """A fresh database with no schema at all."""
    name = f"clip_empty_{os.urandom(6).hex()}"
    with sa.create_engine(
        db_engine.app_url(pg_server_url), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    ).connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield test_db.database_on(pg_server_url, name)
    db_engine._engine_for.cache_clear()
    test_db.drop_database(pg_server_url, name)


# the end-to-end pipeline fixture (HLS source, local store, Dagster on the test database)
from tests.support.pipeline import pipeline  # noqa: E402,F401
