"""Load and faults through Dagster (the small version of bench/load.py): many selected clips all end
in a terminal state, none lost or duplicated, while one provider is down for a while."""

from __future__ import annotations

import random

import sqlalchemy as sa

from clip_pipeline.services import requests
from clip_pipeline.settings import get_settings, reset_settings_cache
from clip_pipeline.simulators.core import Faults, RunningServer
from clip_pipeline.simulators.providers import build_simulator
from tests.support.pipeline import SOURCE_UID, free_port, provider_tasks
from tests.support.timeline import make_timeline

CLIPS = 16
KLING_EVERY = 4  # every fourth clip goes to the Kling simulator, the rest to the local provider


def test_many_clips_all_finish_once_while_a_provider_is_down_for_a_while(pipeline, monkeypatch):
    kling_port = free_port()
    for key, value in {
        "CLIP_PIPELINE_KLING_BASE_URL": f"http://127.0.0.1:{kling_port}",
        "CLIP_PIPELINE_KLING_ACCESS_KEY": "load-access",
        "CLIP_PIPELINE_KLING_SECRET_KEY": "load-secret-" + "z" * 24,
        "CLIP_PIPELINE_PROVIDER_RETRY_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    simulator = build_simulator("kling", get_settings(), faults=Faults(rate_5xx=1.0))  # an outage
    server = RunningServer(simulator.app, port=kling_port)
    try:
        generator = random.Random(11)
        ranges = []
        for _ in range(CLIPS):
            start = generator.randrange(0, 4_000, 40)
            ranges.append((start, start + generator.randrange(1_000, 1_900, 20)))
        rows = make_timeline(pipeline.engine, f"cloudflare:{SOURCE_UID}", ranges, asset_duration_ms=6_000)
        spec = requests.ExportSpec(resolution="original")
        generations = {}
        for index, clip_id in enumerate(rows.clip_ids):
            provider = "kling" if index % KLING_EVERY == 0 else "local"
            # Kling's video inputs need 2-3 s at least: its clips here are text-to-video scenes
            task_type = "scene_generate" if provider == "kling" else ("lip_sync", "background_replace", "scene_generate")[index % 3]
            generations[requests.request_generation(
                pipeline.engine, clip_id, provider=provider, task_type=task_type, spec=spec
            )["id"]] = provider

        def by_provider(provider: str) -> set[str]:
            return {pipeline.generation(g)["status"] for g, p in generations.items() if p == provider}

        # during the outage the local work completes and the Kling requests only wait
        pipeline.run_until(lambda: by_provider("local") <= {"completed", "failed"})
        assert by_provider("local") == {"completed"}, [r["error_message"] for r in pipeline.snapshot() if r["error_message"]]
        assert by_provider("kling") == {"pending"}
        simulator.core.faults.rate_5xx = 0.0  # the provider is back
        pipeline.run_until(lambda: pipeline.statuses(generations) <= {"completed", "failed"})
    finally:
        server.stop()
        simulator.core.shutdown()

    failures = [pipeline.generation(g)["error_message"] for g in generations if pipeline.generation(g)["status"] == "failed"]
    assert not failures, failures
    for generation_id in generations:
        generation = pipeline.generation(generation_id)
        assert abs(generation["final_duration_ms"] - generation["expected_duration_ms"]) <= 1.0
    # nothing duplicated: one export per clip, one provider task per generation
    with pipeline.engine.connect() as connection:
        exports_per_clip = connection.execute(
            sa.text("SELECT clip_id, count(*) FROM clip_exports GROUP BY clip_id")
        ).all()
        assets = connection.execute(
            sa.text("SELECT count(*) FROM assets WHERE metadata->>'ai_generated' = 'true'")
        ).scalar_one()
    assert len(exports_per_clip) == CLIPS and all(count == 1 for _, count in exports_per_clip)
    assert assets == CLIPS
    kling_count = sum(1 for p in generations.values() if p == "kling")
    assert len(provider_tasks(pipeline)) == CLIPS - kling_count
    assert len(simulator.core.tasks) == kling_count
