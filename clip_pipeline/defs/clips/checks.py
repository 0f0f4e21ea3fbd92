"""Exactness checks per clip partition: the export's and the final's durations equal the clip's within
1 ms with both streams present. Both are blocking: a failed export check keeps the clip away from the
providers, and a failed final check keeps the result off the timeline (auto-apply skips it)."""

import dagster as dg

from clip_pipeline.services.exports import ExportOutcome
from clip_pipeline.services.finalize import EXACTNESS_TOLERANCE_MS, FinalOutcome

EXPORT_CHECK = dg.AssetCheckSpec(
    "export_durations_exact",
    asset="clip_exports",
    blocking=True,
    description=f"Container, video and audio durations of every ready export equal the clip within {EXACTNESS_TOLERANCE_MS:g} ms.",
)
FINAL_CHECK = dg.AssetCheckSpec(
    "final_durations_exact",
    asset="final_assets",
    blocking=True,
    description=f"Every final video lasts the clip's duration within {EXACTNESS_TOLERANCE_MS:g} ms, with picture and sound.",
)


def export_check_result(ready: list[ExportOutcome], clip_id: str) -> dg.AssetCheckResult:
    errors = {str(o.export_id): o.exactness_error_ms for o in ready}
    failing = [k for k, v in errors.items() if v is None or v > EXACTNESS_TOLERANCE_MS]
    return dg.AssetCheckResult(
        check_name=EXPORT_CHECK.name,
        passed=bool(ready) and not failing,
        metadata={"clip_id": clip_id, "error_ms_by_export": dg.MetadataValue.json(errors), "failing": len(failing)},
    )


def final_check_result(outcomes: list[FinalOutcome], clip_id: str) -> dg.AssetCheckResult:
    completed = [o for o in outcomes if o.status == "completed"]
    errors = {str(o.generation_id): o.error_ms for o in completed}
    failing = [str(o.generation_id) for o in completed if not o.check_passed]
    return dg.AssetCheckResult(
        check_name=FINAL_CHECK.name,
        passed=not failing,
        metadata={"clip_id": clip_id, "error_ms_by_generation": dg.MetadataValue.json(errors), "failing": len(failing)},
    )
