"""The Kling adapter against the Kling simulator: happy paths, each error kind, idempotency, callbacks."""

from __future__ import annotations

import logging
import shutil
import time

import httpx
import jwt
import pytest

from clip_pipeline.providers.base import (
    GenerationInput,
    PermanentProviderError,
    ProviderAuthError,
    RetryableProviderError,
)
from clip_pipeline.providers.kling import KlingProvider, state_from_callback
from clip_pipeline.simulators.kling import KlingSimulator
from tests.support.provider_fixtures import facts, make_clip, wait_finished, wait_for
from tests.support.provider_sims import SECRETS, TEST_SIZE, CallbackReceiver, provider_settings, running


@pytest.fixture
def sim(tmp_path):
    with running(KlingSimulator(provider_settings(tmp_path), tmp_path / "kling-sim", size=TEST_SIZE, min_task_s=0.2)) as simulator:
        yield simulator


@pytest.fixture
def kling(sim, tmp_path):
    return KlingProvider(provider_settings(tmp_path, kling_base_url=sim.base_url))


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kling-media")
    return {"short": make_clip(folder / "short.mp4", 2.3), "edit": make_clip(folder / "edit.mp4", 3.5)}


@pytest.fixture
def served(file_server, media):
    for name, path in media.items():
        shutil.copy(path, file_server.root / path.name)
    return {name: file_server.url(path.name) for name, path in media.items()}


def scene(generation_id="gen-1", **fields) -> GenerationInput:
    return GenerationInput(**{"generation_id": generation_id, "task_type": "scene_generate", "model": "kling-v2-1-master",
                              "prompt": "a quiet harbour at dawn", "duration_ms": 4200, **fields})


def test_text_to_video_five_seconds_is_about_5_04(kling, sim, tmp_path):
    task_id = kling.submit(scene())
    assert task_id.startswith("text2video/")
    assert sim.core.tasks[task_id.split("/")[1]].body["duration"] == "5"
    state = wait_finished(kling, task_id)
    assert state.status == "succeeded" and state.progress == 100, state.error
    assert state.duration_ms == 5100 and state.credits == 1  # reported "5.1"
    info = facts(kling.download(state.output_urls[0], tmp_path / "out.mp4"))
    assert (info.duration_ms, info.fps, info.width, info.has_audio) == (5042, 24.0, 256, False)  # 121 frames


def test_lip_sync_follows_the_input_video_and_calls_back(sim, served, tmp_path):
    receiver = CallbackReceiver()
    try:
        kling = KlingProvider(provider_settings(tmp_path, kling_base_url=sim.base_url))
        inp = GenerationInput(generation_id="gen-lip", task_type="lip_sync", model="kling-lip-sync",
                              video_url=served["short"], audio_url=served["short"], duration_ms=2300,
                              callback_url=f"{receiver.base_url}/api/providers/kling/callback/token-1")
        task_id = kling.submit(inp)
        body = sim.core.tasks[task_id.split("/")[1]].body
        assert body["input"]["mode"] == "audio2video" and body["external_task_id"] == "gen-lip"
        state = wait_finished(kling, task_id)
        assert state.status == "succeeded"
        wait_for(lambda: any(b["data"]["task_status"] == "succeed" for b in receiver.bodies), what="callback")
        final = next(b for b in receiver.bodies if b["data"]["task_status"] == "succeed")
        assert receiver.paths[-1] == "/api/providers/kling/callback/token-1"
        assert final["data"]["task_info"]["external_task_id"] == "gen-lip"
        assert state_from_callback(final, task_id) == state
        info = facts(kling.download(state.output_urls[0], tmp_path / "lip.mp4"))
        assert 2300 <= info.duration_ms <= 2400 and info.has_audio
    finally:
        receiver.stop()


def test_background_replace_uses_omni_video_edit(kling, sim, served, tmp_path):
    inp = GenerationInput(generation_id="gen-bg", task_type="background_replace", model="kling-video-o1",
                          video_url=served["edit"], duration_ms=3500)
    task_id = kling.submit(inp)
    assert task_id.startswith("omni-video/")
    assert sim.core.tasks[task_id.split("/")[1]].body["video_list"][0]["refer_type"] == "base"
    state = wait_finished(kling, task_id)
    info = facts(kling.download(state.output_urls[0], tmp_path / "bg.mp4"))
    assert 3500 <= info.duration_ms <= 3600 and info.has_audio  # keep_original_sound


def test_lost_create_answer_does_not_create_a_second_task(kling, sim):
    sim.core.faults.next_lost_create = 1  # task created, answer lost: the adapter's retry looks it up
    task_id = kling.submit(scene("gen-lost"))
    assert len(sim.core.tasks) == 1 and sim.core.create_requests == 1
    # a crash before the caller saved the id: the next submit (and find_task) find the same task
    assert kling.submit(scene("gen-lost")) == task_id
    assert kling.find_task("gen-lost") == task_id and kling.find_task("gen-other") is None
    assert len(sim.core.tasks) == 1


def test_rate_limit_is_retried_with_backoff(kling, sim):
    sim.core.faults.next_429 = 2
    kling.submit(scene("gen-429"))
    assert len(sim.core.tasks) == 1


def test_persistent_rate_limit_and_5xx_are_retryable(kling, sim):
    sim.core.faults.rate_429 = 1.0
    with pytest.raises(RetryableProviderError, match="code 1302"):
        kling.submit(scene("gen-a"))
    sim.core.faults.rate_429, sim.core.faults.rate_5xx = 0.0, 1.0
    with pytest.raises(RetryableProviderError, match="HTTP 500"):
        kling.submit(scene("gen-b"))
    assert sim.core.tasks == {}


def test_network_failure_is_retryable(tmp_path):
    kling = KlingProvider(provider_settings(tmp_path, kling_base_url="http://127.0.0.1:9"))
    with pytest.raises(RetryableProviderError, match="ConnectError"):
        kling.submit(scene())


@pytest.mark.parametrize("fields, message", [
    ({"prompt": "something forbidden"}, "risk control"),
    ({"parameters": {"duration_s": 7}}, "duration must be 5 or 10"),
])
def test_permanent_errors_carry_the_providers_message(kling, sim, fields, message):
    with pytest.raises(PermanentProviderError, match=message):
        kling.submit(scene("gen-bad", **fields))
    assert sim.core.tasks == {}


def test_too_long_input_is_refused_before_sending(kling, sim):
    with pytest.raises(PermanentProviderError, match="split the clip"):
        kling.submit(scene(duration_ms=10_001))
    assert sim.core.create_requests == 0


def test_failed_task_reports_reason_and_no_credits(kling, sim):
    sim.core.faults.next_fail = 1
    state = wait_finished(kling, kling.submit(scene("gen-fail")))
    assert state.status == "failed" and "simulated generation failure" in state.error and state.credits == 0


def test_truncated_download_is_detected_and_retried(kling, sim, tmp_path):
    state = wait_finished(kling, kling.submit(scene("gen-trunc")))
    size = len(httpx.get(state.output_urls[0]).content)
    sim.core.faults.next_truncate = 1
    assert kling.download(state.output_urls[0], tmp_path / "a.mp4").stat().st_size == size
    sim.core.faults.truncate_rate = 1.0
    with pytest.raises(RetryableProviderError, match="truncated|RemoteProtocolError"):
        kling.download(state.output_urls[0], tmp_path / "b.mp4")
    assert not (tmp_path / "b.mp4").exists()


def test_wrong_key_and_expired_token_are_auth_errors(sim, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = KlingProvider(provider_settings(tmp_path, kling_base_url=sim.base_url, kling_secret_key="sk-wrong-secret-0123456789abcdef0123"))
    with pytest.raises(ProviderAuthError) as raised:
        wrong.submit(scene())
    expired = jwt.encode({"iss": SECRETS["kling_access_key"], "exp": int(time.time()) - 10, "nbf": int(time.time()) - 100},
                         SECRETS["kling_secret_key"], algorithm="HS256")
    answer = httpx.get(f"{sim.base_url}/v1/videos/text2video/x", headers={"Authorization": f"Bearer {expired}"})
    assert (answer.status_code, answer.json()["code"]) == (401, 1004)
    shown = str(raised.value) + repr(wrong) + caplog.text
    assert "sk-wrong-secret-0123456789abcdef0123" not in shown and SECRETS["kling_access_key"] not in shown


def test_token_is_resigned_before_expiry(kling, sim):
    first = kling._bearer()
    assert kling._bearer() == first
    kling._token_expires = time.time() + 60  # inside the re-sign margin
    second = kling._bearer()
    claims = jwt.decode(second, SECRETS["kling_secret_key"], algorithms=["HS256"])
    assert claims["iss"] == SECRETS["kling_access_key"] and claims["exp"] - time.time() > 1700
    assert claims["nbf"] <= time.time() - 4
    wait_finished(kling, kling.submit(scene("gen-resigned")))


def test_cancel_is_a_clear_error(kling):
    with pytest.raises(PermanentProviderError, match="no cancel endpoint"):
        kling.cancel("text2video/abc")


def test_image_to_video_sends_a_local_image_as_base64(kling, sim, tmp_path):
    from tests.support.provider_fixtures import make_image

    image = make_image(tmp_path / "still.png")
    task_id = kling.submit(scene("gen-img", image_url=str(image), duration_ms=6000))
    body = sim.core.tasks[task_id.split("/")[1]].body
    assert task_id.startswith("image2video/") and body["duration"] == "10"
    assert body["image"].startswith("iVBORw0KGgo")  # raw base64 PNG, no data: prefix
    assert wait_finished(kling, task_id).duration_ms == 10100
