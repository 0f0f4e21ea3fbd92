"""A dagster-celery worker for the clip jobs: the Celery app the celery executor submits steps to,
built from the same settings, on the same Dagster instance (dagster-postgres)."""

from celery import Celery
from dagster._core.execution.retries import RetryMode
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from clip_pipeline.db.engine import database_url
from clip_pipeline.defs.executors import celery_config
from clip_pipeline.defs.local_daemon import dagster_instance
from clip_pipeline.settings import Settings

QUEUE = "dagster"  # dagster-celery's default queue; steps can be routed elsewhere by tag


def celery_app(settings: Settings) -> Celery:
    """dagster-celery's app with its execute_plan task, configured like the executor."""
    app = make_app(CeleryExecutor(retries=RetryMode.ENABLED, **celery_config(settings)).app_args())
    create_task(app)
    return app


def start_worker(settings: Settings, name: str, concurrency: int, loglevel: str = "INFO") -> None:
    """Run a worker in this process until it is stopped. Steps reach the instance through the run's
    instance ref, whose Postgres URL is read here from CLIP_PIPELINE_DAGSTER_PG_URL."""
    app = celery_app(settings)  # refuses the local-disk store before anything starts
    dagster_instance(settings.home, database_url(settings))
    app.worker_main([
        "worker", f"--loglevel={loglevel}", f"--hostname={name}@%h", f"--concurrency={concurrency}",
        "--prefetch-multiplier=1", f"--queues={QUEUE}", "--without-gossip", "--without-mingle",
    ])
