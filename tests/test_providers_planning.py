import pytest

from clip_pipeline.providers.base import Capabilities, PermanentProviderError, TaskLimits
from clip_pipeline.providers.planning import MAX_PIECES, plan_generation


def caps(durations, *, min_ms=0, max_ms=10_000, lip_min_ms=2000, task_types=None):
    return Capabilities(
        task_types=task_types or ["scene_generate", "lip_sync", "background_replace"],
        durations_s=durations, min_input_ms=min_ms, max_input_ms=max_ms, max_input_bytes=10**8,
        max_resolution="1920x1080", output_fps=24, output_has_audio=False, typical_seconds=60,
        max_concurrency=1,
        task_limits={"lip_sync": TaskLimits(durations_s=list(range(2, 11)), min_input_ms=lip_min_ms,
                                            max_input_ms=10_000, output_follows_input=True)},
    )


@pytest.mark.parametrize(
    "options, clip_ms, expected",
    [([5, 10], 3200, 5), ([5, 10], 5000, 5), ([5, 10], 5001, 10), ([4, 6, 8], 4001, 6), ([5, 6, 7, 8], 7999, 8)],
)
def test_shortest_option_covering_the_clip(options, clip_ms, expected):
    plan = plan_generation(caps(options), clip_ms, "scene_generate")
    assert [(p.start_ms, p.end_ms, p.requested_s) for p in plan.pieces] == [(0, clip_ms, expected)]
    assert plan.padding is None and not plan.split


def test_long_clip_splits_into_exact_pieces():
    plan = plan_generation(caps([5, 10]), 23_456, "scene_generate")
    assert [(p.start_ms, p.end_ms, p.requested_s) for p in plan.pieces] == [
        (0, 10_000, 10), (10_000, 20_000, 10), (20_000, 23_456, 5)]
    assert plan.split


def test_split_never_leaves_a_tail_below_the_minimum():
    plan = plan_generation(caps([5, 10]), 20_500, "lip_sync")
    lengths = [p.length_ms for p in plan.pieces]
    assert sum(lengths) == 20_500 and all(2000 <= n <= 10_000 for n in lengths)
    assert plan.pieces[0].start_ms == 0 and plan.pieces[-1].end_ms == 20_500
    assert all(a.end_ms == b.start_ms for a, b in zip(plan.pieces, plan.pieces[1:]))


def test_short_input_is_padded_and_says_how():
    plan = plan_generation(caps([5, 10]), 1500, "lip_sync")
    (piece,) = plan.pieces
    assert (piece.end_ms, piece.input_ms, piece.requested_s) == (1500, 2000, 2)
    assert "2000 ms" in plan.padding and "trimmed back" in plan.padding


def test_short_input_refused_names_the_limit():
    with pytest.raises(PermanentProviderError, match="2000 ms minimum"):
        plan_generation(caps([5, 10]), 1500, "lip_sync", allow_padding=False)


def test_too_many_pieces_names_the_limit():
    with pytest.raises(PermanentProviderError, match=f"limit is {MAX_PIECES} pieces"):
        plan_generation(caps([5, 10]), 10_000 * MAX_PIECES + 1, "scene_generate")


def test_unsupported_task_type_is_refused():
    with pytest.raises(PermanentProviderError, match="does not support task type lip_sync"):
        plan_generation(caps([8], task_types=["scene_generate"]), 4000, "lip_sync")


def test_nonpositive_clip_refused():
    with pytest.raises(PermanentProviderError, match="positive"):
        plan_generation(caps([5]), 0, "scene_generate")
