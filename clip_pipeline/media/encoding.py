"""Encoder choice, quality presets and the output settings that make durations exact.

Exact durations in MP4 rest on four things (see the README's media section):
- `-bf 0`: the last packet in decode order is the last frame shown, so `setts` can give it the
  remaining ticks and the video track ends exactly at D;
- a track timescale that is a multiple of 1000 and of the source's time base (frame times and whole
  milliseconds are both exact ticks), set explicitly with `-movie_timescale`/`-video_track_timescale`
  (ffmpeg's defaults changed between versions);
- `-enc_time_base` equal to that timescale and `-fps_mode passthrough` (frames keep the source's own
  timestamps instead of being re-gridded to 1/fps, which moves the first frame);
- audio cut and padded to exactly N = D * rate samples (`atrim`/`apad`), never `-shortest`.
"""

from __future__ import annotations

import logging
import math
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from clip_pipeline.media.ffmpeg import MediaError, ffmpeg_binary
from clip_pipeline.media.options import MediaOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Quality:
    x264_preset: str
    crf: int
    nvenc_preset: str
    vp9_crf: int
    audio_bitrate: str


# medium is the default: veryfast costs ~15% more time than ultrafast for a large quality gain.
QUALITIES = {
    "low": Quality("veryfast", 28, "p2", 40, "96k"),
    "medium": Quality("veryfast", 23, "p4", 33, "128k"),
    "high": Quality("faster", 18, "p6", 28, "192k"),
}
RESOLUTIONS = {"original": None, "720p": 720, "1080p": 1080}
FORMATS = ("mp4", "webm")
AUDIO_FORMATS = ("m4a", "wav")


def quality(name: str) -> Quality:
    if name not in QUALITIES:
        raise MediaError(f"unknown quality '{name}' (use {', '.join(QUALITIES)})")
    return QUALITIES[name]


@lru_cache(maxsize=8)
def nvenc_available(binary: str | None) -> bool:
    """One tiny encode tells whether this ffmpeg build and machine can use h264_nvenc."""
    command = [ffmpeg_binary(binary), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi",
               "-i", "color=size=256x256:rate=1", "-frames:v", "1", "-c:v", "h264_nvenc", "-f", "null", "-"]
    try:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def choose_encoder(options: MediaOptions) -> str:
    """h264_nvenc when configured and usable, else libx264 (the fallback is logged, and every
    export records the encoder it used)."""
    if options.encoder == "h264_nvenc":
        if nvenc_available(options.ffmpeg_binary):
            return "h264_nvenc"
        log.warning("h264_nvenc is configured but this ffmpeg/machine cannot use it; encoding with libx264")
        return "libx264"
    if options.encoder != "libx264":
        raise MediaError(f"unknown video encoder '{options.encoder}' (use libx264 or h264_nvenc)")
    return "libx264"


def video_codec_args(encoder: str, fmt: str, preset: Quality) -> list[str]:
    if fmt == "webm":
        return ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
                "-crf", str(preset.vp9_crf), "-b:v", "0"]
    if encoder == "h264_nvenc":
        return ["-c:v", "h264_nvenc", "-preset", preset.nvenc_preset, "-rc", "vbr", "-cq", str(preset.crf),
                "-bf", "0", "-pix_fmt", "yuv420p"]
    return ["-c:v", "libx264", "-preset", preset.x264_preset, "-crf", str(preset.crf), "-bf", "0",
            "-pix_fmt", "yuv420p"]


def audio_codec_args(fmt: str, preset: Quality) -> list[str]:
    if fmt == "webm":
        return ["-c:a", "libopus", "-b:a", preset.audio_bitrate]
    if fmt == "wav":
        return ["-c:a", "pcm_s16le"]
    return ["-c:a", "aac", "-b:a", preset.audio_bitrate]


def output_rate(fmt: str, sample_rate: int) -> int:
    """Opus only runs at 48 kHz; AAC and WAV keep the source's rate."""
    return 48000 if fmt == "webm" else sample_rate


def track_timescale(time_base: Fraction | None) -> int:
    """Ticks per second: a multiple of 1000 and of the source time base's denominator when sane."""
    denominator = time_base.denominator if time_base else 90000
    scale = math.lcm(1000, denominator)
    return scale if scale <= 1_000_000 else 1_000_000


def last_frame_bsf(duration_ms: int, timescale: int) -> list[str]:
    """Give the last packet whatever ticks remain up to D, so the video track lasts exactly D."""
    total = duration_ms * timescale // 1000
    expression = f"if(eq(NEXT_PTS\\,NOPTS)\\,{total}-PTS\\,DURATION)"
    return ["-bsf:v", f"setts=duration='{expression}'"]


def video_timing_args(timescale: int, duration_ms: int) -> list[str]:
    return ["-fps_mode", "passthrough", "-enc_time_base:v", f"1:{timescale}", *last_frame_bsf(duration_ms, timescale)]


def container_args(fmt: str, timescale: int) -> list[str]:
    if fmt == "webm":
        return ["-f", "webm"]
    return ["-f", "mp4", "-movflags", "+faststart", "-movie_timescale", str(timescale),
            "-video_track_timescale", str(timescale)]


def audio_file_args(fmt: str, sample_rate: int, preset: Quality) -> list[str]:
    if fmt == "wav":
        return [*audio_codec_args("wav", preset), "-f", "wav"]
    return [*audio_codec_args("m4a", preset), "-f", "ipod", "-movflags", "+faststart",
            "-movie_timescale", str(math.lcm(1000, sample_rate))]


def audio_exact_chain(samples: int) -> str:
    """Exactly SAMPLES samples: cut what runs over, pad silence where it runs short."""
    return f"atrim=end_sample={samples},apad=whole_len={samples}"


def scale_filter(source_width: int | None, source_height: int | None, resolution: str) -> str | None:
    """Scale down to the height keeping the aspect ratio (even width); never scale up. Odd sizes
    lose their last column/row (4:2:0 H.264 needs even ones)."""
    if resolution not in RESOLUTIONS:
        raise MediaError(f"unknown resolution '{resolution}' (use {', '.join(RESOLUTIONS)})")
    target = RESOLUTIONS[resolution]
    if target is not None and source_height is not None and source_height > target:
        return f"scale=-2:{target}"
    if (source_width or 0) % 2 or (source_height or 0) % 2:
        return "scale=trunc(iw/2)*2:trunc(ih/2)*2"
    return None
