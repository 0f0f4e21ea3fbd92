"""The code location loads the way `make ui` (dagster dev) loads it, with everything wired."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_the_workspace_validates_as_dagster_loads_it(tmp_path):
    (tmp_path / "dagster.yaml").write_text("")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=180,
        env={"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_the_code_location_has_the_pipeline_pieces():
    from clip_pipeline.definitions import defs

    repository = defs.get_repository_def()
    assets = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert {"clip_exports", "ai_generations", "final_assets", "generation_metrics", "shot_segments"} <= assets
    assert {s.name for s in repository.sensor_defs} >= {
        "selected_clips_sensor", "provider_completion_sensor", "clip_run_failure_sensor"
    }
    assert {s.name for s in repository.schedule_defs} >= {"temp_cleanup_schedule", "expiry_cleanup_schedule"}
    checks = {key.name for key in repository.asset_graph.asset_check_keys}
    assert {"export_durations_exact", "final_durations_exact"} <= checks
