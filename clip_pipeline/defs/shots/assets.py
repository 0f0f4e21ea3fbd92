"""The shot_segments asset: the shots of one source asset (a partition per source asset)."""

# No `from __future__ import annotations` here: Dagster inspects the context annotation at import.
import dagster as dg

from clip_pipeline.defs.resources import DatabaseResource
from clip_pipeline.services.shots import detect_asset_shots

# One partition per source asset id; whoever registers a source adds its partition.
source_assets = dg.DynamicPartitionsDefinition(name="source_assets")


@dg.asset(
    partitions_def=source_assets,
    description="Shots of a source asset found by PySceneDetect (start/end ms and cut score), "
    "stored in shot_segments; the source is read once into a temporary MP4.",
    kinds={"python", "postgres"},
)
def shot_segments(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    shots = detect_asset_shots(database.get_engine(), context.partition_key)
    return dg.MaterializeResult(
        metadata={
            "shots": len(shots),
            "cuts_ms": dg.MetadataValue.json([shot.start_ms for shot in shots[1:]]),
            "duration_ms": shots[-1].end_ms if shots else 0,
        }
    )
