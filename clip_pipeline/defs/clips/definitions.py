"""The clip processing code: assets, jobs, sensors and schedules."""

import dagster as dg

from clip_pipeline.defs.clips.assets import ai_generations, clip_exports, final_assets
from clip_pipeline.defs.clips.jobs import clip_finalize_job, clip_request_job
from clip_pipeline.defs.clips.schedules import (
    expiry_cleanup_job,
    expiry_cleanup_schedule,
    temp_cleanup_job,
    temp_cleanup_schedule,
)
from clip_pipeline.defs.clips.sensors import (
    clip_run_failure_sensor,
    provider_completion_sensor,
    selected_clips_sensor,
)

defs = dg.Definitions(
    assets=[clip_exports, ai_generations, final_assets],
    jobs=[clip_request_job, clip_finalize_job, temp_cleanup_job, expiry_cleanup_job],
    sensors=[selected_clips_sensor, provider_completion_sensor, clip_run_failure_sensor],
    schedules=[temp_cleanup_schedule, expiry_cleanup_schedule],
)
