"""The FastAPI application: settings, the bearer key, and how service errors become HTTP answers."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from clip_pipeline.api import routes
from clip_pipeline.errors import ConfigurationError, Conflict, DatabaseUnavailable, NotFound
from clip_pipeline.settings import Settings, get_settings

# The callback token in a callback URL is a credential: access logs show it as [token].
_CALLBACK_TOKEN = re.compile(r"(/callback/)[^/?\s\"]+")
_STATUS_FOR_ERROR: dict[type[Exception], int] = {NotFound: 404, Conflict: 409, DatabaseUnavailable: 503}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over the configured database. Refuses to exist without CLIP_PIPELINE_API_KEY."""
    settings = settings or get_settings()
    if settings.api_key is None or not settings.api_key.get_secret_value().strip():
        raise ConfigurationError(
            "CLIP_PIPELINE_API_KEY is not set; the HTTP API requires a bearer key "
            "(set it, e.g. to the output of `openssl rand -hex 32`, and send `Authorization: Bearer <key>`)"
        )
    app = FastAPI(
        title="clip_pipeline",
        summary="Export timeline clips, enhance them with AI video providers, put the results back.",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.engine = None
    for error, status in _STATUS_FOR_ERROR.items():
        app.add_exception_handler(error, _answer_with(status))
    app.include_router(routes.editor)
    app.include_router(routes.providers)
    return app


def _answer_with(status: int):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    return handler


class RedactCallbackTokens(logging.Filter):
    """Masks callback tokens in log records (uvicorn's access log passes the path as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _CALLBACK_TOKEN.sub(r"\1[token]", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        record.msg = _CALLBACK_TOKEN.sub(r"\1[token]", record.msg) if isinstance(record.msg, str) else record.msg
        return True
