"""Duration planning: which whole-second option to ask a provider for, and how to cut long clips.

Providers only accept a few whole-second durations and never return exactly what was asked, so we
ask for the shortest option that covers the clip: the result is trimmed to the clip later, never
stretched. A clip longer than the provider's maximum is split into pieces generated separately and
joined exactly (piece boundaries are whole milliseconds that add up to the clip). A clip below the
minimum input length is padded (holding the last frame, silence after the audio) or refused.
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from clip_pipeline.providers.base import Capabilities, PermanentProviderError, TaskType

MAX_PIECES = 12


class PlannedPiece(BaseModel):
    start_ms: int
    end_ms: int
    requested_s: int
    # send this much input (the piece itself, or padded up to the provider's minimum)
    input_ms: int

    @property
    def length_ms(self) -> int:
        return self.end_ms - self.start_ms


class DurationPlan(BaseModel):
    task_type: TaskType
    clip_ms: int
    pieces: list[PlannedPiece]
    padding: str | None = None  # how inputs below the minimum are padded, when they are
    continuity: bool = False  # each piece after the first starts from the previous last frame

    @property
    def split(self) -> bool:
        return len(self.pieces) > 1


def plan_generation(
    caps: Capabilities, clip_ms: int, task_type: TaskType, *, allow_padding: bool = True
) -> DurationPlan:
    """Plan one clip of CLIP_MS for TASK_TYPE on a provider with CAPS (see the module docstring)."""
    if clip_ms <= 0:
        raise PermanentProviderError(f"clip duration must be positive, got {clip_ms} ms")
    limits = caps.limits_for(task_type)
    options = sorted(limits.durations_s)
    max_ms = min(limits.max_input_ms, options[-1] * 1000)
    pieces_ms = _split(clip_ms, max_ms, limits.min_input_ms)
    if len(pieces_ms) > MAX_PIECES:
        raise PermanentProviderError(
            f"a {clip_ms} ms clip needs {len(pieces_ms)} pieces of at most {max_ms} ms for {task_type}; "
            f"the limit is {MAX_PIECES} pieces ({MAX_PIECES * max_ms} ms); cut a shorter clip"
        )
    padding = None
    if clip_ms < limits.min_input_ms:
        if not allow_padding:
            raise PermanentProviderError(
                f"a {clip_ms} ms clip is shorter than the {limits.min_input_ms} ms minimum input for "
                f"{task_type}; select at least {limits.min_input_ms} ms"
            )
        padding = (
            f"input padded from {clip_ms} ms to {limits.min_input_ms} ms by holding the last video "
            "frame and adding silence after the audio; the result is trimmed back to the clip"
        )
    pieces = []
    start = 0
    for length in pieces_ms:
        input_ms = max(length, limits.min_input_ms)
        pieces.append(
            PlannedPiece(
                start_ms=start,
                end_ms=start + length,
                requested_s=_shortest_covering(options, input_ms, task_type),
                input_ms=input_ms,
            )
        )
        start += length
    return DurationPlan(
        task_type=task_type,
        clip_ms=clip_ms,
        pieces=pieces,
        padding=padding,
        continuity=len(pieces) > 1 and limits.continuity_from_last_frame,
    )


def _split(clip_ms: int, max_ms: int, min_ms: int) -> list[int]:
    """Piece lengths (ms) adding up to CLIP_MS, each at most MAX_MS; no tail below MIN_MS."""
    count = math.ceil(clip_ms / max_ms)
    if count == 1:
        return [clip_ms]
    tail = clip_ms - (count - 1) * max_ms
    if tail >= min_ms:
        return [max_ms] * (count - 1) + [tail]
    # a short tail would need padding: spread the clip evenly instead (each piece > max_ms / 2)
    base, extra = divmod(clip_ms, count)
    return [base + 1] * extra + [base] * (count - extra)


def _shortest_covering(options: list[int], length_ms: int, task_type: str) -> int:
    for option in options:
        if option * 1000 >= length_ms:
            return option
    raise PermanentProviderError(  # unreachable after _split; kept as a guard with a clear message
        f"{length_ms} ms is longer than the longest {task_type} option ({options[-1]} s)"
    )


def requested_seconds(caps: Capabilities, task_type: TaskType, duration_ms: int) -> int:
    """The whole-second option to ask for one piece of DURATION_MS (already planned to fit)."""
    limits = caps.limits_for(task_type)
    options = sorted(limits.durations_s)
    longest_ms = min(limits.max_input_ms, options[-1] * 1000)
    if duration_ms > longest_ms:
        raise PermanentProviderError(
            f"{duration_ms} ms is longer than the {longest_ms} ms this provider accepts for {task_type}; "
            "split the clip with plan_generation first"
        )
    return _shortest_covering(options, max(duration_ms, limits.min_input_ms), task_type)
