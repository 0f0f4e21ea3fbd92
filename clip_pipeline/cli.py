"""The `clip-pipeline` command line.

Errors a user can act on (ClipPipelineError) print one line on stderr and exit non-zero; commands
that report a result print one JSON object as their last line of stdout.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

import typer
from rich.console import Console
from sqlalchemy.engine import make_url

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
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    elif embedded:
        console.print(
            "the embedded server stops when the last clip-pipeline process using it exits; "
            "`clip-pipeline db url --hold` keeps it up while you query"
        )


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
