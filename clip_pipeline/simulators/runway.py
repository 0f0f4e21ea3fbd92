"""Runway API simulator: bearer auth with X-Runway-Version, the task endpoints the runwayml SDK
calls, PENDING/THROTTLED/RUNNING/SUCCEEDED/FAILED/CANCELLED with progress, cost and failureCode.

gen4.5 takes an integer duration 2-10 s and returns exactly that many seconds at 24 fps, silent;
aleph2 video_to_video follows the input video (up to 30 s; gen4_aleph: its first 5 s); gwm1_avatars speaks the given audio.
Tasks beyond the concurrency limit are accepted as THROTTLED, as the real tiers do.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from clip_pipeline.errors import ConfigurationError
from clip_pipeline.providers.local_render import RenderSpec
from clip_pipeline.settings import Settings
from clip_pipeline.simulators.core import Faults, SimTask, SimulatorCore, input_seconds

FPS = 24
API_VERSION = "2024-11-06"
BLOCKED_WORD = "forbidden"
GEN4_RATIOS = {"1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672"}
CREDITS_PER_SECOND = 12
STATUS = {"queued": "PENDING", "running": "RUNNING", "succeeded": "SUCCEEDED", "failed": "FAILED",
          "canceled": "CANCELLED"}


def runway_error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def validation_error(field: str, message: str) -> JSONResponse:
    return runway_error(400, "Validation of body failed", issues=[{"path": [field], "message": message}])


class RunwaySimulator:
    def __init__(self, settings: Settings, work_dir: Path, *, faults: Faults | None = None, size: str = "640x360",
                 min_task_s: float = 0.3, concurrency: int = 2) -> None:
        if not settings.runway_api_secret:
            raise ConfigurationError("the Runway simulator needs CLIP_PIPELINE_RUNWAY_API_SECRET")
        self._secret = settings.runway_api_secret.get_secret_value()
        self.core = SimulatorCore("runway", work_dir, faults=faults, size=size, min_task_s=min_task_s,
                                  concurrency=concurrency)
        self.app = self._build_app()

    def _auth_error(self, request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {self._secret}":
            return runway_error(401, "Incorrect API key provided")
        if request.headers.get("x-runway-version") != API_VERSION:
            return runway_error(400, f"The X-Runway-Version header must be set to {API_VERSION}")
        return None

    def _fault(self) -> JSONResponse | None:
        faults = self.core.faults
        if faults.take("next_429", faults.rate_429):
            return runway_error(429, "You have exceeded the rate limit; please slow down")
        if faults.take("next_5xx", faults.rate_5xx):
            return runway_error(502, "Bad gateway")
        return None

    # --- planning per endpoint -----------------------------------------------------------------
    def _check(self, endpoint: str, body: dict):
        """(inputs, planner) for a valid request, else a 400 response."""
        model = body.get("model")
        if endpoint in ("text_to_video", "image_to_video"):
            if model not in ("gen4.5", "gen4_turbo"):
                return validation_error("model", "the simulator serves gen4.5 and gen4_turbo")
            if model == "gen4_turbo" and endpoint != "image_to_video":
                return validation_error("model", "gen4_turbo is an image_to_video model.")
            duration = body.get("duration")
            if not isinstance(duration, int) or not 2 <= duration <= 10:
                return validation_error("duration", "Must be an integer from 2 to 10.")
            if body.get("ratio") not in GEN4_RATIOS:
                return validation_error("ratio", f"Must be one of {', '.join(sorted(GEN4_RATIOS))}.")
            if not body.get("promptText"):
                return validation_error("promptText", "Required.")
            inputs = {}
            if endpoint == "image_to_video":
                image = body.get("promptImage")
                inputs["image"] = image if isinstance(image, str) else image[0]["uri"]
            return inputs, self._planner(lambda fetched: duration, "scene_generate", audio=False)
        if endpoint == "video_to_video":
            if model not in ("aleph2", "gen4_aleph") or not body.get("videoUri"):
                return validation_error("videoUri", "aleph2 and gen4_aleph need videoUri.")
            first_seconds = 5 if model == "gen4_aleph" else 30  # gen4_aleph uses only the first 5 s

            return {"video": body["videoUri"]}, self._planner(
                lambda fetched: min(input_seconds(fetched["video"]), first_seconds), "background_replace",
                audio=False, limit=None if model == "gen4_aleph" else 30)
        speech = body.get("speech") or {}
        if model != "gwm1_avatars" or speech.get("type") != "audio" or not speech.get("audio"):
            return validation_error("speech", "gwm1_avatars needs speech.type audio with speech.audio.")
        return {"audio": speech["audio"]}, self._planner(
            lambda fetched: input_seconds(fetched["audio"]), "lip_sync", audio=True, limit=30)

    def _planner(self, seconds_of, task_type: str, *, audio: bool, limit: float | None = None):
        def plan(task: SimTask, fetched: dict[str, Path]):
            if BLOCKED_WORD in (task.body.get("promptText") or "").lower():
                task.error_code = "SAFETY.INPUT.TEXT"
                raise ValueError("Your prompt did not pass our content moderation.")
            seconds = seconds_of(fetched)
            if limit is not None and seconds > limit + 0.05:
                task.error_code = "INPUT_PREPROCESSING.INVALID"
                raise ValueError(f"The input is {seconds:.2f} s long; the maximum is {limit:g} s.")
            return RenderSpec.for_seconds(seconds, size=self.core.size, fps=FPS, with_audio=audio), task_type

        return plan

    def task_json(self, request: Request, task: SimTask) -> dict:
        created = datetime.fromtimestamp(task.created_at, tz=timezone.utc).isoformat().replace("+00:00", "Z")
        status = STATUS[task.status]
        if status == "PENDING" and self.core.running_count() >= self.core.concurrency:
            status = "THROTTLED"
        data: dict = {"id": task.id, "createdAt": created, "status": status}
        if status in ("PENDING", "THROTTLED", "RUNNING"):
            data["estimatedCost"] = {"credits": 0}
        if status == "RUNNING":
            data["progress"] = round(task.progress, 2)
        elif status == "SUCCEEDED":
            data["output"] = [self.core.file_url(str(request.base_url), task)]
            data["cost"] = {"credits": round(task.output_seconds * CREDITS_PER_SECOND)}
        elif status == "FAILED":
            data.update(failure=task.error, failureCode=task.error_code or "INTERNAL.BAD_OUTPUT.CODE01",
                        cost={"credits": 0})
        elif status == "CANCELLED":
            data["cost"] = {"credits": 0}
        return data

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Runway API simulator")
        self.core.install_common_routes(app)

        @app.post("/v1/{endpoint}")
        async def create(endpoint: str, request: Request):
            if (error := self._auth_error(request)) is not None:
                return error
            if endpoint not in ("text_to_video", "image_to_video", "video_to_video", "avatar_videos"):
                return runway_error(404, f"Not found: /v1/{endpoint}")
            if (error := self._fault()) is not None:
                return error
            body = await request.json()
            checked = self._check(endpoint, body)
            if isinstance(checked, JSONResponse):
                return checked
            inputs, plan = checked
            self.core.create_requests += 1
            task = self.core.add_task(endpoint, body, inputs, plan, task_id=str(uuid.uuid4()))
            if self.core.faults.take("next_lost_create", 0):
                return runway_error(502, "Bad gateway")
            return JSONResponse({"id": task.id})

        @app.get("/v1/tasks/{task_id}")
        def retrieve(task_id: str, request: Request):
            if (error := self._auth_error(request)) is not None:
                return error
            if (error := self._fault()) is not None:
                return error
            task = self.core.tasks.get(task_id)
            if task is None:
                return runway_error(404, "Task not found")
            return JSONResponse(self.task_json(request, task))

        @app.delete("/v1/tasks/{task_id}")
        def delete(task_id: str, request: Request):
            if (error := self._auth_error(request)) is not None:
                return error
            task = self.core.tasks.get(task_id)
            if task is None:
                return runway_error(404, "Task not found")
            self.core.cancel(task)
            return Response(status_code=204)

        return app
