"""Shots: PySceneDetect finds the cuts in a source asset; the shots are stored per asset and can
split a timeline clip at the cuts inside its range."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from clip_pipeline.db.timeline import get_clip, insert_clip, parse_id
from clip_pipeline.errors import Conflict, NotFound
from clip_pipeline.media.ffmpeg import MediaError, run_ffmpeg
from clip_pipeline.services.timeline import lock_timeline
from clip_pipeline.settings import Settings, get_settings

DetectorName = Literal["content", "adaptive"]


@dataclass(frozen=True)
class Shot:
    """A shot of an asset (ms from its start); score is the detector's score of the cut that starts it."""

    start_ms: int
    end_ms: int
    score: float | None = None


def _require_asset(connection: sa.Connection, asset_id: str | uuid.UUID) -> uuid.UUID:
    parsed = parse_id(asset_id, "asset")
    if connection.execute(sa.text("SELECT 1 FROM assets WHERE id = :id"), {"id": parsed}).first() is None:
        raise NotFound(f"asset '{asset_id}' does not exist")
    return parsed


def store_shots(engine: Engine, asset_id: str | uuid.UUID, shots: list[Shot]) -> int:
    """Replace the asset's stored shots with SHOTS (a re-detection supersedes the last one)."""
    with engine.begin() as connection:
        parsed = _require_asset(connection, asset_id)
        connection.execute(sa.text("DELETE FROM shot_segments WHERE asset_id = :id"), {"id": parsed})
        if shots:
            connection.execute(
                sa.text(
                    "INSERT INTO shot_segments (asset_id, start_ms, end_ms, score)"
                    " VALUES (:asset, :start, :end, :score)"
                ),
                [{"asset": parsed, "start": s.start_ms, "end": s.end_ms, "score": s.score} for s in shots],
            )
    return len(shots)


def list_shots(engine: Engine, asset_id: str | uuid.UUID) -> list[Shot]:
    """The asset's stored shots in order (empty when detection has not run)."""
    with engine.connect() as connection:
        parsed = _require_asset(connection, asset_id)
        rows = connection.execute(
            sa.text("SELECT start_ms, end_ms, score FROM shot_segments WHERE asset_id = :id ORDER BY start_ms"),
            {"id": parsed},
        )
        return [Shot(r.start_ms, r.end_ms, r.score) for r in rows]


def split_clip_at_shots(engine: Engine, clip_id: str | uuid.UUID) -> list[RowMapping]:
    """Cut a timeline clip at every detected shot boundary inside its source range, in place on its
    track: the clip keeps its first shot and a new clip follows for each later one, so the timeline
    plays exactly as before. Returns the clips in timeline order. Running it again changes nothing."""
    with engine.begin() as connection:
        clip = get_clip(connection, clip_id)
        lock_timeline(connection, clip["timeline_id"])  # no apply or ripple interleaves with the split
        clip = get_clip(connection, clip["id"])
        if not connection.execute(
            sa.text("SELECT 1 FROM shot_segments WHERE asset_id = :asset LIMIT 1"), {"asset": clip["asset_id"]}
        ).first():
            raise Conflict(
                f"no shots detected for asset '{clip['asset_id']}' yet; materialize the shot_segments"
                " asset for it first"
            )
        busy = connection.execute(
            sa.text(
                "SELECT 1 FROM clip_ai_generations WHERE source_clip_id = :id"
                " AND status IN ('pending', 'processing', 'merging') LIMIT 1"
            ),
            {"id": clip["id"]},
        ).first()
        if busy:
            raise Conflict(f"clip '{clip['id']}' has an AI generation in progress; split it once that has finished")
        cuts = connection.execute(
            sa.text(
                "SELECT start_ms FROM shot_segments WHERE asset_id = :asset"
                " AND start_ms > :start AND start_ms < :end ORDER BY start_ms"
            ),
            {"asset": clip["asset_id"], "start": clip["source_start"], "end": clip["source_end"]},
        ).scalars().all()
        bounds = [clip["source_start"], *cuts, clip["source_end"]]
        offset = clip["start_time"] - clip["source_start"]
        if cuts:
            connection.execute(
                sa.text("UPDATE clips SET source_end = :end, end_time = :end + :offset WHERE id = :id"),
                {"end": bounds[1], "offset": offset, "id": clip["id"]},
            )
        clip_ids = [clip["id"]]
        for start, end in zip(bounds[1:-1], bounds[2:]):
            clip_ids.append(
                insert_clip(
                    connection,
                    track_id=clip["track_id"],
                    asset_id=clip["asset_id"],
                    start_time=start + offset,
                    source_start=start,
                    source_end=end,
                    name=clip["name"],
                )
            )
        return [get_clip(connection, piece) for piece in clip_ids]


def detect_shots(
    video_path: str | Path,
    *,
    detector: DetectorName = "content",
    threshold: float | None = None,
    min_shot_s: float = 0.5,
) -> list[Shot]:
    """Shots of a local video file found by PySceneDetect (ContentDetector, or AdaptiveDetector for
    footage with camera motion); THRESHOLD overrides the detector's default."""
    # imported here: OpenCV is heavy, and only shot detection needs it
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, StatsManager, open_video
    from scenedetect.video_stream import VideoOpenFailure

    options = {} if threshold is None else {"threshold" if detector == "content" else "adaptive_threshold": threshold}
    if detector == "content":
        scene_detector = ContentDetector(min_scene_len=f"{min_shot_s}s", **options)
    else:
        scene_detector = AdaptiveDetector(min_scene_len=f"{min_shot_s}s", **options)
    # the metric the detector compares against its threshold (ContentDetector's comes first,
    # AdaptiveDetector appends its ratio)
    score_key = scene_detector.get_metrics()[0 if detector == "content" else -1]
    try:
        video = open_video(str(video_path), backend="pyav")
    except VideoOpenFailure as exc:
        raise MediaError(f"shot detection cannot open {video_path}: {exc}") from None
    manager = SceneManager(StatsManager())
    manager.add_detector(scene_detector)
    manager.detect_scenes(video=video)
    shots = []
    for index, (start, end) in enumerate(manager.get_scene_list(start_in_scene=True)):
        score = None
        if index and manager.stats_manager.metrics_exist(start, [score_key]):
            score = float(manager.stats_manager.get_metrics(start, [score_key])[0])
        shots.append(Shot(round(start.seconds * 1000), round(end.seconds * 1000), score))
    return shots


def source_url(storage_path: str, settings: Settings) -> str:
    """Where ffmpeg reads a source asset: a Cloudflare Stream HLS manifest, an http(s) URL or a
    local file."""
    if storage_path.startswith("cloudflare:"):
        uid = storage_path.removeprefix("cloudflare:")
        return f"{settings.cloudflare_stream_base.rstrip('/')}/{uid}/manifest/video.m3u8"
    if storage_path.startswith(("http://", "https://")) or Path(storage_path).is_file():
        return storage_path
    raise MediaError(
        f"source '{storage_path}' is neither a cloudflare:<uid>, an http(s) URL nor a local file;"
        " shot detection cannot read it"
    )


def fetch_video(url: str, destination: Path, settings: Settings) -> Path:
    """Read the source's video stream once into a local MP4 (HLS segments are remuxed, not
    re-encoded); PySceneDetect needs a seekable local file."""
    run_ffmpeg(
        ["-y", "-i", url, "-map", "0:v:0", "-c", "copy", "-movflags", "+faststart", str(destination)],
        timeout_s=settings.ffmpeg_timeout_s,
        binary=settings.ffmpeg_binary,
        what=f"fetching the source for shot detection ({url.split('?')[0]})",
    )
    return destination


def detect_asset_shots(
    engine: Engine,
    asset_id: str | uuid.UUID,
    *,
    settings: Settings | None = None,
    detector: DetectorName = "content",
    threshold: float | None = None,
) -> list[Shot]:
    """Detect the shots of a source asset and store them (replacing earlier ones)."""
    settings = settings or get_settings()
    with engine.connect() as connection:
        parsed = _require_asset(connection, asset_id)
        storage_path = connection.execute(
            sa.text("SELECT storage_path FROM assets WHERE id = :id"), {"id": parsed}
        ).scalar_one()
    url = source_url(storage_path, settings)
    if Path(url).is_file() and url.lower().endswith(".mp4"):
        found = detect_shots(url, detector=detector, threshold=threshold)
    else:
        settings.temp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=settings.temp_dir, prefix="shots-") as folder:
            local = fetch_video(url, Path(folder) / "source.mp4", settings)
            found = detect_shots(local, detector=detector, threshold=threshold)
    store_shots(engine, parsed, found)
    return found
