"""Synthetic sources whose every frame names itself, and the readers that check exactness.

Each video frame carries its frame index as a 20-bit code of black/white blocks (two rows of ten
32x90 blocks on a 320x180 frame; big enough to survive H.264 at any quality and downscaling). The
audio is seeded white noise, so an offset between two recordings is found by cross-correlation.

`make_source` writes an MP4 with PyAV (any CFR rate, VFR timestamps, B-frames, 44.1/48 kHz, mono or
stereo, or no audio); `make_hls` and `make_edit_list_mp4` repackage one with the ffmpeg CLI.
`decode_frames`, `decode_audio`, `frame_at` and `audio_offset_ms` read outputs back.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from clip_pipeline.media.ffmpeg import ffmpeg_binary

WIDTH, HEIGHT = 320, 180
BITS = 20
_COLUMNS, _ROWS = 10, 2
_BLOCK_W, _BLOCK_H = WIDTH // _COLUMNS, HEIGHT // _ROWS


def code_image(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A gray image whose blocks spell `index` (bit 0 top-left, row by row)."""
    image = np.zeros((height, width), dtype=np.uint8)
    block_w, block_h = width // _COLUMNS, height // _ROWS
    for bit in range(BITS):
        if index >> bit & 1:
            row, column = divmod(bit, _COLUMNS)
            image[row * block_h : (row + 1) * block_h, column * block_w : (column + 1) * block_w] = 255
    return image


def read_code(gray: np.ndarray) -> int:
    """The index spelled by a decoded frame of any size (samples the middle of each block)."""
    height, width = gray.shape
    block_w, block_h = width / _COLUMNS, height / _ROWS
    value = 0
    for bit in range(BITS):
        row, column = divmod(bit, _COLUMNS)
        y0, y1 = int((row + 0.3) * block_h), int((row + 0.7) * block_h)
        x0, x1 = int((column + 0.3) * block_w), int((column + 0.7) * block_w)
        if gray[y0:y1, x0:x1].mean() > 128:
            value |= 1 << bit
    return value


def noise(seed: int, samples: int, channels: int) -> np.ndarray:
    """Seeded white noise, shape (channels, samples), float32 in [-0.5, 0.5]."""
    rng = np.random.default_rng(seed)
    return (rng.random((channels, samples), dtype=np.float32) - 0.5).astype(np.float32)


@dataclass(frozen=True)
class SourceSpec:
    name: str
    fps: Fraction = Fraction(30)
    duration_s: float = 4.0
    sample_rate: int | None = 48000  # None: no audio
    channels: int = 2
    bframes: int = 0
    vfr: bool = False  # frame durations alternate 1x and 2x the nominal period
    gop: int = 30
    seed: int = 7
    grain: int = 0  # amplitude of per-frame noise on top of the blocks (realistic encoder load)


def frame_times(spec: SourceSpec) -> list[Fraction]:
    """Presentation times (s) of the source's frames, starting at 0."""
    period = 1 / spec.fps
    times, t, index = [], Fraction(0), 0
    while t < spec.duration_s:
        times.append(t)
        t += period * (2 if spec.vfr and index % 3 == 2 else 1)
        index += 1
    return times


def make_source(path: Path, spec: SourceSpec, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    """Write an H.264 (+AAC) MP4 for SPEC; ultrafast settings keep fixtures cheap."""
    path.parent.mkdir(parents=True, exist_ok=True)
    times = frame_times(spec)
    time_base = 1 / spec.fps  # VFR durations are whole periods too
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=spec.fps)
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        video.time_base = time_base
        video.codec_context.time_base = time_base
        video.options = {"preset": "ultrafast", "bf": str(spec.bframes), "g": str(spec.gop), "crf": "20"}
        if spec.bframes:
            video.options |= {"preset": "veryfast", "b-pyramid": "none"}
        audio = None
        if spec.sample_rate:
            audio = container.add_stream("aac", rate=spec.sample_rate)
            audio.layout = "stereo" if spec.channels == 2 else "mono"
        rng = np.random.default_rng(spec.seed)
        for index, t in enumerate(times):
            image = code_image(index, *size)
            if spec.grain:
                texture = rng.integers(-spec.grain, spec.grain + 1, image.shape, dtype=np.int16)
                image = np.clip(image.astype(np.int16) + texture, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="gray").reformat(format="yuv420p")
            frame.pts = round(t / time_base)
            frame.time_base = time_base
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio is not None:
            total = round(spec.duration_s * spec.sample_rate)
            samples = noise(spec.seed, total, spec.channels)
            chunk = 1024
            for start in range(0, total, chunk):
                piece = np.ascontiguousarray(samples[:, start : start + chunk])
                frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=audio.layout.name)
                frame.sample_rate = spec.sample_rate
                frame.pts = start
                frame.time_base = Fraction(1, spec.sample_rate)
                container.mux(audio.encode(frame))
            container.mux(audio.encode())
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True,
        capture_output=True,
    )


def make_hls(source: Path, folder: Path, *, segment_type: str = "mpegts", segment_s: float = 1.0,
             ts_offset_s: float | None = None, master: bool = False) -> Path:
    """Repackage SOURCE as a VOD HLS playlist (stream copy); returns the playlist to serve.

    MPEG-TS keeps the muxer's 1.4 s start offset unless `ts_offset_s` moves it (e.g. 10 s).
    With `master`, a master playlist is returned instead: it lists this rendition and a smaller
    one (`low/`, not written) that a correct reader never touches."""
    folder.mkdir(parents=True, exist_ok=True)
    args = ["-i", str(source), "-c", "copy", "-f", "hls", "-hls_time", str(segment_s),
            "-hls_playlist_type", "vod", "-hls_segment_type", segment_type,
            "-hls_segment_filename", str(folder / ("seg%03d." + ("ts" if segment_type == "mpegts" else "m4s")))]
    if ts_offset_s is not None:
        args += ["-output_ts_offset", str(ts_offset_s)]
    media = folder / "media.m3u8"
    ffmpeg(*args, str(media))
    if not master:
        return media
    playlist = folder / "master.m3u8"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=320x180,CODECS="avc1.42c00d,mp4a.40.2"\n'
        "media.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=100000,RESOLUTION=160x90,CODECS="avc1.42c00d,mp4a.40.2"\n'
        "low/media.m3u8\n"
    )
    return playlist


def make_hls_alternate_audio(source: Path, folder: Path, segment_s: float = 2.0) -> Path:
    """MPEG-TS HLS with the audio as its own rendition (#EXT-X-MEDIA TYPE=AUDIO), as Cloudflare
    Stream serves it; returns the master playlist (video in 0.m3u8, audio in 1.m3u8)."""
    folder.mkdir(parents=True, exist_ok=True)
    ffmpeg("-i", str(source), "-map", "0:v", "-map", "0:a", "-c", "copy", "-f", "hls", "-hls_time", str(segment_s),
           "-hls_playlist_type", "vod", "-hls_segment_filename", str(folder / "%v_seg%03d.ts"),
           "-master_pl_name", "master.m3u8", "-var_stream_map", "v:0,agroup:aud a:0,agroup:aud",
           str(folder / "%v.m3u8"))
    return folder / "master.m3u8"


def make_edit_list_mp4(source: Path, path: Path, start_s: float = 1.3, duration_s: float = 3.0) -> Path:
    """A stream-copy cut at a non-keyframe: the MP4 starts at the keyframe before and its edit
    list hides the pre-roll (and the audio priming), as players and editors see it."""
    ffmpeg("-ss", str(start_s), "-i", str(source), "-t", str(duration_s), "-c", "copy", str(path))
    return path


@dataclass(frozen=True)
class DecodedFrame:
    time_s: float  # presentation time relative to the container's start time
    code: int


def decode_frames(path: str | Path, options: dict[str, str] | None = None) -> list[DecodedFrame]:
    """Every decoded video frame with its time (relative to the container start) and code."""
    with av.open(str(path), options=options or {}) as container:
        start = (container.start_time or 0) / 1e6
        stream = container.streams.video[0]
        frames = [
            DecodedFrame(float(frame.pts * frame.time_base) - start, read_code(frame.to_ndarray(format="gray")))
            for frame in container.decode(stream)
        ]
    return sorted(frames, key=lambda f: f.time_s)


@dataclass(frozen=True)
class DecodedAudio:
    start_s: float  # time of sample 0 relative to the container's start time
    sample_rate: int
    samples: np.ndarray  # first channel, float32


def decode_audio(path: str | Path, options: dict[str, str] | None = None) -> DecodedAudio:
    with av.open(str(path), options=options or {}) as container:
        start = (container.start_time or 0) / 1e6
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp")
        pieces, first = [], None
        for frame in container.decode(stream):
            if first is None and frame.pts is not None:
                first = float(frame.pts * frame.time_base) - start
            for out in resampler.resample(frame):
                pieces.append(out.to_ndarray()[0])
        return DecodedAudio(first or 0.0, stream.rate, np.concatenate(pieces))


def audio_offset_ms(clip: DecodedAudio, source: DecodedAudio, clip_at_s: float, source_at_s: float,
                    window_s: float = 0.2, search_s: float = 0.06) -> float:
    """How late (ms) the clip's audio at clip_at_s is against the source's audio at source_at_s."""
    rate = clip.sample_rate
    assert rate == source.sample_rate
    c0 = round((clip_at_s - clip.start_s) * rate)
    window = clip.samples[c0 : c0 + round(window_s * rate)]
    search = round(search_s * rate)
    s0 = round((source_at_s - source.start_s) * rate) - search
    pad = max(0, -s0)
    reference = np.concatenate([np.zeros(pad, np.float32), source.samples[max(0, s0) :]])
    reference = reference[: len(window) + 2 * search]
    scores = np.correlate(reference, window, mode="valid")
    lag = int(np.argmax(scores)) - search  # >0: the window matches the source later => clip early
    return -lag * 1000 / rate


def shown_at(frames: list[DecodedFrame], t: float) -> DecodedFrame:
    """The frame a player shows at t: the last one starting at or before t (else the first)."""
    earlier = [f for f in frames if f.time_s <= t + 1e-7]
    return earlier[-1] if earlier else frames[0]


def frame_slips(clip: list[DecodedFrame], duration_s: float, source: list[DecodedFrame],
                start_s: float) -> list[str]:
    """Where the clip shows another frame than the source does at start + t, checked at the middle
    of each source frame's overlap with the clip (overlaps under 1 ms are within the tolerance)."""
    problems = []
    for index, frame in enumerate(source):
        begin = max(frame.time_s - start_s, 0.0)
        end = min(source[index + 1].time_s - start_s if index + 1 < len(source) else float("inf"), duration_s)
        if end - begin < 0.001 or (frame.time_s > start_s and begin >= duration_s):
            continue
        if end <= 0:
            continue
        middle = (begin + end) / 2
        shown = shown_at(clip, middle).code
        expected = shown_at(source, start_s + middle).code
        if shown != expected:
            problems.append(f"t={middle * 1000:.1f} ms shows frame {shown}, source shows {expected}")
    return problems


_decoded: dict[str, tuple[list[DecodedFrame], DecodedAudio | None]] = {}


def decoded_source(path: str | Path) -> tuple[list[DecodedFrame], DecodedAudio | None]:
    """Frames and audio of a source (decoded once per session)."""
    key = str(path)
    if key not in _decoded:
        with av.open(key) as container:
            has_audio = bool(container.streams.audio)
        _decoded[key] = (decode_frames(key), decode_audio(key) if has_audio else None)
    return _decoded[key]


def check_exact_clip(clip: Path, source: str | Path, start_ms: int, end_ms: int, *,
                     audio_file: Path | None = None, tolerance_ms: float = 1.0) -> None:
    """Assert the exactness rules for the clip [start, end) of SOURCE: durations, every instant's
    frame, audio offset 0 at the start and the middle (and the same for a separate audio file)."""
    from clip_pipeline.media.probe import measure_durations

    duration_s = (end_ms - start_ms) / 1000
    report = measure_durations(clip)
    assert report.max_error_ms(end_ms - start_ms) <= tolerance_ms, report
    source_frames, source_audio = decoded_source(source)
    slips = frame_slips(decode_frames(clip), duration_s, source_frames, start_ms / 1000)
    assert not slips, slips[:5]
    assert report.has_audio == (source_audio is not None)
    targets = [(report, clip)] + ([(measure_durations(audio_file), audio_file)] if audio_file else [])
    for measured, path in targets:
        assert measured.max_error_ms(end_ms - start_ms) <= tolerance_ms, (path, measured)
        if source_audio is None:
            continue
        audio = decode_audio(path)
        window = min(0.2, duration_s / 2)
        for t in (0.0, duration_s / 2):
            t = min(t, duration_s - window)
            offset = audio_offset_ms(audio, source_audio, t, start_ms / 1000 + t, window_s=window)
            assert abs(offset) <= 1.0, f"{path.name}: audio {offset:+.2f} ms off at t={t:.3f} s"
