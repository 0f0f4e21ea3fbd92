"""One generation end to end, outside the pipeline (the `generate` command): upload the inputs through
the storage layer, submit to the provider, poll, download at once, fit to the exact duration.

A duration above the provider's maximum is generated in pieces (plan_generation): each piece's inputs
are cut exactly by the media core, image-to-video pieces start from the previous piece's last frame,
each result is fitted to its piece and the pieces are joined, then fitted once more with the whole
clip's audio. With local storage the inputs are served over this call's own signed URLs (a file
server on a free loopback port, or CLIP_PIPELINE_PUBLIC_BASE_URL when set) while the call runs.
"""

from __future__ import annotations

import mimetypes
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from clip_pipeline.media.ffmpeg import run_ffmpeg
from clip_pipeline.providers import get_provider
from clip_pipeline.providers.base import (
    GenerationInput,
    PermanentProviderError,
    Provider,
    ProviderError,
    RetryableProviderError,
    TaskState,
    TaskType,
)
from clip_pipeline.providers.planning import DurationPlan, PlannedPiece, plan_generation
from clip_pipeline.settings import Settings

INPUT_URL_TTL = timedelta(hours=2)
GIVE_UP_AFTER_S = 3600.0
FFMPEG_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class GenerateResult:
    output_path: str
    duration_ms: int
    provider_duration_ms: int | None
    task_id: str  # comma-separated when the clip was generated in pieces
    adjustment: str
    credits: int
    pieces: int = 1


@dataclass(frozen=True)
class _Request:
    provider: Provider
    task_type: TaskType
    prompt: str | None
    model: str | None
    poll_interval_s: float
    on_progress: Callable[[TaskState], None]


@dataclass(frozen=True)
class _PieceResult:
    video: Path
    task_id: str
    state: TaskState
    length_ms: int
    source_ms: float


def generate_once(
    settings: Settings,
    *,
    provider_name: str,
    task_type: TaskType,
    duration_ms: int,
    out: Path,
    video: Path | None = None,
    audio: Path | None = None,
    image: Path | None = None,
    prompt: str | None = None,
    model: str | None = None,
    poll_interval_s: float = 2.0,
    on_progress: Callable[[TaskState], None] = lambda state: None,
) -> GenerateResult:
    from clip_pipeline.media.fit import fit_to_duration
    from clip_pipeline.media.options import MediaOptions
    from clip_pipeline.media.probe import probe

    for name, path in (("video", video), ("audio", audio), ("image", image)):
        if path is not None and not Path(path).is_file():
            raise PermanentProviderError(f"--{name} {path}: no such file")
    provider = get_provider(provider_name, settings)
    plan = plan_generation(provider.capabilities, duration_ms, task_type)
    options = MediaOptions.from_settings(settings)
    sound = audio or (video if video is not None and probe(str(video)).audio is not None else None)
    request = _Request(provider, task_type, prompt, model or provider_name, poll_interval_s, on_progress)
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="generate-", dir=settings.temp_dir) as work, \
            _serving_storage(settings) as served:
        work_dir = Path(work)
        results: list[_PieceResult] = []
        start_image = image
        for index, piece in enumerate(plan.pieces):
            piece_dir = work_dir / f"piece-{index}"
            piece_dir.mkdir()
            inputs = _piece_inputs(plan, piece, video, sound, piece_dir, options)
            result = _generate_piece(served, request, piece, {**inputs, "image": start_image}, piece_dir)
            results.append(result)
            if plan.continuity:
                start_image = _last_frame(result.video, piece_dir / "last-frame.png")
        picture = results[0].video if len(results) == 1 else _join(results, work_dir, options)
        fitted = fit_to_duration(picture, sound, duration_ms, Path(out), options=options)
    reported = [r.state.duration_ms for r in results]
    return GenerateResult(
        output_path=str(fitted.output_path),
        duration_ms=fitted.duration_ms,
        provider_duration_ms=sum(reported) if None not in reported else round(sum(r.source_ms for r in results)),
        task_id=",".join(r.task_id for r in results),
        adjustment=fitted.adjustment,
        credits=sum(r.state.credits for r in results),
        pieces=len(results),
    )


def _piece_inputs(plan: DurationPlan, piece: PlannedPiece, video: Path | None, sound: Path | None,
                  piece_dir: Path, options) -> dict[str, Path | None]:
    """The inputs for PIECE: the files themselves, exact cuts of them, or padded copies."""
    if plan.split:
        from clip_pipeline.media.export import export_clip

        sound_from_video = sound is not None and sound == video
        if video is not None:
            cut = export_clip(str(video), piece.start_ms, piece.end_ms, piece_dir, with_audio=sound_from_video,
                              options=options)
            video = cut.video_path
            if sound_from_video:
                sound = cut.audio_path
        if sound is not None and not sound_from_video:
            sound = _cut_audio(sound, piece, piece_dir)
    if plan.padding:
        video = _pad(video, piece.input_ms, piece_dir / "padded-video.mp4") if video else None
        sound = _pad(sound, piece.input_ms, piece_dir / "padded-audio.m4a") if sound else None
    return {"video": video, "audio": sound}


def _generate_piece(settings: Settings, request: _Request, piece: PlannedPiece, inputs: dict[str, Path | None],
                    piece_dir: Path) -> _PieceResult:
    from clip_pipeline.media.probe import measure_durations

    urls = _upload_inputs(settings, inputs)
    inp = GenerationInput(
        generation_id=f"cli-{uuid.uuid4().hex[:12]}", task_type=request.task_type, model=request.model,
        prompt=request.prompt, video_url=urls.get("video"),
        audio_url=urls.get("audio") if request.task_type != "background_replace" else None,
        image_url=urls.get("image"), duration_ms=piece.input_ms,
    )
    provider = request.provider
    task_id = provider.submit(inp)
    state = _wait(provider, task_id, request.poll_interval_s, request.on_progress)
    if state.status != "succeeded":
        raise ProviderError(f"{provider.name} task {task_id} {state.status}: {state.error or 'no reason given'}")
    ai_video = provider.download(state.output_urls[0], piece_dir / "ai-result.mp4")
    return _PieceResult(ai_video, task_id, state, piece.length_ms, measure_durations(ai_video).video_ms or 0.0)


def _join(results: list[_PieceResult], work_dir: Path, options) -> Path:
    """Each piece's picture fitted to its piece length, then joined in order (re-encoded once more later)."""
    from clip_pipeline.media.fit import fit_to_duration

    fitted = [fit_to_duration(r.video, None, r.length_ms, work_dir / f"fitted-{i}.mp4", options=options).output_path
              for i, r in enumerate(results)]
    inputs = [arg for path in fitted for arg in ("-i", str(path))]
    labels = "".join(f"[{i}:v:0]setsar=1[v{i}];" for i in range(len(fitted)))
    chain = "".join(f"[v{i}]" for i in range(len(fitted)))
    joined = work_dir / "joined.mp4"
    run_ffmpeg([*inputs, "-filter_complex", f"{labels}{chain}concat=n={len(fitted)}:v=1:a=0[v]", "-map", "[v]",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p", "-y", str(joined)],
               timeout_s=FFMPEG_TIMEOUT_S, what="joining the generated pieces")
    return joined


def _last_frame(video: Path, out: Path) -> Path:
    run_ffmpeg(["-sseof", "-0.5", "-i", str(video), "-update", "1", "-q:v", "2", "-y", str(out)],
               timeout_s=FFMPEG_TIMEOUT_S, what=f"last frame of {video.name}")
    return out


def _cut_audio(audio: Path, piece: PlannedPiece, piece_dir: Path) -> Path:
    """The piece's stretch of the audio (it only drives the provider; the final keeps the original)."""
    out = piece_dir / "audio.m4a"
    run_ffmpeg(["-i", str(audio), "-vn", "-af", f"atrim=start={piece.start_ms / 1000:.3f}:end={piece.end_ms / 1000:.3f},"
                "asetpts=PTS-STARTPTS", "-c:a", "aac", "-y", str(out)],
               timeout_s=FFMPEG_TIMEOUT_S, what=f"cutting {audio.name}")
    return out


def _wait(provider: Provider, task_id: str, interval_s: float, on_progress) -> TaskState:
    deadline = time.monotonic() + GIVE_UP_AFTER_S
    while True:
        try:
            state = provider.get(task_id)
        except RetryableProviderError:
            state = None  # a busy provider does not fail the generation; ask again next round
        if state is not None:
            on_progress(state)
            if state.finished:
                return state
        if time.monotonic() > deadline:
            raise ProviderError(f"{provider.name} task {task_id} did not finish within {GIVE_UP_AFTER_S:g} s")
        time.sleep(interval_s)


@contextmanager
def _serving_storage(settings: Settings) -> Iterator[Settings]:
    """Settings whose storage URLs work during the call: local storage gets its own file server."""
    if settings.storage_backend != "local" or settings.public_base_url:
        yield settings
        return
    from clip_pipeline.storage.file_server import start_file_server

    with socket.socket() as probe_socket:
        probe_socket.bind((settings.file_server_host, 0))
        port = probe_socket.getsockname()[1]
    served = settings.model_copy(update={"file_server_port": port})
    server = start_file_server(served, port=port)
    try:
        yield served
    finally:
        server.stop()


def _upload_inputs(settings: Settings, files: dict[str, Path | None]) -> dict[str, str]:
    from clip_pipeline.storage import get_store

    store = get_store(settings, settings.exports_bucket)
    batch = uuid.uuid4().hex[:12]
    urls = {}
    for kind, path in files.items():
        if path is None:
            continue
        key = f"generate-inputs/{batch}/{kind}{Path(path).suffix}"
        content_type = mimetypes.guess_type(Path(path).name)[0] or "application/octet-stream"
        store.put_file(key, Path(path), content_type=content_type)
        urls[kind] = store.url(key, INPUT_URL_TTL)
    return urls


def _pad(path: Path, length_ms: int, out: Path) -> Path:
    """PATH held on its last frame (video) and followed by silence (audio) up to LENGTH_MS."""
    seconds = f"{length_ms / 1000:.3f}"
    video_filters = ["-vf", f"tpad=stop_mode=clone:stop_duration={seconds}"] if out.suffix == ".mp4" else ["-vn"]
    run_ffmpeg(["-i", str(path), *video_filters, "-af", "apad", "-t", seconds, "-y", str(out)],
               timeout_s=FFMPEG_TIMEOUT_S, what=f"padding {Path(path).name} to {length_ms} ms")
    return out
