"""Shot detection on a synthetic source with known cuts: directly, through HLS, as a Dagster
partition, and from the CLI."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from clip_pipeline.db import timeline as db_timeline
from clip_pipeline.defs.resources import DatabaseResource
from clip_pipeline.defs.shots import shot_segments, source_assets
from clip_pipeline.errors import NotFound
from clip_pipeline.media.ffmpeg import MediaError, run_ffmpeg
from clip_pipeline.services import shots

FPS = 25
FRAME_MS = 1000 / FPS
# (lavfi source, seconds): four shots, cuts at 1000, 2600 and 3800 ms
SEGMENTS = [("color=c=red:", 1.0), ("testsrc=", 1.6), ("color=c=blue:", 1.2), ("testsrc2=", 0.8)]
CUTS_MS = [1000, 2600, 3800]
DURATION_MS = 4600


@pytest.fixture(scope="module")
def source_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("shots") / "source.mp4"
    inputs = []
    for source, seconds in SEGMENTS:
        inputs += ["-f", "lavfi", "-i", f"{source}s=160x90:r={FPS}:d={seconds}"]
    labels = "".join(f"[{i}]" for i in range(len(SEGMENTS)))
    run_ffmpeg(
        [*inputs, "-filter_complex", f"{labels}concat=n={len(SEGMENTS)}:v=1:a=0", "-c:v", "libx264",
         "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(FPS), "-y", str(path)],
        timeout_s=60,
    )
    return path


def assert_known_cuts(found: list[shots.Shot]) -> None:
    starts = [shot.start_ms for shot in found]
    assert len(found) == len(CUTS_MS) + 1, found
    assert starts[0] == 0 and found[-1].end_ms == pytest.approx(DURATION_MS, abs=FRAME_MS)
    for detected, expected in zip(starts[1:], CUTS_MS):
        assert abs(detected - expected) <= FRAME_MS, (starts, CUTS_MS)
    assert all(a.end_ms == b.start_ms for a, b in zip(found, found[1:]))
    assert found[0].score is None and all(shot.score > 0 for shot in found[1:])


@pytest.mark.parametrize("detector", ["content", "adaptive"])
def test_detects_the_known_cuts_within_one_frame(source_video, detector):
    assert_known_cuts(shots.detect_shots(source_video, detector=detector))


def test_hls_source_is_fetched_once_and_shots_are_stored(clip_env, engine, file_server, source_video):
    hls = file_server.root / "hls"
    hls.mkdir()
    run_ffmpeg(
        ["-i", str(source_video), "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
         "-hls_segment_filename", str(hls / "seg%03d.ts"), str(hls / "video.m3u8")],
        timeout_s=60,
    )
    with engine.begin() as connection:
        asset_id = db_timeline.insert_asset(connection, storage_path=file_server.url("hls/video.m3u8"))

    found = shots.detect_asset_shots(engine, asset_id)

    assert_known_cuts(found)
    assert shots.list_shots(engine, asset_id) == found
    fetched = Counter(r.path for r in file_server.requests if r.method == "GET")
    segments = sorted(p.name for p in hls.glob("*.ts"))
    assert len(segments) >= 4
    assert {Path(path).name: count for path, count in fetched.items() if path.endswith(".ts")} == {
        name: 1 for name in segments
    }
    assert not any((Path(clip_env["CLIP_PIPELINE_HOME"]) / "tmp").iterdir())  # temporary MP4 removed

    # detecting again replaces the stored shots rather than adding to them
    shots.detect_asset_shots(engine, asset_id)
    assert len(shots.list_shots(engine, asset_id)) == len(found)


def test_unreadable_or_unknown_sources_are_clear_errors(clip_env, engine, file_server):
    with engine.begin() as connection:
        missing = db_timeline.insert_asset(connection, storage_path=file_server.url("nothing.m3u8"))
        bucket = db_timeline.insert_asset(connection, storage_path="supabase:videos/a.mp4")
    with pytest.raises(MediaError, match="fetching the source for shot detection"):
        shots.detect_asset_shots(engine, missing)
    with pytest.raises(MediaError, match="cannot read it"):
        shots.detect_asset_shots(engine, bucket)
    with pytest.raises(NotFound, match="asset"):
        shots.detect_asset_shots(engine, "00000000-0000-0000-0000-000000000000")
    assert shots.list_shots(engine, missing) == []


def test_shot_segments_asset_materializes_one_partition(clip_env, engine, database_url, source_video):
    with engine.begin() as connection:
        asset_id = str(db_timeline.insert_asset(connection, storage_path=str(source_video)))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(source_assets.name, [asset_id])

    result = dg.materialize(
        [shot_segments], partition_key=asset_id, instance=instance,
        resources={"database": DatabaseResource(url=database_url)},
    )

    assert result.success
    metadata = result.asset_materializations_for_node("shot_segments")[0].metadata
    assert metadata["shots"].value == len(CUTS_MS) + 1
    assert all(abs(a - b) <= FRAME_MS for a, b in zip(metadata["cuts_ms"].value, CUTS_MS))
    assert_known_cuts(shots.list_shots(engine, asset_id))


def test_cli_detects_then_splits_a_clip(cli, engine, source_video):
    with engine.begin() as connection:
        asset_id = db_timeline.insert_asset(connection, storage_path=str(source_video))
        timeline_id = db_timeline.insert_timeline(connection, "cli")
        track_id = db_timeline.insert_track(connection, timeline_id, position=0)
        clip_id = db_timeline.insert_clip(
            connection, track_id=track_id, asset_id=asset_id, start_time=500, source_start=500, source_end=4_000
        )
    detected = cli("shots", "detect", str(asset_id))
    assert detected.returncode == 0, detected.stderr
    assert len(detected.json["shots"]) == len(CUTS_MS) + 1
    split = cli("shots", "split", str(clip_id))
    assert split.returncode == 0, split.stderr
    pieces = [(c["start_time"], c["end_time"]) for c in split.json["clips"]]
    assert len(pieces) == 4 and pieces[0][0] == 500 and pieces[-1][1] == 4_000
    assert all(abs(a[1] - cut) <= FRAME_MS for a, cut in zip(pieces, CUTS_MS))
    assert cli("shots", "split", "clip-1").returncode == 3
