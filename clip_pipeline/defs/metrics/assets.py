"""The `generation_metrics` asset: a daily (and on demand) snapshot of how AI generation performs,
with a markdown summary and plots in the Dagster UI."""

import dagster as dg
from pydantic import Field

from clip_pipeline.defs.resources import DatabaseResource
from clip_pipeline.services.metrics import refresh_generation_metrics
from clip_pipeline.settings import get_settings


class GenerationMetricsConfig(dg.Config):
    lookback_days: int = Field(
        default=30, ge=1, description="Days of requests, up to the latest one, to snapshot and plot."
    )


@dg.asset(
    group_name="metrics",
    kinds={"postgres", "pandas"},
    description="generation_metrics_daily over the last lookback_days days, saved to "
    "generation_metrics_snapshots, with success rate, p95 latency and duration-miss plots.",
)
def generation_metrics(
    context: dg.AssetExecutionContext, config: GenerationMetricsConfig, database: DatabaseResource
) -> dg.MaterializeResult:
    run_dir = get_settings().home / "metrics" / context.run.run_id
    report = refresh_generation_metrics(database.get_engine(), run_dir, config.lookback_days)
    metadata: dict[str, dg.MetadataValue] = {
        "summary": dg.MetadataValue.md(report.summary_markdown),
        "snapshot_rows": dg.MetadataValue.int(report.snapshot_rows),
        "snapshot_date": dg.MetadataValue.text(report.snapshot_date.isoformat()),
        "providers": dg.MetadataValue.int(len(report.providers)),
    }
    if report.window is not None:
        metadata["window"] = dg.MetadataValue.text(
            f"{report.window.first_day} to {report.window.last_day}"
        )
    for name, path in report.plots.items():
        metadata[f"{name.replace(' ', '_')}_plot"] = dg.MetadataValue.path(str(path))
    return dg.MaterializeResult(metadata=metadata)


generation_metrics_job = dg.define_asset_job("generation_metrics_job", selection=[generation_metrics])

# One mechanism for the daily refresh (a schedule, visible and toggled in the UI); an
# AutomationCondition.on_cron as well would materialize it twice each morning.
generation_metrics_schedule = dg.ScheduleDefinition(
    name="generation_metrics_daily",
    job=generation_metrics_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
