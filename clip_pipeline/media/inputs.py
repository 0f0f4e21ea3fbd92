"""Turning a source location into what ffmpeg should read for one clip, with the facts the exact
cut needs: the source timeline's origin (its first timestamp), its duration, the stream facts and
the timestamps of the video frames around the clip's start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clip_pipeline.media.fetch import Fetcher
from clip_pipeline.media.ffmpeg import MediaError
from clip_pipeline.media.hls import ClipSegments, PlaylistReader, is_playlist
from clip_pipeline.media.probe import HTTP_REQUEST_OPTIONS, NETWORK_PROTOCOLS, ProbeResult, open_container, probe
from clip_pipeline.media.sources import is_url


@dataclass(frozen=True)
class PreparedSource:
    location: str  # local path or URL ffmpeg reads for the video (and audio unless audio_location)
    audio_location: str | None  # a separate audio rendition (HLS alternate audio)
    origin_s: float  # the timestamp that is time 0 of the source timeline
    duration_ms: float
    facts: ProbeResult
    audio_facts: ProbeResult | None
    segmented: bool = False  # HLS: the location is a local file of the fetched segments

    @property
    def has_audio(self) -> bool:
        return (self.audio_facts or self.facts).audio is not None


def ffmpeg_input_args(location: str) -> list[str]:
    """Per-input protocol whitelist (+ reconnects for HTTP) so a source cannot open other protocols."""
    if is_url(location):
        bounded = [part for key, value in HTTP_REQUEST_OPTIONS.items() for part in (f"-{key}", value)]
        return ["-protocol_whitelist", NETWORK_PROTOCOLS, *bounded, "-reconnect", "1",
                "-reconnect_on_network_error", "1", "-reconnect_on_http_error", "5xx",
                "-reconnect_max_retries", "3", "-reconnect_delay_max", "2"]
    return ["-protocol_whitelist", "file"]


def _check_range(source: str, start_ms: int, end_ms: int, duration_ms: float | None) -> None:
    if duration_ms is not None and end_ms > duration_ms + 0.5:
        raise MediaError(
            f"{source}: the range {start_ms}-{end_ms} ms ends past the source's end "
            f"(the source lasts {duration_ms:.0f} ms)"
        )


def prepare(location: str, start_ms: int, end_ms: int, workdir: Path, fetcher: Fetcher,
            prefer_height: int | None = None) -> PreparedSource:
    content_type = ""
    if is_url(location) and not is_playlist(location):
        content_type = fetcher.content_type(location)
    if is_playlist(location, content_type):
        return _prepare_hls(location, start_ms, end_ms, workdir, fetcher, prefer_height)
    facts = probe(location)
    if facts.video is None:
        raise MediaError(f"{location}: has no video stream")
    _check_range(location, start_ms, end_ms, facts.duration_ms)
    return PreparedSource(location, None, facts.start_time_s or 0.0, facts.duration_ms or 0.0, facts, None)


def _prepare_hls(location: str, start_ms: int, end_ms: int, workdir: Path, fetcher: Fetcher,
                 prefer_height: int | None) -> PreparedSource:
    reader = PlaylistReader(fetcher)
    video_playlist, audio_playlist = reader.media_playlist(location, prefer_height)
    duration_ms = video_playlist.nominal_duration_s * 1000
    _check_range(location, start_ms, end_ms, duration_ms)
    renditions = [ClipSegments(reader, video_playlist, workdir, "video")]
    if audio_playlist is not None:
        renditions.append(ClipSegments(reader, audio_playlist, workdir, "audio"))
    origin = min(r.origin_s() for r in renditions)
    start_abs, end_abs = origin + start_ms / 1000, origin + end_ms / 1000
    paths = [str(r.cover(start_abs, end_abs, origin)) for r in renditions]
    facts = probe(paths[0])
    audio_facts = probe(paths[1]) if len(paths) > 1 else None
    if facts.video is None:
        raise MediaError(f"{location}: has no video stream")
    return PreparedSource(paths[0], paths[1] if len(paths) > 1 else None, origin, duration_ms, facts, audio_facts,
                          segmented=True)


def frame_times_around(location: str, at_s: float, lookback_s: float = 0.2) -> list[float]:
    """Presentation times (absolute s) of the video frames from the keyframe before AT - lookback
    (a little earlier than AT in case of open-GOP leading frames) until the decode order has passed
    AT: enough to know which frame is shown at AT, reading as little as possible over HTTP."""
    times: list[float] = []
    with open_container(location) as container:
        stream = container.streams.video[0]
        target = max(0.0, at_s - lookback_s)
        container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
        passed = 0
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            time = float(packet.pts * packet.time_base)
            times.append(time)
            decode_time = float((packet.dts if packet.dts is not None else packet.pts) * packet.time_base)
            if decode_time > at_s:
                passed += 1
                if passed > 8:  # B-frame reordering delay is far smaller than this
                    break
    if not times:
        raise MediaError(f"{location}: no video frames found near {at_s:.3f} s")
    return sorted(times)


def frame_shown_at(times: list[float], at_s: float) -> float:
    """The frame shown at AT: the last one starting at or before it (or the first one)."""
    earlier = [t for t in times if t <= at_s + 1e-6]
    return earlier[-1] if earlier else times[0]
