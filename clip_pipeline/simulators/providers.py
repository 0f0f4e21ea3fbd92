"""Start the Kling, Veo and Runway simulators on loopback (demo, tests, `clip-pipeline simulate`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clip_pipeline.settings import Settings
from clip_pipeline.simulators.core import Faults, RunningServer
from clip_pipeline.simulators.kling import KlingSimulator
from clip_pipeline.simulators.runway import RunwaySimulator
from clip_pipeline.simulators.veo import VeoSimulator

SIMULATORS = {"kling": KlingSimulator, "veo": VeoSimulator, "runway": RunwaySimulator}


def build_simulator(name: str, settings: Settings, *, work_dir: Path | None = None, faults: Faults | None = None,
                    size: str | None = None, min_task_s: float = 0.3):
    """The simulator NAME, checking auth against SETTINGS' key for that provider."""
    return SIMULATORS[name](settings, work_dir or settings.home / "simulators" / name,
                            faults=faults or Faults.from_env(), size=size or settings.local_provider_size,
                            min_task_s=min_task_s)


@contextmanager
def start_provider_simulators(settings: Settings, ports: dict[str, int]) -> Iterator[dict[str, RunningServer]]:
    """Run the simulators named in PORTS ({"kling": 8101, ...}; 0 = any free port) until the block ends."""
    running: dict[str, RunningServer] = {}
    simulators = []
    try:
        for name, port in ports.items():
            simulator = build_simulator(name, settings)
            simulators.append(simulator)
            running[name] = RunningServer(simulator.app, port=port)
        yield running
    finally:
        for server in running.values():
            server.stop()
        for simulator in simulators:
            simulator.core.shutdown()
