"""Bad input and faults: one clear error, retries and CDN fallback, no ffmpeg left running and no
temp files left behind."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from clip_pipeline.media.export import export_clip
from clip_pipeline.media.ffmpeg import FFmpegTimeout, MediaError
from clip_pipeline.media.options import MediaOptions
from clip_pipeline.media.sources import source_candidates
from tests.media.conftest import CFR_SPECS
from tests.support.media import check_exact_clip

FAST_RETRIES = MediaOptions(retry_wait_s=0.01)


def serve_hls(media, file_server, under: str = "") -> str:
    folder = media.hls("ts").parent
    target = file_server.root / under / "hls"
    shutil.copytree(folder, target)
    return file_server.url(f"{under}/hls/media.m3u8".lstrip("/"))


def test_end_not_after_start(media, tmp_path):
    with pytest.raises(MediaError, match=r"end \(1000 ms\) must be after start \(1000 ms\)"):
        export_clip(str(media.source(CFR_SPECS[4])), 1000, 1000, tmp_path)


def test_range_past_the_end_names_the_source_duration(media, file_server, tmp_path):
    with pytest.raises(MediaError, match="lasts 4000 ms"):
        export_clip(str(media.source(CFR_SPECS[4])), 3000, 4100, tmp_path)
    with pytest.raises(MediaError, match="lasts 8000 ms"):
        export_clip(serve_hls(media, file_server), 7000, 8100, tmp_path)


def test_not_media_and_missing_sources(file_server, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(MediaError, match="not a media file"):
        export_clip(str(text), 0, 1000, tmp_path / "out")
    with pytest.raises(MediaError, match="no such file"):
        export_clip(str(tmp_path / "missing.mp4"), 0, 1000, tmp_path / "out")
    with pytest.raises(MediaError, match=r"not found \(HTTP 404\)"):
        export_clip(file_server.url("missing.mp4"), 0, 1000, tmp_path / "out")
    with pytest.raises(MediaError, match="supabase: sources need the storage layer"):
        export_clip("supabase:bucket/video.mp4", 0, 1000, tmp_path / "out")
    assert not any((tmp_path / "out").iterdir())


def test_http_mp4_is_read_with_ranges(media, file_server, tmp_path):
    source = media.named("bframes")
    shutil.copy(source, file_server.root / "long.mp4")
    result = export_clip(file_server.url("long.mp4"), 4100, 4900, tmp_path)
    check_exact_clip(result.video_path, source, 4100, 4900)
    assert any(r.status == 206 for r in file_server.requests)
    assert result.bytes_fetched is None  # ffmpeg reads it directly; the server log has the numbers


def test_5xx_and_dropped_connections_are_retried(media, file_server, tmp_path):
    url = serve_hls(media, file_server)
    file_server.faults.status_codes = [503, 502]
    file_server.faults.path_contains = "seg00"
    file_server.faults.drops = 1
    result = export_clip(url, 1000, 2000, tmp_path, options=FAST_RETRIES)
    assert result.duration_ms == 1000
    failed = [r for r in file_server.requests if r.status >= 500 or (r.status == 200 and r.bytes_sent == 0)]
    assert len(failed) == 3


def test_persistent_failure_then_fallback_base_for_cloudflare(media, file_server, tmp_path):
    uid = "abc123"
    folder = media.hls("ts").parent
    shutil.copytree(folder, file_server.root / "cdn-b" / uid / "manifest")
    (file_server.root / "cdn-b" / uid / "manifest" / "media.m3u8").rename(
        file_server.root / "cdn-b" / uid / "manifest" / "video.m3u8")
    file_server.faults.status_codes = [503] * 20
    file_server.faults.path_contains = "/cdn-a/"
    options = MediaOptions(retry_wait_s=0.01, cloudflare_stream_base=file_server.url("cdn-a"),
                           cloudflare_fallback_bases=(file_server.url("cdn-b"),))
    assert source_candidates(f"cloudflare:{uid}", options)[1].endswith(f"/cdn-b/{uid}/manifest/video.m3u8")
    result = export_clip(f"cloudflare:{uid}", 500, 1500, tmp_path, options=options)
    assert "/cdn-b/" in result.source_url
    assert len([r for r in file_server.requests if "/cdn-a/" in r.path]) == 4  # 1 try + 3 retries

    only_a = MediaOptions(retry_wait_s=0.01, cloudflare_stream_base=file_server.url("cdn-a"))
    with pytest.raises(MediaError, match="source unavailable.*HTTP 503.*3 retries"):
        export_clip(f"cloudflare:{uid}", 500, 1500, tmp_path / "again", options=only_a)
    assert not (tmp_path / "again").exists() or not any((tmp_path / "again").iterdir())


def test_playlist_cannot_make_us_read_local_files(file_server, tmp_path):
    (file_server.root / "evil.m3u8").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")
    with pytest.raises(MediaError, match="only http\\(s\\) URIs are allowed"):
        export_clip(file_server.url("evil.m3u8"), 0, 500, tmp_path)


def test_hanging_ffmpeg_is_killed_and_leaves_nothing(media, tmp_path):
    pid_file = tmp_path / "pid"
    fake = tmp_path / "ffmpeg-hangs"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "out"
    with pytest.raises(FFmpegTimeout, match="did not finish within 1 s"):
        export_clip(str(media.source(CFR_SPECS[4])), 0, 1000, out,
                    options=MediaOptions(ffmpeg_binary=str(fake), timeout_s=1))
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        _wait_gone(pid)
    assert not any(out.iterdir())


def _wait_gone(pid: int) -> None:
    """Raises ProcessLookupError once PID is gone (reaped); polls briefly for a zombie to clear."""
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        os.kill(pid, 0)
        time.sleep(0.05)
    raise AssertionError(f"ffmpeg process {pid} still running")


@pytest.mark.parametrize(("playlist", "message"), [
    ("#EXTM3U\n#EXTINF:1.0,\nseg.ts\n", "live HLS playlists"),
    ("#EXTM3U\n#EXTINF:1.0,\na.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.0,\nb.ts\n#EXT-X-ENDLIST\n", "discontinuities"),
    ("#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:1.0,\na.ts\n#EXT-X-ENDLIST\n", "encrypted"),
    ("not a playlist\n", "not an HLS playlist"),
])
def test_unsupported_playlists_are_refused_clearly(file_server, tmp_path, playlist, message):
    (file_server.root / "p.m3u8").write_text(playlist)
    with pytest.raises(MediaError, match=message):
        export_clip(file_server.url("p.m3u8"), 0, 500, tmp_path)
