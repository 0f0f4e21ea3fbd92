"""The Dagster code location: every domain's definitions merged, with shared resources."""

import dagster as dg

from clip_pipeline.defs.clips.definitions import defs as clip_defs
from clip_pipeline.defs.metrics import defs as metrics_defs
from clip_pipeline.defs.resources import DatabaseResource, SettingsResource

defs = dg.Definitions.merge(
    clip_defs,
    metrics_defs,
    dg.Definitions(resources={"database": DatabaseResource(), "app_settings": SettingsResource()}),
)
