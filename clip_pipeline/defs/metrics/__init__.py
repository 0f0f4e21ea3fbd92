"""Metrics for analysts: the generation_metrics asset and its daily schedule (06:00 UTC).

Merge `defs` into the code location; it expects a `database` resource (DatabaseResource)."""

import dagster as dg

from clip_pipeline.defs.metrics.assets import (
    generation_metrics,
    generation_metrics_job,
    generation_metrics_schedule,
)

defs = dg.Definitions(
    assets=[generation_metrics],
    jobs=[generation_metrics_job],
    schedules=[generation_metrics_schedule],
)
