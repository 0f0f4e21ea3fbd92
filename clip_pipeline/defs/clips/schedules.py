"""Schedules: hourly temp cleanup and daily expiry cleanup (which also uploads cache-fallback files)."""

from datetime import timedelta

import dagster as dg

from clip_pipeline.defs.resources import DatabaseResource, SettingsResource
from clip_pipeline.services.cleanup import remove_stale_temp_files
from clip_pipeline.services.storage_maintenance import expire_exports, upload_pending_files
from clip_pipeline.storage import get_store


@dg.op(description="Remove temp files older than one hour (seed section 7.1).")
def remove_stale_temp_files_op(context: dg.OpExecutionContext, app_settings: SettingsResource) -> int:
    removed = remove_stale_temp_files(app_settings.get().temp_dir, timedelta(hours=1))
    context.log.info(f"removed {len(removed)} stale temp entries")
    return len(removed)


@dg.op(description="Delete expired exports from storage and mark them; upload cache-fallback files.")
def expire_and_upload_op(
    context: dg.OpExecutionContext, database: DatabaseResource, app_settings: SettingsResource
) -> dict:
    engine, settings = database.get_engine(), app_settings.get()
    exports = get_store(settings, settings.exports_bucket)
    expired = expire_exports(engine, exports)
    uploaded = upload_pending_files(engine, exports, get_store(settings, settings.results_bucket))
    context.log.info(f"expired {len(expired)} export(s); uploaded {uploaded} cached file(s)")
    return {"expired": len(expired), "uploaded": uploaded}


@dg.job(description="Hourly: remove stale temp files.")
def temp_cleanup_job():
    remove_stale_temp_files_op()


@dg.job(description="Daily: expire old exports, upload files left in the local cache.")
def expiry_cleanup_job():
    expire_and_upload_op()


temp_cleanup_schedule = dg.ScheduleDefinition(
    name="temp_cleanup_schedule",
    job=temp_cleanup_job, cron_schedule="0 * * * *", default_status=dg.DefaultScheduleStatus.RUNNING
)
expiry_cleanup_schedule = dg.ScheduleDefinition(
    name="expiry_cleanup_schedule",
    job=expiry_cleanup_job, cron_schedule="30 3 * * *", default_status=dg.DefaultScheduleStatus.RUNNING
)
