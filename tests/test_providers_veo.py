"""Veo: the google-genai client as a user would call it against the simulator (fidelity), then our
adapter through it (happy path, each error kind)."""

from __future__ import annotations

import logging

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from clip_pipeline.providers.base import (
    GenerationInput,
    PermanentProviderError,
    ProviderAuthError,
    RetryableProviderError,
)
from clip_pipeline.providers.veo import VeoProvider
from clip_pipeline.simulators.veo import VeoSimulator
from tests.support.provider_fixtures import facts, make_image, wait_finished, wait_for
from tests.support.provider_sims import SECRETS, TEST_SIZE, provider_settings, running


@pytest.fixture
def sim(tmp_path):
    with running(VeoSimulator(provider_settings(tmp_path), tmp_path / "veo-sim", size=TEST_SIZE, min_task_s=0.2)) as simulator:
        yield simulator


@pytest.fixture
def veo(sim, tmp_path):
    return VeoProvider(provider_settings(tmp_path, veo_base_url=sim.base_url))


def scene(generation_id="gen-1", **fields) -> GenerationInput:
    return GenerationInput(**{"generation_id": generation_id, "task_type": "scene_generate",
                              "model": "veo-3.0-generate-001", "prompt": "a lighthouse in fog",
                              "duration_ms": 7400, **fields})


def test_official_client_create_poll_download(sim, tmp_path):
    client = genai.Client(vertexai=True, api_key=SECRETS["google_api_key"],
                          http_options=types.HttpOptions(base_url=sim.base_url))
    operation = client.models.generate_videos(
        model="veo-3.0-generate-001",
        source=types.GenerateVideosSource(prompt="waves on a pebble beach"),
        config=types.GenerateVideosConfig(duration_seconds=8, number_of_videos=1, aspect_ratio="16:9"),
    )
    assert not operation.done
    operation = wait_for(lambda: (op := client.operations.get(operation)).done and op, what="veo operation")
    video = operation.response.generated_videos[0].video
    video.save(str(tmp_path / "veo.mp4"))
    info = facts(tmp_path / "veo.mp4")
    assert (info.duration_ms, info.fps, info.has_audio) == (8000, 24.0, True)  # 8 s at 24 fps with sound


def test_official_client_sees_wrong_key_and_bad_duration(sim):
    wrong = genai.Client(vertexai=True, api_key="AIza-not-the-key",
                         http_options=types.HttpOptions(base_url=sim.base_url))
    with pytest.raises(genai_errors.ClientError, match="API key not valid"):
        wrong.models.generate_videos(model="veo-3.0-generate-001", source=types.GenerateVideosSource(prompt="x"))
    right = genai.Client(vertexai=True, api_key=SECRETS["google_api_key"],
                         http_options=types.HttpOptions(base_url=sim.base_url))
    with pytest.raises(genai_errors.ClientError, match="durationSeconds"):
        right.models.generate_videos(model="veo-3.0-generate-001", source=types.GenerateVideosSource(prompt="x"),
                                     config=types.GenerateVideosConfig(duration_seconds=5))


def test_adapter_happy_path_with_image(veo, sim, tmp_path):
    image = make_image(tmp_path / "still.png")
    task_id = veo.submit(scene(image_url=str(image)))
    assert sim.core.tasks[task_id].body["durationSeconds"] == 8  # shortest option covering 7.4 s
    state = wait_finished(veo, task_id)
    assert state.status == "succeeded" and state.progress == 100
    info = facts(veo.download(state.output_urls[0], tmp_path / "out.mp4"))
    assert (info.duration_ms, info.width, info.has_audio) == (8000, 256, True)
    assert veo.find_task("gen-1") is None  # no external id: the caller's intent record reconciles


def test_veo2_durations_and_no_lip_sync(sim, tmp_path):
    veo2 = VeoProvider(provider_settings(tmp_path, veo_base_url=sim.base_url), model="veo-2.0-generate-001")
    assert veo2.capabilities.durations_s == [5, 6, 7, 8] and not veo2.capabilities.output_has_audio
    task_id = veo2.submit(scene(model="veo-2.0-generate-001", duration_ms=5200))
    assert sim.core.tasks[task_id].body["durationSeconds"] == 6
    with pytest.raises(PermanentProviderError, match="does not support task type lip_sync"):
        veo2.submit(scene(task_type="lip_sync", model="veo-2.0-generate-001"))


def test_rate_limit_retried_then_retryable(veo, sim):
    sim.core.faults.next_429 = 2
    veo.submit(scene())
    assert len(sim.core.tasks) == 1
    sim.core.faults.rate_5xx = 1.0
    with pytest.raises(RetryableProviderError, match="HTTP 503"):
        veo.submit(scene("gen-2"))


def test_safety_filter_and_failed_operation(veo, sim):
    state = wait_finished(veo, veo.submit(scene(prompt="something forbidden")))
    assert state.status == "failed" and "safety filter" in state.error and state.credits == 0
    sim.core.faults.next_fail = 1
    state = wait_finished(veo, veo.submit(scene("gen-f")))
    assert state.status == "failed" and "simulated generation failure" in state.error


def test_bad_parameters_are_permanent(veo):
    with pytest.raises(PermanentProviderError, match="durationSeconds"):
        veo.submit(scene(parameters={"duration_s": 5}))


def test_wrong_key_is_auth_error_without_the_key(sim, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = VeoProvider(provider_settings(tmp_path, veo_base_url=sim.base_url, google_api_key="AIza-wrong-key-777"))
    with pytest.raises(ProviderAuthError) as raised:
        wrong.submit(scene())
    shown = str(raised.value) + repr(wrong) + caplog.text
    assert "AIza-wrong-key-777" not in shown and SECRETS["google_api_key"] not in shown
