"""Scheduled storage chores: expire old exports, and upload files a failed upload left in the cache.

Conventions for the rows (set by the export and AI services):
- clip_exports.storage_path / audio_storage_path hold object keys in the exports bucket,
  clip_ai_generations.final_storage_path a key in the results bucket;
- when an upload still fails after its retries, the row keeps the intended key, sets
  upload_pending = TRUE and records the cached file (cached_video_path, cached_audio_path,
  cached_final_path); its URL columns stay NULL until upload_pending_files has uploaded it.
  A result asset whose storage_path is the cached file is repointed to "<bucket>/<key>".
Each row is handled in its own transaction with FOR UPDATE SKIP LOCKED, so two workers running the
same chore never work on the same row, and one failing row does not stop the others.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clip_pipeline.storage import ObjectStore, StorageError
from clip_pipeline.storage.keys import export_audio_key, export_key, result_key
from clip_pipeline.storage.uploads import upload_cached

log = logging.getLogger(__name__)

DEFAULT_EXPORT_URL_TTL = timedelta(days=7)


def expire_exports(engine: Engine, store: ObjectStore, now: datetime | None = None) -> list[str]:
    """Delete the objects of ready exports whose expires_at has passed and mark them 'expired'.

    Returns the ids expired by this call; a second call finds nothing more to do. A row whose
    objects cannot be deleted stays 'ready' and is tried again next time.
    """
    now = now or datetime.now(timezone.utc)
    with engine.connect() as connection:
        candidates = connection.execute(
            sa.text("SELECT id FROM clip_exports WHERE status = 'ready' AND expires_at <= :now ORDER BY expires_at"),
            {"now": now},
        ).scalars().all()
    expired: list[str] = []
    for export_id in candidates:
        with engine.begin() as connection:
            row = connection.execute(
                sa.text(
                    "SELECT id, storage_path, audio_storage_path, cached_video_path, cached_audio_path"
                    " FROM clip_exports WHERE id = :id AND status = 'ready' AND expires_at <= :now"
                    " FOR UPDATE SKIP LOCKED"
                ),
                {"id": export_id, "now": now},
            ).mappings().first()
            if row is None:
                continue
            try:
                for key in (row["storage_path"], row["audio_storage_path"]):
                    if key:
                        store.delete(key)
            except StorageError as exc:
                log.warning("could not delete the objects of expired export %s: %s", export_id, exc)
                continue
            connection.execute(
                sa.text(
                    "UPDATE clip_exports SET status = 'expired', public_url = NULL, audio_url = NULL,"
                    " upload_pending = FALSE, cached_video_path = NULL, cached_audio_path = NULL"
                    " WHERE id = :id"
                ),
                {"id": export_id},
            )
        _remove_cached(row["cached_video_path"], row["cached_audio_path"])
        expired.append(str(export_id))
    return expired


def upload_pending_files(
    engine: Engine,
    exports_store: ObjectStore,
    results_store: ObjectStore,
    *,
    now: datetime | None = None,
    export_url_ttl: timedelta = DEFAULT_EXPORT_URL_TTL,
) -> int:
    """Upload the cached files of rows with upload_pending, set their keys and URLs, clear the flag.

    Export URLs are signed until the export's expires_at (or export_url_ttl when it has none);
    AI results get the results bucket's permanent public URL. Returns the number of rows completed.
    """
    now = now or datetime.now(timezone.utc)
    completed = 0
    for export_id in _pending_ids(engine, "clip_exports"):
        completed += _upload_pending_export(engine, exports_store, export_id, now, export_url_ttl)
    for generation_id in _pending_ids(engine, "clip_ai_generations"):
        completed += _upload_pending_generation(engine, results_store, generation_id)
    return completed


def _pending_ids(engine: Engine, table: str) -> list:
    with engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT id FROM {table} WHERE upload_pending ORDER BY created_at")).scalars().all()


def _upload_pending_export(
    engine: Engine, store: ObjectStore, export_id, now: datetime, default_ttl: timedelta
) -> int:
    with engine.begin() as connection:
        row = connection.execute(
            sa.text(
                "SELECT id, clip_id, fingerprint, status, expires_at, storage_path, audio_storage_path,"
                " cached_video_path, cached_audio_path FROM clip_exports"
                " WHERE id = :id AND upload_pending FOR UPDATE SKIP LOCKED"
            ),
            {"id": export_id},
        ).mappings().first()
        if row is None or row["status"] == "expired" or (row["expires_at"] and row["expires_at"] <= now):
            return 0  # gone, or the expiry chore will drop it
        ttl = (row["expires_at"] - now) if row["expires_at"] else default_ttl
        changes: dict[str, object] = {}
        files = [
            ("storage_path", "public_url", "cached_video_path", export_key(row["clip_id"], row["fingerprint"])),
            ("audio_storage_path", "audio_url", "cached_audio_path", export_audio_key(row["clip_id"], row["fingerprint"])),
        ]
        for key_column, url_column, cache_column, default_key in files:
            if not row[cache_column]:
                continue
            key = row[key_column] or default_key
            if not _upload_one(store, key, row[cache_column], f"export {export_id}"):
                continue
            changes.update({key_column: key, cache_column: None, url_column: _url_or_none(store, key, ttl)})
        still_cached = any(row[c] and c not in changes for _, _, c, _ in files)
        changes["upload_pending"] = still_cached
        _update(connection, "clip_exports", export_id, changes)
    return 0 if still_cached else 1


def _upload_pending_generation(engine: Engine, store: ObjectStore, generation_id) -> int:
    with engine.begin() as connection:
        row = connection.execute(
            sa.text(
                "SELECT id, final_storage_path, cached_final_path, result_asset_id FROM clip_ai_generations"
                " WHERE id = :id AND upload_pending FOR UPDATE SKIP LOCKED"
            ),
            {"id": generation_id},
        ).mappings().first()
        if row is None:
            return 0
        key = row["final_storage_path"] or result_key(generation_id)
        if row["cached_final_path"] and not _upload_one(store, key, row["cached_final_path"], f"generation {generation_id}"):
            return 0
        changes = {"final_storage_path": key, "cached_final_path": None, "upload_pending": False,
                   "final_url": _url_or_none(store, key, None)}
        _update(connection, "clip_ai_generations", generation_id, changes)
        if row["result_asset_id"] and row["cached_final_path"]:
            # The result asset pointed at the cached file until now; point it at the stored object.
            connection.execute(
                sa.text("UPDATE assets SET storage_path = :path WHERE id = :id AND storage_path = :cached"),
                {"path": f"{store.bucket}/{key}", "id": row["result_asset_id"], "cached": row["cached_final_path"]},
            )
    return 1


def _upload_one(store: ObjectStore, key: str, cached_path: str, what: str) -> bool:
    try:
        return upload_cached(store, key, Path(cached_path)).uploaded
    except StorageError as exc:
        log.warning("cannot upload the cached file of %s: %s", what, exc)
        return False


def _url_or_none(store: ObjectStore, key: str, ttl: timedelta | None) -> str | None:
    try:
        return store.url(key, ttl)
    except StorageError as exc:
        log.warning("uploaded %s/%s but could not make its URL: %s", store.bucket, key, exc)
        return None


def _update(connection: sa.Connection, table: str, row_id, changes: dict[str, object]) -> None:
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    connection.execute(sa.text(f"UPDATE {table} SET {assignments} WHERE id = :id"), {**changes, "id": row_id})


def _remove_cached(*paths: str | None) -> None:
    for path in paths:
        if path:
            Path(path).unlink(missing_ok=True)
