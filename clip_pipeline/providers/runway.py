"""Runway through the official runwayml SDK: gen4.5 text/image to video for scenes, aleph2
video_to_video for background replacement, gwm1_avatars (a preset avatar speaking the clip's
audio) for lip sync. THROTTLED counts as queued. Output URLs expire within 24-48 h: download at once.
The API has no external id, so find_task cannot reconcile: callers persist an intent.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path

import runwayml

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

# models per task type, the first being the default when a request names another provider's model
MODELS = {
    "scene_generate": ("gen4.5", "gen4_turbo"),  # gen4_turbo needs a start image
    "background_replace": ("aleph2", "gen4_aleph"),  # gen4_aleph uses only the first 5 s of the input
    "lip_sync": ("gwm1_avatars",),
}
DEFAULT_AVATAR = "influencer"
DEFAULT_EDIT_PROMPT = "Replace the background behind the person; keep the person and their motion."
STATUS = {"PENDING": "queued", "THROTTLED": "queued", "RUNNING": "running", "SUCCEEDED": "succeeded",
          "FAILED": "failed", "CANCELLED": "canceled"}
DATA_URI_LIMITS = {"video": 16 * 1024 * 1024, "image": 5 * 1024 * 1024, "audio": 5 * 1024 * 1024}


def runway_capabilities() -> Capabilities:
    return Capabilities(
        task_types=["background_replace", "scene_generate", "lip_sync"],
        durations_s=list(range(2, 11)),
        min_input_ms=0,
        max_input_ms=10_000,
        max_input_bytes=16 * 1024 * 1024,
        max_resolution="1584x672",
        output_fps=24,
        output_has_audio=False,  # gen4.5 and aleph2 are silent; avatars speak the given audio
        typical_seconds=60,
        max_concurrency=2,
        task_limits={
            "scene_generate": TaskLimits(durations_s=list(range(2, 11)), max_input_ms=10_000,
                                         continuity_from_last_frame=True),
            "background_replace": TaskLimits(durations_s=list(range(1, 31)), min_input_ms=1000,
                                             max_input_ms=30_000, output_follows_input=True),
            "lip_sync": TaskLimits(durations_s=list(range(1, 31)), min_input_ms=1000, max_input_ms=30_000,
                                   output_follows_input=True),
        },
    )


class RunwayProvider:
    name = "runway"

    def __init__(self, settings: Settings) -> None:
        if not settings.runway_api_secret:
            raise ProviderAuthError("runway: set CLIP_PIPELINE_RUNWAY_API_SECRET")
        self.settings = settings
        self.capabilities = runway_capabilities()
        # the SDK's own retries are off: ours back off with jitter and classify errors
        self._client = runwayml.RunwayML(api_key=settings.runway_api_secret.get_secret_value(),
                                         base_url=settings.runway_base_url, max_retries=0)

    def __repr__(self) -> str:
        return f"RunwayProvider(base_url={self.settings.runway_base_url!r})"

    def _call(self, what: str, call, *args, **kwargs):
        """CALL with backoff on retryable failures; SDK errors become our three kinds."""

        def once():
            try:
                return call(*args, **kwargs)
            except runwayml.APIStatusError as exc:
                raise _classify(what, exc) from None
            except runwayml.APIConnectionError as exc:
                raise RetryableProviderError(f"runway: {what} failed: {type(exc).__name__}") from None

        return call_with_retries(self.settings, once)

    def submit(self, inp: GenerationInput) -> str:
        self.capabilities.limits_for(inp.task_type)
        model = _model_for(inp)
        if inp.task_type == "scene_generate":
            seconds = int(inp.parameters.get("duration_s")
                          or requested_seconds(self.capabilities, inp.task_type, inp.duration_ms))
            common = {"model": model, "prompt_text": inp.prompt or "a cinematic scene",
                      "ratio": inp.parameters.get("ratio", "1280:720"), "duration": seconds}
            if inp.image_url:
                task = self._call("image_to_video", self._client.image_to_video.create,
                                  prompt_image=_uri(inp.image_url, "image"), **common)
            elif model == "gen4_turbo":
                raise PermanentProviderError("runway: gen4_turbo makes video from an image: pass an image_url")
            else:
                task = self._call("text_to_video", self._client.text_to_video.create, **common)
        elif inp.task_type == "background_replace":
            limit_ms = 5000 if model == "gen4_aleph" else None
            if limit_ms and inp.duration_ms > limit_ms:
                raise PermanentProviderError(
                    f"runway: gen4_aleph uses only the first {limit_ms} ms of a video; "
                    f"this one is {inp.duration_ms} ms: use aleph2 or split the clip"
                )
            requested_seconds(self.capabilities, inp.task_type, inp.duration_ms)  # refuse too long inputs here
            task = self._call("video_to_video", self._client.video_to_video.create, model=model,
                              video_uri=_uri(inp.video_url, "video"), prompt_text=inp.prompt or DEFAULT_EDIT_PROMPT)
        else:
            requested_seconds(self.capabilities, inp.task_type, inp.duration_ms)
            avatar = {"type": "runway-preset", "preset_id": inp.parameters.get("avatar_preset", DEFAULT_AVATAR)}
            task = self._call("avatar_videos", self._client.avatar_videos.create, model=model,
                              avatar=avatar, speech={"type": "audio", "audio": _uri(inp.audio_url, "audio")})
        return task.id

    def find_task(self, generation_id: str) -> str | None:
        return None  # Runway tasks carry no caller id and cannot be listed

    def get(self, task_id: str) -> TaskState:
        task = self._call("tasks.retrieve", self._client.tasks.retrieve, task_id)
        status = STATUS[task.status]
        progress = {"queued": 0, "running": round(100 * (getattr(task, "progress", 0) or 0))}.get(status, 100)
        cost = getattr(task, "cost", None)
        error = None
        if status == "failed":
            error = f"runway: {task.failure} ({task.failure_code or 'no failure code'})"
        return TaskState(task_id=task_id, status=status, progress=min(progress, 100),
                         output_urls=list(getattr(task, "output", None) or []),
                         credits=cost.credits if cost is not None and status == "succeeded" else 0, error=error)

    def cancel(self, task_id: str) -> None:
        self._call("tasks.delete", self._client.tasks.delete, task_id)

    def download(self, url: str, dest: Path) -> Path:
        return download_to(url, dest, provider=self.name, attempts=self.settings.provider_retry_attempts,
                           max_wait_s=self.settings.provider_retry_max_wait_s)


def _model_for(inp: GenerationInput) -> str:
    """The requested Runway model when it serves the task type, else the task's default model."""
    models = MODELS[inp.task_type]
    if inp.model in models:
        return inp.model
    if inp.model in {m for names in MODELS.values() for m in names}:
        raise PermanentProviderError(
            f"runway: {inp.model} does not do {inp.task_type}; use one of {', '.join(models)}"
        )
    return models[0]


def _classify(what: str, exc: runwayml.APIStatusError) -> Exception:
    body = exc.body if isinstance(exc.body, dict) else {}
    detail = body.get("error") or exc.message
    issues = "; ".join(f"{'.'.join(map(str, i.get('path', [])))}: {i.get('message')}" for i in body.get("issues", []))
    message = f"runway: {what}: {detail}{' (' + issues + ')' if issues else ''} (HTTP {exc.status_code})"
    if exc.status_code in (401, 403):
        return ProviderAuthError(message + "; check CLIP_PIPELINE_RUNWAY_API_SECRET")
    if exc.status_code == 429 or exc.status_code >= 500:
        return RetryableProviderError(message)
    return PermanentProviderError(message)


def _uri(url: str | None, kind: str) -> str:
    """An http(s) URL as is; a local file as a data: URI within Runway's size limits."""
    if not url:
        raise PermanentProviderError(f"runway: this task needs a {kind} URL")
    path = local_path(url)
    if path is None:
        return url
    data = path.read_bytes()
    if len(data) > DATA_URI_LIMITS[kind]:
        raise PermanentProviderError(
            f"runway: {path.name} is {len(data)} bytes; a {kind} sent inline may be at most "
            f"{DATA_URI_LIMITS[kind]} bytes: upload it and pass its URL"
        )
    mime = mimetypes.guess_type(path.name)[0] or f"{kind}/mp4"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
