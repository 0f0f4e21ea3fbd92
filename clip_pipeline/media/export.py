"""Cutting [start, end) out of a source into an exact clip (and, on request, its audio alone).

How the cut stays exact (rules in the README's media section):
- timestamps, not frame counts: ffmpeg seeks by absolute timestamp (`-seek_timestamp`) to half a
  second before the frame shown at S, so TS/HLS start offsets and edit lists cannot shift anything;
- the frame shown at S is found from the real packet timestamps and becomes the first frame (at 0);
  every later frame keeps its own time minus S (no re-gridding to 1/fps), frames at or after E go;
- the audio is trimmed by timestamp at S (sample-accurate) and made exactly D*rate samples;
- HLS: only the segments around the clip are fetched (see hls.py) and cut locally.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

from clip_pipeline.media import encoding
from clip_pipeline.media.fetch import Fetcher, SourceUnavailable
from clip_pipeline.media.ffmpeg import MediaError, run_ffmpeg
from clip_pipeline.media.inputs import (
    PreparedSource,
    ffmpeg_input_args,
    frame_shown_at,
    frame_times_around,
    prepare,
)
from clip_pipeline.media.options import MediaOptions
from clip_pipeline.media.probe import measure_durations, probe
from clip_pipeline.media.sources import is_url, source_candidates
from clip_pipeline.media.workspace import publish, workspace

SEEK_MARGIN_S = 0.5  # decode from this long before the first frame, then trim by timestamp


@dataclass(frozen=True)
class ExportResult:
    video_path: Path
    audio_path: Path | None
    duration_ms: int
    width: int
    height: int
    fps: float | None
    has_audio: bool
    file_size: int
    elapsed_ms: int
    encoder: str
    bytes_fetched: int | None  # HLS: every byte downloaded; local: 0; MP4 over HTTP: None (ffmpeg reads it)
    source_url: str

    def to_dict(self) -> dict:
        data = asdict(self)
        data["video_path"] = str(self.video_path)
        data["audio_path"] = str(self.audio_path) if self.audio_path else None
        return data


@dataclass(frozen=True)
class _Cut:
    seek_s: float  # absolute input timestamp ffmpeg seeks to; input times below are relative to it
    first_frame_s: float  # the frame shown at S
    start_s: float  # S
    end_s: float  # E
    use_seek: bool  # False: read from the input's start (then seek_s is its start time)


def _video_chain(cut: _Cut, timescale: int, scale: str | None) -> str:
    start = cut.first_frame_s - cut.seek_s - 0.0005  # half a millisecond below the first frame
    end = cut.end_s - cut.seek_s
    offset_ticks = round((cut.start_s - cut.seek_s) * timescale)
    filters = [
        f"trim=start={start:.6f}:end={end:.6f}",
        f"settb=1/{timescale}",
        f"setpts='if(eq(N\\,0)\\,0\\,PTS-{offset_ticks})'",
    ]
    if scale:
        filters.append(scale)
    return ",".join(filters)


def _audio_chain(cut: _Cut, audio_start_s: float | None, source_rate: int, out_rate: int, samples: int) -> str:
    filters = [f"atrim=start={cut.start_s - cut.seek_s:.6f}", "asetpts=PTS-STARTPTS"]
    lead = round(((audio_start_s or cut.start_s) - cut.start_s) * source_rate)
    if lead > 0:  # the audio starts after S: silence until it does
        filters.append(f"adelay=delays={lead}S:all=1")
    if out_rate != source_rate:
        filters.append(f"aresample={out_rate}")
    filters.append(encoding.audio_exact_chain(samples))
    return ",".join(filters)


def _validate(start_ms: int, end_ms: int, resolution: str, quality: str, fmt: str, audio_format: str) -> None:
    if start_ms < 0:
        raise MediaError(f"start {start_ms} ms is negative")
    if end_ms <= start_ms:
        raise MediaError(f"end ({end_ms} ms) must be after start ({start_ms} ms)")
    encoding.quality(quality)
    encoding.scale_filter(None, None, resolution)
    if fmt not in encoding.FORMATS:
        raise MediaError(f"unknown format '{fmt}' (use {', '.join(encoding.FORMATS)})")
    if audio_format not in encoding.AUDIO_FORMATS:
        raise MediaError(f"unknown audio format '{audio_format}' (use {', '.join(encoding.AUDIO_FORMATS)})")


def export_clip(
    source: str,
    start_ms: int,
    end_ms: int,
    out_dir: Path,
    *,
    resolution: str = "original",
    quality: str = "medium",
    fmt: str = "mp4",
    with_audio: bool = False,
    audio_format: str = "m4a",
    options: MediaOptions = MediaOptions(),
) -> ExportResult:
    """Write the clip [start_ms, end_ms) of SOURCE to OUT_DIR, exactly end-start ms long."""
    began = time.monotonic()
    _validate(start_ms, end_ms, resolution, quality, fmt, audio_format)
    candidates = source_candidates(source, options)
    out_dir = Path(out_dir)
    with workspace(options, out_dir) as work, Fetcher(options) as fetcher:
        prepared, used = _prepare_first_available(source, candidates, start_ms, end_ms, work, fetcher,
                                                  encoding.RESOLUTIONS[resolution])
        encoder = encoding.choose_encoder(options) if fmt == "mp4" else "libvpx-vp9"
        stem = f"clip_{start_ms}_{end_ms}"
        video_tmp = work / f"{stem}.{fmt}"
        audio_tmp = work / f"{stem}.{audio_format}" if with_audio and prepared.has_audio else None
        args = _export_args(prepared, start_ms, end_ms, video_tmp, audio_tmp, resolution, quality, fmt,
                            audio_format, encoder)
        run_ffmpeg(args, timeout_s=options.timeout_s, binary=options.ffmpeg_binary, what=f"export {source}")
        if measure_durations(video_tmp).frames == 0:
            raise MediaError(f"export {source}: ffmpeg wrote no video frames for {start_ms}-{end_ms} ms")
        facts = probe(str(video_tmp)).video
        video_path = publish(video_tmp, out_dir / video_tmp.name)
        audio_path = publish(audio_tmp, out_dir / audio_tmp.name) if audio_tmp else None
    return ExportResult(
        video_path=video_path,
        audio_path=audio_path,
        duration_ms=end_ms - start_ms,
        width=facts.width,
        height=facts.height,
        fps=prepared.facts.video.fps,
        has_audio=prepared.has_audio,
        file_size=video_path.stat().st_size,
        elapsed_ms=round((time.monotonic() - began) * 1000),
        encoder=encoder,
        bytes_fetched=_bytes_fetched(prepared, fetcher),
        source_url=used,
    )


def _prepare_first_available(source: str, candidates: list[str], start_ms: int, end_ms: int, work: Path,
                             fetcher: Fetcher, prefer_height: int | None) -> tuple[PreparedSource, str]:
    """The first candidate location that answers (the next CDN base when one keeps failing)."""
    for index, location in enumerate(candidates):
        try:
            return prepare(location, start_ms, end_ms, work, fetcher, prefer_height), location
        except SourceUnavailable as exc:
            if index == len(candidates) - 1:
                tried = f" (tried {len(candidates)} CDN bases)" if len(candidates) > 1 else ""
                raise MediaError(f"{source}: source unavailable{tried}: {exc}") from None
    raise AssertionError("source_candidates never returns an empty list")


def _bytes_fetched(prepared: PreparedSource, fetcher: Fetcher) -> int | None:
    if prepared.segmented:
        return fetcher.bytes_fetched
    return None if is_url(prepared.location) else 0


def _plan_cut(prepared: PreparedSource, start_ms: int, end_ms: int) -> _Cut:
    start_s, end_s = prepared.origin_s + start_ms / 1000, prepared.origin_s + end_ms / 1000
    first_frame = frame_shown_at(frame_times_around(prepared.location, start_s), start_s)
    input_start = prepared.facts.start_time_s or 0.0
    # Near the input's start, read from its beginning: `-ss` at the very start lands after the AAC
    # priming packet and the decoder then drops 1024 real samples. Without -ss, ffmpeg's times
    # are relative to the input's start time instead.
    # Seek only in containers with an index: in MPEG-TS a seek lands on any packet and decoding
    # restarts at the next keyframe, possibly after S. Fetched HLS segments start at a keyframe
    # close to S anyway, so reading them from the start costs little.
    seek_s = first_frame - SEEK_MARGIN_S
    use_seek = seek_s > input_start and _has_index(prepared.facts.format_name)
    return _Cut(seek_s if use_seek else input_start, first_frame, start_s, end_s, use_seek)


def _audio_graph(prepared: PreparedSource, cut: _Cut, audio_input: str, duration_ms: int, fmt: str,
                 separate: bool) -> list[str]:
    """Filter graph lines giving [a] (for the clip) and, when SEPARATE, [a_solo] (its own file)."""
    audio = (prepared.audio_facts or prepared.facts).audio
    if prepared.audio_facts is not None and not cut.use_seek:  # a separate input: its own start time
        cut = replace(cut, seek_s=prepared.audio_facts.start_time_s or 0.0)
    rate = audio.sample_rate
    out_rate = encoding.output_rate(fmt, rate)
    chain = _audio_chain(cut, audio.start_time_s, rate, out_rate, round(duration_ms * out_rate / 1000))
    if not separate:
        return [f"[{audio_input}]{chain}[a]"]
    if out_rate == rate:
        return [f"[{audio_input}]{chain},asplit=2[a][a_solo]"]
    solo = _audio_chain(cut, audio.start_time_s, rate, rate, round(duration_ms * rate / 1000))  # source rate
    return [f"[{audio_input}]asplit=2[a_in0][a_in1]", f"[a_in0]{chain}[a]", f"[a_in1]{solo}[a_solo]"]


def _export_args(prepared: PreparedSource, start_ms: int, end_ms: int, video_out: Path, audio_out: Path | None,
                 resolution: str, quality: str, fmt: str, audio_format: str, encoder: str) -> list[str]:
    preset = encoding.quality(quality)
    cut = _plan_cut(prepared, start_ms, end_ms)
    timescale = encoding.track_timescale(Fraction(prepared.facts.video.time_base))
    duration_ms = end_ms - start_ms

    # -seek_timestamp only with -ss: on its own it made ffmpeg 9 drop every video frame of a TS input
    seek = ["-seek_timestamp", "1", "-ss", f"{cut.seek_s:.6f}"] if cut.use_seek else []
    args = ["-y", *seek, *ffmpeg_input_args(prepared.location), "-i", prepared.location]
    audio_input = "0:a:0"
    if prepared.audio_location:
        args += [*seek, *ffmpeg_input_args(prepared.audio_location), "-i", prepared.audio_location]
        audio_input = "1:a:0"
    video = prepared.facts.video
    scale = encoding.scale_filter(video.width, video.height, resolution)
    graph = [f"[0:v:0]{_video_chain(cut, timescale, scale)}[v]"]
    audio_maps = []
    if prepared.has_audio:
        graph += _audio_graph(prepared, cut, audio_input, duration_ms, fmt, separate=audio_out is not None)
        audio_maps = ["-map", "[a]", *encoding.audio_codec_args(fmt, preset)]
    args += ["-filter_complex", ";".join(graph), "-map", "[v]", *audio_maps,
             *encoding.video_codec_args(encoder, fmt, preset), *encoding.video_timing_args(timescale, duration_ms),
             "-map_metadata", "-1", "-map_chapters", "-1", *encoding.container_args(fmt, timescale), str(video_out)]
    if audio_out is not None:
        rate = (prepared.audio_facts or prepared.facts).audio.sample_rate
        args += ["-map", "[a_solo]", *encoding.audio_file_args(audio_format, rate, preset),
                 "-map_metadata", "-1", str(audio_out)]
    return args


def _has_index(format_name: str) -> bool:
    return any(name in format_name.split(",") for name in ("mov", "mp4", "matroska", "webm"))
