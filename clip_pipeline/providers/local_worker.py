"""The local provider's worker: `python -m clip_pipeline.providers.local_worker TASK_DIR`.

Reads request.json, fetches the inputs (http(s) URLs or local paths), renders the result with
local_render and keeps state.json current (running with progress, then succeeded or failed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from clip_pipeline.providers.base import TaskState, download_to
from clip_pipeline.providers.local import write_json_atomic
from clip_pipeline.media.probe import probe
from clip_pipeline.providers.local_render import RenderSpec, render_task


def run(task_dir: Path) -> None:
    request = json.loads((task_dir / "request.json").read_text())
    task_id = request["task_id"]

    def report(**fields) -> None:
        if not (task_dir / "cancel").exists():
            write_json_atomic(task_dir / "state.json", TaskState(task_id=task_id, **fields).model_dump())

    report(status="running", progress=5)
    try:
        inputs = {}
        for kind in ("video", "audio", "image"):
            url = request.get(f"{kind}_url")
            if url:
                inputs[kind] = download_to(url, task_dir / "inputs" / f"{kind}{Path(url.split('?')[0]).suffix}",
                                           provider="local")
        report(status="running", progress=30)
        spec = RenderSpec.for_seconds(request["duration_s"], size=request["size"], fps=request["fps"])
        out = render_task(request["task_type"], task_dir / "output.mp4", spec, prompt=request.get("prompt"), **inputs)
        report(status="succeeded", progress=100, output_urls=[str(out)],
               duration_ms=round(probe(str(out)).duration_ms), credits=request["duration_s"])
    except Exception as exc:  # the worker's only job is to record what went wrong
        report(status="failed", progress=100, error=f"local generation failed: {exc}")


if __name__ == "__main__":
    run(Path(sys.argv[1]))
