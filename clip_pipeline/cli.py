"""The `clip-pipeline` command line.

Errors a user can act on (ClipPipelineError) print one line on stderr and exit non-zero; commands
that report a result print one JSON object as their last line of stdout.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from clip_pipeline.db import engine as db_engine
from clip_pipeline.db import migrate as db_migrate
from clip_pipeline.errors import ClipPipelineError, ConfigurationError
from clip_pipeline.settings import get_settings

app = typer.Typer(
    name="clip-pipeline",
    help="Cut clips out of long videos to the millisecond, enhance them with AI video providers, "
    "and put the exact results back on the timeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Create and inspect the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db", rich_help_panel="Tools")
simulate_app = typer.Typer(
    help="Serve a provider's API on loopback (auth, statuses, real videos, injectable faults).",
    no_args_is_help=True,
)
app.add_typer(simulate_app, name="simulate", rich_help_panel="Servers")
shots_app = typer.Typer(help="Detect the shots of a source asset and split clips at them.", no_args_is_help=True)
app.add_typer(shots_app, name="shots", rich_help_panel="Tools")

media_app = typer.Typer(help="Cut exact clips, fit AI results to a duration, probe media.", no_args_is_help=True)
app.add_typer(media_app, name="media", rich_help_panel="Tools")

console = Console(stderr=True)


def print_json(payload: dict[str, Any]) -> None:
    """The machine-readable result: one JSON object as the last line of stdout."""
    sys.stdout.write(json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()


def connect():
    """The app's engine for the configured (or embedded) server."""
    return db_engine.get_engine(db_engine.database_url(get_settings()))


@db_app.command("migrate")
def db_migrate_command() -> None:
    """Apply pending migrations from sql/ (safe to run again: applies nothing the second time)."""
    engine = connect()
    applied = db_migrate.migrate(engine)
    if applied:
        console.print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        console.print("database is up to date; nothing to apply")
    print_json({"applied": applied})


@db_app.command("status")
def db_status_command() -> None:
    """Show which migrations have run and which are pending."""
    url = db_engine.database_url(get_settings())
    state = db_migrate.status(db_engine.get_engine(url))
    console.print(f"database: {db_engine.describe_server(url)}")
    console.print(f"applied: {', '.join(state.applied) or 'none'}")
    console.print(f"pending: {', '.join(state.pending) or 'none'}")
    print_json({"server": db_engine.describe_server(url), "applied": state.applied, "pending": state.pending})


def _simulate(
    name: str, port: int, host: str, size: str | None, rate_429: float | None, rate_5xx: float | None,
    fail_rate: float | None, truncate_rate: float | None, latency_s: float | None, task_s: float,
) -> None:
    import uvicorn

    from clip_pipeline.simulators.core import Faults
    from clip_pipeline.simulators.providers import build_simulator

    faults = Faults.from_env(rate_429=rate_429, rate_5xx=rate_5xx, fail_rate=fail_rate,
                             truncate_rate=truncate_rate, latency_s=latency_s)
    simulator = build_simulator(name, get_settings(), faults=faults, size=size, min_task_s=task_s)
    console.print(f"{name} simulator on http://{host}:{port} (faults: {faults})")
    uvicorn.run(simulator.app, host=host, port=port, log_level="warning")


def _simulate_command(name: str):
    def command(
        port: int = typer.Option(..., help="Port to listen on."),
        host: str = typer.Option("127.0.0.1", help="Bind address (loopback by default)."),
        size: str = typer.Option(None, help="WIDTHxHEIGHT of results (default CLIP_PIPELINE_LOCAL_PROVIDER_SIZE)."),
        rate_429: float = typer.Option(None, help="Share of requests answered 429 (0-1)."),
        rate_5xx: float = typer.Option(None, help="Share of requests answered 5xx (0-1)."),
        fail_rate: float = typer.Option(None, help="Share of tasks that end failed (0-1)."),
        truncate_rate: float = typer.Option(None, help="Share of downloads cut short (0-1)."),
        latency_s: float = typer.Option(None, help="Seconds added to every API answer."),
        task_s: float = typer.Option(2.0, help="Minimum seconds a task takes."),
    ) -> None:
        _simulate(name, port, host, size, rate_429, rate_5xx, fail_rate, truncate_rate, latency_s, task_s)

    command.__doc__ = f"Serve the {name} API simulator (keys from the {name} settings)."
    return command


for _name in ("kling", "veo", "runway"):
    simulate_app.command(_name)(_simulate_command(_name))


@app.command("generate", rich_help_panel="Tools")
def generate_command(
    provider: str = typer.Option(..., help="kling, veo, runway or local."),
    task_type: str = typer.Option(..., help="background_replace, scene_generate or lip_sync."),
    duration_ms: int = typer.Option(..., help="Exact duration of the result, in milliseconds."),
    out: Path = typer.Option(..., help="Where to write the fitted MP4."),
    video: Path | None = typer.Option(None, help="Input video (background replacement, lip sync)."),
    audio: Path | None = typer.Option(None, help="Input audio (scene, lip sync); default: the video's sound."),
    image: Path | None = typer.Option(None, help="Start image (scene generation)."),
    prompt: str | None = typer.Option(None, help="Prompt for the provider."),
    model: str | None = typer.Option(None, help="Provider model; default: the provider's model for the task."),
    poll_interval_s: float = typer.Option(2.0, help="Seconds between status polls."),
) -> None:
    """One AI generation end to end: upload inputs, submit, poll, download, fit to --duration-ms exactly."""
    from rich.progress import Progress

    from clip_pipeline.services.single_generation import generate_once

    if task_type not in ("background_replace", "scene_generate", "lip_sync"):
        raise ConfigurationError(f"--task-type {task_type}: choose background_replace, scene_generate or lip_sync")
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"{provider} {task_type}", total=100)
        result = generate_once(
            get_settings(), provider_name=provider, task_type=task_type, duration_ms=duration_ms, out=out,
            video=video, audio=audio, image=image, prompt=prompt, model=model, poll_interval_s=poll_interval_s,
            on_progress=lambda state: progress.update(bar, completed=state.progress,
                                                      description=f"{provider} {task_type}: {state.status}"),
        )
    console.print(f"wrote {result.output_path} ({result.duration_ms} ms; provider gave {result.provider_duration_ms} ms)")
    print_json(dataclasses.asdict(result))


@app.command("serve-files", rich_help_panel="Servers")
def serve_files_command(
    host: str | None = typer.Option(None, help="Bind address (default: settings.file_server_host)."),
    port: int | None = typer.Option(None, help="Port (default: settings.file_server_port)."),
) -> None:
    """Serve local-disk storage over HTTP (signed URLs, public results, HEAD and Range) until Ctrl+C."""
    from clip_pipeline.storage.file_server import start_file_server

    settings = get_settings()
    try:
        handle = start_file_server(settings, host=host, port=port)
    except OSError as exc:
        raise ClipPipelineError(
            f"cannot serve files on {host or settings.file_server_host}:{port or settings.file_server_port}: "
            f"{exc.strerror or exc}; pick another --port"
        ) from None
    print_json({"base_url": handle.base_url, "root": str(settings.local_storage_root)})
    console.print(f"serving {settings.local_storage_root} at {handle.base_url} (Ctrl+C to stop)")
    try:
        handle.wait()
    finally:
        handle.stop()

@db_app.command("url")
def db_url_command(
    show_password: bool = typer.Option(False, "--show-password", help="Print the password, not ***."),
    plain: bool = typer.Option(False, "--plain", help="Print only the URL, for psql \"$(...)\"."),
    hold: bool = typer.Option(
        False, "--hold", help="Keep the embedded server running until Ctrl-C (it stops otherwise)."
    ),
) -> None:
    """Print the database URL for psql, pandas or a BI tool (password hidden unless asked)."""
    settings = get_settings()
    url = make_url(db_engine.database_url(settings)).set(drivername="postgresql")
    shown = url.render_as_string(hide_password=not show_password)
    embedded = settings.database_url is None
    if plain:
        sys.stdout.write(shown + "\n")
        sys.stdout.flush()
    else:
        console.print(f"database: {db_engine.describe_server(shown)}")
        print_json({"url": shown, "embedded": embedded})
    if embedded and hold:
        console.print("holding the embedded server; press Ctrl-C to let it stop")
        # TERM ends the hold like Ctrl-C, so the exit hooks still stop the server cleanly
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    elif embedded:
        console.print(
            "the embedded server stops when the last clip-pipeline process using it exits; "
            "`clip-pipeline db url --hold` keeps it up while you query"
        )


@app.command("select", rich_help_panel="Pipeline")
def select_command(
    clip_ids: list[str] = typer.Argument(..., help="Clip ids to export (and enhance, with --provider)."),
    provider: str | None = typer.Option(None, help="kling, veo, runway or local: also ask for AI enhancement."),
    task_type: str = typer.Option("background_replace", help="background_replace, scene_generate or lip_sync."),
    model: str | None = typer.Option(None, help="Provider model; default: the provider's model for the task."),
    prompt: str | None = typer.Option(None, help="Prompt for the provider."),
    auto_apply: bool = typer.Option(False, "--auto-apply", help="Apply the result to the timeline when done."),
    resolution: str = typer.Option("1080p", help="original, 720p or 1080p (never upscales)."),
    quality: str = typer.Option("medium", help="low, medium or high."),
) -> None:
    """Select clips for export, and optionally ask for an AI enhancement of each (rows the sensors pick up)."""
    from clip_pipeline.services import requests

    engine = connect()
    spec = requests.ExportSpec(resolution=resolution, quality=quality)  # type: ignore[arg-type]
    exports = requests.select_clips(engine, clip_ids, spec)
    generations = [
        requests.request_generation(
            engine, clip_id, provider=provider, task_type=task_type, model=model,  # type: ignore[arg-type]
            prompt=prompt, auto_apply=auto_apply, spec=spec,
        )
        for clip_id in (clip_ids if provider else [])
    ]
    console.print(f"selected {len(exports)} clip(s); {len(generations)} generation request(s)")
    print_json(
        {
            "exports": [{"export_id": str(e["id"]), "clip_id": str(e["clip_id"]), "status": e["status"]} for e in exports],
            "generations": [{"generation_id": str(g["id"]), "clip_id": str(g["source_clip_id"]), "provider": g["provider"], "status": g["status"]} for g in generations],
        }
    )


@app.command("status", rich_help_panel="Pipeline")
def status_command(clip_id: str | None = typer.Argument(None, help="One clip; default: every clip with requests.")) -> None:
    """Show where each clip stands: export and generations."""
    from rich.table import Table

    from clip_pipeline.services.status import clip_statuses

    statuses = clip_statuses(connect(), clip_id)
    table = Table("clip", "ms", "export", "provider", "task", "generation", "progress", "error ms")
    for entry in statuses:
        export = entry["exports"][-1] if entry["exports"] else {}
        for generation in entry["generations"] or [{}]:
            table.add_row(
                entry["clip_id"][:8], str(entry["duration_ms"]), export.get("status", "-"),
                generation.get("provider", "-"), generation.get("task_type", "-"),
                generation.get("status", "-"), str(generation.get("progress", "-")),
                f"{generation['final_error_ms']:.3f}" if generation.get("final_error_ms") is not None else "-",
            )
    console.print(table)
    print_json({"clips": statuses})


@app.command("ui", rich_help_panel="Pipeline")
def ui_command(port: int = typer.Option(3000, help="Port of the Dagster UI.")) -> None:
    """Start the Dagster UI and daemon (`dagster dev`) on the same database, with the file server."""
    import subprocess

    from clip_pipeline.db.migrate import migrate
    from clip_pipeline.defs.local_daemon import dagster_instance
    from clip_pipeline.storage.file_server import start_file_server

    settings = get_settings()
    url = db_engine.database_url(settings)
    migrate(db_engine.get_engine(url))
    dagster_instance(settings.home, url)  # writes HOME/dagster/dagster.yaml and the env it reads
    files = start_file_server(settings) if settings.storage_backend == "local" else None
    env = {**os.environ, "CLIP_PIPELINE_DATABASE_URL": url}
    console.print(f"Dagster UI on http://127.0.0.1:{port} (database {db_engine.describe_server(url)})")
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    try:
        subprocess.run([str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(workspace), "-p", str(port)], env=env, check=False)
    finally:
        if files:
            files.stop()


@app.command("worker", rich_help_panel="Servers")
def worker_command(
    name: str = typer.Option(None, help="Worker name (NAME@host); default: clip-<pid>."),
    concurrency: int = typer.Option(os.cpu_count() or 1, help="Steps this worker runs at once."),
    loglevel: str = typer.Option("INFO", help="Celery log level."),
) -> None:
    """Run a dagster-celery worker: executes clip job steps sent over CLIP_PIPELINE_CELERY_BROKER_URL."""
    from clip_pipeline.defs.celery_worker import start_worker

    start_worker(get_settings(), name or f"clip-{os.getpid()}", concurrency, loglevel)


@app.command("demo", rich_help_panel="Pipeline")
def demo_command(
    timeout: float = typer.Option(900.0, help="Give up after this many seconds."),
    summary: Path = typer.Option(Path("demo-summary.json"), help="Where to write the JSON summary."),
) -> None:
    """Run the whole pipeline on a synthetic recording, with no network: export, generate, finalize, apply."""
    from clip_pipeline.demo import run_demo

    rows = run_demo(Console(), timeout_s=timeout, summary_path=summary)
    unfinished = [r for r in rows if r.status != "completed" or r.error_ms is None or r.error_ms > 1.0]
    if unfinished:
        raise typer.Exit(1)


@shots_app.command("detect")
def shots_detect_command(
    asset_id: str = typer.Argument(..., help="Source asset id."),
    detector: str = typer.Option("content", help="content (hard cuts) or adaptive (camera motion)."),
    threshold: float = typer.Option(None, help="Detector threshold (default: PySceneDetect's)."),
) -> None:
    """Run PySceneDetect on a source asset and store its shots."""
    from clip_pipeline.services import shots

    if detector not in ("content", "adaptive"):
        raise typer.BadParameter("must be content or adaptive", param_hint="--detector")
    found = shots.detect_asset_shots(connect(), asset_id, detector=detector, threshold=threshold)
    console.print(f"{len(found)} shot(s) in asset {asset_id}")
    print_json({"asset_id": asset_id, "shots": [vars(shot) for shot in found]})


@shots_app.command("split")
def shots_split_command(clip_id: str = typer.Argument(..., help="Timeline clip id.")) -> None:
    """Split a timeline clip at the detected shot boundaries inside it."""
    from clip_pipeline.services import shots

    clips = shots.split_clip_at_shots(connect(), clip_id)
    print_json(
        {
            "clips": [
                {key: clip[key] for key in ("id", "track_id", "start_time", "end_time", "source_start", "source_end")}
                for clip in clips
            ]
        }
    )


@app.command("serve-api", rich_help_panel="Servers")
def serve_api_command(
    host: str = typer.Option(None, help="Bind address (default: CLIP_PIPELINE_API_HOST)."),
    port: int = typer.Option(None, help="Port (default: CLIP_PIPELINE_API_PORT)."),
) -> None:
    """Serve the HTTP API the editor calls (needs CLIP_PIPELINE_API_KEY)."""
    import logging

    import uvicorn

    from clip_pipeline.api import create_app
    from clip_pipeline.api.app import RedactCallbackTokens

    settings = get_settings()
    api = create_app(settings)
    connect()  # fail now, with one line naming the server, rather than on the first request
    logging.getLogger("uvicorn.access").addFilter(RedactCallbackTokens())
    uvicorn.run(api, host=host or settings.api_host, port=port or settings.api_port)

def media_options():
    from clip_pipeline.media.options import MediaOptions

    return MediaOptions.from_settings(get_settings())


@media_app.command("export")
def media_export_command(
    source: str = typer.Argument(..., help="Local path, http(s) URL (MP4 or HLS) or cloudflare:<uid>."),
    start_ms: int = typer.Option(..., "--start-ms", help="Clip start in ms (inclusive)."),
    end_ms: int = typer.Option(..., "--end-ms", help="Clip end in ms (exclusive)."),
    out: Path = typer.Option(..., "--out", help="Folder for the clip (and its audio)."),
    resolution: str = typer.Option("original", "--resolution", help="original, 720p or 1080p (never upscales)."),
    quality: str = typer.Option("medium", "--quality", help="low, medium or high."),
    fmt: str = typer.Option("mp4", "--format", help="mp4 (H.264/AAC) or webm (VP9/Opus)."),
    with_audio: bool = typer.Option(False, "--with-audio", help="Also write the clip's audio as its own file."),
    audio_format: str = typer.Option("m4a", "--audio-format", help="m4a (AAC) or wav."),
) -> None:
    """Cut [start, end) out of SOURCE, exactly end-start ms long, picture and sound in sync."""
    from clip_pipeline.media.export import export_clip

    result = export_clip(source, start_ms, end_ms, out, resolution=resolution, quality=quality, fmt=fmt,
                         with_audio=with_audio, audio_format=audio_format, options=media_options())
    console.print(f"wrote {result.video_path} ({result.duration_ms} ms, {result.width}x{result.height}, {result.encoder})")
    print_json(result.to_dict())


@media_app.command("fit")
def media_fit_command(
    video: Path = typer.Argument(..., help="The AI result (any length, frame rate and size)."),
    audio: Path | None = typer.Option(None, "--audio", help="The clip's audio; omitted: picture only."),
    duration_ms: int = typer.Option(..., "--duration-ms", help="Exact output duration in ms."),
    out: Path = typer.Option(..., "--out", help="Output file (.mp4, or .webm)."),
    strategy: str = typer.Option("auto", "--strategy", help="auto, trim (longer video) or freeze (shorter)."),
) -> None:
    """Write OUT = VIDEO's picture + AUDIO, exactly DURATION ms (trim or hold the last frame)."""
    from clip_pipeline.media.fit import fit_to_duration

    result = fit_to_duration(video, audio, duration_ms, out, strategy=strategy, options=media_options())
    console.print(f"wrote {result.output_path} ({result.duration_ms} ms, adjustment: {result.adjustment})")
    print_json(result.to_dict())


@media_app.command("probe")
def media_probe_command(
    source: str = typer.Argument(..., help="Local path, http(s) URL or cloudflare:<uid>."),
) -> None:
    """Container and per-stream durations, start times, fps, sample rate and codecs."""
    from clip_pipeline.media.probe import probe
    from clip_pipeline.media.sources import source_candidates

    print_json(probe(source_candidates(source, media_options())[0]).to_dict())


def main() -> None:
    try:
        app(standalone_mode=False)
    except ClipPipelineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
