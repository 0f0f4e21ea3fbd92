"""`clip-pipeline generate`: one generation end to end, its result fitted exactly by the media core."""

from __future__ import annotations

import pytest

from clip_pipeline.media.probe import measure_durations
from clip_pipeline.simulators.kling import KlingSimulator
from tests.conftest import run_cli
from tests.support.provider_fixtures import make_audio, make_clip
from tests.support.provider_sims import SECRETS, TEST_SIZE, provider_settings, running


@pytest.fixture
def env(tmp_path):
    return {"CLIP_PIPELINE_HOME": str(tmp_path / "home"), "CLIP_PIPELINE_STORAGE_BACKEND": "local",
            "CLIP_PIPELINE_LOCAL_PROVIDER_SIZE": TEST_SIZE, "CLIP_PIPELINE_PROVIDER_RETRY_MAX_WAIT_S": "0.05",
            "CLIP_PIPELINE_KLING_ACCESS_KEY": SECRETS["kling_access_key"],
            "CLIP_PIPELINE_KLING_SECRET_KEY": SECRETS["kling_secret_key"]}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("generate") / "clip.mp4", 2.345)


def assert_exact(path, duration_ms):
    report = measure_durations(path)
    assert report.has_video and report.has_audio
    assert report.max_error_ms(duration_ms) < 1.0


def test_local_lip_sync_is_fitted_exactly(env, clip, tmp_path):
    out = tmp_path / "lip.mp4"
    result = run_cli("generate", "--provider", "local", "--task-type", "lip_sync", "--video", str(clip),
                     "--duration-ms", "2345", "--out", str(out), "--poll-interval-s", "0.1", env=env)
    assert result.returncode == 0, result.stderr
    payload = result.json
    assert payload["output_path"] == str(out) and payload["duration_ms"] == 2345
    assert payload["provider_duration_ms"] == 3000 and payload["adjustment"] == "trim"
    assert payload["credits"] == 3 and payload["task_id"].startswith("local-")
    assert_exact(out, 2345)


def generate_with_kling(env, tmp_path, *args: str):
    """Run `generate --provider kling ARGS` against a Kling simulator; (result, tasks in creation order)."""
    simulator = KlingSimulator(provider_settings(tmp_path), tmp_path / "kling-sim", size=TEST_SIZE, min_task_s=0.1)
    with running(simulator):
        result = run_cli("generate", "--provider", "kling", *args, "--poll-interval-s", "0.1",
                         env={**env, "CLIP_PIPELINE_KLING_BASE_URL": simulator.base_url})
        assert result.returncode == 0, result.stderr
        return result, sorted(simulator.core.tasks.values(), key=lambda t: t.created_at)


def test_kling_fetches_inputs_from_the_commands_own_signed_urls(env, clip, tmp_path):
    out = tmp_path / "kling.mp4"
    result, (task,) = generate_with_kling(env, tmp_path, "--task-type", "lip_sync", "--video", str(clip),
                                          "--duration-ms", "2345", "--out", str(out))
    assert "&signature=" in task.body["input"]["video_url"]  # a signed URL the provider fetched
    assert result.json["provider_duration_ms"] == 2400 and result.json["task_id"].startswith("lip-sync/")
    assert_exact(out, 2345)


def test_unsupported_task_is_one_line_error(env, clip, tmp_path):
    result = run_cli("generate", "--provider", "local", "--task-type", "lip_sync", "--video", str(clip),
                     "--duration-ms", "45000", "--out", str(tmp_path / "x.mp4"), env=env)
    assert result.returncode != 0 and not (tmp_path / "x.mp4").exists()
    assert result.stderr.strip().startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "30000 ms" in result.stderr


def test_long_scene_is_generated_in_pieces_with_continuity_and_joined_exactly(env, tmp_path):
    audio = make_audio(tmp_path / "voice.m4a", 12.5)
    out = tmp_path / "scene.mp4"
    result, tasks = generate_with_kling(env, tmp_path, "--task-type", "scene_generate", "--audio", str(audio),
                                        "--prompt", "northern lights", "--duration-ms", "12345", "--out", str(out))
    assert [t.kind for t in tasks] == ["text2video", "image2video"]  # piece 2 starts from piece 1's last frame
    assert [t.body["duration"] for t in tasks] == ["10", "5"]  # 10000 ms + 2345 ms
    assert result.json["pieces"] == 2 and result.json["provider_duration_ms"] == 10100 + 5100
    assert_exact(out, 12345)


def test_long_lip_sync_cuts_each_piece_exactly(env, tmp_path):
    long_clip = make_clip(tmp_path / "long.mp4", 12.4)
    out = tmp_path / "lip.mp4"
    result, tasks = generate_with_kling(env, tmp_path, "--task-type", "lip_sync", "--video", str(long_clip),
                                        "--duration-ms", "12400", "--out", str(out))
    # 10000 ms + 2400 ms pieces, each cut exactly; Kling returns each piece's length in 24 fps frames
    # plus one: 240 + 1 and round(57.6) + 1 frames
    assert [t.frames for t in tasks] == [241, 59]
    assert result.json["pieces"] == 2
    assert_exact(out, 12400)
