"""Submit generation requests to their providers, and follow them until the provider is done.

Submission is idempotent: an intent is saved before the provider call and the task id right after.
If a run dies between the two, the next run reconciles: providers that can look a task up by our
generation id (Kling's external_task_id, the local provider) find it; for the others the
generation fails with a message instead of paying for a second task.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from clip_pipeline.providers.base import (
    GenerationInput,
    PermanentProviderError,
    Provider,
    ProviderAuthError,
    RetryableProviderError,
    TaskState,
)
from clip_pipeline.providers.kling import state_from_callback as kling_state_from_callback
from clip_pipeline.providers.planning import plan_generation

ProviderFactory = Callable[[str], Provider]


@dataclass(frozen=True)
class SubmitOutcome:
    generation_id: uuid.UUID
    provider: str
    status: str
    task_id: str | None
    detail: str | None = None


def _update(engine: Engine, generation_id: uuid.UUID, **values) -> None:
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    with engine.begin() as connection:
        connection.execute(
            sa.text(f"UPDATE clip_ai_generations SET {assignments} WHERE id = :generation_id"),
            {"generation_id": generation_id, **values},
        )


def pending_generations(engine: Engine, clip_id: str | uuid.UUID) -> list[RowMapping]:
    """The clip's generations waiting for submission, with their export's URLs."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.text(
                    "SELECT g.*, e.status AS export_status, e.public_url AS export_url,"
                    " e.audio_url AS export_audio_url, e.duration_ms AS export_duration_ms"
                    " FROM clip_ai_generations g LEFT JOIN clip_exports e ON e.id = g.clip_export_id"
                    " WHERE g.source_clip_id = :clip_id AND g.status = 'pending' ORDER BY g.seq"
                ),
                {"clip_id": clip_id},
            ).mappings()
        )


def _running_count(engine: Engine, provider: str) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.text(
                "SELECT count(*) FROM clip_ai_generations WHERE provider = :provider"
                " AND status = 'processing'"
            ),
            {"provider": provider},
        ).scalar_one()


def _generation_input(row: RowMapping, callback_base_url: str | None) -> GenerationInput:
    callback = (
        f"{callback_base_url.rstrip('/')}/api/providers/{row['provider']}/callback/{row['callback_token']}"
        if callback_base_url and row["provider"] == "kling"
        else None
    )
    return GenerationInput(
        generation_id=str(row["id"]),
        task_type=row["task_type"],
        model=row["model"],
        prompt=row["prompt"],
        parameters=dict(row["parameters"] or {}),
        video_url=row["export_url"],
        audio_url=row["export_audio_url"],
        image_url=(row["parameters"] or {}).get("image_url"),
        duration_ms=row["export_duration_ms"] or row["expected_duration_ms"],
        callback_url=callback,
    )


def submit_generation(
    engine: Engine, row: RowMapping, provider: Provider, callback_base_url: str | None = None
) -> SubmitOutcome:
    """Submit one pending generation whose export is ready; see the module docstring."""
    generation_id = row["id"]
    if row["export_status"] != "ready" or not row["export_url"]:
        return SubmitOutcome(generation_id, row["provider"], "pending", None, "export not ready yet")
    if row["submit_intent_at"] is not None and row["task_id"] is None:
        found = provider.find_task(str(generation_id))
        if found is not None:
            return _record_task(engine, row, found, "reconciled after an interrupted submission")
        if not provider.capabilities.can_find_tasks:
            message = (
                f"the submission to {row['provider']} at {row['submit_intent_at']:%Y-%m-%d %H:%M:%S} UTC "
                "was interrupted and the provider cannot be asked whether it created a task; "
                "check the provider's dashboard, then request the generation again"
            )
            _update(engine, generation_id, status="failed", error_message=message, submit_intent_at=None)
            return SubmitOutcome(generation_id, row["provider"], "failed", None, message)
    limit = provider.capabilities.max_concurrency
    if limit and _running_count(engine, row["provider"]) >= limit:
        return SubmitOutcome(generation_id, row["provider"], "pending", None, f"{row['provider']} is at its concurrency limit ({limit})")
    try:
        _check_limits(provider, row)
        _update(engine, generation_id, submit_intent_at=datetime.now(timezone.utc), attempts=row["attempts"] + 1)
        task_id = provider.submit(_generation_input(row, callback_base_url))
    except RetryableProviderError as exc:
        # the provider answered: no task was created, so the intent is void
        _update(engine, generation_id, submit_intent_at=None)
        return SubmitOutcome(generation_id, row["provider"], "pending", None, f"will retry: {exc}")
    except (PermanentProviderError, ProviderAuthError) as exc:
        _update(engine, generation_id, status="failed", error_message=str(exc), submit_intent_at=None, credits_used=0)
        return SubmitOutcome(generation_id, row["provider"], "failed", None, str(exc))
    return _record_task(engine, row, task_id, None)


def _check_limits(provider: Provider, row: RowMapping) -> None:
    """Refuse here, with the limit named, what the provider would refuse remotely: inputs below its
    minimum and clips longer than one task takes (`clip-pipeline generate` pads and splits those)."""
    plan = plan_generation(provider.capabilities, row["expected_duration_ms"], row["task_type"], allow_padding=False)
    if len(plan.pieces) > 1:
        longest = max(provider.capabilities.limits_for(row["task_type"]).durations_s)
        raise PermanentProviderError(
            f"{row['provider']}: the clip lasts {row['expected_duration_ms']} ms, longer than the {longest} s one "
            f"{row['task_type']} task covers; shorten the clip or run `clip-pipeline generate`, which splits it"
        )


def _record_task(engine: Engine, row: RowMapping, task_id: str, detail: str | None) -> SubmitOutcome:
    _update(
        engine,
        row["id"],
        task_id=task_id,
        status="processing",
        submitted_at=datetime.now(timezone.utc),
        last_polled_at=datetime.now(timezone.utc),  # a submission is the first look at the task
        submit_intent_at=None,
        progress=0,
    )
    return SubmitOutcome(row["id"], row["provider"], "processing", task_id, detail)


def submit_pending_generations(
    engine: Engine, clip_id: str | uuid.UUID, providers: ProviderFactory, callback_base_url: str | None = None
) -> list[SubmitOutcome]:
    return [
        submit_generation(engine, row, providers(row["provider"]), callback_base_url)
        for row in pending_generations(engine, clip_id)
    ]


# --- following tasks --------------------------------------------------------------------------


@dataclass(frozen=True)
class PollOutcome:
    generation_id: uuid.UUID
    clip_id: uuid.UUID
    status: str  # processing (still running), merging (ready to finalize), failed
    progress: int


def generations_to_poll(engine: Engine, per_provider: dict[str, int], min_interval: timedelta) -> list[RowMapping]:
    """Processing generations, least recently polled first, at most per_provider[p] for each provider."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.text(
                    "SELECT * FROM (SELECT g.*, row_number() OVER (PARTITION BY provider"
                    " ORDER BY last_polled_at NULLS FIRST, seq) AS rank FROM clip_ai_generations g"
                    " WHERE status = 'processing' AND task_id IS NOT NULL AND (last_polled_at IS NULL"
                    " OR last_polled_at < now() - make_interval(secs => :interval))) ranked"
                    " WHERE rank <= CASE provider WHEN 'kling' THEN :kling WHEN 'veo' THEN :veo"
                    " WHEN 'runway' THEN :runway ELSE :local END"
                ),
                {
                    "interval": min_interval.total_seconds(),
                    "kling": per_provider.get("kling", 10),
                    "veo": per_provider.get("veo", 10),
                    "runway": per_provider.get("runway", 10),
                    "local": per_provider.get("local", 50),
                },
            ).mappings()
        )


def apply_task_state(engine: Engine, row: RowMapping, state: TaskState) -> PollOutcome:
    """Record what the provider says about a generation's task."""
    now = datetime.now(timezone.utc)
    if state.status == "succeeded":
        if not state.output_urls:
            state = state.model_copy(update={"status": "failed", "error": "the provider reported success without a result URL"})
        else:
            _update(
                engine, row["id"], status="merging", progress=100, last_polled_at=now,
                ai_result_url=state.output_urls[0], provider_duration_ms=state.duration_ms,
                credits_used=state.credits,
            )
            return PollOutcome(row["id"], row["source_clip_id"], "merging", 100)
    if state.status in ("failed", "canceled"):
        message = f"{row['provider']} task {state.task_id} {state.status}: {state.error or 'no reason given'}"
        _update(engine, row["id"], status="failed", error_message=message, last_polled_at=now, credits_used=0)
        return PollOutcome(row["id"], row["source_clip_id"], "failed", state.progress)
    _update(engine, row["id"], progress=max(0, min(99, state.progress)), last_polled_at=now)
    return PollOutcome(row["id"], row["source_clip_id"], "processing", state.progress)


def poll_generation(engine: Engine, row: RowMapping, provider: Provider) -> PollOutcome:
    try:
        state = provider.get(row["task_id"])
    except RetryableProviderError:
        _update(engine, row["id"], last_polled_at=datetime.now(timezone.utc))
        return PollOutcome(row["id"], row["source_clip_id"], "processing", row["progress"])
    return apply_task_state(engine, row, state)


# Providers that POST task states to our callback URL, and how to read what they send.
CALLBACK_READERS = {"kling": kling_state_from_callback}


def apply_callbacks(engine: Engine) -> list[PollOutcome]:
    """Record the task states providers sent to the API's callback endpoint since the last look."""
    with engine.connect() as connection:
        rows = list(
            connection.execute(
                sa.text(
                    "SELECT * FROM clip_ai_generations WHERE status = 'processing' AND task_id IS NOT NULL"
                    " AND provider = ANY(:providers) AND provider_callback_at IS NOT NULL"
                    " AND provider_callback_at > coalesce(last_polled_at, '-infinity') ORDER BY seq"
                ),
                {"providers": list(CALLBACK_READERS)},
            ).mappings()
        )
    outcomes = []
    for row in rows:
        try:
            state = CALLBACK_READERS[row["provider"]](row["provider_callback"], row["task_id"])
        except PermanentProviderError as exc:
            _update(engine, row["id"], last_polled_at=datetime.now(timezone.utc), error_message=str(exc))
            continue
        outcomes.append(apply_task_state(engine, row, state))
    return outcomes


def follow_provider_tasks(
    engine: Engine,
    providers: ProviderFactory,
    per_provider: dict[str, int],
    min_interval: timedelta = timedelta(seconds=10),
) -> list[PollOutcome]:
    """Take in provider callbacks, then poll the processing generations (within each provider's
    per-tick budget), recording progress and results."""
    return apply_callbacks(engine) + [
        poll_generation(engine, row, providers(row["provider"]))
        for row in generations_to_poll(engine, per_provider, min_interval)
    ]
