"""Drive the code location in one process, as the Dagster daemon would: tick the sensors, add the
partitions they ask for, execute the runs they request (in process, against a persistent instance so
the UI shows them afterwards) and hand failed runs to the run-failure sensor.

Given a reconstructable repository, runs execute through their job's own executor instead (the
celery executor sends their steps to `clip-pipeline worker` processes), several runs at a time, each
in a process of a pool (Dagster's run execution is not thread-safe: it reconfigures logging).

Used by `clip-pipeline demo`, the end-to-end tests and bench/pipeline.py.
"""

import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psutil
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.events import DagsterEventType

from clip_pipeline.db.engine import dagster_url
from clip_pipeline.defs.clips.partitions import clip_partitions
from clip_pipeline.defs.clips.sensors import (
    clip_run_failure_sensor,
    provider_completion_sensor,
    selected_clips_sensor,
)

WORKER_PID_TAG = "clip_pipeline/worker_pid"
REPO_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"


def dagster_instance(home: Path, database_url: str) -> dg.DagsterInstance:
    """A persistent instance (dagster-postgres) whose DAGSTER_HOME is HOME/dagster."""
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_DAGSTER_YAML, dagster_home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os.environ["CLIP_PIPELINE_DAGSTER_PG_URL"] = dagster_url(database_url)
    return dg.DagsterInstance.get()


@dataclass
class TickReport:
    runs: int = 0
    failed_runs: int = 0
    partitions_added: int = 0
    skipped: list[str] = field(default_factory=list)


def code_location() -> ReconstructableRepository:
    """The project's code location as a pointer other processes (Celery workers) can load."""
    return ReconstructableRepository.for_module("clip_pipeline.definitions", "defs")


def _execute_reconstructable(
    recon_repository: ReconstructableRepository, job_name: str, run_config: dict, tags: dict
) -> str | None:
    """In a pool process: execute one run on the instance of DAGSTER_HOME; the run id if it failed."""
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            recon_repository.get_reconstructable_job(job_name),
            instance=instance, run_config=run_config, tags={**tags, WORKER_PID_TAG: str(os.getpid())},
            raise_on_error=False,
        )
        return None if result.success else result.run_id


class LocalDaemon:
    def __init__(
        self,
        defs: dg.Definitions,
        instance: dg.DagsterInstance,
        log_level: str = "WARNING",
        recon_repository: ReconstructableRepository | None = None,
        concurrent_runs: int = 1,
    ) -> None:
        self.defs = defs
        self.recon_repository = recon_repository
        self.run_pool = (
            ProcessPoolExecutor(concurrent_runs, mp_context=multiprocessing.get_context("spawn"))
            if recon_repository is not None else None
        )
        self.log_level = log_level
        self.instance = instance
        if self.run_pool is not None:  # concurrent runs would race to create the pools' default limits
            for pool in ("ffmpeg", "provider_api"):
                instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
        self.cursors: dict[str, str | None] = {}
        self.run_keys: set[str] = set()

    def _evaluate(self, sensor: dg.SensorDefinition):
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(sensor.name),
            resources=self.defs.resources,
            sensor_name=sensor.name,
        )
        return sensor(context), context

    def tick(self, sensor: dg.SensorDefinition) -> TickReport:
        """Evaluate one sensor and carry out what it asks for."""
        report = TickReport()
        result, context = self._evaluate(sensor)
        if isinstance(result, dg.SkipReason):
            report.skipped.append(result.skip_message or sensor.name)
            self.cursors[sensor.name] = context.cursor
            return report
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            report.partitions_added += len(request.partition_keys)
        self.cursors[sensor.name] = result.cursor if result.cursor is not None else context.cursor
        job = self.defs.resolve_job_def(sensor.job_name)
        keys = []
        for request in result.run_requests or []:
            if request.run_key in self.run_keys:  # the daemon skips run keys it already launched
                continue
            self.run_keys.add(request.run_key)
            keys.append(request.partition_key)
        successes = self.execute_many(job, keys)
        report.runs = len(keys)
        report.failed_runs = successes.count(False)
        return report

    def _run_config(self) -> dict:
        return {"loggers": {"console": {"config": {"log_level": self.log_level}}}}

    def execute(self, job: dg.JobDefinition, partition_key: str) -> bool:
        result = job.execute_in_process(
            partition_key=partition_key,
            instance=self.instance,
            raise_on_error=False,
            run_config=self._run_config(),
            tags={WORKER_PID_TAG: str(os.getpid())},
        )
        if not result.success:
            self._report_failure(result)
        return result.success

    def execute_many(self, job: dg.JobDefinition, partition_keys: list[str]) -> list[bool]:
        """One run per partition: in this process, or through the job's executor in the run pool."""
        if self.run_pool is None:
            return [self.execute(job, key) for key in partition_keys]
        futures = [
            self.run_pool.submit(
                _execute_reconstructable, self.recon_repository, job.name, self._run_config(),
                {"dagster/partition": key},
            )
            for key in partition_keys
        ]
        failed_runs = [future.result() for future in futures]
        for run_id in filter(None, failed_runs):
            run = self.instance.get_run_by_id(run_id)
            failure = next(iter(self.instance.all_logs(run_id, of_type=DagsterEventType.PIPELINE_FAILURE)), None)
            if failure is not None and failure.dagster_event is not None:
                self._run_failure_sensor(failure.dagster_event, run)
        return [run_id is None for run_id in failed_runs]

    def close(self) -> None:
        if self.run_pool is not None:
            self.run_pool.shutdown(cancel_futures=True)

    def _report_failure(self, result: dg.ExecuteInProcessResult) -> None:
        failure = next(
            (e for e in result.all_events if e.event_type == DagsterEventType.PIPELINE_FAILURE), None
        )
        if failure is not None:
            self._run_failure_sensor(failure, result.dagster_run)

    def _run_failure_sensor(self, failure, run) -> None:
        context = dg.build_run_status_sensor_context(
            sensor_name=clip_run_failure_sensor.name,
            dagster_event=failure,
            dagster_instance=self.instance,
            dagster_run=run,
            resources={key: self.defs.resources[key] for key in ("database", "app_settings")},
        ).for_run_failure()
        clip_run_failure_sensor(context)

    def reap_dead_runs(self) -> int:
        """What Dagster's run monitoring does for the daemon: runs still STARTED whose worker process
        is gone are marked failed, their pool slots freed, and handed to the failure sensor."""
        reaped = 0
        for run in self.instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
            pid = run.tags.get(WORKER_PID_TAG)
            if pid is None or psutil.pid_exists(int(pid)):
                continue
            failure = self.instance.report_run_failed(run, f"the worker process {pid} of this run died")
            self.instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            self._run_failure_sensor(failure, self.instance.get_run_by_id(run.run_id))
            reaped += 1
        return reaped

    def cycle(self) -> tuple[TickReport, TickReport]:
        """One round: dead runs reaped, then new requests, then provider completions."""
        self.reap_dead_runs()
        return self.tick(selected_clips_sensor), self.tick(provider_completion_sensor)

    def partitions(self) -> list[str]:
        return list(self.instance.get_dynamic_partitions(clip_partitions.name))
