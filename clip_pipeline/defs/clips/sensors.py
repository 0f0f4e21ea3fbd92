"""Sensors: new requests -> partitions and runs; provider progress -> finalize runs; failed runs ->
rows marked failed, so nothing stays in flight forever."""

import time
from datetime import timedelta

import dagster as dg

from clip_pipeline.defs.clips.jobs import clip_finalize_job, clip_request_job
from clip_pipeline.defs.clips.partitions import clip_partitions
from clip_pipeline.defs.resources import DatabaseResource, SettingsResource
from clip_pipeline.errors import ClipPipelineError
from clip_pipeline.providers import get_provider
from clip_pipeline.services import generations as generation_service
from clip_pipeline.services import scheduling

# Rows read per tick and kind; 10,000 pending requests take ten quick ticks.
REQUEST_BATCH = 1_000
# Polls per provider per tick, within their documented rate limits (Veo: 10 requests/min).
POLLS_PER_TICK = {"kling": 20, "veo": 5, "runway": 20, "local": 100}


def _retry_bucket(retry_delay_s: float) -> int:
    """Retry run keys change once per retry delay, so a stalled clip is re-requested at most that often."""
    return int(time.time() // max(retry_delay_s, 1.0))


def _capacities(engine, settings) -> dict[str, int]:
    """Concurrency limit of each provider that has generations waiting."""
    capacities = {}
    for name in scheduling.pending_providers(engine):
        try:
            capacities[name] = get_provider(name, settings).capabilities.max_concurrency
        except ClipPipelineError:  # not configured: its generations fail at submission instead
            capacities[name] = 1
    return capacities


@dg.sensor(
    job=clip_request_job,
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a partition per newly selected clip and requests its export/submit run.",
)
def selected_clips_sensor(
    context: dg.SensorEvaluationContext, database: DatabaseResource, app_settings: SettingsResource
):
    engine, settings = database.get_engine(), app_settings.get()
    cursor = scheduling.RequestCursor.parse(context.cursor)
    found = scheduling.new_requests(engine, cursor, REQUEST_BATCH)
    stale_after = timedelta(seconds=settings.retry_delay_s)
    retries = [
        c for c in scheduling.clips_needing_retry(engine, REQUEST_BATCH, stale_after) if c not in found.clip_ids
    ]
    submits = [
        c
        for c in scheduling.clips_with_free_provider_slots(engine, _capacities(engine, settings))
        if c not in found.clip_ids and c not in retries
    ]
    wanted = found.clip_ids + retries + submits
    if not wanted and found.cursor == cursor:
        return dg.SkipReason("no new clip requests")
    existing = set(context.instance.get_dynamic_partitions(clip_partitions.name))
    new_keys = [key for key in wanted if key not in existing]
    marker = found.cursor.serialize()
    run_requests = [dg.RunRequest(partition_key=key, run_key=f"request:{key}:{marker}") for key in found.clip_ids]
    bucket = _retry_bucket(settings.retry_delay_s)
    run_requests += [dg.RunRequest(partition_key=key, run_key=f"retry:{key}:{bucket}") for key in retries]
    # a generation that waited for a provider slot: at most one submit run per clip every 5 s
    slot_bucket = int(time.time() // 5)
    run_requests += [dg.RunRequest(partition_key=key, run_key=f"submit:{key}:{slot_bucket}") for key in submits]
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[clip_partitions.build_add_request(new_keys)] if new_keys else [],
        cursor=found.cursor.serialize(),
    )


@dg.sensor(
    job=clip_finalize_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Polls providers for processing generations (within rate limits), stores progress, "
    "and requests a finalize run for each clip with finished generations.",
)
def provider_completion_sensor(
    context: dg.SensorEvaluationContext, database: DatabaseResource, app_settings: SettingsResource
):
    engine, settings = database.get_engine(), app_settings.get()
    polled = generation_service.follow_provider_tasks(
        engine,
        lambda name: get_provider(name, settings),
        POLLS_PER_TICK,
        timedelta(seconds=settings.provider_poll_interval_s),
    )
    ready = scheduling.clips_ready_to_finalize(engine, REQUEST_BATCH)
    if not ready:
        return dg.SkipReason(f"polled {len(polled)} task(s); none finished")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(partition_key=clip_id, run_key=f"final:{clip_id}:{','.join(sorted(ids))}")
            for clip_id, ids in ready.items()
        ]
    )


@dg.run_failure_sensor(
    monitored_jobs=[clip_request_job, clip_finalize_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks the rows a failed run left in flight as failed, with the run's error.",
)
def clip_run_failure_sensor(
    context: dg.RunFailureSensorContext, database: DatabaseResource, app_settings: SettingsResource
):
    run = context.dagster_run
    clip_id = run.tags.get("dagster/partition")
    if not clip_id:
        return
    stage = "finalize" if run.job_name == clip_finalize_job.name else "export"
    step_errors = [
        event.event_specific_data.error.message.strip()
        for event in context.get_step_failure_events()
        if event.event_specific_data and event.event_specific_data.error
    ]
    reason = step_errors[0] if step_errors else context.failure_event.message or "no message"
    message = f"run {run.run_id[:8]} failed: {reason}"
    count = scheduling.mark_failed_run(
        database.get_engine(), clip_id, stage, message, app_settings.get().max_attempts, run.run_id
    )
    context.log.info(f"marked {count} {stage} row(s) of clip {clip_id} failed")
