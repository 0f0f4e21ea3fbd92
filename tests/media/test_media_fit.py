"""fit_to_duration: the AI picture at its own timestamps (never stretched), trimmed at D or its last
frame held to D, with the clip's audio at offset 0 and every duration D within 1 ms."""

from __future__ import annotations

from fractions import Fraction

import pytest

from clip_pipeline.media.export import export_clip
from clip_pipeline.media.ffmpeg import MediaError
from clip_pipeline.media.fit import fit_to_duration
from clip_pipeline.media.probe import measure_durations, probe
from tests.media.conftest import CFR_SPECS
from tests.support.media import (
    SourceSpec,
    audio_offset_ms,
    decode_audio,
    decode_frames,
    ffmpeg,
    frame_slips,
    make_source,
)


@pytest.fixture(scope="module")
def ai_video(tmp_path_factory):
    """An AI result at another frame rate, 2.5 s long, with its own (different) sound."""
    spec = SourceSpec("ai", fps=Fraction(24), duration_s=2.5, sample_rate=44100, seed=99, gop=48)
    return make_source(tmp_path_factory.mktemp("ai") / "ai.mp4", spec)


def clip_audio(media, tmp_path, duration_ms: int):
    source = media.source(CFR_SPECS[0])  # 48 kHz stereo
    return export_clip(str(source), 0, duration_ms, tmp_path / "clip", with_audio=True).audio_path


def check_fit(output, ai_video, audio, duration_ms: int) -> None:
    duration_s = duration_ms / 1000
    report = measure_durations(output)
    assert report.max_error_ms(duration_ms) <= 1.0, report
    # picture = the AI frame at t (its own timeline from its first frame), last frame held past its end
    assert not frame_slips(decode_frames(output), duration_s, decode_frames(ai_video), 0.0)
    if audio is None:
        assert not report.has_audio
        return
    reference, produced = decode_audio(audio), decode_audio(output)
    for t in (0.0, duration_s / 2):
        assert abs(audio_offset_ms(produced, reference, t, t)) <= 1.0


@pytest.mark.parametrize(("duration_ms", "adjustment"), [(1555, "trim"), (2500, "none"), (3123, "freeze")])
def test_fit_trims_holds_or_keeps_with_clip_audio(media, ai_video, tmp_path, duration_ms, adjustment):
    audio = clip_audio(media, tmp_path, duration_ms)
    result = fit_to_duration(ai_video, audio, duration_ms, tmp_path / "final.mp4")
    assert (result.adjustment, result.duration_ms) == (adjustment, duration_ms)
    assert result.source_duration_ms == pytest.approx(2500, abs=1)
    check_fit(result.output_path, ai_video, audio, duration_ms)
    if adjustment == "freeze":
        frames = decode_frames(result.output_path)
        assert frames[-1].code == decode_frames(ai_video)[-1].code


def test_fit_without_audio_writes_the_picture_alone(ai_video, tmp_path):
    result = fit_to_duration(ai_video, None, 2987, tmp_path / "picture.mp4")
    assert result.adjustment == "freeze"
    check_fit(result.output_path, ai_video, None, 2987)


def test_fit_refuses_a_strategy_that_does_not_fit(ai_video, tmp_path):
    with pytest.raises(MediaError, match="needs 'freeze'"):
        fit_to_duration(ai_video, None, 4000, tmp_path / "x.mp4", strategy="trim")
    assert not list(tmp_path.iterdir())


def test_fit_accepts_an_odd_sized_ai_video(ai_video, tmp_path):
    odd = tmp_path / "odd.mp4"
    ffmpeg("-i", str(ai_video), "-vf", "crop=319:179:0:0", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv444p", "-an", str(odd))
    result = fit_to_duration(odd, None, 2000, tmp_path / "even.mp4")
    check_fit(result.output_path, odd, None, 2000)
    picture = probe(str(result.output_path)).video
    assert (picture.width, picture.height) == (318, 178)
