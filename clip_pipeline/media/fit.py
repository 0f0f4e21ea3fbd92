"""Fitting an AI result of any length, frame rate and size to exactly D ms, with the clip's audio.

The AI picture is never stretched (stretching drifts speech against lips): frame timestamps are
kept as they are (first frame at 0), a longer result is cut at D (trim), and a shorter one holds
its last frame until D (freeze). The AI's own sound is dropped; AUDIO is cut or padded to exactly
D * rate samples at offset 0."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from clip_pipeline.media import encoding
from clip_pipeline.media.ffmpeg import MediaError, run_ffmpeg
from clip_pipeline.media.inputs import ffmpeg_input_args
from clip_pipeline.media.options import MediaOptions
from clip_pipeline.media.probe import measure_durations, probe
from clip_pipeline.media.workspace import publish, workspace

STRATEGIES = ("auto", "trim", "freeze")


@dataclass(frozen=True)
class FitResult:
    output_path: Path
    duration_ms: int
    source_duration_ms: float
    adjustment: str  # none, trim or freeze
    elapsed_ms: int

    def to_dict(self) -> dict:
        return asdict(self) | {"output_path": str(self.output_path)}


def _adjustment(source_ms: float, duration_ms: int, strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise MediaError(f"unknown strategy '{strategy}' (use {', '.join(STRATEGIES)})")
    if abs(source_ms - duration_ms) < 1:
        return "none"
    needed = "trim" if source_ms > duration_ms else "freeze"
    if strategy not in ("auto", needed):
        raise MediaError(
            f"the video lasts {source_ms:.0f} ms and D is {duration_ms} ms: it needs '{needed}', "
            f"not '{strategy}' (time-stretching is not offered: it breaks lip sync)"
        )
    return needed


def fit_to_duration(
    video: Path | str,
    audio: Path | None,
    duration_ms: int,
    out: Path,
    *,
    strategy: str = "auto",
    options: MediaOptions = MediaOptions(),
) -> FitResult:
    """Write OUT = VIDEO's picture (+ AUDIO), exactly DURATION_MS long."""
    began = time.monotonic()
    if duration_ms <= 0:
        raise MediaError(f"duration {duration_ms} ms must be positive")
    out = Path(out)
    fmt = "webm" if out.suffix.lower() == ".webm" else "mp4"
    source = measure_durations(Path(video))
    if not source.has_video or source.frames == 0:
        raise MediaError(f"{video}: has no video frames")
    adjustment = _adjustment(source.video_ms, duration_ms, strategy)
    audio_facts = probe(str(audio)).audio if audio is not None else None
    if audio is not None and audio_facts is None:
        raise MediaError(f"{audio}: has no audio stream")
    picture = probe(str(video)).video
    timescale = encoding.track_timescale(Fraction(picture.time_base))
    even = encoding.scale_filter(picture.width, picture.height, "original")
    preset = encoding.quality("medium")
    encoder = encoding.choose_encoder(options) if fmt == "mp4" else "libvpx-vp9"

    args = ["-y", *ffmpeg_input_args(str(video)), "-i", str(video)]
    chain = f"setpts=PTS-STARTPTS,settb=1/{timescale},trim=end={duration_ms / 1000:.6f}" + (f",{even}" if even else "")
    graph = [f"[0:v:0]{chain}[v]"]
    maps = ["-map", "[v]"]
    if audio is not None:
        rate = encoding.output_rate(fmt, audio_facts.sample_rate)
        resample = f"aresample={rate}," if rate != audio_facts.sample_rate else ""
        samples = round(duration_ms * rate / 1000)
        args += [*ffmpeg_input_args(str(audio)), "-i", str(audio)]
        graph.append(f"[1:a:0]asetpts=PTS-STARTPTS,{resample}{encoding.audio_exact_chain(samples)}[a]")
        maps += ["-map", "[a]", *encoding.audio_codec_args(fmt, preset)]
    with workspace(options, out.parent) as work:
        temporary = work / f"fit{out.suffix or '.mp4'}"
        args += ["-filter_complex", ";".join(graph), *maps, *encoding.video_codec_args(encoder, fmt, preset),
                 *encoding.video_timing_args(timescale, duration_ms), "-map_metadata", "-1",
                 *encoding.container_args(fmt, timescale), str(temporary)]
        run_ffmpeg(args, timeout_s=options.timeout_s, binary=options.ffmpeg_binary, what=f"fit {video}")
        output = publish(temporary, out)
    return FitResult(output, duration_ms, round(source.video_ms, 3), adjustment,
                     round((time.monotonic() - began) * 1000))
