"""Request and response bodies of the HTTP API (the shapes of the seed's section 4)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from clip_pipeline.services.requests import ExportFormat, ProviderName, Quality, Resolution, TaskType
from clip_pipeline.services.timeline import ApplyMode


def storable(value: Any) -> Any:
    """Reject what PostgreSQL text/jsonb cannot hold (NUL characters, lone surrogates, NaN/inf),
    anywhere inside VALUE, as a validation error instead of a database failure."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            storable(item)
    elif isinstance(value, list):
        for item in value:
            storable(item)
    return value


Text = Annotated[str, AfterValidator(storable)]
JsonObject = Annotated[dict[str, Any], AfterValidator(storable)]


class Body(BaseModel):
    """A request body: unknown fields and values of the wrong JSON type are refused, not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ExportRequest(Body):
    format: ExportFormat = "mp4"
    resolution: Resolution = "1080p"
    quality: Quality = "medium"
    with_audio: bool = True


class ExportOut(BaseModel):
    export_id: uuid.UUID
    status: Literal["pending", "processing", "ready", "error", "expired"]
    url: str | None = Field(description="public URL of the exported MP4, once ready")
    duration: float | None = Field(description="exact duration in seconds, once ready")
    file_size: int | None
    expires_at: datetime | None
    error_message: str | None = None


class EnhanceRequest(Body):
    provider: ProviderName
    task_type: TaskType
    model: Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    prompt: Annotated[Text, Field(max_length=2500)] | None = None
    parameters: JsonObject = Field(default_factory=dict)
    auto_apply: bool = False


class EnhanceOut(BaseModel):
    generation_id: uuid.UUID
    task_id: str | None
    status: Literal["pending", "processing", "merging", "completed", "failed"]
    estimated_time: float = Field(description="expected seconds until the result is ready")


class GenerationResult(BaseModel):
    url: str | None
    duration: float | None
    applied: bool
    applied_clip_id: uuid.UUID | None


class GenerationOut(BaseModel):
    id: uuid.UUID
    status: Literal["pending", "processing", "merging", "completed", "failed"]
    progress: int
    task_id: str | None
    error_message: str | None
    result: GenerationResult | None = Field(description="present once the generation has completed")


class ApplyRequest(Body):
    mode: ApplyMode = "replace"
    # JSON has no UUID type: a string in UUID form (FastAPI validates parsed JSON, where strict
    # mode would want a uuid.UUID object)
    target_clip_id: Annotated[uuid.UUID, Field(strict=False)] | None = None


class AppliedOut(BaseModel):
    clip_id: uuid.UUID
    track_id: uuid.UUID
    start_time: int
    end_time: int


class KlingVideo(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    id: Text | None = None
    url: Text | None = None
    duration: Text | float | None = None


class KlingTaskResult(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    videos: list[KlingVideo] = Field(default_factory=list)


class KlingTaskData(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    task_id: Annotated[Text, Field(min_length=1, max_length=200)]
    task_status: Literal["submitted", "processing", "succeed", "failed"]
    task_status_msg: Text | None = None
    task_result: KlingTaskResult | None = None


class KlingCallback(BaseModel):
    """Kling's task envelope, as its callback_url receives it (fields beyond these are kept)."""

    model_config = ConfigDict(extra="allow", strict=True)
    code: int = 0
    message: Text | None = None
    request_id: Text | None = None
    data: KlingTaskData

    @model_validator(mode="before")
    @classmethod
    def _storable_extras(cls, value: Any) -> Any:
        # Kling sends more fields than are modelled; all of it is stored as jsonb.
        return storable(value)


class CallbackOut(BaseModel):
    received: bool = Field(description="false when a late, non-final state was ignored")


class ShotOut(BaseModel):
    start_ms: int
    end_ms: int
    score: float | None


class ShotsOut(BaseModel):
    asset_id: uuid.UUID
    shots: list[ShotOut]


class ClipOut(BaseModel):
    clip_id: uuid.UUID
    track_id: uuid.UUID
    start_time: int
    end_time: int
    source_start: int
    source_end: int


class SplitOut(BaseModel):
    clips: list[ClipOut]


class ErrorOut(BaseModel):
    detail: str
