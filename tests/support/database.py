"""Test databases: one server per session (embedded pgserver, or CLIP_PIPELINE_TEST_DATABASE_URL),
a migrated template database, and a fresh copy of the template for each test."""

from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from clip_pipeline.db import engine as db_engine
from clip_pipeline.db import migrate as db_migrate


def server_url(test_url: str | None, embedded_home: Path) -> str:
    """The admin URL of the session's server."""
    if test_url:
        return test_url
    return db_engine.embedded_database_url(embedded_home)


def database_on(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(db_engine.app_url(url), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def create_template(url: str) -> str:
    """Create and migrate a template database; return its name."""
    name = f"clip_template_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(url)
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(db_engine.app_url(database_on(url, name)), poolclass=sa.NullPool)
    db_migrate.migrate(engine)
    engine.dispose()
    return name


def create_from_template(url: str, template: str) -> str:
    name = f"clip_test_{uuid.uuid4().hex[:12]}"
    with _admin_engine(url).connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return name


def drop_database(url: str, name: str) -> None:
    with _admin_engine(url).connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
