"""The whole flow through Dagster: selected clips -> exports -> local provider -> finals -> timeline.

Runs against the real Postgres (app tables and Dagster storage in the test's database), real FFmpeg,
the local-disk store with its signed-URL file server, and an HLS source on the loopback CDN.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import dagster as dg
import sqlalchemy as sa

from clip_pipeline.api import create_app
from clip_pipeline.defs.clips.sensors import selected_clips_sensor
from clip_pipeline.media.ffmpeg import ffmpeg_binary
from clip_pipeline.media.probe import measure_durations
from clip_pipeline.providers import get_provider
from clip_pipeline.services import requests
from clip_pipeline.services.generations import follow_provider_tasks
from clip_pipeline.settings import get_settings, reset_settings_cache
from clip_pipeline.simulators.core import RunningServer
from clip_pipeline.simulators.providers import start_provider_simulators
from tests.conftest import REPO_ROOT
from tests.support.media import audio_offset_ms, check_exact_clip, decode_audio, decoded_source
from tests.support.pipeline import SOURCE_UID, Pipeline, download, free_port, provider_tasks
from tests.support.timeline import make_timeline


def test_three_task_types_flow_to_exact_finals_and_the_timeline(pipeline, tmp_path):
    ranges = [(480, 2_120), (2_300, 4_000), (4_040, 5_960)]
    rows = make_timeline(pipeline.engine, f"cloudflare:{SOURCE_UID}", ranges, asset_duration_ms=6_000)
    spec = requests.ExportSpec(resolution="original")
    generations = [
        requests.request_generation(pipeline.engine, clip, provider="local", task_type=task, auto_apply=auto, spec=spec)["id"]
        for clip, task, auto in zip(
            rows.clip_ids, ["background_replace", "lip_sync", "scene_generate"], [True, False, False]
        )
    ]
    pipeline.run_until(lambda: pipeline.statuses(generations) <= {"completed", "failed"})
    assert pipeline.statuses(generations) == {"completed"}

    _, source_audio = decoded_source(pipeline.playlist)
    for (start, end), clip_id, generation_id in zip(ranges, rows.clip_ids, generations):
        generation = pipeline.generation(generation_id)
        with pipeline.engine.connect() as connection:
            export = connection.execute(
                sa.text("SELECT * FROM clip_exports WHERE id = :id"), {"id": generation["clip_export_id"]}
            ).mappings().one()
        # the export and its separate audio: exact frames, durations and audio offset
        video = download(pipeline.settings, pipeline.settings.exports_bucket, export["storage_path"], tmp_path / f"{clip_id}.mp4")
        audio = download(pipeline.settings, pipeline.settings.exports_bucket, export["audio_storage_path"], tmp_path / f"{clip_id}.m4a")
        check_exact_clip(video, pipeline.playlist, start, end, audio_file=audio)
        assert export["status"] == "ready" and export["exactness_error_ms"] <= 1.0
        # the final: the clip's duration to the millisecond, and the clip's own audio at offset 0
        final = download(pipeline.settings, pipeline.settings.results_bucket, generation["final_storage_path"], tmp_path / f"{generation_id}.mp4")
        report = measure_durations(final)
        assert report.has_video and report.has_audio
        assert report.max_error_ms(end - start) <= 1.0, report
        final_audio = decode_audio(final)
        for t in (0.0, (end - start) / 2000):
            assert abs(audio_offset_ms(final_audio, source_audio, t, start / 1000 + t)) <= 1.0
        assert generation["provider_duration_ms"] > end - start  # whole seconds, like a real provider
        assert generation["adjustment"] == "trim" and generation["duration_adjusted"] is True
        assert generation["final_check_passed"] is True
        assert abs(generation["final_duration_ms"] - (end - start)) <= 1.0
        with pipeline.engine.connect() as connection:
            asset = connection.execute(
                sa.text("SELECT * FROM assets WHERE id = :id"), {"id": generation["result_asset_id"]}
            ).mappings().one()
        assert asset["metadata"]["ai_generated"] is True
        assert asset["metadata"]["provider"] == "local"
        assert asset["metadata"]["task_type"] == generation["task_type"]

    # auto-apply replaced the first clip's picture over the same timeline span; the others stay
    with pipeline.engine.connect() as connection:
        clips = {
            row["id"]: row
            for row in connection.execute(sa.text("SELECT * FROM clips")).mappings()
        }
    first = pipeline.generation(generations[0])
    assert first["applied"] is True
    replaced = clips[first["applied_clip_id"]]
    assert replaced["asset_id"] == first["result_asset_id"]
    assert (replaced["start_time"], replaced["end_time"]) == (0, ranges[0][1] - ranges[0][0])
    assert pipeline.generation(generations[1])["applied"] is False

    # Dagster saw it all: one partition per clip, materializations and passing checks
    instance = pipeline.daemon.instance
    assert set(pipeline.daemon.partitions()) == {str(c) for c in rows.clip_ids}
    for key in ("clip_exports", "ai_generations", "final_assets"):
        materialized = instance.get_materialized_partitions(dg.AssetKey(key))
        assert materialized == {str(c) for c in rows.clip_ids}, key
    for asset_key, check in (("clip_exports", "export_durations_exact"), ("final_assets", "final_durations_exact")):
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(asset_key), check), limit=10
        )
        # a run per clip, plus re-requests of a clip whose generation waited for a provider slot
        assert len(records) >= 3 and all(r.status.value == "SUCCEEDED" for r in records), (asset_key, records)

    # one provider task per generation; running the request job again adds nothing
    assert len(provider_tasks(pipeline)) == 3
    job = pipeline.daemon.defs.resolve_job_def("clip_request_job")
    assert pipeline.daemon.execute(job, str(rows.clip_ids[0]))
    assert len(provider_tasks(pipeline)) == 3
    with pipeline.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM clip_exports")).scalar_one() == 3


SLOW_FFMPEG = """#!/bin/sh
sleep 4
exec "{ffmpeg}" "$@"
"""

CYCLE_FOREVER = """
import time
from clip_pipeline.definitions import defs
from clip_pipeline.defs.clips.sensors import selected_clips_sensor
from clip_pipeline.defs.local_daemon import LocalDaemon, dagster_instance
from clip_pipeline.settings import get_settings
import os
settings = get_settings()
daemon = LocalDaemon(defs, dagster_instance(settings.home, os.environ["CLIP_PIPELINE_DATABASE_URL"]))
while True:
    daemon.cycle()
    time.sleep(0.2)
"""


def _kill_when(pipeline: Pipeline, env: dict[str, str], condition, what: str) -> None:
    """Run the daemon in another process and SIGKILL it as soon as condition() holds."""
    process = subprocess.Popen(
        [sys.executable, "-c", CYCLE_FOREVER], env=env, cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not condition():
            assert process.poll() is None, f"the worker exited before {what}"
            assert time.monotonic() < deadline, f"never reached {what}"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_runs_killed_mid_export_and_mid_finalize_recover_without_a_second_provider_task(pipeline, tmp_path):
    rows = make_timeline(pipeline.engine, f"cloudflare:{SOURCE_UID}", [(1_000, 3_200)], asset_duration_ms=6_000)
    generation_id = requests.request_generation(
        pipeline.engine, rows.clip_ids[0], provider="local", task_type="lip_sync",
        spec=requests.ExportSpec(resolution="original"),
    )["id"]
    slow = tmp_path / "slow-ffmpeg"
    slow.write_text(SLOW_FFMPEG.format(ffmpeg=ffmpeg_binary()))
    slow.chmod(0o755)
    worker_env = {
        **os.environ, **pipeline.env, "PYTHONPATH": str(REPO_ROOT),
        "CLIP_PIPELINE_FFMPEG_BINARY": str(slow), "CLIP_PIPELINE_WORK_LEASE_S": "2",
    }

    def export_row() -> dict:
        with pipeline.engine.connect() as connection:
            return dict(connection.execute(sa.text("SELECT * FROM clip_exports")).mappings().one())

    _kill_when(pipeline, worker_env, lambda: export_row()["status"] == "processing", "an export in progress")
    # redo the export and submit (only the request sensor: the finalize must happen in the next worker)
    pipeline.run_until(
        lambda: pipeline.generation(generation_id)["status"] in ("processing", "failed"),
        step=lambda: pipeline.daemon.tick(selected_clips_sensor),
    )
    assert export_row()["attempts"] == 2  # the killed try and the one that finished
    pipeline.run_until(
        lambda: pipeline.generation(generation_id)["status"] in ("merging", "failed"),
        step=lambda: follow_provider_tasks(
            pipeline.engine, lambda name: get_provider(name, pipeline.settings), {"local": 10}, timedelta(0)
        ),
    )

    def finalizing() -> bool:
        generation = pipeline.generation(generation_id)
        return generation["status"] == "merging" and generation["leased_until"] is not None

    _kill_when(pipeline, worker_env, finalizing, "a finalize in progress")
    pipeline.run_until(lambda: pipeline.generation(generation_id)["status"] in ("completed", "failed"))
    generation = pipeline.generation(generation_id)
    assert generation["status"] == "completed", generation["error_message"]
    assert generation["finalize_attempts"] == 2
    assert abs(generation["final_duration_ms"] - 2_200) <= 1.0
    assert len(provider_tasks(pipeline)) == 1


def test_a_kling_callback_through_the_api_finishes_a_generation_without_polling(pipeline, monkeypatch):
    api_port, kling_port = free_port(), free_port()
    for key, value in {
        "CLIP_PIPELINE_API_KEY": "test-api-key-" + "x" * 20,
        "CLIP_PIPELINE_CALLBACK_BASE_URL": f"http://127.0.0.1:{api_port}",
        "CLIP_PIPELINE_KLING_BASE_URL": f"http://127.0.0.1:{kling_port}",
        "CLIP_PIPELINE_KLING_ACCESS_KEY": "e2e-access",
        "CLIP_PIPELINE_KLING_SECRET_KEY": "e2e-secret-" + "y" * 24,
        # no poll for an hour: only the callback can tell the pipeline the task is done
        "CLIP_PIPELINE_PROVIDER_POLL_INTERVAL_S": "3600",
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    settings = get_settings()
    api = RunningServer(create_app(settings), port=api_port)
    try:
        with start_provider_simulators(settings, {"kling": kling_port}):
            rows = make_timeline(pipeline.engine, f"cloudflare:{SOURCE_UID}", [(1_000, 3_400)], asset_duration_ms=6_000)
            generation_id = requests.request_generation(
                pipeline.engine, rows.clip_ids[0], provider="kling", task_type="lip_sync",
                spec=requests.ExportSpec(resolution="original"),
            )["id"]
            pipeline.run_until(lambda: pipeline.generation(generation_id)["status"] in ("completed", "failed"))
    finally:
        api.stop()
    generation = pipeline.generation(generation_id)
    assert generation["status"] == "completed", generation["error_message"]
    assert generation["provider_callback"]["data"]["task_status"] == "succeed"
    assert generation["task_id"].endswith(generation["provider_callback"]["data"]["task_id"])
    assert abs(generation["final_duration_ms"] - 2_400) <= 1.0
    assert generation["provider_duration_ms"] > 2_400
