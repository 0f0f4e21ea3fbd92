"""A small, hand-computed world for the metrics views (expected numbers in tests/test_metrics_views.py).

Timelines: Promo (clips c1..c4 selected, c7 never), Interview (c5, c6), Empty (nothing selected).

Exports (UTC day of created_at; ms per clip-second = elapsed_ms / clip seconds):
  e1 c1 ready    2026-03-01 10:00Z  2 s, 1000 ms -> 500/s   1000 B  cache_hits 2  expires 2100
  e3 c3 expired  2026-03-01 12:00Z  1 s,  800 ms -> 800/s    500 B  cache_hits 1  expires 2026-03-08
  e2 c2 ready    2026-03-01 23:30-02 = 2026-03-02 01:30Z  4 s, 6000 ms -> 1500/s  3000 B  expires 2026-03-09
  (2026-03-03: no exports)
  e4 c4 error    2026-03-04 08:00Z  elapsed NULL
  e5 c5 ready    2026-03-04 09:00Z  1 s, 300 ms -> 300/s     700 B  cache_hits 5  expires NULL
  c6: no export at all (only a generation request)

Generations:
  g1 c1 kling/kling-v2/background_replace completed 2026-03-01 09:00Z exp 2000 prov 2100 adj trim(true)
        proc 10000 credits 10, applied
  g2 c1 kling ... completed 2026-03-01 15:00Z exp 2000 prov 1950 adj none  proc 20000 credits 10
  g3 c2 kling ... failed    2026-03-01 18:00Z exp 4000 prov NULL          proc NULL  credits 0
  g4 c2 kling ... completed 2026-03-01 20:00Z exp 4000 prov 4000 adj freeze(flag false) proc NULL cr 5
  g5 c5 veo/veo-3/scene_generate pending 2026-03-01 11:00Z exp 1000 prov NULL credits 0
  (2026-03-02: no generations)
  g6 c3 veo ... merging  2026-03-03 10:00Z exp 1000 prov 1200 result url  credits 7
  g7 c5 veo ... failed   2026-03-03 23:59:59Z exp 1000 prov 900 result url proc 5000 credits 3
  g8 c6 kling ... completed 2026-03-04 00:30+01 = 2026-03-03 23:30Z exp 1500 prov 1500 adj NULL
        proc 40000 credits 20
"""

from __future__ import annotations

import sqlalchemy as sa

FUTURE = "2100-01-01T00:00:00Z"


def _insert(connection: sa.Connection, table: str, **values) -> str:
    columns = ", ".join(values)
    placeholders = ", ".join(f":{name}" for name in values)
    statement = sa.text(f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id")
    return str(connection.execute(statement, values).scalar_one())


def _clip(connection, track_id: str, asset_id: str, name: str, length_ms: int, start_ms: int = 0) -> str:
    return _insert(
        connection, "clips", track_id=track_id, asset_id=asset_id, name=name, start_time=start_ms,
        end_time=start_ms + length_ms, source_start=1000, source_end=1000 + length_ms,
    )


def _export(connection, clip_id: str, length_ms: int, status: str, created_at: str, **extra) -> str:
    done = status in ("ready", "expired")
    values = {
        "clip_id": clip_id,
        "source_start": 1000,
        "source_end": 1000 + length_ms,
        "fingerprint": f"fp-{clip_id}",
        "status": status,
        "storage_path": f"exports/{clip_id}.mp4" if done else None,
        "duration_ms": length_ms if done else None,
        "error_message": "source unreachable" if status == "error" else None,
        "created_at": created_at,
    }
    return _insert(connection, "clip_exports", **{**values, **extra})


def _generation(connection, clip_id: str, provider: str, model: str, task_type: str, status: str,
                created_at: str, expected_ms: int, **extra) -> str:
    values = {
        "source_clip_id": clip_id,
        "provider": provider,
        "model": model,
        "task_type": task_type,
        "status": status,
        "created_at": created_at,
        "expected_duration_ms": expected_ms,
        "final_storage_path": f"results/{clip_id}-{created_at}.mp4" if status == "completed" else None,
        "error_message": "provider said no" if status == "failed" else None,
    }
    return _insert(connection, "clip_ai_generations", **{**values, **extra})


def load_metrics_fixture(engine: sa.Engine) -> dict[str, str]:
    """Insert the world described above; return the ids by name (timelines, clips)."""
    ids: dict[str, str] = {}
    with engine.begin() as connection:
        asset = _insert(connection, "assets", name="source", storage_path="sources/long.mp4")
        for name in ("Promo", "Interview", "Empty"):
            ids[name] = _insert(connection, "timelines", name=name)
            ids[f"{name} track"] = _insert(
                connection, "tracks", timeline_id=ids[name], name="V1", position=0
            )
        promo, interview = ids["Promo track"], ids["Interview track"]
        for index, (clip, track, length) in enumerate(
            [("c1", promo, 2000), ("c2", promo, 4000), ("c3", promo, 1000), ("c4", promo, 3000),
             ("c5", interview, 1000), ("c6", interview, 1500), ("c7", promo, 2500)]
        ):
            ids[clip] = _clip(connection, track, asset, clip, length, start_ms=index * 10_000)

        _export(connection, ids["c1"], 2000, "ready", "2026-03-01T10:00:00Z", elapsed_ms=1000,
                file_size=1000, cache_hits=2, expires_at=FUTURE)
        _export(connection, ids["c3"], 1000, "expired", "2026-03-01T12:00:00Z", elapsed_ms=800,
                file_size=500, cache_hits=1, expires_at="2026-03-08T00:00:00Z")
        _export(connection, ids["c2"], 4000, "ready", "2026-03-01T23:30:00-02:00", elapsed_ms=6000,
                file_size=3000, expires_at="2026-03-09T00:00:00Z")
        _export(connection, ids["c4"], 3000, "error", "2026-03-04T08:00:00Z")
        _export(connection, ids["c5"], 1000, "ready", "2026-03-04T09:00:00Z", elapsed_ms=300,
                file_size=700, cache_hits=5)

        kling = ("kling", "kling-v2", "background_replace")
        veo = ("veo", "veo-3", "scene_generate")
        _generation(connection, ids["c1"], *kling, "completed", "2026-03-01T09:00:00Z", 2000,
                    provider_duration_ms=2100, duration_adjusted=True, adjustment="trim",
                    processing_time_ms=10000, credits_used=10, ai_result_url="https://p/g1",
                    applied=True, applied_clip_id=ids["c1"])
        _generation(connection, ids["c1"], *kling, "completed", "2026-03-01T15:00:00Z", 2000,
                    provider_duration_ms=1950, adjustment="none", processing_time_ms=20000,
                    credits_used=10, ai_result_url="https://p/g2")
        _generation(connection, ids["c2"], *kling, "failed", "2026-03-01T18:00:00Z", 4000)
        _generation(connection, ids["c2"], *kling, "completed", "2026-03-01T20:00:00Z", 4000,
                    provider_duration_ms=4000, adjustment="freeze", credits_used=5)
        _generation(connection, ids["c5"], *veo, "pending", "2026-03-01T11:00:00Z", 1000)
        _generation(connection, ids["c3"], *veo, "merging", "2026-03-03T10:00:00Z", 1000,
                    provider_duration_ms=1200, ai_result_url="https://p/g6", credits_used=7)
        _generation(connection, ids["c5"], *veo, "failed", "2026-03-03T23:59:59Z", 1000,
                    provider_duration_ms=900, ai_result_url="https://p/g7", processing_time_ms=5000,
                    credits_used=3)
        _generation(connection, ids["c6"], *kling, "completed", "2026-03-04T00:30:00+01:00", 1500,
                    provider_duration_ms=1500, processing_time_ms=40000, credits_used=20)
    return ids
