"""Kling API simulator: JWT auth, the create/query envelope, task statuses, callbacks, error codes.

Duration habits: text2video/image2video "5" -> 121 frames at 24 fps (5.04 s), reported as "5.1";
omni-video edits (refer_type base) and lip-sync follow the input video's length, plus one frame.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import httpx
import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from clip_pipeline.errors import ConfigurationError
from clip_pipeline.providers.local_render import RenderSpec
from clip_pipeline.settings import Settings
from clip_pipeline.simulators.core import Faults, SimTask, SimulatorCore, input_seconds

FAMILIES = ("text2video", "image2video", "omni-video", "lip-sync")
FPS = 24
STATUS = {"queued": "submitted", "running": "processing", "succeeded": "succeed", "failed": "failed",
          "canceled": "failed"}
BLOCKED_WORD = "forbidden"  # prompts containing it fail the content-safety check (code 1301)


def envelope(code: int, message: str, data=None, status: int = 200) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "request_id": f"sim-{time.time_ns()}", "data": data},
                        status_code=status)


class KlingSimulator:
    def __init__(self, settings: Settings, work_dir: Path, *, faults: Faults | None = None, size: str = "640x360",
                 min_task_s: float = 0.3) -> None:
        if not (settings.kling_access_key and settings.kling_secret_key):
            raise ConfigurationError(
                "the Kling simulator needs CLIP_PIPELINE_KLING_ACCESS_KEY and CLIP_PIPELINE_KLING_SECRET_KEY"
            )
        self._access_key = settings.kling_access_key.get_secret_value()
        self._secret_key = settings.kling_secret_key.get_secret_value()
        self.core = SimulatorCore("kling", work_dir, faults=faults, size=size, min_task_s=min_task_s)
        self.core.on_change = self._send_callback
        self.callbacks_sent: list[dict] = []
        self.app = self._build_app()

    # --- auth ----------------------------------------------------------------------------------
    def _auth_error(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return envelope(1001, "Authorization is empty", status=401)
        try:
            claims = jwt.decode(header[7:], self._secret_key, algorithms=["HS256"],
                                options={"require": ["iss", "exp", "nbf"]})
        except jwt.ExpiredSignatureError:
            return envelope(1004, "Authorization token has expired", status=401)
        except jwt.ImmatureSignatureError:
            return envelope(1003, "Authorization is not yet valid", status=401)
        except jwt.InvalidTokenError:
            return envelope(1002, "Authorization is invalid", status=401)
        if claims["iss"] != self._access_key:
            return envelope(1002, "Authorization is invalid", status=401)
        return None

    def _fault(self) -> JSONResponse | None:
        faults = self.core.faults
        if faults.take("next_429", faults.rate_429):
            return envelope(1302, "API request too fast, please slow down the request frequency", status=429)
        if faults.take("next_5xx", faults.rate_5xx):
            return envelope(5000, "Server internal error", status=500)
        return None

    # --- task data -----------------------------------------------------------------------------
    def task_data(self, base_url: str, task: SimTask) -> dict:
        data = {
            "task_id": task.id,
            "task_status": STATUS[task.status],
            "task_status_msg": task.error or "",
            "task_info": {"external_task_id": task.extra.get("external_task_id")},
            "created_at": int(task.created_at * 1000),
            "updated_at": int(time.time() * 1000),
        }
        if task.status == "succeeded":
            reported = math.ceil(task.output_seconds * 10) / 10  # 121 frames = 5.04 s -> "5.1"
            data["task_result"] = {"videos": [{"id": f"v-{task.id}", "url": self.core.file_url(base_url, task),
                                               "duration": f"{reported:.1f}"}]}
            data["final_unit_deduction"] = str(max(1, round(task.output_seconds / 5)))
        return data

    def _send_callback(self, task: SimTask) -> None:
        url = task.extra.get("callback_url")
        if not url or task.status not in ("running", "succeeded", "failed"):
            return
        # the same envelope as a query answer
        payload = {"code": 0, "message": "SUCCEED", "request_id": f"sim-{time.time_ns()}",
                   "data": self.task_data(task.extra["base_url"], task)}

        def post() -> None:
            try:
                httpx.post(url, json=payload, timeout=10)
                self.callbacks_sent.append(payload)
            except httpx.HTTPError:
                pass  # the real service retries on its own schedule; the client must also poll

        threading.Thread(target=post, daemon=True).start()

    # --- validation and planning ---------------------------------------------------------------
    def _validate(self, family: str, body: dict) -> tuple[str, dict] | JSONResponse:
        """Inputs to fetch and the render task type, or a 400 envelope."""
        prompt = body.get("prompt") or ""
        if BLOCKED_WORD in prompt.lower():
            return envelope(1301, "Failure to pass the risk control system", status=400)
        if family in ("text2video", "image2video"):
            if str(body.get("duration", "5")) not in ("5", "10"):
                return envelope(1201, "duration must be 5 or 10", status=400)
            if family == "image2video" and not body.get("image"):
                return envelope(1201, "image is required", status=400)
            inputs = {"image": _kling_image(body["image"])} if family == "image2video" else {}
            return "scene_generate", inputs
        if family == "omni-video":
            videos = body.get("video_list") or []
            if not videos or not videos[0].get("video_url"):
                return envelope(1201, "video_list[0].video_url is required", status=400)
            return "background_replace", {"video": videos[0]["video_url"]}
        payload = body.get("input") or {}
        if not payload.get("video_url") and not payload.get("video_id"):
            return envelope(1201, "input.video_url or input.video_id is required", status=400)
        if payload.get("mode") != "audio2video" or not payload.get("audio_url"):
            return envelope(1201, "input.mode audio2video needs input.audio_url", status=400)
        return "lip_sync", {"video": payload["video_url"], "audio": payload["audio_url"]}

    def _planner(self, family: str, task_type: str):
        def plan(task: SimTask, fetched: dict[str, Path]) -> tuple[RenderSpec, str]:
            if family in ("text2video", "image2video"):
                seconds = int(task.body.get("duration", "5"))
                spec = RenderSpec.for_seconds(seconds, size=self.core.size, fps=FPS, extra_frames=1,
                                              with_audio=task.body.get("sound") == "on")
                return spec, task_type
            length = input_seconds(fetched["video"])
            low, high = (3, 10) if family == "omni-video" else (2, 10)
            if not low <= length <= high + 0.05:
                raise ValueError(f"input video must be {low}-{high} s long, got {length:.2f} s")
            keep_sound = family == "lip-sync" or task.body["video_list"][0].get("keep_original_sound") == "yes"
            spec = RenderSpec.for_seconds(length, size=self.core.size, fps=FPS, extra_frames=1, with_audio=keep_sound)
            return spec, task_type

        return plan

    # --- app -----------------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Kling API simulator")
        self.core.install_common_routes(app)

        @app.post("/v1/videos/{family}")
        async def create(family: str, request: Request):
            if (error := self._auth_error(request)) is not None:
                return error
            if family not in FAMILIES:
                return envelope(1202, f"unknown endpoint {family}", status=404)
            if (error := self._fault()) is not None:
                return error
            body = await request.json()
            self.core.create_requests += 1
            checked = self._validate(family, body)
            if isinstance(checked, JSONResponse):
                return checked
            task_type, inputs = checked
            external = body.get("external_task_id")
            if external and self._find(family, external) is not None:
                return envelope(1201, "external_task_id already exists", status=400)
            task = self.core.add_task(family, body, inputs, self._planner(family, task_type),
                                      external_task_id=external, callback_url=body.get("callback_url"),
                                      base_url=str(request.base_url))
            if self.core.faults.take("next_lost_create", 0):
                return envelope(5000, "Server internal error", status=500)
            return envelope(0, "SUCCEED", self.task_data(str(request.base_url), task))

        @app.get("/v1/videos/{family}/{task_id}")
        def query(family: str, task_id: str, request: Request):
            if (error := self._auth_error(request)) is not None:
                return error
            if (error := self._fault()) is not None:
                return error
            task = self._find(family, task_id)
            if task is None:
                return envelope(1203, "task not found", status=404)
            return envelope(0, "SUCCEED", self.task_data(str(request.base_url), task))

        return app

    def _find(self, family: str, key: str) -> SimTask | None:
        for task in list(self.core.tasks.values()):
            if task.kind == family and key in (task.id, task.extra.get("external_task_id")):
                return task
        return None


def _kling_image(value: str) -> str:
    """Kling takes an image URL or raw base64 (no data: prefix)."""
    return value if value.startswith(("http://", "https://")) else f"data:image/png;base64,{value}"
