"""Veo simulator: the Vertex AI express-mode REST surface google-genai (3.x) uses for Veo.

POST /v1beta1/[projects/P/locations/L/]publishers/google/models/{model}:predictLongRunning
POST /v1beta1/[...]publishers/google/models/{model}:fetchPredictOperation  {operationName}
Auth: the x-goog-api-key header must hold CLIP_PIPELINE_GOOGLE_API_KEY. Results come back inline
(bytesBase64Encoded), exactly durationSeconds x 24 frames, with sound on veo-3 (unless
generateAudio is false). A prompt with the blocked word finishes with no videos (safety filter).
"""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from clip_pipeline.errors import ConfigurationError
from clip_pipeline.providers.local_render import RenderSpec
from clip_pipeline.settings import Settings
from clip_pipeline.simulators.core import Faults, SimTask, SimulatorCore

FPS = 24
BLOCKED_WORD = "forbidden"
_PATH = re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?publishers/google/models/([^/:]+):(\w+)$")


def allowed_durations(model: str) -> list[int]:
    return [5, 6, 7, 8] if model.startswith("veo-2") else [4, 6, 8]


def google_error(code: int, status: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "status": status}}, status_code=code)


class VeoSimulator:
    def __init__(self, settings: Settings, work_dir: Path, *, faults: Faults | None = None, size: str = "640x360",
                 min_task_s: float = 0.3) -> None:
        if not settings.google_api_key:
            raise ConfigurationError("the Veo simulator needs CLIP_PIPELINE_GOOGLE_API_KEY")
        self._api_key = settings.google_api_key.get_secret_value()
        self.core = SimulatorCore("veo", work_dir, faults=faults, size=size, min_task_s=min_task_s)
        self.app = self._build_app()

    def _auth_error(self, request: Request) -> JSONResponse | None:
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not key:
            return google_error(401, "UNAUTHENTICATED", "Request is missing required authentication credential.")
        if key != self._api_key:
            return google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
        return None

    def _fault(self) -> JSONResponse | None:
        faults = self.core.faults
        if faults.take("next_429", faults.rate_429):
            return google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
        if faults.take("next_5xx", faults.rate_5xx):
            return google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
        return None

    def _create(self, model: str, body: dict) -> JSONResponse:
        instances = body.get("instances") or [{}]
        instance, parameters = instances[0], body.get("parameters") or {}
        seconds = int(parameters.get("durationSeconds", 8))
        if seconds not in allowed_durations(model):
            options = ", ".join(map(str, allowed_durations(model)))
            return google_error(400, "INVALID_ARGUMENT", f"durationSeconds must be one of {options} for {model}.")
        if not instance.get("prompt") and not instance.get("image"):
            return google_error(400, "INVALID_ARGUMENT", "A prompt or an image is required.")
        inputs = {}
        if instance.get("image", {}).get("bytesBase64Encoded"):
            inputs["image"] = base64.b64decode(instance["image"]["bytesBase64Encoded"])
        with_audio = model.startswith("veo-3") and parameters.get("generateAudio", True)
        spec = RenderSpec.for_seconds(seconds, size=self.core.size, fps=FPS, with_audio=bool(with_audio))

        def plan(task: SimTask, fetched):
            return spec, "scene_generate"

        operation = f"publishers/google/models/{model}/operations/{uuid.uuid4()}"
        self.core.add_task(model, {"prompt": instance.get("prompt"), **parameters}, inputs, plan, task_id=operation)
        self.core.create_requests += 1
        return JSONResponse({"name": operation})

    def _operation(self, name: str) -> JSONResponse:
        task = self.core.tasks.get(name)
        if task is None:
            return google_error(404, "NOT_FOUND", f"Operation {name} not found.")
        if task.status in ("queued", "running"):
            return JSONResponse({"name": name})
        if task.status == "failed":
            return JSONResponse({"name": name, "done": True, "error": {"code": 13, "message": task.error}})
        response = {"@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"}
        if BLOCKED_WORD in (task.body.get("prompt") or "").lower():
            response.update(raiMediaFilteredCount=1, raiMediaFilteredReasons=[
                "The prompt could not be submitted: it may violate our policies (simulated safety filter)."])
        else:
            response["videos"] = [{"bytesBase64Encoded": base64.b64encode(task.output.read_bytes()).decode(),
                                   "mimeType": "video/mp4"}]
        return JSONResponse({"name": name, "done": True, "response": response})

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Veo (Vertex AI express) simulator")
        self.core.install_common_routes(app)

        @app.post("/v1beta1/{rest:path}")
        async def vertex(rest: str, request: Request):
            if (error := self._auth_error(request)) is not None:
                return error
            match = _PATH.match(rest)
            if match is None:
                return google_error(404, "NOT_FOUND", f"Method not found: {rest}")
            if (error := self._fault()) is not None:
                return error
            model, action = match.groups()
            body = await request.json()
            if action == "predictLongRunning":
                return self._create(model, body)
            if action == "fetchPredictOperation":
                return self._operation(body.get("operationName", ""))
            return google_error(404, "NOT_FOUND", f"Method not found: {action}")

        return app
