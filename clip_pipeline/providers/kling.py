"""Kling over httpx: JWT (HS256) auth, text2video / image2video (scenes), omni-video edits
(background replacement) and lip-sync, with external_task_id = generation id for idempotency.

Task ids we hand out are "<family>/<kling task id>" because Kling queries tasks per endpoint family.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import httpx
import jwt

from clip_pipeline.providers.base import (
    Capabilities,
    GenerationInput,
    PermanentProviderError,
    ProviderAuthError,
    RetryableProviderError,
    TaskLimits,
    TaskState,
    call_with_retries,
    download_to,
    local_path,
)
from clip_pipeline.providers.planning import requested_seconds
from clip_pipeline.settings import Settings

FAMILIES = ("text2video", "image2video", "omni-video", "lip-sync")
TOKEN_LIFETIME_S = 1800
RESIGN_MARGIN_S = 300  # sign a new token this long before the old one expires
DEFAULT_SCENE_MODEL = "kling-v2-1-master"
OMNI_MODEL = "kling-video-o1"
DEFAULT_EDIT_PROMPT = "Replace the background behind the person; keep the person, their motion and voice."
STATUS = {"submitted": "queued", "processing": "running", "succeed": "succeeded", "failed": "failed"}
RETRYABLE_CODES = {1302, 1303}
AUTH_CODES = {1000, 1001, 1002, 1003, 1004, 1304}


def kling_capabilities() -> Capabilities:
    return Capabilities(
        task_types=["background_replace", "scene_generate", "lip_sync"],
        durations_s=[5, 10],
        min_input_ms=0,
        max_input_ms=10_000,
        max_input_bytes=100 * 1024 * 1024,
        max_resolution="1920x1080",
        output_fps=24,
        output_has_audio=False,  # scenes are silent; edits and lip sync keep the input's sound
        typical_seconds=180,
        max_concurrency=5,
        can_find_tasks=True,
        task_limits={
            "scene_generate": TaskLimits(durations_s=[5, 10], max_input_ms=10_000, continuity_from_last_frame=True),
            "background_replace": TaskLimits(durations_s=list(range(3, 11)), min_input_ms=3000,
                                             max_input_ms=10_000, output_follows_input=True),
            "lip_sync": TaskLimits(durations_s=list(range(2, 11)), min_input_ms=2000, max_input_ms=10_000,
                                   output_follows_input=True),
        },
    )


class KlingProvider:
    name = "kling"

    def __init__(self, settings: Settings, *, http: httpx.Client | None = None) -> None:
        if not (settings.kling_access_key and settings.kling_secret_key):
            raise ProviderAuthError(
                "kling: set CLIP_PIPELINE_KLING_ACCESS_KEY and CLIP_PIPELINE_KLING_SECRET_KEY"
            )
        self.settings = settings
        self.capabilities = kling_capabilities()
        self._access_key = settings.kling_access_key
        self._secret_key = settings.kling_secret_key
        self._token: str | None = None
        self._token_expires = 0.0
        self._http = http or httpx.Client(base_url=settings.kling_base_url.rstrip("/"), timeout=30.0)

    def __repr__(self) -> str:
        return f"KlingProvider(base_url={self.settings.kling_base_url!r})"

    # --- transport -----------------------------------------------------------------------------
    def _bearer(self) -> str:
        now = time.time()
        if self._token is None or now > self._token_expires - RESIGN_MARGIN_S:
            claims = {"iss": self._access_key.get_secret_value(), "exp": int(now) + TOKEN_LIFETIME_S,
                      "nbf": int(now) - 5}
            self._token = jwt.encode(claims, self._secret_key.get_secret_value(), algorithm="HS256",
                                     headers={"typ": "JWT"})
            self._token_expires = claims["exp"]
        return self._token

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One API call; returns `data` or raises the matching ProviderError (no retry here)."""
        try:
            response = self._http.request(method, path, json=body, headers={"Authorization": f"Bearer {self._bearer()}"})
        except httpx.HTTPError as exc:
            raise RetryableProviderError(f"kling: {method} {path} failed: {type(exc).__name__}") from None
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        code = payload.get("code", 0 if response.is_success else response.status_code)
        if response.is_success and code == 0:
            return payload.get("data") or {}
        message = f"kling: {payload.get('message') or response.reason_phrase} (HTTP {response.status_code}, code {code})"
        if code in AUTH_CODES or response.status_code == 401:
            raise ProviderAuthError(message + "; check the Kling access and secret keys")
        if code in RETRYABLE_CODES or response.status_code >= 500:
            raise RetryableProviderError(message)
        if code in (1202, 1203) or response.status_code == 404:
            raise TaskNotFound(message)
        raise PermanentProviderError(message)

    # --- Provider ------------------------------------------------------------------------------
    def submit(self, inp: GenerationInput) -> str:
        family, body = self._request_for(inp)

        def create_once() -> str:
            # looked up on every attempt: a lost answer to an earlier create must not pay twice
            existing = self._lookup(family, inp.generation_id)
            if existing:
                return existing
            data = self._call("POST", f"/v1/videos/{family}", body)
            return f"{family}/{data['task_id']}"

        return call_with_retries(self.settings, create_once)

    def _lookup(self, family: str, generation_id: str) -> str | None:
        try:
            data = self._call("GET", f"/v1/videos/{family}/{generation_id}")
        except TaskNotFound:
            return None
        return f"{family}/{data['task_id']}"

    def find_task(self, generation_id: str) -> str | None:
        for family in FAMILIES:
            found = call_with_retries(self.settings, self._lookup, family, generation_id)
            if found:
                return found
        return None

    def get(self, task_id: str) -> TaskState:
        family, _, kling_id = task_id.partition("/")
        if family not in FAMILIES or not kling_id:
            raise PermanentProviderError(f"kling: '{task_id}' is not a task id from this adapter")
        return state_from_data(family, call_with_retries(self.settings, self._call, "GET", f"/v1/videos/{family}/{kling_id}"))

    def cancel(self, task_id: str) -> None:
        raise PermanentProviderError("kling: the API has no cancel endpoint; the task will run to completion")

    def download(self, url: str, dest: Path) -> Path:
        return download_to(url, dest, provider=self.name, attempts=self.settings.provider_retry_attempts,
                           max_wait_s=self.settings.provider_retry_max_wait_s)

    # --- requests ------------------------------------------------------------------------------
    def _request_for(self, inp: GenerationInput) -> tuple[str, dict]:
        seconds = int(inp.parameters.get("duration_s") or requested_seconds(self.capabilities, inp.task_type, inp.duration_ms))
        if inp.task_type == "scene_generate":
            family = "image2video" if inp.image_url else "text2video"
            body = {
                "model_name": inp.model if inp.model.startswith("kling-v") else DEFAULT_SCENE_MODEL,
                "prompt": inp.prompt or "",
                "duration": str(seconds),
                "mode": inp.parameters.get("mode", "std"),
                "aspect_ratio": inp.parameters.get("aspect_ratio", "16:9"),
            }
            if inp.image_url:
                body["image"] = _image_field(inp.image_url)
        elif inp.task_type == "background_replace":
            family = "omni-video"
            body = {
                "model_name": OMNI_MODEL,
                "prompt": inp.prompt or DEFAULT_EDIT_PROMPT,
                "video_list": [{"video_url": _remote_url(inp.video_url, "video"), "refer_type": "base",
                                "keep_original_sound": "yes"}],
            }
        else:
            family = "lip-sync"
            body = {"input": {"video_url": _remote_url(inp.video_url, "video"), "mode": "audio2video",
                              "audio_type": "url", "audio_url": _remote_url(inp.audio_url, "audio")}}
        body["external_task_id"] = inp.generation_id
        if inp.callback_url:  # the services layer builds it when CLIP_PIPELINE_CALLBACK_BASE_URL is set
            body["callback_url"] = inp.callback_url
        return family, body


class TaskNotFound(PermanentProviderError):
    """Kling has no task under that id (or external id)."""


def state_from_data(family: str, data: dict) -> TaskState:
    """Our TaskState from Kling's `data` (a query answer or a callback body's `data`)."""
    status = STATUS.get(data.get("task_status", ""), "running")
    videos = (data.get("task_result") or {}).get("videos") or []
    reported = videos[0].get("duration") if videos else None
    return TaskState(
        task_id=f"{family}/{data['task_id']}",
        status=status,
        progress=100 if status in ("succeeded", "failed") else (50 if status == "running" else 0),
        output_urls=[video["url"] for video in videos],
        duration_ms=round(float(reported) * 1000) if reported else None,
        credits=round(float(data.get("final_unit_deduction") or 0)) if status == "succeeded" else 0,
        error=(f"kling: {data.get('task_status_msg') or 'generation failed'}" if status == "failed" else None),
    )


def state_from_callback(payload: dict, task_id: str) -> TaskState:
    """A Kling callback POST (the query envelope) as our TaskState, for the task id we saved."""
    family = task_id.partition("/")[0]
    if family not in FAMILIES:
        raise PermanentProviderError(f"kling: '{task_id}' is not a task id from this adapter")
    return state_from_data(family, payload.get("data") or payload)


def _remote_url(url: str | None, what: str) -> str:
    if not url:
        raise PermanentProviderError(f"kling: this task needs a {what} URL")
    if local_path(url) is not None:
        raise PermanentProviderError(
            f"kling: the {what} must be an http(s) URL Kling can fetch, not a local path; upload it first"
        )
    return url


def _image_field(url: str) -> str:
    """Kling takes an image URL, or the file's raw base64 for a local image."""
    path = local_path(url)
    return url if path is None else base64.b64encode(path.read_bytes()).decode()
