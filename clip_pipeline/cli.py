"""The `clip-pipeline` command line.

Errors a user can act on (ClipPipelineError) print one line on stderr and exit non-zero; commands
that report a result print one JSON object as their last line of stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from clip_pipeline.db import engine as db_engine
from clip_pipeline.db import migrate as db_migrate
from clip_pipeline.errors import ClipPipelineError
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
app.add_typer(db_app, name="db")
media_app = typer.Typer(help="Cut exact clips, fit AI results to a duration, probe media.", no_args_is_help=True)
app.add_typer(media_app, name="media")

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
