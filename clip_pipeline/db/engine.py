"""Database URLs and connections: an external PostgreSQL, or an embedded one started with pgserver.

The app talks to PostgreSQL through SQLAlchemy with psycopg 3; dagster-postgres uses psycopg2, so it
gets the same server under a `postgresql+psycopg2://` URL.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from clip_pipeline.errors import DatabaseUnavailable
from clip_pipeline.settings import Settings

EMBEDDED_DATA_DIR = "pgdata"


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailable(
            "CLIP_PIPELINE_DATABASE_URL is not a database URL; expected "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
        ) from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise DatabaseUnavailable(
            f"CLIP_PIPELINE_DATABASE_URL uses '{parsed.get_backend_name()}'; "
            "clip_pipeline needs a postgresql:// URL"
        )
    return parsed


def describe_server(url: str) -> str:
    """Where a URL points, for messages: host:port/db (or the socket folder), never the password."""
    parsed = _parse(url)
    host = parsed.host or parsed.query.get("host") or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{host}{port}/{parsed.database or ''}"


def with_driver(url: str, driver: str) -> str:
    parsed = _parse(url).set(drivername=f"postgresql+{driver}")
    return parsed.render_as_string(hide_password=False)


def app_url(url: str) -> str:
    return with_driver(url, "psycopg")


def dagster_url(url: str) -> str:
    return with_driver(url, "psycopg2")


def embedded_database_url(home: Path) -> str:
    """Start (or attach to) the embedded PostgreSQL under HOME/pgdata and return its URL.

    The server stops when the last process attached to it exits.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine for us.
        warnings.simplefilter("ignore")
        import pgserver

        data_dir = home / EMBEDDED_DATA_DIR
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            server = pgserver.get_server(data_dir)
        except Exception as exc:  # pgserver raises CalledProcessError/TimeoutExpired/AssertionError
            raise DatabaseUnavailable(
                f"the embedded PostgreSQL in {data_dir} did not start ({type(exc).__name__}); "
                f"see {data_dir / 'log'} or set CLIP_PIPELINE_DATABASE_URL"
            ) from None
    return server.get_uri()


def database_url(settings: Settings) -> str:
    """The configured server's URL, starting the embedded one when none is configured."""
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        _parse(url)
        return url
    return embedded_database_url(settings.home)


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    try:
        return sa.create_engine(app_url(url), pool_pre_ping=True, pool_size=5, max_overflow=5)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise DatabaseUnavailable(
            f"cannot use database URL for {describe_server(url)}: {exc}"
        ) from None


def get_engine(url: str) -> Engine:
    """A pooled engine for URL, checked to be reachable (one clear error naming the host if not)."""
    engine = _engine_for(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except DBAPIError as exc:
        _engine_for.cache_clear()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {describe_server(url)}: {reason}; "
            "check CLIP_PIPELINE_DATABASE_URL"
        ) from None
    return engine


def export_dagster_environment(url: str) -> None:
    """Make dagster.yaml's `{env: CLIP_PIPELINE_DAGSTER_PG_URL}` point at the same server."""
    os.environ["CLIP_PIPELINE_DAGSTER_PG_URL"] = dagster_url(url)
