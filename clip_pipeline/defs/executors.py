"""Which executor the clip jobs run their steps on (CLIP_PIPELINE_EXECUTOR).

in_process: the run's own process (one machine). celery: dagster-celery, each step a Celery task on
any worker listening to the broker (`clip-pipeline worker`). Steps hand over only through the
database and the object store, so the celery executor refuses the local-disk store: another host
cannot read it.
"""

import dagster as dg
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.in_process import InProcessExecutor
from dagster_celery.executor import CeleryExecutor

from clip_pipeline.errors import ConfigurationError
from clip_pipeline.settings import Settings, get_settings

# A step's message is acknowledged only after the step finished, and requeued when the worker
# running it is lost, so RabbitMQ redelivers the step of a killed worker to another one.
# One message prefetched per process keeps queued steps available to idle workers.
CELERY_APP_CONFIG = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
}


def celery_config(settings: Settings) -> dict:
    """The celery executor's config; workers build their Celery app from the same dict."""
    if settings.storage_backend == "local":
        raise ConfigurationError(
            "the celery executor needs a shared object store: set CLIP_PIPELINE_STORAGE_BACKEND=s3 "
            "or supabase (the local-disk store cannot be shared between hosts)"
        )
    return {
        "broker": settings.celery_broker_url,
        "backend": settings.celery_backend_url,
        "include": [],
        "config_source": CELERY_APP_CONFIG,
    }


@dg.executor(name="clip_executor")
def clip_executor(_init_context) -> dg.Executor:
    """in_process or celery, chosen from the settings of the process that starts the run (read when
    the run starts, not at import, so one code location serves both). Runs launched with
    execute_in_process always run in process."""
    settings = get_settings()
    if settings.executor == "celery":
        return CeleryExecutor(retries=RetryMode.ENABLED, **celery_config(settings))
    return InProcessExecutor(retries=RetryMode.ENABLED)
