"""Google Veo through the official google-genai SDK, in Vertex AI express mode (API key).

generate_videos -> an operation name (our task id); operations.get polls it; the finished video
arrives inline (bytes, saved under HOME/provider-results/veo/) or as a URI. Veo only generates
scenes (no video edit, no lip sync to given audio); veo-3 adds its own soundtrack, which the merge
always drops. The API has no external id, so find_task cannot reconcile: callers persist an intent.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from clip_pipeline.providers.base import (
    Capabilities,
    GenerationInput,
    PermanentProviderError,
    ProviderAuthError,
    RetryableProviderError,
    TaskState,
    call_with_retries,
    download_to,
    local_path,
)
from clip_pipeline.providers.planning import requested_seconds
from clip_pipeline.settings import Settings

DEFAULT_MODEL = "veo-3.0-generate-001"


def veo_capabilities(model: str = DEFAULT_MODEL) -> Capabilities:
    veo2 = model.startswith("veo-2")
    return Capabilities(
        task_types=["scene_generate"],
        durations_s=[5, 6, 7, 8] if veo2 else [4, 6, 8],
        min_input_ms=0,
        max_input_ms=8000,
        max_input_bytes=20 * 1024 * 1024,
        max_resolution="1280x720" if veo2 else "1920x1080",
        output_fps=24,
        output_has_audio=not veo2,  # dropped at merge either way
        typical_seconds=90,
        max_concurrency=4,
    )


class VeoProvider:
    name = "veo"

    def __init__(self, settings: Settings, *, model: str = DEFAULT_MODEL) -> None:
        if not settings.google_api_key:
            raise ProviderAuthError("veo: set CLIP_PIPELINE_GOOGLE_API_KEY (a Vertex AI express-mode key)")
        self.settings = settings
        self.model = model
        self.capabilities = veo_capabilities(model)
        self.results_dir = settings.home / "provider-results" / "veo"
        self._client = genai.Client(
            vertexai=True,
            api_key=settings.google_api_key.get_secret_value(),
            http_options=types.HttpOptions(base_url=settings.veo_base_url) if settings.veo_base_url else None,
        )

    def __repr__(self) -> str:
        return f"VeoProvider(model={self.model!r}, base_url={self.settings.veo_base_url!r})"

    def _call(self, what: str, call, *args, **kwargs):
        """CALL with backoff on retryable failures; SDK errors become our three kinds."""

        def once():
            try:
                return call(*args, **kwargs)
            except genai_errors.APIError as exc:
                raise _classify(what, exc) from None
            except httpx.HTTPError as exc:
                raise RetryableProviderError(f"veo: {what} failed: {type(exc).__name__}") from None

        return call_with_retries(self.settings, once)

    def submit(self, inp: GenerationInput) -> str:
        capabilities = veo_capabilities(inp.model) if inp.model.startswith("veo-") else self.capabilities
        model = inp.model if inp.model.startswith("veo-") else self.model
        seconds = int(inp.parameters.get("duration_s") or requested_seconds(capabilities, inp.task_type, inp.duration_ms))
        source = types.GenerateVideosSource(prompt=inp.prompt or None, image=_image(inp.image_url))
        config = types.GenerateVideosConfig(
            number_of_videos=1,
            duration_seconds=seconds,
            aspect_ratio=inp.parameters.get("aspect_ratio", "16:9"),
        )
        operation = self._call("generate_videos", self._client.models.generate_videos, model=model,
                               source=source, config=config)
        return operation.name

    def find_task(self, generation_id: str) -> str | None:
        return None  # Veo operations carry no caller id to look up

    def get(self, task_id: str) -> TaskState:
        operation = self._call("operations.get", self._client.operations.get,
                               types.GenerateVideosOperation(name=task_id))
        if not operation.done:
            return TaskState(task_id=task_id, status="running")
        if operation.error:
            return TaskState(task_id=task_id, status="failed", progress=100,
                             error=f"veo: {operation.error.get('message') or operation.error}")
        response = operation.response
        videos = (response.generated_videos or []) if response else []
        if not videos:
            reasons = "; ".join((response.rai_media_filtered_reasons or []) if response else []) or "no video returned"
            return TaskState(task_id=task_id, status="failed", progress=100,
                             error=f"veo: the result was withheld by the safety filter: {reasons}")
        return TaskState(task_id=task_id, status="succeeded", progress=100,
                         output_urls=[self._keep(task_id, index, item.video) for index, item in enumerate(videos)])

    def _keep(self, task_id: str, index: int, video: types.Video) -> str:
        """Inline bytes are saved once (results are not fetchable later); URIs pass through."""
        if video.video_bytes:
            path = self.results_dir / f"{hashlib.sha256(task_id.encode()).hexdigest()[:24]}-{index}.mp4"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".part")
                partial.write_bytes(video.video_bytes)
                partial.replace(path)
            return str(path)
        if video.uri:
            return video.uri
        raise PermanentProviderError("veo: the finished operation has a video without bytes or URI")

    def cancel(self, task_id: str) -> None:
        raise PermanentProviderError("veo: Vertex AI express mode has no way to cancel a video operation")

    def download(self, url: str, dest: Path) -> Path:
        if url.startswith("gs://"):
            raise PermanentProviderError(
                f"veo: the result is in Cloud Storage ({url}); download it with Google Cloud credentials"
            )
        return download_to(url, dest, provider=self.name, attempts=self.settings.provider_retry_attempts,
                           max_wait_s=self.settings.provider_retry_max_wait_s)


def _classify(what: str, exc: genai_errors.APIError) -> Exception:
    message = f"veo: {what}: {exc.message or exc.status} (HTTP {exc.code})"
    if exc.code in (401, 403) or "API key not valid" in (exc.message or ""):
        return ProviderAuthError(message + "; check CLIP_PIPELINE_GOOGLE_API_KEY")
    if exc.code == 429 or exc.code >= 500:
        return RetryableProviderError(message)
    return PermanentProviderError(message)


def _image(url: str | None) -> types.Image | None:
    if not url:
        return None
    path = local_path(url)
    if path is not None:
        data = path.read_bytes()
    else:
        try:
            response = httpx.get(url, follow_redirects=True, timeout=60)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            message = f"veo: could not fetch the start image {url.split('?')[0]}: {type(exc).__name__}"
            gone = isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code < 500
            raise (PermanentProviderError if gone else RetryableProviderError)(message) from None
        data = response.content
    mime = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
    return types.Image(image_bytes=data, mime_type=mime)
