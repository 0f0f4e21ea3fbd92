"""Throughput of the whole flow, and its orchestration overhead (issue: pipeline, item 9).

N clips of a synthetic HLS recording go through export -> local provider -> fit, twice in one run:
  loop      the same media work called directly, one clip after another (no Dagster, no database);
  pipeline  selected as rows and driven through the sensors and the three assets (LocalDaemon),
            with uploads to the local store and every row written to PostgreSQL.
It prints wall times, clips per minute and overhead = pipeline / loop - 1, and checks that every
final is exact. With --pipeline-only it is the load test: N (e.g. 1000) clips must all reach a
terminal state, none lost or duplicated.

    python bench/pipeline.py --clips 8                          # 720p clips of 3-6 s
    python bench/pipeline.py --clips 8 --size 320x180 --min-ms 1000 --max-ms 2500
    python bench/pipeline.py --clips 1000 --pipeline-only --size 320x180 --min-ms 1000 --max-ms 1500
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _configure(home: Path, provider_size: str) -> dict[str, int]:
    from clip_pipeline.simulators.loopback import free_port

    ports = {"files": free_port(), "cdn": free_port()}
    os.environ.update(
        {
            "CLIP_PIPELINE_HOME": str(home),
            "CLIP_PIPELINE_STORAGE_BACKEND": "local",
            "CLIP_PIPELINE_FILE_SERVER_PORT": str(ports["files"]),
            "CLIP_PIPELINE_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['files']}",
            "CLIP_PIPELINE_CLOUDFLARE_STREAM_BASE": f"http://127.0.0.1:{ports['cdn']}",
            "CLIP_PIPELINE_PROVIDER_POLL_INTERVAL_S": "0.2",
            "CLIP_PIPELINE_LOCAL_PROVIDER_SIZE": provider_size,
        }
    )
    return ports


def _ranges(count: int, source_ms: int, min_ms: int, max_ms: int, seed: int = 5) -> list[tuple[int, int]]:
    generator = random.Random(seed)
    out = []
    for _ in range(count):
        length = generator.randrange(min_ms, max_ms, 40)
        start = generator.randrange(0, source_ms - length, 40)
        out.append((start, start + length))
    return out


def run_loop(source: str, ranges, settings, work: Path) -> float:
    """The same media work, called directly: export, local provider, fit."""
    from clip_pipeline.media.export import export_clip
    from clip_pipeline.media.fit import fit_to_duration
    from clip_pipeline.media.options import MediaOptions
    from clip_pipeline.providers import get_provider
    from clip_pipeline.providers.base import GenerationInput

    provider = get_provider("local", settings)
    options = MediaOptions.from_settings(settings)
    started = time.perf_counter()
    for index, (start, end) in enumerate(ranges):
        out = work / f"loop-{index}"
        exported = export_clip(source, start, end, out, resolution="original", with_audio=True, options=options)
        task = provider.submit(
            GenerationInput(
                generation_id=f"loop-{index}-{os.getpid()}", task_type="background_replace", model="local-v1",
                video_url=str(exported.video_path), audio_url=str(exported.audio_path), duration_ms=end - start,
            )
        )
        while not (state := provider.get(task)).finished:
            time.sleep(0.05)
        result = provider.download(state.output_urls[0], out / "ai.mp4")
        fit_to_duration(result, Path(exported.audio_path), end - start, out / "final.mp4", options=options)
    return time.perf_counter() - started


def run_pipeline(source_uid: str, ranges, engine, database_url: str, settings) -> tuple[float, dict[str, int]]:
    from clip_pipeline.db import timeline as db_timeline
    from clip_pipeline.definitions import defs
    from clip_pipeline.defs.local_daemon import LocalDaemon, dagster_instance
    from clip_pipeline.services import requests
    from clip_pipeline.services.status import generation_states

    with engine.begin() as connection:
        asset = db_timeline.insert_asset(connection, storage_path=f"cloudflare:{source_uid}")
        timeline = db_timeline.insert_timeline(connection, "bench")
        track = db_timeline.insert_track(connection, timeline, position=0)
        clip_ids, cursor = [], 0
        for start, end in ranges:
            clip_ids.append(db_timeline.insert_clip(
                connection, track_id=track, asset_id=asset, start_time=cursor, source_start=start, source_end=end
            ))
            cursor += end - start
    daemon = LocalDaemon(defs, dagster_instance(settings.home, database_url))
    started = time.perf_counter()
    ids = {
        str(requests.request_generation(
            engine, clip, provider="local", task_type="background_replace",
            spec=requests.ExportSpec(resolution="original"),
        )["id"])
        for clip in clip_ids
    }
    while True:
        daemon.cycle()
        states = generation_states(engine, ids)
        counts = {s: list(states.values()).count(s) for s in set(states.values())}
        if set(states.values()) <= {"completed", "failed"}:
            return time.perf_counter() - started, counts
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--pipeline-only", action="store_true", help="the load test: skip the plain loop")
    parser.add_argument("--size", default="1280x720", help="source and provider frame size")
    parser.add_argument("--min-ms", type=int, default=3_000, help="shortest clip")
    parser.add_argument("--max-ms", type=int, default=6_000, help="longest clip")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = Path(tmp)
        ports = _configure(work / "home", args.size)
        from clip_pipeline.db.engine import database_url, get_engine
        from clip_pipeline.db.migrate import migrate
        from clip_pipeline.media.synthetic import make_hls_source
        from clip_pipeline.settings import get_settings
        from clip_pipeline.simulators.cdn import serve_directory
        from clip_pipeline.storage.file_server import start_file_server

        settings = get_settings()
        url = database_url(settings)
        if os.environ.get("CLIP_PIPELINE_DATABASE_URL") is None:
            print("database: embedded PostgreSQL")
        engine = get_engine(url)
        migrate(engine)
        source_s = 60.0
        make_hls_source(work / "cdn" / "bench" / "manifest", duration_s=source_s, size=args.size)
        cdn = serve_directory(work / "cdn", port=ports["cdn"])
        files = start_file_server(settings, port=ports["files"])
        ranges = _ranges(args.clips, int(source_s * 1000), args.min_ms, args.max_ms)
        clip_seconds = sum(e - s for s, e in ranges) / 1000
        print(f"{args.clips} clips at {args.size}, {clip_seconds:.1f} clip-seconds, {os.cpu_count()} cores")
        try:
            if not args.pipeline_only:
                loop_s = run_loop("cloudflare:bench", ranges, settings, work)
                print(f"loop:     {loop_s:7.1f} s  {args.clips / loop_s * 60:6.1f} clips/min")
            pipe_s, counts = run_pipeline("bench", ranges, engine, url, settings)
            print(f"pipeline: {pipe_s:7.1f} s  {args.clips / pipe_s * 60:6.1f} clips/min  final states {counts}")
            if not args.pipeline_only:
                print(f"orchestration overhead: {(pipe_s / loop_s - 1) * 100:+.1f}% (goal: at most +25%)")
            _check(engine, args.clips)
        finally:
            files.stop()
            cdn.stop()


def _check(engine, clips: int) -> None:
    import sqlalchemy as sa

    with engine.connect() as connection:
        row = connection.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE status = 'completed'),"
                " count(*) FILTER (WHERE status = 'failed'),"
                " max(abs(final_duration_ms - expected_duration_ms)),"
                " (SELECT count(*) FROM clip_exports), (SELECT count(DISTINCT clip_id) FROM clip_exports)"
                " FROM clip_ai_generations"
            )
        ).one()
    completed, failed, worst, exports, clips_exported = row
    print(f"completed {completed}, failed {failed}, worst final error {worst:.3f} ms, "
          f"{exports} export rows for {clips_exported} clips (of {clips})")


if __name__ == "__main__":
    main()
