"""Results that look like their task, made with FFmpeg (used by the local provider and the simulators).

- background replacement: the middle of the picture (where a presenter usually stands) is kept
  through a soft elliptical key and put in front of a generated, moving background;
- scene generation: audio-reactive waves over a generated background (or the given image), with the
  prompt as a caption when a font is available (DejaVu from matplotlib's data, else fontconfig);
- lip sync: a simple avatar whose mouth opening follows the audio loudness frame by frame.

Every result has exactly `frames` video frames at `fps` and, when it has sound, audio of the same
length (padded with silence), like a provider's whole-second output.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np

from clip_pipeline.media.ffmpeg import run_ffmpeg
from clip_pipeline.media.probe import probe

RENDER_TIMEOUT_S = 300.0
CAPTION_MAX_CHARS = 48


@dataclass(frozen=True)
class RenderSpec:
    width: int
    height: int
    fps: int
    frames: int
    with_audio: bool = True

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @classmethod
    def for_seconds(cls, seconds: float, *, size: str, fps: int, extra_frames: int = 0, with_audio: bool = True):
        width, height = (int(part) for part in size.split("x"))
        return cls(width, height, fps, round(seconds * fps) + extra_frames, with_audio)


@lru_cache(maxsize=1)
def caption_font() -> Path | None:
    """A TrueType font for captions: matplotlib ships DejaVu Sans; None when none can be found."""
    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if candidate.is_file():
            return candidate
    for candidate in Path("/usr/share/fonts").glob("**/DejaVuSans.ttf"):
        return candidate
    return None


def _filter_path(path: Path) -> str:
    """PATH quoted for use inside an ffmpeg filter argument."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def _palette(prompt: str | None) -> tuple[str, str]:
    digest = hashlib.sha256((prompt or "").encode()).hexdigest()
    return f"0x{digest[:6]}", f"0x{digest[6:12]}"


def _background(spec: RenderSpec, prompt: str | None) -> str:
    first, second = _palette(prompt)
    return (
        f"gradients=s={spec.width}x{spec.height}:r={spec.fps}:d={spec.seconds + 1:.3f}"
        f":c0={first}:c1={second}:speed=0.02:type=radial"
    )


def _caption(spec: RenderSpec, prompt: str | None, work_dir: Path) -> str:
    """A drawtext filter (with a leading comma) for the prompt, or '' without a font or prompt."""
    font = caption_font()
    if not prompt or font is None:
        return ""
    text_file = work_dir / "caption.txt"
    text = prompt.strip().replace("\n", " ")
    text_file.write_text(text if len(text) <= CAPTION_MAX_CHARS else text[: CAPTION_MAX_CHARS - 1] + "…")
    size = max(spec.height // 14, 8)
    return (
        f",drawtext=fontfile='{_filter_path(font)}':textfile='{_filter_path(text_file)}'"
        f":fontsize={size}:fontcolor=white:box=1:boxcolor=black@0.5:boxborderw={size // 3}"
        f":x=(w-text_w)/2:y=h*0.06"
    )


def _audio_chain(label: str, spec: RenderSpec) -> str:
    return f"{label}aresample=48000,apad,atrim=end={spec.seconds:.6f}[aout]"


def _encode_args(spec: RenderSpec, out: Path, *, audio: bool) -> list[str]:
    args = ["-map", "[vout]", "-frames:v", str(spec.frames), "-r", str(spec.fps)]
    if audio:
        args += ["-map", "[aout]", "-c:a", "aac", "-b:a", "96k"]
    return args + [
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", "-y", str(out),
    ]


def _audio_input(audio: Path | None, spec: RenderSpec) -> list[str]:
    if audio is not None:
        return ["-i", str(audio)]
    return ["-f", "lavfi", "-t", f"{spec.seconds:.6f}", "-i", "anullsrc=r=48000:cl=stereo"]


def render_background_replace(
    video: Path, out: Path, spec: RenderSpec, *, prompt: str | None, audio: Path | None = None
) -> Path:
    """Keep the centre of VIDEO (soft elliptical key), put it over a generated background."""
    sound = video if probe(str(video)).audio is not None else audio
    w, h = spec.width, spec.height
    foreground = (
        f"[0:v]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},fps={spec.fps},"
        f"tpad=stop_mode=clone:stop_duration={spec.seconds:.3f},format=yuv420p[fgsrc]"
    )
    # the soft elliptical key is computed once and looped (geq per frame would be slow)
    mask = (
        f"color=black:s={w}x{h}:r={spec.fps}:d=1,format=gray,"
        "geq=lum='255*clip(3*(1-(pow((X-W/2)/(W*0.3),2)+pow((Y-H*0.62)/(H*0.55),2))),0,1)',"
        "trim=end_frame=1,loop=loop=-1:size=1:start=0[mask]"
    )
    graph = ";".join(
        [
            foreground,
            mask,
            "[fgsrc][mask]alphamerge[fg]",
            f"{_background(spec, prompt)}[bg]",
            f"[bg][fg]overlay=format=auto:shortest=0,format=yuv420p[vout]",
        ]
    )
    args = ["-i", str(video)]
    if spec.with_audio:
        if sound is video:
            graph += ";" + _audio_chain("[0:a]", spec)
        else:
            args += _audio_input(sound, spec)
            graph += ";" + _audio_chain("[1:a]", spec)
    run_ffmpeg([*args, "-filter_complex", graph, *_encode_args(spec, out, audio=spec.with_audio)],
               timeout_s=RENDER_TIMEOUT_S, what="local background replacement")
    return out


def render_scene(
    out: Path, spec: RenderSpec, *, prompt: str | None, audio: Path | None, image: Path | None = None
) -> Path:
    """Audio-reactive waves over a generated background (or IMAGE), captioned with the prompt."""
    w, h = spec.width, spec.height
    args = _audio_input(audio, spec)
    if image is not None:
        args += ["-loop", "1", "-framerate", str(spec.fps), "-i", str(image)]
        background = f"[1:v]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},fps={spec.fps}[bg]"
    else:
        background = f"{_background(spec, prompt)}[bg]"
    split = "asplit[wave_in][aout]" if spec.with_audio else "anull[wave_in]"
    graph = ";".join(
        [
            f"[0:a]aresample=48000,apad,atrim=end={spec.seconds:.6f},{split}",
            f"[wave_in]showwaves=s={w}x{h // 2}:mode=cline:rate={spec.fps}:scale=sqrt:colors=0xF0F0F0,format=yuva420p[waves]",
            background,
            f"[bg][waves]overlay=x=0:y={h // 4}:format=auto:shortest=0"
            f"{_caption(spec, prompt, out.parent)},format=yuv420p[vout]",
        ]
    )
    run_ffmpeg([*args, "-filter_complex", graph, *_encode_args(spec, out, audio=spec.with_audio)],
               timeout_s=RENDER_TIMEOUT_S, what="local scene generation")
    return out


def loudness_per_frame(audio: Path, fps: int, frames: int) -> np.ndarray:
    """RMS loudness of AUDIO in each 1/FPS window, scaled to 0..1 (silence after the audio's end)."""
    rate = 16000
    samples: list[np.ndarray] = []
    with av.open(str(audio)) as container:
        if not container.streams.audio:
            return np.zeros(frames)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            for converted in resampler.resample(frame):
                samples.append(converted.to_ndarray().reshape(-1))
        for converted in resampler.resample(None):
            samples.append(converted.to_ndarray().reshape(-1))
    signal = np.concatenate(samples) if samples else np.zeros(0, dtype=np.float32)
    window = rate / fps
    levels = np.zeros(frames)
    for index in range(frames):
        chunk = signal[int(index * window) : int((index + 1) * window)]
        levels[index] = math.sqrt(float(np.mean(chunk**2))) if chunk.size else 0.0
    peak = levels.max()
    return levels / peak if peak > 0 else levels


def render_lip_sync(out: Path, spec: RenderSpec, *, audio: Path, prompt: str | None = None) -> Path:
    """A simple face whose mouth opens with the loudness of AUDIO in each frame."""
    levels = loudness_per_frame(audio, spec.fps, spec.frames)
    w, h = spec.width, spec.height
    ys, xs = np.mgrid[0:h, 0:w]
    cx, cy, radius = w / 2, h / 2, min(w, h) * 0.38
    face = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
    eyes = np.zeros_like(face)
    for ex in (cx - radius * 0.38, cx + radius * 0.38):
        eyes |= (xs - ex) ** 2 + (ys - (cy - radius * 0.3)) ** 2 <= (radius * 0.1) ** 2
    first, _ = _palette(prompt)
    backdrop = np.array([int(first[2:4], 16) // 2, int(first[4:6], 16) // 2, int(first[6:8], 16) // 2], np.uint8)
    base = np.empty((h, w, 3), np.uint8)
    base[:] = backdrop
    base[face] = (236, 196, 160)
    base[eyes] = (30, 30, 30)
    mouth_y, mouth_w = cy + radius * 0.45, radius * 0.45
    silent = out.with_name(out.stem + ".video.mp4")
    with av.open(str(silent), "w") as container:
        stream = container.add_stream("libx264", rate=spec.fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, spec.fps)
        for index, level in enumerate(levels):
            picture = base.copy()
            opening = radius * (0.04 + 0.32 * level)
            mouth = ((xs - cx) / mouth_w) ** 2 + ((ys - mouth_y) / opening) ** 2 <= 1
            picture[mouth] = (120, 20, 30)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    graph = "[0:v]null[vout];" + _audio_chain("[1:a]", spec)
    run_ffmpeg(["-i", str(silent), "-i", str(audio), "-filter_complex", graph,
                *_encode_args(spec, out, audio=True)], timeout_s=RENDER_TIMEOUT_S, what="local lip sync")
    silent.unlink(missing_ok=True)
    return out


def render_task(
    task_type: str,
    out: Path,
    spec: RenderSpec,
    *,
    prompt: str | None = None,
    video: Path | None = None,
    audio: Path | None = None,
    image: Path | None = None,
) -> Path:
    """Render TASK_TYPE's look-alike result into OUT (raises ValueError on missing inputs)."""
    if task_type == "background_replace":
        if video is None:
            raise ValueError("background replacement needs a video")
        return render_background_replace(video, out, spec, prompt=prompt, audio=audio)
    if task_type == "scene_generate":
        return render_scene(out, spec, prompt=prompt, audio=audio, image=image)
    if task_type == "lip_sync":
        if audio is None:
            raise ValueError("lip sync needs audio")
        return render_lip_sync(out, spec, audio=audio, prompt=prompt)
    raise ValueError(f"unknown task type {task_type}")
