"""The `clip-pipeline` command line.

Errors a user can act on (ClipPipelineError) print one line on stderr and exit non-zero; commands
that report a result print one JSON object as their last line of stdout.
"""

from __future__ import annotations

import json
import sys
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
shots_app = typer.Typer(help="Detect the shots of a source asset and split clips at them.", no_args_is_help=True)
app.add_typer(shots_app, name="shots")

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


@app.command("serve-api")
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
