"""Seed recipe vs clip_pipeline.media, side by side on the same clips in one run.

Prints, per clip and in total: seconds of wall time per clip-second for export and fit, bytes
fetched over HTTP (HLS served by a loopback CDN), and exactness (max duration error in ms, frames
shown at the wrong instant, first frame, audio offset at the start).

    .venv/bin/python bench/media.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clip_pipeline.media.export import export_clip  # noqa: E402
from clip_pipeline.media.ffmpeg import ffmpeg_binary  # noqa: E402
from clip_pipeline.media.fit import fit_to_duration  # noqa: E402
from clip_pipeline.media.probe import measure_durations  # noqa: E402
from tests.support.http_server import serve_directory  # noqa: E402
from tests.support.media import (  # noqa: E402
    SourceSpec,
    audio_offset_ms,
    decode_audio,
    decode_frames,
    decoded_source,
    frame_slips,
    make_hls,
    make_source,
)

CLIPS = [(1234, 6789), (4000, 9500), (250, 3250)]


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def seed_export(source: str, start_ms: int, end_ms: int, out: Path) -> tuple[Path, Path]:
    """The seed design's recipe: -ss before -i, -t, libx264 defaults, then `-acodec copy` to .aac."""
    video = out / f"seed_{start_ms}_{end_ms}.mp4"
    ffmpeg("-ss", str(start_ms / 1000), "-i", source, "-t", str((end_ms - start_ms) / 1000),
           "-c:v", "libx264", "-c:a", "aac", "-movflags", "+faststart", str(video))
    audio = video.with_suffix(".aac")
    ffmpeg("-i", str(video), "-vn", "-acodec", "copy", str(audio))
    return video, audio


def seed_fit(ai: Path, audio: Path, duration_ms: int, out: Path) -> Path:
    """The seed's _adjust_duration (int ms from ffprobe, -t copy or tpad) then merge with -shortest."""
    current_ms = int(measure_durations(ai).container_ms)
    adjusted = out / "seed_adjusted.mp4"
    if current_ms > duration_ms:
        ffmpeg("-i", str(ai), "-t", str(duration_ms / 1000), "-c", "copy", str(adjusted))
    else:
        pad = (duration_ms - current_ms) / 1000
        ffmpeg("-i", str(ai), "-vf", f"tpad=stop_mode=clone:stop_duration={pad}", "-c:a", "copy", str(adjusted))
    final = out / "seed_final.mp4"
    ffmpeg("-i", str(adjusted), "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
           "-c:a", "aac", "-shortest", str(final))
    return final


def overlapping_segment_bytes(playlist: Path, start_ms: int, end_ms: int) -> int:
    """Bytes of the segments whose EXTINF range overlaps the clip (EXTINF is exact in this bench)."""
    total, position = 0, 0.0
    lines = playlist.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("#EXTINF:"):
            length = float(line.partition(":")[2].split(",")[0])
            if position < end_ms / 1000 and position + length > start_ms / 1000:
                total += (playlist.parent / lines[index + 1]).stat().st_size
            position += length
    return total


def exactness(clip: Path, reference: Path, start_ms: int, end_ms: int, audio_file: Path) -> dict:
    duration_ms = end_ms - start_ms
    report = measure_durations(clip)
    frames, audio = decoded_source(reference)
    produced = decode_frames(clip)
    slips = frame_slips(produced, duration_ms / 1000, frames, start_ms / 1000)
    offset = audio_offset_ms(decode_audio(clip), audio, 0.05, start_ms / 1000 + 0.05) if report.has_audio else None
    audio_err = measure_durations(audio_file).max_error_ms(duration_ms)
    return {"err_ms": report.max_error_ms(duration_ms), "slips": len(slips), "offset_ms": offset,
            "audio_file_err_ms": audio_err}


def row(label: str, seconds: float, clip_s: float, fetched: int | None, exact: dict) -> str:
    offset = "-" if exact["offset_ms"] is None else f"{exact['offset_ms']:+.1f}"
    fetched_text = "-" if fetched is None else f"{fetched / 1024:.0f} KiB"
    return (f"  {label:<18} {seconds / clip_s:6.3f} s/clip-s  fetched {fetched_text:>9}  "
            f"max dur err {exact['err_ms']:6.2f} ms  wrong-instant frames {exact['slips']:3d}  audio offset {offset} ms"
            f"  audio file dur err {exact['audio_file_err_ms']:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller source (640x360) for a fast look")
    arguments = parser.parse_args()
    size = (640, 360) if arguments.quick else (1280, 720)
    work = Path(tempfile.mkdtemp(prefix="bench-media-"))
    try:
        spec = SourceSpec("bench", fps=Fraction(30), duration_s=12.0, sample_rate=48000, gop=60, grain=24)
        source = make_source(work / "source.mp4", spec, size=size)
        make_hls(source, work / "cdn" / "hls", segment_s=2.0)
        ai = make_source(work / "ai.mp4", SourceSpec("ai", fps=Fraction(24), duration_s=4.0, sample_rate=None,
                                                     seed=3, grain=24), size=size)
        server = serve_directory(work / "cdn")
        server._server.handle_error = lambda *_: None  # ffmpeg closing connections early is not news
        totals = {k: 0.0 for k in ("seed_export", "ours_export", "seed_fit", "ours_fit", "clip_s")}
        print(f"source {size[0]}x{size[1]} 30 fps, 12 s; clips {CLIPS}; quality medium; 2 s HLS segments")
        shutil.copy(source, work / "cdn" / "source.mp4")
        for kind, location, reference in (("mp4 file", str(source), source),
                                          ("mp4 http", server.url("source.mp4"), source),
                                          ("hls http", server.url("hls/media.m3u8"), work / "cdn" / "hls" / "media.m3u8")):
            for start_ms, end_ms in CLIPS:
                clip_s = (end_ms - start_ms) / 1000
                out = work / f"out-{kind.replace(' ', '-')}-{start_ms}"
                out.mkdir()
                print(f"{kind} [{start_ms}, {end_ms}) ms")
                server.reset_log()
                began = time.monotonic()
                seed_video, seed_audio = seed_export(location, start_ms, end_ms, out)
                seed_s = time.monotonic() - began
                seed_bytes = server.bytes_sent() if "http" in kind else None
                print(row("seed export", seed_s, clip_s, seed_bytes, exactness(seed_video, reference, start_ms, end_ms, seed_audio)))
                server.reset_log()
                began = time.monotonic()
                ours = export_clip(location, start_ms, end_ms, out, with_audio=True)
                ours_s = time.monotonic() - began
                ours_bytes = server.bytes_sent() if "http" in kind else None
                print(row(f"ours export ({ours.encoder})", ours_s, clip_s, ours_bytes,
                          exactness(ours.video_path, reference, start_ms, end_ms, ours.audio_path)))
                if kind == "mp4 http":
                    size = source.stat().st_size
                    print(f"  bytes fetched / MP4 size: seed {seed_bytes / size:.2f}, ours {ours_bytes / size:.2f}")
                if kind.startswith("hls"):
                    overlapping = overlapping_segment_bytes(reference, start_ms, end_ms)
                    print(f"  bytes fetched / bytes of overlapping segments: seed {seed_bytes / overlapping:.2f}, "
                          f"ours {ours_bytes / overlapping:.2f}")
                duration_ms = end_ms - start_ms
                began = time.monotonic()
                seed_final = seed_fit(ai, seed_audio, duration_ms, out)
                seed_fit_s = time.monotonic() - began
                began = time.monotonic()
                fitted = fit_to_duration(ai, ours.audio_path, duration_ms, out / "final.mp4")
                ours_fit_s = time.monotonic() - began
                for label, path, seconds in (("seed fit", seed_final, seed_fit_s), ("ours fit", fitted.output_path, ours_fit_s)):
                    report = measure_durations(path)
                    print(f"  {label:<18} {seconds / clip_s:6.3f} s/clip-s  max dur err {report.max_error_ms(duration_ms):7.2f} ms"
                          f"  (container {report.container_ms:.2f}, video {report.video_ms:.2f}, audio {report.audio_ms:.2f})")
                totals["seed_export"] += seed_s
                totals["ours_export"] += ours_s
                totals["seed_fit"] += seed_fit_s
                totals["ours_fit"] += ours_fit_s
                totals["clip_s"] += clip_s
        server.stop()
        clip_s = totals["clip_s"]
        print(f"TOTAL export: seed {totals['seed_export'] / clip_s:.3f} s/clip-s, ours {totals['ours_export'] / clip_s:.3f}"
              f" s/clip-s => {totals['seed_export'] / totals['ours_export']:.2f}x faster")
        print(f"TOTAL fit:    seed {totals['seed_fit'] / clip_s:.3f} s/clip-s, ours {totals['ours_fit'] / clip_s:.3f}"
              f" s/clip-s => {totals['seed_fit'] / totals['ours_fit']:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
