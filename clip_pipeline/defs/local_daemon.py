"""Drive the code location in one process, as the Dagster daemon would: tick the sensors, add the
partitions they ask for, execute the runs they request (in process, against a persistent instance so
the UI shows them afterwards) and hand failed runs to the run-failure sensor.

Used by `clip-pipeline demo`, the end-to-end tests and bench/pipeline.py.
"""

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType

from clip_pipeline.db.engine import dagster_url
from clip_pipeline.defs.clips.partitions import clip_partitions
from clip_pipeline.defs.clips.sensors import (
    clip_run_failure_sensor,
    provider_completion_sensor,
    selected_clips_sensor,
)

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


class LocalDaemon:
    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, log_level: str = "WARNING") -> None:
        self.defs = defs
        self.log_level = log_level
        self.instance = instance
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
        for request in result.run_requests or []:
            if request.run_key in self.run_keys:  # the daemon skips run keys it already launched
                continue
            self.run_keys.add(request.run_key)
            report.runs += 1
            if not self.execute(job, request.partition_key):
                report.failed_runs += 1
        return report

    def execute(self, job: dg.JobDefinition, partition_key: str) -> bool:
        result = job.execute_in_process(
            partition_key=partition_key,
            instance=self.instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": self.log_level}}}},
        )
        if not result.success:
            self._report_failure(result)
        return result.success

    def _report_failure(self, result: dg.ExecuteInProcessResult) -> None:
        failure = next(
            (e for e in result.all_events if e.event_type == DagsterEventType.PIPELINE_FAILURE), None
        )
        if failure is None:
            return
        context = dg.build_run_status_sensor_context(
            sensor_name=clip_run_failure_sensor.name,
            dagster_event=failure,
            dagster_instance=self.instance,
            dagster_run=result.dagster_run,
            resources={"database": self.defs.resources["database"]},
        ).for_run_failure()
        clip_run_failure_sensor(context)

    def cycle(self) -> tuple[TickReport, TickReport]:
        """One round: new requests, then provider completions."""
        return self.tick(selected_clips_sensor), self.tick(provider_completion_sensor)

    def partitions(self) -> list[str]:
        return list(self.instance.get_dynamic_partitions(clip_partitions.name))
