"""`clip-pipeline simulate ...` as a user runs it: serves the API with auth, refuses to start without keys."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from clip_pipeline.providers.base import GenerationInput
from clip_pipeline.providers.runway import RunwayProvider
from tests.conftest import REPO_ROOT, run_cli
from clip_pipeline.simulators.loopback import free_port
from tests.support.provider_fixtures import wait_finished, wait_for
from tests.support.provider_sims import SECRETS, provider_settings


def test_simulate_runway_serves_the_api(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "CLIP_PIPELINE_HOME": str(tmp_path / "home"),
           "CLIP_PIPELINE_RUNWAY_API_SECRET": SECRETS["runway_api_secret"]}
    process = subprocess.Popen(
        [sys.executable, "-m", "clip_pipeline", "simulate", "runway", "--port", str(port), "--size", "256x144",
         "--task-s", "0.1"], env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"

        def answering():
            try:
                return httpx.get(f"{base}/v1/tasks/x", headers={"Authorization": "Bearer nope"})
            except httpx.TransportError:
                return None

        assert wait_for(answering, timeout_s=30, what="simulator up").status_code == 401
        runway = RunwayProvider(provider_settings(tmp_path, runway_base_url=base))
        task_id = runway.submit(GenerationInput(generation_id="g", task_type="scene_generate", model="gen4.5",
                                                prompt="dunes", duration_ms=2000))
        assert wait_finished(runway, task_id).status == "succeeded"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_simulate_without_key_is_one_line_error(tmp_path):
    env = {key: "" for key in os.environ if key.startswith("CLIP_PIPELINE_KLING_")}
    result = run_cli("simulate", "kling", "--port", str(free_port()),
                     env={**env, "CLIP_PIPELINE_HOME": str(tmp_path / "home")})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: the Kling simulator needs CLIP_PIPELINE_KLING_ACCESS_KEY and CLIP_PIPELINE_KLING_SECRET_KEY")
