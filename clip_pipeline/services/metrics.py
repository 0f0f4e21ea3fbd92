"""Generation metrics for analysts: read the metrics views (sql/0003_metrics.sql) with pandas, keep a
dated snapshot of generation_metrics_daily, and render the plots the Dagster asset shows.

The window is the last `lookback_days` days that have data (ending at the latest request day, not
today), so a quiet week still shows the latest activity.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy
import pandas as pd
import sqlalchemy as sa
from matplotlib.figure import Figure
from sqlalchemy.engine import Engine

SNAPSHOT_COLUMNS = (
    "day, provider, model, task_type, requested, completed, failed, in_progress, success_rate, "
    "p50_processing_time_ms, p95_processing_time_ms, adjusted, adjusted_share, duration_measured, "
    "mean_duration_miss_ms, max_duration_miss_ms, credits_used"
)
# the columns the summaries and plots use, with their pandas types
DAILY_COLUMNS = {
    "day": "object", "provider": "object", "model": "object", "task_type": "object",
    "requested": "int64", "completed": "int64", "failed": "int64", "adjusted": "int64",
    "credits_used": "int64",
}
OUTCOME_COLUMNS = {
    "day": "object", "provider": "object", "status": "object", "processing_time_ms": "float64",
    "duration_miss_ms": "float64", "duration_signed_miss_ms": "float64",
}
PROVIDER_TRENDS_PNG = "provider_trends.png"
DURATION_MISSES_PNG = "duration_misses.png"


@dataclass(frozen=True)
class Window:
    first_day: date
    last_day: date


@dataclass(frozen=True)
class GenerationMetricsReport:
    """What one refresh produced: the snapshot it stored, per-provider figures, and the plots."""

    snapshot_date: date
    window: Window | None
    snapshot_rows: int
    providers: pd.DataFrame
    provider_days: pd.DataFrame
    plots: dict[str, Path]
    summary_markdown: str


def metrics_window(engine: Engine, lookback_days: int) -> Window | None:
    """The last `lookback_days` days up to the latest day with a generation; None when there are none."""
    with engine.connect() as connection:
        last_day = connection.execute(sa.text("SELECT max(day) FROM generation_outcomes")).scalar()
    if last_day is None:
        return None
    return Window(last_day - timedelta(days=lookback_days - 1), last_day)


def _read_window(engine: Engine, view: str, columns: dict[str, str], window: Window | None) -> pd.DataFrame:
    """Rows of a metrics view within the window, with numeric columns typed even when empty."""
    if window is None:
        return pd.DataFrame(columns=list(columns)).astype(columns)
    query = sa.text(
        f"SELECT {', '.join(columns)} FROM {view} WHERE day BETWEEN :first AND :last ORDER BY day"
    )
    with engine.connect() as connection:
        frame = pd.read_sql_query(
            query, connection, params={"first": window.first_day, "last": window.last_day}
        )
    return frame.astype(columns)


def read_generation_metrics_daily(engine: Engine, window: Window | None) -> pd.DataFrame:
    return _read_window(engine, "generation_metrics_daily", DAILY_COLUMNS, window)


def read_generation_outcomes(engine: Engine, window: Window | None) -> pd.DataFrame:
    return _read_window(engine, "generation_outcomes", OUTCOME_COLUMNS, window)


def store_snapshot(engine: Engine, window: Window, taken_at: datetime) -> int:
    """Copy the window of generation_metrics_daily into generation_metrics_snapshots, replacing any
    snapshot already taken on the same UTC date; return the rows stored."""
    snapshot_date = taken_at.astimezone(timezone.utc).date()
    with engine.begin() as connection:
        connection.execute(
            sa.text("DELETE FROM generation_metrics_snapshots WHERE snapshot_date = :snapshot_date"),
            {"snapshot_date": snapshot_date},
        )
        result = connection.execute(
            sa.text(
                f"INSERT INTO generation_metrics_snapshots (snapshot_date, taken_at, {SNAPSHOT_COLUMNS}) "
                f"SELECT :snapshot_date, :taken_at, {SNAPSHOT_COLUMNS} FROM generation_metrics_daily "
                "WHERE day BETWEEN :first AND :last"
            ),
            {
                "snapshot_date": snapshot_date,
                "taken_at": taken_at,
                "first": window.first_day,
                "last": window.last_day,
            },
        )
    return result.rowcount


def _success_rate(completed: pd.Series, failed: pd.Series) -> pd.Series:
    finished = completed + failed
    return (completed / finished).where(finished > 0)


def summarize_provider_days(daily: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per day and provider (all models and task types together): requested, completed, failed,
    success_rate and p95_processing_time_ms (of completed generations).

    Percentiles do not add up across models, so p95 comes from the per-generation outcomes."""
    counts = daily.groupby(["day", "provider"], as_index=False)[["requested", "completed", "failed"]].sum()
    counts["success_rate"] = _success_rate(counts["completed"], counts["failed"])
    completed = outcomes[(outcomes["status"] == "completed") & outcomes["processing_time_ms"].notna()]
    p95 = (
        completed.groupby(["day", "provider"])["processing_time_ms"]
        .quantile(0.95)
        .rename("p95_processing_time_ms")
        .reset_index()
    )
    return counts.merge(p95, on=["day", "provider"], how="left").sort_values(["provider", "day"])


def summarize_providers(daily: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per provider over the whole window."""
    totals = daily.groupby("provider")[["requested", "completed", "failed", "adjusted", "credits_used"]].sum()
    totals["success_rate"] = _success_rate(totals["completed"], totals["failed"])
    totals["adjusted_share"] = (totals["adjusted"] / totals["completed"]).where(totals["completed"] > 0)
    completed = outcomes[(outcomes["status"] == "completed") & outcomes["processing_time_ms"].notna()]
    times = completed.groupby("provider")["processing_time_ms"]
    totals["p50_processing_time_ms"] = times.quantile(0.5)
    totals["p95_processing_time_ms"] = times.quantile(0.95)
    misses = outcomes.dropna(subset=["duration_miss_ms"]).groupby("provider")["duration_miss_ms"]
    totals["mean_duration_miss_ms"] = misses.mean()
    totals["max_duration_miss_ms"] = misses.max()
    return totals.reset_index()


def _no_data(axes, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color="grey")


def plot_provider_trends(provider_days: pd.DataFrame, path: Path) -> Path:
    """Success rate and p95 processing time per provider per day, one line per provider."""
    figure = Figure(figsize=(9, 6), dpi=100, layout="constrained")
    rate_axes, latency_axes = figure.subplots(2, 1, sharex=True)
    for provider, rows in provider_days.groupby("provider"):
        rate_axes.plot(rows["day"], rows["success_rate"] * 100, marker="o", markersize=3, label=provider)
        latency_axes.plot(
            rows["day"], rows["p95_processing_time_ms"] / 1000, marker="o", markersize=3, label=provider
        )
    if provider_days.empty:
        _no_data(rate_axes, "no generations in the window")
    else:
        rate_axes.legend(loc="lower left", fontsize="small")
    rate_axes.set_ylabel("success rate (%)")
    rate_axes.set_ylim(-2, 102)
    rate_axes.set_title("Success rate per provider (completed / finished)")
    latency_axes.set_ylabel("p95 processing time (s)")
    latency_axes.set_title("p95 processing time of completed generations")
    latency_axes.set_xlabel("day (UTC, of the request)")
    figure.autofmt_xdate()
    figure.savefig(path, format="png")
    return path


def plot_duration_misses(outcomes: pd.DataFrame, path: Path) -> Path:
    """Histogram of provider duration minus expected duration (ms), per provider."""
    figure = Figure(figsize=(9, 4.5), dpi=100, layout="constrained")
    axes = figure.subplots()
    measured = outcomes.dropna(subset=["duration_signed_miss_ms"])
    if measured.empty:
        _no_data(axes, "no provider durations in the window")
    else:
        misses = measured["duration_signed_miss_ms"].astype(float)
        # shared edges so the providers' histograms line up
        bin_edges = numpy.linspace(misses.min() - 0.5, misses.max() + 0.5, 41)
        for provider, rows in measured.groupby("provider"):
            axes.hist(rows["duration_signed_miss_ms"].astype(float), bins=bin_edges, histtype="step",
                      linewidth=1.5, label=f"{provider} ({len(rows)})")
        axes.axvline(0, color="black", linewidth=0.8)
        axes.legend(fontsize="small")
    axes.set_xlabel("provider duration - expected duration (ms)")
    axes.set_ylabel("generations")
    axes.set_title("How far provider videos miss the clip's duration (before the exact fit)")
    figure.savefig(path, format="png")
    return path


def _format(value, pattern: str) -> str:
    return "–" if pd.isna(value) else pattern.format(value)


def summary_markdown(
    window: Window | None, providers: pd.DataFrame, plots: dict[str, Path], snapshot_rows: int
) -> str:
    if window is None:
        return "## Generation metrics\n\nNo generations yet: nothing to measure.\n"
    lines = [
        "## Generation metrics",
        "",
        f"Requests made {window.first_day} to {window.last_day} (UTC days); "
        f"{snapshot_rows} rows saved to `generation_metrics_snapshots`.",
        "",
        "| provider | requested | completed | failed | success | p50 s | p95 s | adjusted | "
        "mean miss ms | max miss ms | credits |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in providers.itertuples():
        lines.append(
            f"| {row.provider} | {row.requested} | {row.completed} | {row.failed} "
            f"| {_format(row.success_rate, '{:.1%}')} "
            f"| {_format(row.p50_processing_time_ms / 1000, '{:.1f}')} "
            f"| {_format(row.p95_processing_time_ms / 1000, '{:.1f}')} "
            f"| {_format(row.adjusted_share, '{:.1%}')} "
            f"| {_format(row.mean_duration_miss_ms, '{:.1f}')} "
            f"| {_format(row.max_duration_miss_ms, '{:.0f}')} | {row.credits_used} |"
        )
    lines.append("")
    for name, path in plots.items():
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        lines += [f"![{name}](data:image/png;base64,{encoded})", ""]
    return "\n".join(lines)


def refresh_generation_metrics(
    engine: Engine, output_dir: Path, lookback_days: int = 30, taken_at: datetime | None = None
) -> GenerationMetricsReport:
    """Snapshot the window of generation_metrics_daily, summarize it per provider, render the plots
    into output_dir, and return it all (the `generation_metrics` asset's body)."""
    if lookback_days < 1:
        raise ValueError("lookback_days must be at least 1")
    taken_at = taken_at or datetime.now(timezone.utc)
    window = metrics_window(engine, lookback_days)
    snapshot_rows = 0 if window is None else store_snapshot(engine, window, taken_at)
    daily = read_generation_metrics_daily(engine, window)
    outcomes = read_generation_outcomes(engine, window)
    provider_days = summarize_provider_days(daily, outcomes)
    providers = summarize_providers(daily, outcomes)
    output_dir.mkdir(parents=True, exist_ok=True)
    plots = {
        "provider trends": plot_provider_trends(provider_days, output_dir / PROVIDER_TRENDS_PNG),
        "duration misses": plot_duration_misses(outcomes, output_dir / DURATION_MISSES_PNG),
    }
    return GenerationMetricsReport(
        snapshot_date=taken_at.astimezone(timezone.utc).date(),
        window=window,
        snapshot_rows=snapshot_rows,
        providers=providers,
        provider_days=provider_days,
        plots=plots,
        summary_markdown=summary_markdown(window, providers, plots, snapshot_rows),
    )
