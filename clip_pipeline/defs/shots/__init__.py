"""Shot detection definitions, for the project's Definitions to merge."""

import dagster as dg

from clip_pipeline.defs.shots.assets import shot_segments, source_assets

defs = dg.Definitions(assets=[shot_segments])

__all__ = ["defs", "shot_segments", "source_assets"]
