"""The endpoints: each validates its input, calls one service function and shapes the answer."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine, RowMapping

from clip_pipeline.api.schemas import (
    AppliedOut,
    ApplyRequest,
    CallbackOut,
    ClipOut,
    EnhanceOut,
    EnhanceRequest,
    ErrorOut,
    ExportOut,
    ExportRequest,
    GenerationOut,
    GenerationResult,
    KlingCallback,
    ShotOut,
    ShotsOut,
    SplitOut,
)
from clip_pipeline.db.engine import database_url, get_engine
from clip_pipeline.services import callbacks, queries, shots, timeline
from clip_pipeline.services.requests import ExportSpec, InvalidRequest, request_generation, select_clips

_bearer = HTTPBearer(auto_error=False, description="CLIP_PIPELINE_API_KEY")


def require_api_key(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    expected = request.app.state.settings.api_key.get_secret_value().encode()
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), expected):
        raise HTTPException(
            401,
            "missing or wrong API key; send `Authorization: Bearer <CLIP_PIPELINE_API_KEY>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


def engine(request: Request) -> Engine:
    state = request.app.state
    if state.engine is None:
        state.engine = get_engine(database_url(state.settings))
    return state.engine


def _errors(*statuses: int) -> dict:
    """Documented error answers, all {"detail": "..."}; 400 = a body that is not JSON at all."""
    return {status: {"model": ErrorOut} for status in statuses}


editor = APIRouter(prefix="/api", dependencies=[Depends(require_api_key)], responses=_errors(401, 404, 503))
providers = APIRouter(prefix="/api/providers", responses=_errors(404, 503))


def _export_out(row: RowMapping) -> ExportOut:
    return ExportOut(
        export_id=row["id"],
        status=row["status"],
        url=row["public_url"],
        duration=row["duration_ms"] / 1000 if row["duration_ms"] else None,
        file_size=row["file_size"],
        expires_at=row["expires_at"],
        error_message=row["error_message"],
    )


@editor.post("/clips/{clip_id}/export", response_model=ExportOut, responses=_errors(400))
def export_clip(clip_id: str, body: ExportRequest | None = None, db: Engine = Depends(engine)) -> ExportOut:
    """Select a clip for export: a ready export of the same clip and spec answers at once with its URL;
    otherwise the export is pending and the pipeline does the work (poll the GET)."""
    spec = ExportSpec(**(body or ExportRequest()).model_dump())
    return _export_out(select_clips(db, [clip_id], spec)[0])


@editor.get("/clips/{clip_id}/exports/{export_id}", response_model=ExportOut)
def get_export(clip_id: str, export_id: str, db: Engine = Depends(engine)) -> ExportOut:
    return _export_out(queries.get_export(db, clip_id, export_id))


@editor.post("/clips/{clip_id}/ai-enhance", response_model=EnhanceOut, responses=_errors(400))
def enhance_clip(clip_id: str, body: EnhanceRequest, db: Engine = Depends(engine)) -> EnhanceOut:
    """Ask for an AI enhancement of the clip; poll GET /api/clips/ai-generations/{generation_id}."""
    try:
        generation = request_generation(db, clip_id, **body.model_dump())
    except InvalidRequest as exc:
        # the only invalid combination requests.py reports: a provider without that task
        raise RequestValidationError(
            [{"loc": ("body", "task_type"), "msg": str(exc), "type": "value_error", "input": body.task_type}]
        ) from None
    return EnhanceOut(
        generation_id=generation["id"],
        task_id=generation["task_id"],
        status=generation["status"],
        estimated_time=queries.estimated_seconds(db, body.provider),
    )


@editor.get("/clips/ai-generations/{generation_id}", response_model=GenerationOut)
def get_generation(generation_id: str, db: Engine = Depends(engine)) -> GenerationOut:
    row = queries.get_generation(db, generation_id)
    result = None
    if row["status"] == "completed":
        duration = row["actual_duration_ms"]
        result = GenerationResult(
            url=row["final_url"],
            duration=duration / 1000 if duration else None,
            applied=row["applied"],
            applied_clip_id=row["applied_clip_id"],
        )
    return GenerationOut(
        id=row["id"],
        status=row["status"],
        progress=row["progress"],
        task_id=row["task_id"],
        error_message=row["error_message"],
        result=result,
    )


@editor.post(
    "/clips/ai-generations/{generation_id}/apply", response_model=AppliedOut, responses=_errors(400, 409)
)
def apply_generation(generation_id: str, body: ApplyRequest | None = None, db: Engine = Depends(engine)) -> AppliedOut:
    """Put a completed generation on the timeline (replace, overlay or append); 409 until it is ready."""
    body = body or ApplyRequest()
    applied = timeline.apply_generation(db, generation_id, body.mode, body.target_clip_id)
    return AppliedOut(**vars(applied))


@editor.post("/clips/{clip_id}/shots", response_model=SplitOut, responses=_errors(409))
def split_clip(clip_id: str, db: Engine = Depends(engine)) -> SplitOut:
    """Split the clip at the detected shot boundaries inside it (409 until shots are detected)."""
    clips = shots.split_clip_at_shots(db, clip_id)
    return SplitOut(
        clips=[
            ClipOut(
                clip_id=c["id"],
                track_id=c["track_id"],
                start_time=c["start_time"],
                end_time=c["end_time"],
                source_start=c["source_start"],
                source_end=c["source_end"],
            )
            for c in clips
        ]
    )


@editor.get("/assets/{asset_id}/shots", response_model=ShotsOut)
def list_shots(asset_id: str, db: Engine = Depends(engine)) -> ShotsOut:
    found = shots.list_shots(db, asset_id)
    return ShotsOut(asset_id=asset_id, shots=[ShotOut(**vars(shot)) for shot in found])


@providers.post("/kling/callback/{token}", response_model=CallbackOut, responses=_errors(400, 409))
def kling_callback(token: str, body: KlingCallback, db: Engine = Depends(engine)) -> CallbackOut:
    """Kling's callback_url: stores the task's state on the one generation the token belongs to."""
    stored = callbacks.record_kling_callback(db, token, body.model_dump(mode="json", exclude_unset=True))
    return CallbackOut(received=stored)
