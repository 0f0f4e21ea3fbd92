"""`clip-pipeline demo`: the main job on the embedded defaults, one command, no network.

A synthetic recording is served on loopback as HLS (the stand-in for Cloudflare Stream), a timeline
cuts clips of different lengths from it, and generation requests go to the local provider and to
the Kling, Veo and Runway simulators. The sensors and assets are driven in process until every clip
is final; the summary is printed and written to demo-summary.json.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clip_pipeline.db import timeline as db_timeline
from clip_pipeline.db.engine import database_url, get_engine
from clip_pipeline.db.migrate import migrate
from clip_pipeline.media.synthetic import make_hls_source
from clip_pipeline.services import requests
from clip_pipeline.services.status import clip_statuses, generation_states
from clip_pipeline.settings import get_settings, reset_settings_cache
from clip_pipeline.simulators.cdn import serve_directory
from clip_pipeline.simulators.loopback import free_port, port_or_free

SOURCE_SECONDS = 20.0

# (source_start_ms, source_end_ms, provider, task_type, auto_apply): lengths 1.8 s to 4.2 s,
# one clip per provider and task kind the simulators cover.
DEMO_CLIPS = [
    (1_000, 3_500, "local", "background_replace", True),
    (4_000, 8_200, "kling", "lip_sync", True),
    (9_000, 12_000, "veo", "scene_generate", False),
    (12_500, 15_700, "runway", "background_replace", True),
    (16_000, 17_800, "local", "lip_sync", False),
]


@dataclass
class DemoRow:
    clip_id: str
    provider: str
    task_type: str
    status: str
    export_ms: int | None
    final_ms: float | None
    error_ms: float | None
    adjustment: str | None
    provider_ms: int | None
    applied: bool
    url: str | None
    error: str | None


def _configure_loopback_services() -> dict[str, int]:
    """Point every external service at loopback stand-ins, for this process only. The file server
    keeps its configured port when free, so `clip-pipeline serve-files` (and `make ui`) serve the
    summary's URLs again after the demo."""
    ports = {name: free_port() for name in ("cdn", "kling", "veo", "runway")}
    ports["files"] = port_or_free(get_settings().file_server_port)
    os.environ.update(
        {
            "CLIP_PIPELINE_STORAGE_BACKEND": "local",
            "CLIP_PIPELINE_FILE_SERVER_PORT": str(ports["files"]),
            "CLIP_PIPELINE_CLOUDFLARE_STREAM_BASE": f"http://127.0.0.1:{ports['cdn']}",
            "CLIP_PIPELINE_KLING_BASE_URL": f"http://127.0.0.1:{ports['kling']}",
            "CLIP_PIPELINE_VEO_BASE_URL": f"http://127.0.0.1:{ports['veo']}",
            "CLIP_PIPELINE_RUNWAY_BASE_URL": f"http://127.0.0.1:{ports['runway']}",
            "CLIP_PIPELINE_KLING_ACCESS_KEY": "demo-access-" + secrets.token_hex(4),
            "CLIP_PIPELINE_KLING_SECRET_KEY": secrets.token_hex(16),
            "CLIP_PIPELINE_GOOGLE_API_KEY": "demo-" + secrets.token_hex(12),
            "CLIP_PIPELINE_RUNWAY_API_SECRET": "key_" + secrets.token_hex(16),
            "CLIP_PIPELINE_PROVIDER_POLL_INTERVAL_S": "1",
        }
    )
    for name in ("CLIP_PIPELINE_CALLBACK_BASE_URL", "CLIP_PIPELINE_PUBLIC_BASE_URL", "CLIP_PIPELINE_FILE_SERVER_HOST"):
        os.environ.pop(name, None)
    reset_settings_cache()
    return ports


def _build_timeline(engine, source_uid: str) -> list[tuple[str, str]]:
    """The demo timeline and its generation requests; returns (clip_id, generation_id) pairs."""
    with engine.begin() as connection:
        asset = db_timeline.insert_asset(
            connection, storage_path=f"cloudflare:{source_uid}", name="Demo recording",
            duration_ms=int(SOURCE_SECONDS * 1000), has_audio=True,
        )
        timeline = db_timeline.insert_timeline(connection, f"Demo {time.strftime('%Y-%m-%d %H:%M:%S')}", fps=30)
        track = db_timeline.insert_track(connection, timeline, position=0, name="V1")
        clip_ids, cursor = [], 0
        for start, end, *_ in DEMO_CLIPS:
            clip_ids.append(
                db_timeline.insert_clip(
                    connection, track_id=track, asset_id=asset, start_time=cursor, source_start=start, source_end=end
                )
            )
            cursor += end - start
    spec = requests.ExportSpec(resolution="original")
    pairs = []
    for clip_id, (_, _, provider, task_type, auto_apply) in zip(clip_ids, DEMO_CLIPS):
        generation = requests.request_generation(
            engine, clip_id, provider=provider, task_type=task_type, auto_apply=auto_apply, spec=spec,
            prompt=f"{task_type.replace('_', ' ')} demo", parameters={},
        )
        pairs.append((str(clip_id), str(generation["id"])))
    return pairs


def _rows(engine, pairs: list[tuple[str, str]]) -> list[DemoRow]:
    rows = []
    for clip_id, generation_id in pairs:
        entry = clip_statuses(engine, clip_id)[0]
        export = entry["exports"][-1]
        generation = next(g for g in entry["generations"] if str(g["id"]) == generation_id)
        rows.append(
            DemoRow(
                clip_id=clip_id,
                provider=generation["provider"],
                task_type=generation["task_type"],
                status=generation["status"],
                export_ms=export["duration_ms"],
                final_ms=generation["final_duration_ms"],
                error_ms=generation["final_error_ms"],
                adjustment=generation["adjustment"],
                provider_ms=generation["provider_duration_ms"],
                applied=bool(generation["applied"]),
                url=generation["final_url"],
                error=generation["error_message"] or export["error_message"],
            )
        )
    return rows


def _print_summary(console: Console, rows: list[DemoRow]) -> None:
    table = Table(title="clip_pipeline demo")
    for column in ("clip", "provider / task", "export ms", "final ms", "error ms", "adjustment", "applied", "URL"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.clip_id[:8],
            f"{row.provider} / {row.task_type}",
            str(row.export_ms or "-"),
            f"{row.final_ms:.3f}" if row.final_ms is not None else row.status,
            f"{row.error_ms:.3f}" if row.error_ms is not None else "-",
            row.adjustment or "-",
            "yes" if row.applied else "no",
            row.url or (row.error or "-"),
        )
    # wide enough that the URLs stay whole (they are what the user copies)
    Console(width=max(console.width, 220)).print(table)


def run_demo(console: Console, *, timeout_s: float = 900.0, summary_path: Path = Path("demo-summary.json")) -> list[DemoRow]:
    from clip_pipeline.definitions import defs
    from clip_pipeline.defs.local_daemon import LocalDaemon, dagster_instance
    from clip_pipeline.simulators.providers import start_provider_simulators
    from clip_pipeline.storage.file_server import start_file_server

    ports = _configure_loopback_services()
    settings = get_settings()
    console.print(f"home: {settings.home}")
    url = database_url(settings)
    engine = get_engine(url)
    migrate(engine)
    source_uid = "demo" + secrets.token_hex(6)
    cdn_root = settings.home / "demo-cdn"
    console.print(f"making a {SOURCE_SECONDS:g} s synthetic recording, served as HLS (cloudflare:{source_uid})")
    make_hls_source(cdn_root / source_uid / "manifest", duration_s=SOURCE_SECONDS)
    with ExitStack() as stack:
        files = start_file_server(settings, port=ports["files"])
        stack.callback(files.stop)
        cdn = serve_directory(cdn_root, port=ports["cdn"])
        stack.callback(cdn.stop)
        stack.enter_context(start_provider_simulators(settings, {k: ports[k] for k in ("kling", "veo", "runway")}))
        pairs = _build_timeline(engine, source_uid)
        daemon = LocalDaemon(defs, dagster_instance(settings.home, url))
        _drive(console, daemon, engine, pairs, timeout_s)
    rows = _rows(engine, pairs)
    _print_summary(console, rows)
    summary_path.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    console.print(f"summary written to {summary_path.resolve()}")
    console.print(f"the URLs are served again by: clip-pipeline serve-files --port {ports['files']}")
    console.print("see the runs, partitions and checks in the UI: make ui")
    return rows


def _drive(console: Console, daemon, engine, pairs, timeout_s: float) -> None:
    """Tick the sensors until every generation is completed or failed (or the time is up)."""
    generation_ids = {g for _, g in pairs}
    deadline = time.monotonic() + timeout_s
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} final"),
        TimeElapsedColumn(), console=console,
    ) as progress:
        bar = progress.add_task("processing clips", total=len(generation_ids))
        while time.monotonic() < deadline:
            daemon.cycle()
            states = list(generation_states(engine, generation_ids).values())
            done = sum(1 for s in states if s in ("completed", "failed"))
            counts = {s: states.count(s) for s in sorted(set(states))}
            progress.update(bar, completed=done, description=f"processing clips {counts}")
            if done == len(generation_ids):
                return
            time.sleep(1.0)  # a polling cadence, like the daemon's tick interval
    console.print("[red]the demo ran out of time before every clip was final[/red]")
