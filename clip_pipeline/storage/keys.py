"""Backend-neutral object keys (the same key works on local disk, Supabase and S3). The bucket says
what they are: clip-exports/{clip_id}_{fingerprint}.mp4 and ai-results/{generation_id}.mp4."""

from __future__ import annotations

from uuid import UUID


def export_key(clip_id: UUID | str, fingerprint: str, ext: str = "mp4") -> str:
    return f"{clip_id}_{fingerprint}.{ext}"


def export_audio_key(clip_id: UUID | str, fingerprint: str) -> str:
    return export_key(clip_id, fingerprint, "m4a")


def result_key(generation_id: UUID | str) -> str:
    return f"{generation_id}.mp4"
