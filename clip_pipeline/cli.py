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
simulate_app = typer.Typer(
    help="Serve a provider's API on loopback (auth, statuses, real videos, injectable faults).",
    no_args_is_help=True,
)
app.add_typer(simulate_app, name="simulate")

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
