"""Runway: the runwayml client as a user would call it against the simulator (fidelity), then our
adapter through it (three task types, THROTTLED, cancel, each error kind)."""

from __future__ import annotations

import logging

import httpx
import pytest
import runwayml

from clip_pipeline.providers.base import (
    GenerationInput,
    PermanentProviderError,
    ProviderAuthError,
    RetryableProviderError,
)
from clip_pipeline.providers.runway import RunwayProvider
from clip_pipeline.simulators.runway import RunwaySimulator
from tests.support.provider_fixtures import facts, make_audio, make_clip, make_image, wait_finished, wait_for
from tests.support.provider_sims import SECRETS, TEST_SIZE, provider_settings, running


@pytest.fixture
def sim(tmp_path):
    simulator = RunwaySimulator(provider_settings(tmp_path), tmp_path / "runway-sim", size=TEST_SIZE,
                                min_task_s=0.3, concurrency=1)
    with running(simulator):
        yield simulator


@pytest.fixture
def runway(sim, tmp_path):
    return RunwayProvider(provider_settings(tmp_path, runway_base_url=sim.base_url))


def scene(generation_id="gen-1", **fields) -> GenerationInput:
    return GenerationInput(**{"generation_id": generation_id, "task_type": "scene_generate", "model": "gen4.5",
                              "prompt": "a neon street in the rain", "duration_ms": 2400, **fields})


def test_official_client_create_poll_download(sim, tmp_path):
    client = runwayml.RunwayML(api_key=SECRETS["runway_api_secret"], base_url=sim.base_url)
    created = client.text_to_video.create(model="gen4.5", prompt_text="a fox in the snow", ratio="1280:720", duration=3)
    task = wait_for(lambda: (t := client.tasks.retrieve(created.id)).status == "SUCCEEDED" and t, what="runway task")
    assert task.cost.credits > 0
    (tmp_path / "out.mp4").write_bytes(httpx.get(task.output[0]).content)
    info = facts(tmp_path / "out.mp4")
    assert (info.duration_ms, info.fps, info.has_audio) == (3000, 24.0, False)


def test_official_client_sees_errors_as_documented(sim):
    wrong = runwayml.RunwayML(api_key="key_not_valid", base_url=sim.base_url, max_retries=0)
    with pytest.raises(runwayml.AuthenticationError):
        wrong.tasks.retrieve("anything")
    client = runwayml.RunwayML(api_key=SECRETS["runway_api_secret"], base_url=sim.base_url, max_retries=0)
    with pytest.raises(runwayml.BadRequestError, match="integer from 2 to 10"):
        client.text_to_video.create(model="gen4.5", prompt_text="x", ratio="1280:720", duration=12)
    sim.core.faults.next_429 = 1
    with pytest.raises(runwayml.RateLimitError):
        client.text_to_video.create(model="gen4.5", prompt_text="x", ratio="1280:720", duration=2)


def test_throttled_is_queued_and_cancel_works(runway, sim):
    first = runway.submit(scene("gen-a"))
    second = runway.submit(scene("gen-b"))
    wait_for(lambda: sim.core.tasks[first].status == "running", what="first task running")
    raw = httpx.get(f"{sim.base_url}/v1/tasks/{second}", headers={
        "Authorization": f"Bearer {SECRETS['runway_api_secret']}", "X-Runway-Version": "2024-11-06"}).json()
    assert raw["status"] == "THROTTLED"  # one slot, taken by the first task
    assert runway.get(second).status == "queued"
    runway.cancel(second)
    assert runway.get(second).status == "canceled"
    assert wait_finished(runway, first).status == "succeeded"


def test_three_task_types(runway, sim, file_server, tmp_path):
    clip = make_clip(file_server.root / "clip.mp4", 2.3)
    audio = make_audio(tmp_path / "voice.m4a", 2.5)
    bg = runway.submit(GenerationInput(generation_id="g-bg", task_type="background_replace", model="aleph2",
                                       video_url=file_server.url("clip.mp4"), duration_ms=2300))
    lip = runway.submit(GenerationInput(generation_id="g-lip", task_type="lip_sync", model="gwm1_avatars",
                                        audio_url=str(audio), duration_ms=2500))  # local file -> data URI
    assert sim.core.tasks[lip].body["speech"]["audio"].startswith("data:audio/")
    assert sim.core.tasks[lip].body["avatar"] == {"type": "runway-preset", "presetId": "influencer"}
    still = make_image(tmp_path / "still.png")
    i2v = runway.submit(scene("g-i2v", image_url=str(still), duration_ms=3500))
    assert sim.core.tasks[i2v].body["promptImage"].startswith("data:image/png;base64,")
    assert sim.core.tasks[i2v].body["duration"] == 4
    for task_id, expected_ms, has_audio in ((bg, 2300, False), (lip, 2500, True), (i2v, 4000, False)):
        state = wait_finished(runway, task_id)
        assert state.status == "succeeded", state.error
        info = facts(runway.download(state.output_urls[0], tmp_path / f"{task_id}.mp4"))
        assert abs(info.duration_ms - expected_ms) <= 42 and info.has_audio == has_audio


def test_rate_limit_retried_then_retryable(runway, sim):
    sim.core.faults.next_429 = 2
    runway.submit(scene())
    assert sim.core.create_requests == 1
    sim.core.faults.rate_5xx = 1.0
    with pytest.raises(RetryableProviderError, match="HTTP 502"):
        runway.submit(scene("gen-2"))


def test_bad_parameters_are_permanent_with_the_issue(runway, sim):
    with pytest.raises(PermanentProviderError, match="ratio"):
        runway.submit(scene(parameters={"ratio": "1:1"}))
    with pytest.raises(PermanentProviderError, match="split the clip"):
        runway.submit(scene(duration_ms=10_500))
    assert sim.core.create_requests == 0


def test_safety_failure_has_code_and_no_credits(runway):
    state = wait_finished(runway, runway.submit(scene(prompt="something forbidden")))
    assert state.status == "failed" and "SAFETY.INPUT.TEXT" in state.error and state.credits == 0


def test_truncated_download_retried(runway, sim, tmp_path):
    state = wait_finished(runway, runway.submit(scene()))
    sim.core.faults.next_truncate = 2
    out = runway.download(state.output_urls[0], tmp_path / "x.mp4")
    assert facts(out).duration_ms == 3000


def test_wrong_key_is_auth_error_without_the_key(sim, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = RunwayProvider(provider_settings(tmp_path, runway_base_url=sim.base_url, runway_api_secret="key_wrong_4242"))
    with pytest.raises(ProviderAuthError) as raised:
        wrong.submit(scene())
    shown = str(raised.value) + repr(wrong) + caplog.text
    assert "key_wrong_4242" not in shown and SECRETS["runway_api_secret"] not in shown


def test_requested_models_are_honoured_or_refused(runway, sim, file_server):
    make_clip(file_server.root / "clip.mp4", 2.3)
    edit = runway.submit(GenerationInput(generation_id="g-aleph", task_type="background_replace", model="gen4_aleph",
                                         video_url=file_server.url("clip.mp4"), duration_ms=2300))
    assert sim.core.tasks[edit].body["model"] == "gen4_aleph"
    with pytest.raises(PermanentProviderError, match="first 5000 ms"):
        runway.submit(GenerationInput(generation_id="g-long", task_type="background_replace", model="gen4_aleph",
                                      video_url=file_server.url("clip.mp4"), duration_ms=7000))
    with pytest.raises(PermanentProviderError, match="gen4_turbo makes video from an image"):
        runway.submit(scene(model="gen4_turbo"))
    with pytest.raises(PermanentProviderError, match="aleph2 does not do scene_generate"):
        runway.submit(scene(model="aleph2"))
    assert wait_finished(runway, edit).status == "succeeded"
