"""HLS sources: resolve a master playlist to one media playlist, then fetch only the segments
around a clip, checked against their real timestamps (EXTINF values drift), into one local file.

Segment and playlist URIs must stay on http(s) (or, for a local playlist, plain relative files):
a playlist from an untrusted host cannot make us read local files or other protocols.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from clip_pipeline.media.fetch import Fetcher
from clip_pipeline.media.ffmpeg import MediaError
from clip_pipeline.media.probe import open_container

_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def is_playlist(location: str, content_type: str = "") -> bool:
    return urlsplit(location).path.endswith((".m3u8", ".m3u")) or "mpegurl" in content_type.lower()


def _attributes(text: str) -> dict[str, str]:
    return {key: value.strip('"') for key, value in _ATTRIBUTE.findall(text)}


@dataclass(frozen=True)
class Segment:
    uri: str
    nominal_start_s: float
    nominal_duration_s: float


@dataclass
class MediaPlaylist:
    uri: str
    segments: list[Segment] = field(default_factory=list)
    init_uri: str | None = None

    @property
    def nominal_duration_s(self) -> float:
        last = self.segments[-1]
        return last.nominal_start_s + last.nominal_duration_s


class PlaylistReader:
    """Reads playlists and segments over HTTP (with the fetcher's retries) or from a local folder."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher

    def read(self, uri: str) -> bytes:
        if uri.startswith(("http://", "https://")):
            return self.fetcher.get(uri).content
        return Path(uri).read_bytes()

    def resolve(self, base: str, reference: str) -> str:
        scheme = urlsplit(reference).scheme
        if base.startswith(("http://", "https://")):
            target = urljoin(base, reference)
            if urlsplit(target).scheme not in ("http", "https"):
                raise MediaError(f"{base}: playlist refers to '{reference}'; only http(s) URIs are allowed")
            return target
        if scheme or reference.startswith("/") or ".." in Path(reference).parts:
            raise MediaError(f"{base}: local playlist refers to '{reference}'; only files next to it are allowed")
        return str(Path(base).parent / reference)

    def media_playlist(self, uri: str, prefer_height: int | None = None) -> tuple[MediaPlaylist, MediaPlaylist | None]:
        """The video media playlist (a master is resolved to one variant) and a separate audio
        rendition's playlist if the chosen variant uses one."""
        text = self.read(uri).decode("utf-8", errors="replace")
        if not text.lstrip().startswith("#EXTM3U"):
            raise MediaError(f"{uri}: not an HLS playlist")
        if "#EXT-X-STREAM-INF" not in text:
            return self._parse_media(uri, text), None
        variant, audio_uri = self._choose_variant(uri, text, prefer_height)
        video = self.media_playlist(variant)[0]
        audio = self.media_playlist(audio_uri)[0] if audio_uri else None
        return video, audio

    def _choose_variant(self, uri: str, text: str, prefer_height: int | None) -> tuple[str, str | None]:
        variants, audio_groups = [], {}
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        for index, line in enumerate(lines):
            if line.startswith("#EXT-X-MEDIA:"):
                attributes = _attributes(line.partition(":")[2])
                if attributes.get("TYPE") == "AUDIO" and "URI" in attributes:
                    audio_groups.setdefault(attributes.get("GROUP-ID"), self.resolve(uri, attributes["URI"]))
            elif line.startswith("#EXT-X-STREAM-INF:") and index + 1 < len(lines):
                attributes = _attributes(line.partition(":")[2])
                height = int(attributes.get("RESOLUTION", "0x0").split("x")[-1] or 0)
                variants.append((height, int(attributes.get("BANDWIDTH", 0)), lines[index + 1], attributes.get("AUDIO")))
        if not variants:
            raise MediaError(f"{uri}: master playlist lists no variants")
        # the smallest variant that is at least the wanted height (fewest bytes), else the best one
        big_enough = [v for v in variants if prefer_height and v[0] >= prefer_height]
        chosen = min(big_enough) if big_enough else max(variants)
        return self.resolve(uri, chosen[2]), audio_groups.get(chosen[3])

    def _parse_media(self, uri: str, text: str) -> MediaPlaylist:
        playlist, start, duration = MediaPlaylist(uri), 0.0, None
        if "#EXT-X-ENDLIST" not in text:
            raise MediaError(f"{uri}: live HLS playlists (no #EXT-X-ENDLIST) cannot be clipped exactly")
        for line in (line.strip() for line in text.splitlines()):
            if line.startswith("#EXTINF:"):
                duration = float(line.partition(":")[2].split(",")[0])
            elif line.startswith("#EXT-X-MAP:"):
                playlist.init_uri = self.resolve(uri, _attributes(line.partition(":")[2])["URI"])
            elif line.startswith("#EXT-X-KEY:") and _attributes(line.partition(":")[2]).get("METHOD") != "NONE":
                raise MediaError(f"{uri}: encrypted HLS segments are not supported")
            elif line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE"):
                # timestamps restart there, so real timestamps no longer place segments on one timeline
                raise MediaError(f"{uri}: HLS discontinuities (#EXT-X-DISCONTINUITY) are not supported")
            elif line.startswith("#EXT-X-BYTERANGE"):
                raise MediaError(f"{uri}: byte-range HLS segments are not supported")
            elif line and not line.startswith("#"):
                if duration is None:
                    raise MediaError(f"{uri}: segment '{line}' has no #EXTINF")
                playlist.segments.append(Segment(self.resolve(uri, line), start, duration))
                start, duration = start + duration, None
        if not playlist.segments:
            raise MediaError(f"{uri}: playlist has no segments")
        return playlist


@dataclass(frozen=True)
class Span:
    """Real timestamps (s) of a local piece: where all its streams have started and have ended."""

    start_s: float  # the latest first timestamp over the streams
    end_s: float  # the earliest end over the streams
    first_s: float  # the earliest first timestamp (libavformat's start_time)


def measure_span(path: Path) -> Span:
    firsts, ends = {}, {}
    with open_container(str(path)) as container:
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        for packet in container.demux(streams):
            if packet.pts is None:
                continue
            t0 = float(packet.pts * packet.time_base)
            t1 = t0 + float((packet.duration or 0) * packet.time_base)
            key = packet.stream.index
            firsts[key] = min(firsts.get(key, t0), t0)
            ends[key] = max(ends.get(key, t1), t1)
    if not firsts:
        raise MediaError(f"{path}: HLS segment holds no audio or video")
    return Span(max(firsts.values()), min(ends.values()), min(firsts.values()))


class ClipSegments:
    """Fetches the segments of one media playlist that cover [start, end) of the source timeline."""

    def __init__(self, reader: PlaylistReader, playlist: MediaPlaylist, workdir: Path, name: str) -> None:
        self.reader, self.playlist, self.workdir, self.name = reader, playlist, workdir, name
        self._bytes: dict[int, bytes] = {}
        self._init = reader.read(playlist.init_uri) if playlist.init_uri else b""
        self.suffix = ".mp4" if playlist.init_uri else ".ts"
        self._origin: float | None = None

    def segment(self, index: int) -> bytes:
        if index not in self._bytes:
            self._bytes[index] = self.reader.read(self.playlist.segments[index].uri)
        return self._bytes[index]

    def write(self, first: int, last: int) -> Path:
        path = self.workdir / f"{self.name}-{first}-{last}{self.suffix}"
        with open(path, "wb") as handle:
            handle.write(self._init)
            for index in range(first, last + 1):
                handle.write(self.segment(index))
        return path

    def origin_s(self) -> float:
        """The timestamp where the source timeline starts (libavformat's start_time of segment 0)."""
        if self._origin is None:
            self._origin = measure_span(self.write(0, 0)).first_s
        return self._origin

    def fetched_indexes(self) -> list[int]:
        return sorted(self._bytes)

    def cover(self, start_abs: float, end_abs: float, origin: float) -> Path:
        """A local file of consecutive segments whose real timestamps cover [start_abs, end_abs):
        start from the EXTINF guess (relative to ORIGIN) and widen while the real timestamps say
        it missed."""
        segments = self.playlist.segments
        first = last = 0
        for index, segment in enumerate(segments):
            if segment.nominal_start_s <= start_abs - origin:
                first = index
            if segment.nominal_start_s < end_abs - origin:
                last = index
        while True:
            path = self.write(first, last)
            span = measure_span(path)
            if span.start_s > start_abs + 1e-4 and first > 0:
                first -= 1
            elif span.end_s < end_abs - 1e-4 and last < len(segments) - 1:
                last += 1
            else:
                return path

