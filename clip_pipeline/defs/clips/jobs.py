"""Jobs over the clip assets. By default steps run in one process per run: a run is one clip, and its
steps are sequential anyway, so per-step processes would only add start-up time. With
CLIP_PIPELINE_EXECUTOR=celery each step runs on a Celery worker (see clip_pipeline.defs.executors)."""

import dagster as dg

from clip_pipeline.defs.clips.assets import ai_generations, clip_exports, final_assets
from clip_pipeline.defs.executors import clip_executor

clip_request_job = dg.define_asset_job(
    "clip_request_job",
    selection=[clip_exports, ai_generations],
    executor_def=clip_executor,
    description="Export a selected clip and submit its generation requests.",
)

clip_finalize_job = dg.define_asset_job(
    "clip_finalize_job",
    selection=[final_assets],
    executor_def=clip_executor,
    description="Fit finished generations to the clip's exact duration, register and apply them.",
)
