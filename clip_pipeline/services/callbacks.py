"""Provider callbacks: a provider POSTs a task's state to the callback URL of one generation.

The envelope is stored on that generation (provider_callback, provider_callback_at); the pipeline's
completion sensor reads it and decides what happens next. Nothing else is changed here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clip_pipeline.errors import Conflict, NotFound

KLING_TERMINAL_STATUSES = frozenset({"succeed", "failed"})
# secrets.token_urlsafe output; anything else cannot be a callback token.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")


def record_kling_callback(engine: Engine, token: str, envelope: dict[str, Any]) -> bool:
    """Store Kling's callback envelope {code, message, data: {task_id, task_status, ...}} on the
    generation the token belongs to. Returns False when it was ignored as stale (a late non-final
    state arriving after a final one)."""
    data = envelope["data"]
    with engine.begin() as connection:
        generation = (
            connection.execute(
                sa.text(
                    "SELECT id, task_id, provider_callback->'data'->>'task_status' AS last_status"
                    " FROM clip_ai_generations WHERE callback_token = :token AND provider = 'kling'"
                    " FOR UPDATE"
                ),
                {"token": token if _TOKEN.fullmatch(token) else ""},
            )
            .mappings()
            .first()
        )
        if generation is None:
            raise NotFound("no Kling generation has this callback token")
        # the Kling adapter's task ids are "<endpoint family>/<Kling task id>"
        if generation["task_id"] is not None and generation["task_id"].rpartition("/")[2] != data["task_id"]:
            raise Conflict(
                f"callback is for Kling task '{data['task_id']}' but generation '{generation['id']}'"
                f" submitted task '{generation['task_id']}'"
            )
        if generation["last_status"] in KLING_TERMINAL_STATUSES and data["task_status"] not in KLING_TERMINAL_STATUSES:
            return False
        connection.execute(
            sa.text(
                "UPDATE clip_ai_generations SET provider_callback = CAST(:envelope AS jsonb),"
                " provider_callback_at = now() WHERE id = :id"
            ),
            {"envelope": json.dumps(envelope), "id": generation["id"]},
        )
    return True
