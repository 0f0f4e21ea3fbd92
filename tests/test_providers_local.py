"""The local provider: asynchronous submit, three task types that look like their task, whole seconds."""

from __future__ import annotations

import av
import numpy as np
import pytest

from clip_pipeline.providers import get_provider
from clip_pipeline.providers.base import GenerationInput, PermanentProviderError
from clip_pipeline.settings import Settings
from tests.support.provider_fixtures import facts, make_clip, make_image, wait_finished, wait_for


@pytest.fixture
def local(tmp_path):
    return get_provider("local", Settings(home=tmp_path / "home", local_provider_size="256x144"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4", 2.3)


def mouth_darkness(path, box) -> list[float]:
    """Mean darkness of the mouth region per frame (more dark red when the mouth opens)."""
    values = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            gray = frame.to_ndarray(format="gray")
            y0, y1, x0, x1 = box
            values.append(float(255 - gray[y0:y1, x0:x1].mean()))
    return values


@pytest.mark.parametrize("task_type", ["background_replace", "scene_generate", "lip_sync"])
def test_three_task_types_come_back_longer_than_the_clip(local, clip, tmp_path, task_type):
    image = make_image(tmp_path / "still.png") if task_type == "scene_generate" else None
    inp = GenerationInput(generation_id=f"gen-{task_type}", task_type=task_type, model="local", prompt="a calm beach",
                          video_url=str(clip), audio_url=str(clip), image_url=str(image) if image else None,
                          duration_ms=2300)
    task_id = local.submit(inp)
    assert local.get(task_id).status in ("queued", "running", "succeeded")  # submit did not wait
    state = wait_finished(local, task_id)
    assert state.status == "succeeded", state.error
    out = local.download(state.output_urls[0], tmp_path / "result.mp4")
    info = facts(out)
    assert info.duration_ms == 3000 > 2300  # whole-second option covering the clip
    assert (info.fps, info.width, info.height, info.has_audio) == (24.0, 256, 144, True)
    assert state.duration_ms == 3000 and state.credits == 3
    if task_type == "lip_sync":
        darkness = mouth_darkness(out, (95, 125, 98, 158))
        quiet, loud = np.mean(darkness[3:20]), np.mean(darkness[34:52])  # tone starts at 1.15 s
        assert loud > quiet + 10


def test_submit_is_idempotent_per_generation(local, clip):
    inp = GenerationInput(generation_id="gen-once", task_type="scene_generate", model="local",
                          audio_url=str(clip), duration_ms=1000)
    first = local.submit(inp)
    # a crash before the caller saved `first`: the retry finds the same task instead of a new one
    assert local.find_task("gen-once") == first
    assert local.submit(inp) == first
    assert len([p for p in local.root.iterdir() if p.name.startswith("local-")]) == 1
    wait_finished(local, first)


def test_failed_render_reports_the_reason(local, tmp_path):
    inp = GenerationInput(generation_id="gen-bad", task_type="background_replace", model="local",
                          video_url=str(tmp_path / "missing.mp4"), duration_ms=1000)
    state = wait_finished(local, local.submit(inp))
    assert state.status == "failed" and "missing.mp4" in state.error


def test_bad_parameters_are_permanent(local):
    with pytest.raises(PermanentProviderError, match="needs an audio_url"):
        local.submit(GenerationInput(generation_id="g", task_type="lip_sync", model="local", duration_ms=1000))
    with pytest.raises(PermanentProviderError, match="not offered"):
        local.submit(GenerationInput(generation_id="g2", task_type="scene_generate", model="local", duration_ms=45_000))


def test_cancel_stops_the_worker(local, clip):
    inp = GenerationInput(generation_id="gen-cancel", task_type="scene_generate", model="local",
                          audio_url=str(clip), duration_ms=20_000)
    task_id = local.submit(inp)
    local.cancel(task_id)
    assert local.get(task_id).status == "canceled"
    pid = int((local.root / task_id / "worker.pid").read_text())
    wait_for(lambda: not _alive(pid), what="worker gone")
    assert local.get(task_id).status == "canceled"


def _alive(pid: int) -> bool:
    import os

    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reap our own child so it does not linger as a zombie
        return finished == 0
    except ChildProcessError:
        return False
