"""The three clip-partitioned assets. Each one hands its partition (a clip id) to a service and turns
the outcomes into metadata and asset-check results; the work itself lives in clip_pipeline.services."""

import os
import socket
from dataclasses import asdict

import dagster as dg

from clip_pipeline.defs.clips.checks import (
    EXPORT_CHECK,
    FINAL_CHECK,
    export_check_result,
    final_check_result,
)
from clip_pipeline.defs.clips.partitions import clip_partitions
from clip_pipeline.defs.resources import DatabaseResource, SettingsResource
from clip_pipeline.providers import get_provider
from clip_pipeline.services import exports as export_service
from clip_pipeline.services import finalize as finalize_service
from clip_pipeline.services import generations as generation_service
from clip_pipeline.services.pipeline import apply_if_requested, fail_generations_of_failed_exports

TRANSIENT_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.FULL)


def _worker() -> str:
    """Which host and process ran the step (steps of one run may run on different Celery workers)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _table(rows: list[dict]) -> dg.MetadataValue:
    return dg.MetadataValue.json([{k: (str(v) if v is not None else None) for k, v in r.items()} for r in rows])


@dg.asset(
    partitions_def=clip_partitions,
    pool="ffmpeg",
    group_name="clips",
    kinds={"ffmpeg", "postgres"},
    check_specs=[EXPORT_CHECK],
    retry_policy=TRANSIENT_RETRY,
    description="The clip cut to the millisecond, plus its own audio track, uploaded with a URL.",
)
def clip_exports(context: dg.AssetExecutionContext, database: DatabaseResource, app_settings: SettingsResource):
    engine, settings = database.get_engine(), app_settings.get()
    clip_id = context.partition_key
    outcomes = []
    for row in export_service.exports_to_run(engine, clip_id):
        try:
            outcomes.append(export_service.run_export(engine, row["id"], settings, owner=context.run.run_id))
        except Exception as exc:  # recorded on the row by the service; reported here, others go on
            context.log.error(f"export {row['id']} of clip {clip_id} failed: {exc}")
    ready = export_service.ready_exports(engine, clip_id)
    failed = fail_generations_of_failed_exports(engine, clip_id)
    if not ready:
        busy = export_service.export_in_progress(engine, clip_id)
        reason = "is in progress in another run" if busy else "failed"
        raise dg.Failure(
            description=f"the export of clip {clip_id} {reason}",
            metadata={"failed_generations": len(failed)},
        )
    latest = ready[-1] if ready else None
    return dg.MaterializeResult(
        metadata={
            "worker": _worker(),
            "exports": _table([asdict(o) for o in outcomes]),
            "url": dg.MetadataValue.url(latest.url) if latest and latest.url else None,
            "duration_ms": latest.duration_ms if latest else None,
            "exactness_error_ms": latest.exactness_error_ms if latest else None,
            "file_size": latest.file_size if latest else None,
            "bytes_fetched": sum(o.bytes_fetched or 0 for o in outcomes),
            "elapsed_ms": sum(o.elapsed_ms or 0 for o in outcomes),
            "reused": sum(1 for o in outcomes if o.reused),
        },
        check_results=[export_check_result(ready, clip_id)],
    )


@dg.asset(
    partitions_def=clip_partitions,
    deps=[clip_exports],
    pool="provider_api",
    group_name="clips",
    kinds={"postgres"},
    retry_policy=TRANSIENT_RETRY,
    description="The clip's generation requests, submitted to their providers (idempotently). "
    "Does not wait for the provider: the completion sensor follows the tasks.",
)
def ai_generations(context: dg.AssetExecutionContext, database: DatabaseResource, app_settings: SettingsResource):
    engine, settings = database.get_engine(), app_settings.get()
    outcomes = generation_service.submit_pending_generations(
        engine,
        context.partition_key,
        lambda name: get_provider(name, settings),
        settings.callback_base_url,
    )
    return dg.MaterializeResult(
        metadata={
            "worker": _worker(),
            "submitted": sum(1 for o in outcomes if o.status == "processing"),
            "waiting": sum(1 for o in outcomes if o.status == "pending"),
            "failed": sum(1 for o in outcomes if o.status == "failed"),
            "generations": _table([asdict(o) for o in outcomes]),
        }
    )


@dg.asset(
    partitions_def=clip_partitions,
    deps=[ai_generations],
    pool="ffmpeg",
    group_name="clips",
    kinds={"ffmpeg", "postgres"},
    check_specs=[FINAL_CHECK],
    retry_policy=TRANSIENT_RETRY,
    description="For each finished generation: the AI picture fitted to the clip's exact duration with "
    "the clip's own audio, uploaded and registered as a new asset; applied when auto_apply is set and "
    "the exactness check passed.",
)
def final_assets(context: dg.AssetExecutionContext, database: DatabaseResource, app_settings: SettingsResource):
    engine, settings = database.get_engine(), app_settings.get()
    outcomes = [
        outcome
        for row in finalize_service.generations_to_finalize(engine, context.partition_key)
        if (
            outcome := finalize_service.finalize_generation(
                engine, row, get_provider(row["provider"], settings), settings, owner=context.run.run_id
            )
        )
    ]
    applied = [apply_if_requested(engine, outcome) for outcome in outcomes]
    return dg.MaterializeResult(
        metadata={
            "worker": _worker(),
            "finals": _table([asdict(o) for o in outcomes]),
            "completed": sum(1 for o in outcomes if o.status == "completed"),
            "failed": sum(1 for o in outcomes if o.status == "failed"),
            "applied": sum(1 for a in applied if a),
            "max_error_ms": max((o.error_ms for o in outcomes if o.error_ms is not None), default=None),
        },
        check_results=[final_check_result(outcomes, context.partition_key)],
    )
