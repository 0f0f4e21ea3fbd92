"""Submission rules that hold before any provider is called: limits refused locally, intents."""

from __future__ import annotations

import sqlalchemy as sa

from clip_pipeline.providers import get_provider
from clip_pipeline.services import generations, requests
from clip_pipeline.settings import get_settings
from tests.support.timeline import make_timeline


class RecordingProvider:
    """Wraps a real adapter and records whether submit was reached."""

    def __init__(self, inner):
        self.inner, self.name, self.capabilities, self.submitted = inner, inner.name, inner.capabilities, []

    def submit(self, inp):
        self.submitted.append(inp)
        raise AssertionError("a request outside the provider's limits must not be sent")

    def find_task(self, generation_id):
        return None


def _ready_export(engine, clip_id):
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE clip_exports SET status = 'ready', storage_path = 'k.mp4', public_url = 'https://x/k.mp4',"
                " audio_url = 'https://x/k.m4a', duration_ms = source_end - source_start WHERE clip_id = :c"
            ),
            {"c": clip_id},
        )


def test_inputs_outside_the_provider_limits_fail_clearly_without_being_sent(clip_env, engine, monkeypatch):
    monkeypatch.setenv("CLIP_PIPELINE_KLING_ACCESS_KEY", "a")
    monkeypatch.setenv("CLIP_PIPELINE_KLING_SECRET_KEY", "s" * 32)
    get_settings.cache_clear()
    rows = make_timeline(engine, "cloudflare:x", [(0, 1_500), (2_000, 14_000)])
    short = requests.request_generation(engine, rows.clip_ids[0], provider="kling", task_type="lip_sync")
    long = requests.request_generation(engine, rows.clip_ids[1], provider="kling", task_type="lip_sync")
    for clip in rows.clip_ids:
        _ready_export(engine, clip)
    provider = RecordingProvider(get_provider("kling", get_settings()))
    outcomes = [
        o for clip in rows.clip_ids for o in generations.submit_pending_generations(engine, clip, lambda _: provider)
    ]
    assert provider.submitted == []
    assert [o.status for o in outcomes] == ["failed", "failed"]
    with engine.connect() as connection:
        messages = dict(
            connection.execute(sa.text("SELECT id, error_message FROM clip_ai_generations")).all()
        )
        intents = connection.execute(sa.text("SELECT count(*) FROM clip_ai_generations WHERE submit_intent_at IS NOT NULL")).scalar()
    assert "1500 ms clip" in messages[short["id"]] and "2000 ms minimum" in messages[short["id"]]
    assert "12000 ms" in messages[long["id"]] and "10 s" in messages[long["id"]]
    assert intents == 0
