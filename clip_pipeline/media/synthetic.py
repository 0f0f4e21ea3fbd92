"""Synthetic sources for the demo and benchmarks: a moving test pattern with a running clock and
speech-like audio, packaged as VOD HLS (MPEG-TS segments), the shape Cloudflare Stream serves."""

from __future__ import annotations

from pathlib import Path

from clip_pipeline.media.ffmpeg import run_ffmpeg


def make_hls_source(
    out_dir: Path,
    *,
    duration_s: float = 20.0,
    fps: int = 30,
    size: str = "640x360",
    segment_s: int = 2,
    timeout_s: float = 300.0,
) -> Path:
    """Write OUT_DIR/video.m3u8 plus segments; return the playlist path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    playlist = out_dir / "video.m3u8"
    # Audio: a voice-band tone whose loudness pulses like syllables, over quiet noise.
    audio = (
        f"sine=frequency=220:sample_rate=48000:duration={duration_s},"
        "volume='0.2+0.6*abs(sin(2*PI*2.5*t))':eval=frame[tone];"
        f"anoisesrc=color=pink:amplitude=0.05:sample_rate=48000:duration={duration_s}[noise];"
        "[tone][noise]amix=inputs=2:normalize=0,aformat=channel_layouts=stereo[a]"
    )
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={duration_s}",
            "-filter_complex", audio,
            "-map", "0:v", "-map", "[a]",
            "-c:v", "libx264", "-preset", "veryfast", "-g", str(fps), "-keyint_min", str(fps),
            "-sc_threshold", "0", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k",
            "-f", "hls", "-hls_time", str(segment_s), "-hls_playlist_type", "vod",
            "-hls_segment_filename", str(out_dir / "seg%03d.ts"),
            "-y", str(playlist),
        ],
        timeout_s=timeout_s,
        what="synthetic HLS source",
    )
    return playlist
