"""The Dagster code location: every domain's definitions merged, with shared resources."""

import dagster as dg

from clip_pipeline.defs import metrics, shots
from clip_pipeline.defs.clips import definitions as clips
from clip_pipeline.defs.resources import DatabaseResource, SettingsResource

# Only one Definitions object may live at module scope: the domains are imported as modules.
defs = dg.Definitions.merge(
    clips.defs,
    metrics.defs,
    shots.defs,
    dg.Definitions(resources={"database": DatabaseResource(), "app_settings": SettingsResource()}),
)
