"""Requests are rows: selecting a clip writes a pending clip_exports row, asking for AI enhancement
writes a pending clip_ai_generations row. The sensors pick them up; the CLI and the HTTP API write them."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from clip_pipeline.db.timeline import get_clip
from clip_pipeline.errors import ClipPipelineError

ExportFormat = Literal["mp4", "webm"]
Resolution = Literal["original", "720p", "1080p"]
Quality = Literal["low", "medium", "high"]
ProviderName = Literal["kling", "veo", "runway", "local"]
TaskType = Literal["background_replace", "scene_generate", "lip_sync"]

# The model each provider uses for a task when the request names none.
DEFAULT_MODELS: dict[tuple[str, str], str] = {
    ("kling", "background_replace"): "kling-video-o1",
    ("kling", "scene_generate"): "kling-v2-1-master",
    ("kling", "lip_sync"): "kling-lip-sync",
    # Veo has no video edit and no lip sync (see clip_pipeline/providers/veo.py)
    ("veo", "scene_generate"): "veo-3.0-generate-001",
    # aleph2 edits up to 30 s (gen4_aleph only the first 5 s); gen4.5 needs no start image;
    # gwm1_avatars speaks given audio (act_two copies a performance video, not audio)
    ("runway", "background_replace"): "aleph2",
    ("runway", "scene_generate"): "gen4.5",
    ("runway", "lip_sync"): "gwm1_avatars",
    ("local", "background_replace"): "local-v1",
    ("local", "scene_generate"): "local-v1",
    ("local", "lip_sync"): "local-v1",
}


class InvalidRequest(ClipPipelineError):
    """A request names an unknown provider/task combination or bad parameters."""

    exit_code = 2


@dataclass(frozen=True)
class ExportSpec:
    format: ExportFormat = "mp4"
    resolution: Resolution = "1080p"
    quality: Quality = "medium"
    with_audio: bool = True


def export_fingerprint(clip: RowMapping, spec: ExportSpec) -> str:
    """Same clip, same source range and same spec = same export (the cache key of the seed)."""
    material = "|".join(
        str(part)
        for part in (
            clip["id"],
            clip["asset_storage_path"],
            clip["source_start"],
            clip["source_end"],
            spec.format,
            spec.resolution,
            spec.quality,
            spec.with_audio,
        )
    )
    return hashlib.sha256(material.encode()).hexdigest()


def ensure_export_request(connection: Connection, clip_id: str | uuid.UUID, spec: ExportSpec) -> RowMapping:
    """The clip's export row for this spec: an existing one (any status) or a new pending one.

    Asking again for an export that is already ready is a cache hit, counted in cache_hits. Asking
    again for one that expired or failed requests it anew: back to pending, with a fresh sequence
    number so the selected-clips sensor (whose cursor is past the old one) sees it."""
    clip = get_clip(connection, clip_id)
    fingerprint = export_fingerprint(clip, spec)
    connection.execute(
        sa.text(
            "INSERT INTO clip_exports (clip_id, format, resolution, quality, with_audio,"
            " source_start, source_end, fingerprint) VALUES (:clip_id, :format, :resolution,"
            " :quality, :with_audio, :source_start, :source_end, :fingerprint)"
            " ON CONFLICT (fingerprint) DO UPDATE SET"
            " cache_hits = clip_exports.cache_hits + (clip_exports.status = 'ready')::int,"
            " status = CASE WHEN clip_exports.status = 'ready' THEN 'ready' ELSE 'pending' END,"
            " error_message = NULL,"
            " attempts = CASE WHEN clip_exports.status = 'ready' THEN clip_exports.attempts ELSE 0 END,"
            " seq = CASE WHEN clip_exports.status = 'ready' THEN clip_exports.seq"
            " ELSE nextval(pg_get_serial_sequence('clip_exports', 'seq')) END"
            " WHERE clip_exports.status IN ('ready', 'expired', 'error')"
        ),
        {
            "clip_id": clip["id"],
            "format": spec.format,
            "resolution": spec.resolution,
            "quality": spec.quality,
            "with_audio": spec.with_audio,
            "source_start": clip["source_start"],
            "source_end": clip["source_end"],
            "fingerprint": fingerprint,
        },
    )
    return (
        connection.execute(
            sa.text("SELECT * FROM clip_exports WHERE fingerprint = :f"), {"f": fingerprint}
        )
        .mappings()
        .one()
    )


def select_clips(engine: Engine, clip_ids: list[str], spec: ExportSpec = ExportSpec()) -> list[RowMapping]:
    """Mark clips for export (idempotent: selecting a clip twice keeps one request)."""
    with engine.begin() as connection:
        return [ensure_export_request(connection, clip_id, spec) for clip_id in clip_ids]


def default_model(provider: str, task_type: str) -> str:
    try:
        return DEFAULT_MODELS[(provider, task_type)]
    except KeyError:
        raise InvalidRequest(
            f"provider '{provider}' has no '{task_type}' task; choose one of "
            + ", ".join(sorted(t for p, t in DEFAULT_MODELS if p == provider))
        ) from None


def request_generation(
    engine: Engine,
    clip_id: str | uuid.UUID,
    *,
    provider: ProviderName,
    task_type: TaskType,
    model: str | None = None,
    prompt: str | None = None,
    parameters: dict[str, Any] | None = None,
    auto_apply: bool = False,
    spec: ExportSpec = ExportSpec(),
) -> RowMapping:
    """Ask for an AI enhancement of a clip: a pending generation row (and the export it needs)."""
    chosen_model = model or default_model(provider, task_type)
    with engine.begin() as connection:
        clip = get_clip(connection, clip_id)
        export = ensure_export_request(connection, clip["id"], spec)
        return (
            connection.execute(
                sa.text(
                    "INSERT INTO clip_ai_generations (source_clip_id, clip_export_id, provider,"
                    " model, task_type, prompt, parameters, auto_apply, expected_duration_ms,"
                    " callback_token) VALUES (:clip_id, :export_id, :provider, :model, :task_type,"
                    " :prompt, CAST(:parameters AS jsonb), :auto_apply, :expected, :token)"
                    " RETURNING *"
                ),
                {
                    "clip_id": clip["id"],
                    "export_id": export["id"],
                    "provider": provider,
                    "model": chosen_model,
                    "task_type": task_type,
                    "prompt": prompt,
                    "parameters": json.dumps(parameters or {}),
                    "auto_apply": auto_apply,
                    "expected": clip["source_end"] - clip["source_start"],
                    "token": secrets.token_urlsafe(32),
                },
            )
            .mappings()
            .one()
        )
