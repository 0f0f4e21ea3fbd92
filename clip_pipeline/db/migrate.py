"""Apply the SQL files in sql/ in order, once each, recording them in schema_migrations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
# Serializes concurrent `db migrate` runs (two workers starting at once).
_MIGRATION_LOCK_ID = 72_410_001


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path


@dataclass(frozen=True)
class MigrationStatus:
    applied: list[str]
    pending: list[str]


def available_migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    return [Migration(path.stem, path) for path in sorted(sql_dir.glob("[0-9][0-9][0-9][0-9]_*.sql"))]


def _ensure_table(connection: sa.Connection) -> None:
    connection.execute(
        sa.text(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version TEXT PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
    )


def _applied_versions(connection: sa.Connection) -> set[str]:
    return set(connection.execute(sa.text("SELECT version FROM schema_migrations")).scalars())


def migrate(engine: Engine, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply every pending migration, each in its own transaction; return the versions applied."""
    applied_now: list[str] = []
    for migration in available_migrations(sql_dir):
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            _ensure_table(connection)
            if migration.version in _applied_versions(connection):
                continue
            connection.exec_driver_sql(migration.path.read_text())
            connection.execute(
                sa.text("INSERT INTO schema_migrations (version) VALUES (:version)"),
                {"version": migration.version},
            )
            applied_now.append(migration.version)
    return applied_now


def status(engine: Engine, sql_dir: Path = SQL_DIR) -> MigrationStatus:
    with engine.begin() as connection:
        _ensure_table(connection)
        done = _applied_versions(connection)
    versions = [m.version for m in available_migrations(sql_dir)]
    return MigrationStatus(
        applied=[v for v in versions if v in done], pending=[v for v in versions if v not in done]
    )
