"""Reading media facts with PyAV (the same libavformat that ffmpeg uses, so the numbers agree)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import av

from clip_pipeline.media.ffmpeg import MediaError

# What PyAV/libavformat may open: local files, or the network for URLs (never file: from a URL).
LOCAL_PROTOCOLS = "file,pipe"
NETWORK_PROTOCOLS = "http,https,tcp,tls,crypto"


# Bounded HTTP range requests: an open-ended `bytes=0-` makes the server push megabytes that
# the reader then throws away when it seeks.
HTTP_REQUEST_OPTIONS = {"multiple_requests": "1", "initial_request_size": "65536", "request_size": "524288",
                        "probesize": "500000", "analyzeduration": "200000"}


def open_options(path_or_url: str) -> dict[str, str]:
    if path_or_url.startswith(("http://", "https://")):
        return {"protocol_whitelist": NETWORK_PROTOCOLS, **HTTP_REQUEST_OPTIONS}
    return {"protocol_whitelist": LOCAL_PROTOCOLS}


def open_container(path_or_url: str):
    """av.open with a protocol whitelist; unreadable or non-media input is one clear MediaError."""
    try:
        return av.open(path_or_url, options=open_options(path_or_url), timeout=30)
    except av.error.HTTPNotFoundError:
        raise MediaError(f"{path_or_url}: not found (HTTP 404)") from None
    except av.error.InvalidDataError:
        raise MediaError(f"{path_or_url}: not a media file ffmpeg can read") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{path_or_url}: cannot be opened ({exc})") from None


def _seconds(value, time_base) -> float | None:
    return None if value is None or time_base is None else float(value * time_base)


@dataclass(frozen=True)
class StreamInfo:
    index: int
    type: str
    codec: str | None
    start_time_s: float | None
    duration_ms: float | None
    frames: int
    time_base: str | None = None  # "1/90000"
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class ProbeResult:
    source: str
    format_name: str
    start_time_s: float | None
    duration_ms: float | None
    bit_rate: int | None
    streams: list[StreamInfo] = field(default_factory=list)

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.type == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.type == "audio"), None)

    def to_dict(self) -> dict:
        return asdict(self)


def _stream_info(stream) -> StreamInfo:
    codec = stream.codec_context
    info = dict(
        index=stream.index,
        type=stream.type,
        codec=codec.name if codec else None,
        start_time_s=_seconds(stream.start_time, stream.time_base),
        duration_ms=None if stream.duration is None else float(stream.duration * stream.time_base) * 1000,
        frames=stream.frames,
        time_base=str(stream.time_base) if stream.time_base else None,
    )
    if stream.type == "video":
        rate = stream.average_rate or stream.guessed_rate
        info |= dict(fps=round(float(rate), 3) if rate else None, width=codec.width, height=codec.height)
    elif stream.type == "audio":
        info |= dict(sample_rate=codec.sample_rate, channels=codec.channels)
    return StreamInfo(**info)


def probe(path_or_url: str) -> ProbeResult:
    """Container and per-stream facts: durations, start times, fps, sample rate, codecs."""
    with open_container(str(path_or_url)) as container:
        return ProbeResult(
            source=str(path_or_url),
            format_name=container.format.name,
            start_time_s=None if container.start_time is None else container.start_time / 1e6,
            duration_ms=None if container.duration is None else container.duration / 1000,
            bit_rate=container.bit_rate or None,
            streams=[_stream_info(s) for s in container.streams if s.type in ("video", "audio")],
        )


@dataclass(frozen=True)
class DurationReport:
    container_ms: float
    video_ms: float | None
    audio_ms: float | None
    has_video: bool
    has_audio: bool
    frames: int

    def max_error_ms(self, expected_ms: float) -> float:
        """Largest |duration - expected| over the container and the streams present."""
        values = [v for v in (self.container_ms, self.video_ms, self.audio_ms) if v is not None]
        return max(abs(v - expected_ms) for v in values)

    def to_dict(self) -> dict:
        return asdict(self)


def _packet_span_ms(container, stream) -> tuple[float, int]:
    """Duration from packets (first pts to the end of the last one) and the packet count."""
    container.seek(0)
    first, end, count = None, None, 0
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        count += 1
        first = packet.pts if first is None else min(first, packet.pts)
        end = packet.pts + (packet.duration or 0) if end is None else max(end, packet.pts + (packet.duration or 0))
    if first is None:
        return 0.0, 0
    return float((end - first) * stream.time_base) * 1000, count


def measure_durations(path: Path) -> DurationReport:
    """Container, video stream and audio stream durations in ms (stream metadata where the
    container has it, packet sums otherwise), and the number of video frames."""
    with open_container(str(path)) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None

        def stream_ms(stream) -> float | None:
            if stream is None:
                return None
            if stream.duration is not None:
                return float(stream.duration * stream.time_base) * 1000
            return _packet_span_ms(container, stream)[0]

        frames = 0
        if video is not None:
            frames = video.frames or _packet_span_ms(container, video)[1]
        video_ms, audio_ms = stream_ms(video), stream_ms(audio)
        container_ms = container.duration / 1000 if container.duration is not None else max(
            v for v in (video_ms, audio_ms, 0.0) if v is not None
        )
        return DurationReport(container_ms, video_ms, audio_ms, video is not None, audio is not None, frames)

