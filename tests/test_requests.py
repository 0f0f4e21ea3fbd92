"""Requests are rows: selecting clips and asking for generations write idempotent pending rows."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from clip_pipeline.errors import NotFound
from clip_pipeline.services import requests
from tests.support.timeline import make_timeline


def test_selecting_twice_keeps_one_pending_export(engine):
    rows = make_timeline(engine, "https://cdn.example/a.mp4", [(1_000, 4_500), (6_000, 7_250)])
    first = requests.select_clips(engine, [str(c) for c in rows.clip_ids])
    again = requests.select_clips(engine, [str(rows.clip_ids[0])])
    assert again[0]["id"] == first[0]["id"]
    assert [r["status"] for r in first] == ["pending", "pending"]
    assert (first[0]["source_start"], first[0]["source_end"]) == (1_000, 4_500)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM clip_exports")).scalar() == 2


def test_a_different_spec_is_a_different_export(engine):
    rows = make_timeline(engine, "https://cdn.example/a.mp4", [(0, 2_000)])
    clip = str(rows.clip_ids[0])
    a = requests.select_clips(engine, [clip], requests.ExportSpec(resolution="720p"))[0]
    b = requests.select_clips(engine, [clip], requests.ExportSpec(resolution="1080p"))[0]
    assert a["fingerprint"] != b["fingerprint"]


def test_generation_request_records_expected_duration_and_its_export(engine):
    rows = make_timeline(engine, "cloudflare:abc", [(1_234, 6_001)])
    generation = requests.request_generation(
        engine, rows.clip_ids[0], provider="kling", task_type="lip_sync", prompt="talk", auto_apply=True
    )
    assert generation["status"] == "pending"
    assert generation["expected_duration_ms"] == 4_767
    assert generation["model"] == "kling-lip-sync"
    assert generation["auto_apply"] is True
    assert len(generation["callback_token"]) >= 40
    with engine.connect() as connection:
        export_clip = connection.execute(
            sa.text("SELECT clip_id FROM clip_exports WHERE id = :id"), {"id": generation["clip_export_id"]}
        ).scalar_one()
    assert export_clip == rows.clip_ids[0]


def test_unknown_clip_and_unsupported_task_are_clear_errors(engine):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 1_000)])
    with pytest.raises(NotFound, match="does not exist"):
        requests.select_clips(engine, [str(uuid.uuid4())])
    with pytest.raises(NotFound, match="not a valid id"):
        requests.select_clips(engine, ["clip-42"])
    with pytest.raises(requests.InvalidRequest, match="veo.*lip_sync|lip_sync"):
        requests.request_generation(engine, rows.clip_ids[0], provider="veo", task_type="lip_sync")


@pytest.mark.parametrize("old_status", ["expired", "error"])
def test_selecting_an_expired_or_failed_export_requests_it_anew_past_the_cursor(engine, old_status):
    rows = make_timeline(engine, "https://cdn.example/a.mp4", [(0, 2_000)])
    first = requests.select_clips(engine, [str(rows.clip_ids[0])])[0]
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE clip_exports SET status = :s, error_message = 'boom' WHERE id = :id"),
            {"s": old_status, "id": first["id"]},
        )
    again = requests.select_clips(engine, [str(rows.clip_ids[0])])[0]
    assert again["id"] == first["id"]
    assert again["status"] == "pending" and again["error_message"] is None
    assert again["seq"] > first["seq"]
    assert again["cache_hits"] == 0


def test_selecting_a_ready_export_counts_a_cache_hit_and_keeps_it(engine):
    rows = make_timeline(engine, "https://cdn.example/a.mp4", [(0, 2_000)])
    first = requests.select_clips(engine, [str(rows.clip_ids[0])])[0]
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE clip_exports SET status = 'ready', storage_path = 'k', duration_ms = 2000 WHERE id = :id"),
            {"id": first["id"]},
        )
    again = requests.select_clips(engine, [str(rows.clip_ids[0])])[0]
    assert (again["status"], again["seq"], again["cache_hits"]) == ("ready", first["seq"], 1)
