"""Exactness of export_clip, measured by decoding: durations, the frame at every instant, audio
offset (see the README's media section for the rules)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clip_pipeline.media.export import export_clip
from clip_pipeline.media.probe import measure_durations
from tests.media.conftest import CFR_SPECS
from tests.support.media import check_exact_clip, decode_frames

# (start, end) per CFR source: an odd middle range, start 0, the source's end, a short clip.
CFR_RANGES = [(1234, 2789), (0, 999), (3317, 4000), (2001, 2260)]


def served(file_server, folder: Path, playlist: str) -> str:
    shutil.copytree(folder, file_server.root / folder.name)
    return file_server.url(f"{folder.name}/{playlist}")


@pytest.mark.parametrize("spec", CFR_SPECS, ids=lambda s: s.name)
def test_cfr_sources_cut_exactly(media, spec, tmp_path):
    source = media.source(spec)
    for index, (start, end) in enumerate(CFR_RANGES[:2] if spec.name not in ("cfr2997", "cfr30") else CFR_RANGES):
        result = export_clip(str(source), start, end, tmp_path / str(index), with_audio=True)
        assert result.duration_ms == end - start
        assert (result.width, result.height) == (320, 180)
        assert result.fps == pytest.approx(float(spec.fps), abs=0.01)
        assert result.encoder == "libx264"
        assert result.has_audio == (spec.sample_rate is not None)
        assert (result.audio_path is not None) == result.has_audio
        check_exact_clip(result.video_path, source, start, end, audio_file=result.audio_path)


@pytest.mark.parametrize(("name", "start", "end"), [
    ("vfr", 0, 1000), ("vfr", 1111, 3456), ("bframes", 2345, 5999), ("bframes", 5000, 6000),
])
def test_vfr_and_bframe_sources_cut_exactly(media, name, start, end, tmp_path):
    source = media.named(name)
    result = export_clip(str(source), start, end, tmp_path, with_audio=True)
    check_exact_clip(result.video_path, source, start, end, audio_file=result.audio_path)


@pytest.mark.parametrize(("start", "end"), [(0, 800), (1234, 2789), (2100, 3000)])
def test_edit_list_mp4_cuts_exactly(media, start, end, tmp_path):
    source = media.edit_list()
    assert _first_video_pts(source) < 0  # the pre-roll before the edit is in the file, hidden
    result = export_clip(str(source), start, end, tmp_path, with_audio=True)
    check_exact_clip(result.video_path, source, start, end, audio_file=result.audio_path)


def _first_video_pts(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return min(p.pts for p in container.demux(container.streams.video[0]) if p.pts is not None)


def _export_random_range(data, source: Path, source_ms: int, folder: Path) -> None:
    """Draw [start, end) inside the source (clips of 40 ms to 3 s) and check the export is exact."""
    start = data.draw(st.integers(0, source_ms - 100), label="start")
    end = data.draw(st.integers(start + 40, min(start + 3000, source_ms)), label="end")
    result = export_clip(str(source), start, end, folder, with_audio=True)
    check_exact_clip(result.video_path, source, start, end, audio_file=result.audio_path)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_ranges_are_exact(media, tmp_path_factory, data):
    _export_random_range(data, media.named("bframes"), 6000, tmp_path_factory.mktemp("random"))


@pytest.mark.parametrize(("kind", "playlist"), [("ts", "media.m3u8"), ("ts10", "master.m3u8"), ("fmp4", "media.m3u8")])
def test_hls_clips_are_exact_and_fetch_only_overlapping_segments(media, file_server, tmp_path, kind, playlist):
    folder = media.hls(kind).parent
    url = served(file_server, folder, playlist)
    media_playlist = folder / "media.m3u8"
    for start, end in [(1234, 3456), (4567, 5000), (0, 700), (7100, 8000)]:
        file_server.reset_log()
        result = export_clip(url, start, end, tmp_path / f"{start}", with_audio=True)
        check_exact_clip(result.video_path, media_playlist, start, end, audio_file=result.audio_path)
        segments = _segment_bytes(file_server, start, end, media_playlist)
        fetched = {r.path.rsplit("/", 1)[-1]: r.bytes_sent for r in file_server.requests if r.path.endswith((".ts", ".m4s"))}
        probing = fetched.get(segments.first_name, 0) if "000" not in segments.overlapping_names() else 0
        ratio = (sum(fetched.values()) - probing) / segments.overlapping_bytes
        assert ratio <= 1.5, (fetched, segments)
        assert result.bytes_fetched == file_server.bytes_sent()
        assert not [r.path for r in file_server.requests if "/low/" in r.path]  # one variant only


class _Segments:
    def __init__(self, overlapping: dict[str, int], first_name: str) -> None:
        self.overlapping, self.first_name = overlapping, first_name

    def overlapping_names(self) -> str:
        return " ".join(self.overlapping)

    @property
    def overlapping_bytes(self) -> int:
        return sum(self.overlapping.values())

    def __repr__(self) -> str:
        return f"overlapping={self.overlapping}"


def _segment_bytes(file_server, start_ms: int, end_ms: int, media_playlist: Path) -> _Segments:
    """Segments whose real timestamps overlap the clip (measured by decoding each one)."""
    import av

    with av.open(str(media_playlist)) as container:
        origin = container.start_time / 1e6
    names = [line for line in media_playlist.read_text().splitlines() if line and not line.startswith("#")]
    folder = media_playlist.parent
    init = (folder / "init.mp4").read_bytes() if (folder / "init.mp4").exists() else b""
    overlapping = {}
    for name in names:
        piece = folder / f"probe-{name}"
        piece.write_bytes(init + (folder / name).read_bytes())
        frames = decode_frames(piece)
        with av.open(str(piece)) as container:
            offset = container.start_time / 1e6 - origin
        first, last = frames[0].time_s + offset, frames[-1].time_s + offset + 0.05
        piece.unlink()
        if first < end_ms / 1000 and last > start_ms / 1000:
            overlapping[name] = (folder / name).stat().st_size
    return _Segments(overlapping, names[0])


def test_webm_durations_within_one_frame(media, tmp_path):
    source = media.source(CFR_SPECS[0])  # 23.976 fps, 48 kHz (Opus runs at 48 kHz)
    result = export_clip(str(source), 1234, 2789, tmp_path, fmt="webm", with_audio=True)
    assert result.video_path.suffix == ".webm"
    one_frame_ms = 1001 / 24
    assert measure_durations(result.video_path).max_error_ms(1555) <= one_frame_ms
    check_exact_clip(result.video_path, source, 1234, 2789, audio_file=result.audio_path, tolerance_ms=one_frame_ms)


def test_wav_audio_has_exactly_d_ms_of_samples(media, tmp_path):
    source = media.source(CFR_SPECS[0])  # 48 kHz
    result = export_clip(str(source), 100, 1337, tmp_path, with_audio=True, audio_format="wav")
    assert result.audio_path.suffix == ".wav"
    assert measure_durations(result.audio_path).audio_ms == pytest.approx(1237, abs=1e-6)


def test_resolution_scales_down_keeping_aspect_and_never_up(media, tmp_path):
    from tests.support.media import SourceSpec, make_source

    big = make_source(tmp_path / "big.mp4", SourceSpec("big", duration_s=1.0, sample_rate=None), size=(1280, 800))
    down = export_clip(str(big), 100, 900, tmp_path / "down", resolution="720p")
    assert (down.width, down.height) == (1152, 720)
    check_exact_clip(down.video_path, big, 100, 900)
    kept = export_clip(str(big), 100, 900, tmp_path / "kept", resolution="1080p")
    assert (kept.width, kept.height) == (1280, 800)
    assert [f.code for f in decode_frames(kept.video_path)] == [f.code for f in decode_frames(down.video_path)]


def test_nvenc_setting_uses_nvenc_or_falls_back_to_libx264(media, tmp_path):
    from clip_pipeline.media.encoding import nvenc_available
    from clip_pipeline.media.options import MediaOptions

    source = media.source(CFR_SPECS[4])
    result = export_clip(str(source), 500, 1500, tmp_path, options=MediaOptions(encoder="h264_nvenc"))
    assert result.encoder == ("h264_nvenc" if nvenc_available(None) else "libx264")
    check_exact_clip(result.video_path, source, 500, 1500)


@pytest.mark.parametrize(("extinf", "start", "end"), [(1.5, 3000, 4500), (2.5, 5000, 7000)])
def test_hls_extinf_drift_cannot_shift_or_empty_the_clip(media, file_server, tmp_path, extinf, start, end):
    """EXTINF 1.5 or 2.5 on 2 s segments: the EXTINF guess names the wrong segments, the real
    timestamps widen the fetch until the clip is covered."""
    folder = file_server.root / "drift"
    shutil.copytree(media.hls("ts").parent, folder)
    playlist = folder / "media.m3u8"
    playlist.write_text("\n".join(
        f"#EXTINF:{extinf},"if line.startswith("#EXTINF:") else line for line in playlist.read_text().splitlines()
    ) + "\n")
    result = export_clip(file_server.url("drift/media.m3u8"), start, end, tmp_path, with_audio=True)
    check_exact_clip(result.video_path, playlist, start, end, audio_file=result.audio_path)


def test_hls_with_a_separate_audio_rendition(media, file_server, tmp_path):
    url = served(file_server, media.hls("alternate_audio").parent, "master.m3u8")
    reference = media.hls("ts")  # the same source muxed together: identical timestamps
    result = export_clip(url, 2345, 4321, tmp_path, with_audio=True)
    check_exact_clip(result.video_path, reference, 2345, 4321, audio_file=result.audio_path)
    paths = {r.path.rsplit("/", 1)[-1] for r in file_server.requests}
    assert {"0_seg001.ts", "1_seg001.ts"} <= paths and "0_seg003.ts" not in paths


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_ranges_of_a_local_hls_playlist_are_exact(media, tmp_path_factory, data):
    _export_random_range(data, media.hls("ts"), 8000, tmp_path_factory.mktemp("random-hls"))
