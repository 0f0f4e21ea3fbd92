"""One task model for every AI video provider (modelled on fal's queue and Replicate's predictions).

submit -> task id; get -> status (queued/running/succeeded/failed/canceled) with progress, output
URLs, the duration the provider reports and the credits used; cancel where the API has it;
download at once (some output URLs expire within a day).

Errors come in three kinds: RetryableProviderError (rate limits, concurrency, 5xx, network: the
adapter backs off with jitter and the caller may simply try again later), PermanentProviderError
(bad parameters, content policy, input too long: carries the provider's message, no credits) and
ProviderAuthError. None of them ever carries a key.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

import httpx
from pydantic import BaseModel, Field
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from clip_pipeline.errors import ClipPipelineError

TaskType = Literal["background_replace", "scene_generate", "lip_sync"]
TaskStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
TASK_TYPES: tuple[TaskType, ...] = ("background_replace", "scene_generate", "lip_sync")


class ProviderError(ClipPipelineError):
    """A provider call failed; the message names the provider and what to do."""


class RetryableProviderError(ProviderError):
    """Rate limit, concurrency limit, 5xx or network trouble: try again later."""


class PermanentProviderError(ProviderError):
    """The provider refused the request (parameters, content policy, input limits); no credits."""


class ProviderAuthError(ProviderError):
    """The provider rejected our credentials (or none are configured)."""

    exit_code = 2


class GenerationInput(BaseModel):
    """What the pipeline hands a provider for one generation."""

    generation_id: str
    task_type: TaskType
    model: str
    prompt: str | None = None
    parameters: dict = {}
    video_url: str | None = None
    audio_url: str | None = None
    image_url: str | None = None
    duration_ms: int
    callback_url: str | None = None


class TaskLimits(BaseModel):
    """Input and duration limits of one task type (providers differ per endpoint)."""

    durations_s: list[int]
    min_input_ms: int = 0
    max_input_ms: int
    # True where the output lasts as long as the input video (video edit, lip sync of a video)
    output_follows_input: bool = False
    # True where a piece can start from the previous piece's last frame (image-to-video)
    continuity_from_last_frame: bool = False


class Capabilities(BaseModel):
    task_types: list[TaskType]
    durations_s: list[int] = Field(description="accepted whole-second duration options")
    min_input_ms: int
    max_input_ms: int
    max_input_bytes: int
    max_resolution: str
    output_fps: int
    output_has_audio: bool
    typical_seconds: int = Field(description="documented typical generation time")
    max_concurrency: int
    can_find_tasks: bool = Field(
        default=False, description="find_task can look a task up by generation id (crash reconciliation)"
    )
    task_limits: dict[str, TaskLimits] = Field(
        default_factory=dict, description="per task type, where it differs from the fields above"
    )

    def limits_for(self, task_type: TaskType) -> TaskLimits:
        if task_type not in self.task_types:
            supported = ", ".join(self.task_types)
            raise PermanentProviderError(
                f"this provider does not support task type {task_type}; it supports {supported}"
            )
        return self.task_limits.get(task_type) or TaskLimits(
            durations_s=self.durations_s, min_input_ms=self.min_input_ms, max_input_ms=self.max_input_ms
        )


class TaskState(BaseModel):
    task_id: str
    status: TaskStatus
    progress: int = Field(default=0, ge=0, le=100)
    output_urls: list[str] = []
    duration_ms: int | None = None  # what the provider reports (roughly what was asked for)
    credits: int = 0
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed", "canceled")


@runtime_checkable
class Provider(Protocol):
    name: str
    capabilities: Capabilities

    def submit(self, inp: GenerationInput) -> str: ...

    def find_task(self, generation_id: str) -> str | None: ...

    def get(self, task_id: str) -> TaskState: ...

    def cancel(self, task_id: str) -> None: ...

    def download(self, url: str, dest: Path) -> Path: ...


def retrying(attempts: int, max_wait_s: float) -> Retrying:
    """Back off with full jitter on RetryableProviderError; after the last attempt re-raise it."""
    return Retrying(
        retry=retry_if_exception_type(RetryableProviderError),
        wait=wait_random_exponential(multiplier=max(max_wait_s / 8, 0.001), max=max_wait_s),
        stop=stop_after_attempt(max(attempts, 1)),
        reraise=True,
    )


def call_with_retries(settings, call, *args, **kwargs):
    """CALL(*ARGS, **KWARGS), retried per the provider retry settings on RetryableProviderError."""
    for attempt in retrying(settings.provider_retry_attempts, settings.provider_retry_max_wait_s):
        with attempt:
            return call(*args, **kwargs)


def local_path(url: str) -> Path | None:
    """The file a URL names when it is a local path or file:// URL; None for http(s)."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return Path(url)


def download_to(
    url: str, dest: Path, *, provider: str, attempts: int = 4, max_wait_s: float = 8.0, headers: dict | None = None
) -> Path:
    """Fetch URL into DEST at once, retrying truncated or failed transfers; local paths are copied.

    A transfer counts as truncated when fewer bytes arrive than Content-Length announced; the
    partial file never replaces DEST.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = local_path(url)
    if source is not None:
        if not source.is_file():
            raise PermanentProviderError(f"{provider}: result file {source} does not exist")
        shutil.copyfile(source, dest)
        return dest
    partial = dest.with_name(dest.name + ".part")
    try:
        for attempt in retrying(attempts, max_wait_s):
            with attempt:
                _fetch_once(url, partial, provider=provider, headers=headers or {})
    except RetryError as exc:  # pragma: no cover - reraise=True makes this unreachable
        raise exc.last_attempt.exception() from None
    partial.replace(dest)
    return dest


def _fetch_once(url: str, partial: Path, *, provider: str, headers: dict) -> None:
    shown = urlsplit(url)._replace(query="").geturl()  # signed query strings stay out of errors
    try:
        with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=60.0) as response:
            if response.status_code == 429 or response.status_code >= 500:
                raise RetryableProviderError(f"{provider}: downloading {shown} answered HTTP {response.status_code}")
            if response.status_code >= 400:
                raise PermanentProviderError(
                    f"{provider}: downloading {shown} answered HTTP {response.status_code} "
                    "(the result URL may have expired; fetch the task again for a fresh one)"
                )
            expected = response.headers.get("content-length")
            received = 0
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    received += len(chunk)
    except httpx.HTTPError as exc:
        raise RetryableProviderError(f"{provider}: downloading {shown} failed: {type(exc).__name__}") from None
    if expected is not None and received != int(expected):
        raise RetryableProviderError(
            f"{provider}: download of {shown} was truncated ({received} of {expected} bytes)"
        )
