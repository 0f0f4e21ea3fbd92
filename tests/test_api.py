"""The HTTP API the editor calls, against a real database: every endpoint's answers and errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clip_pipeline.api import create_app
from clip_pipeline.errors import ConfigurationError
from clip_pipeline.services import shots
from clip_pipeline.simulators.loopback import free_port
from clip_pipeline.settings import Settings, reset_settings_cache
from tests.conftest import REPO_ROOT
from tests.support.generations import make_generation
from tests.support.timeline import make_timeline

API_KEY = "test-key-for-the-editor-api"


@pytest.fixture
def api(clip_env, monkeypatch) -> TestClient:
    monkeypatch.setenv("CLIP_PIPELINE_API_KEY", API_KEY)
    reset_settings_cache()
    with TestClient(create_app(), headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client


def field_errors(response) -> list[tuple]:
    assert response.status_code == 422, response.text
    return [tuple(error["loc"]) for error in response.json()["detail"]]


def generation_row(engine, generation_id):
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT * FROM clip_ai_generations WHERE id = :id"), {"id": generation_id}
        ).mappings().one()


UNKNOWN = str(uuid.uuid4())
EDITOR_ENDPOINTS = [
    ("POST", f"/api/clips/{UNKNOWN}/export", {}),
    ("GET", f"/api/clips/{UNKNOWN}/exports/{UNKNOWN}", None),
    ("POST", f"/api/clips/{UNKNOWN}/ai-enhance", {"provider": "kling", "task_type": "lip_sync"}),
    ("GET", f"/api/clips/ai-generations/{UNKNOWN}", None),
    ("POST", f"/api/clips/ai-generations/{UNKNOWN}/apply", {"mode": "replace"}),
    ("POST", f"/api/clips/{UNKNOWN}/shots", None),
    ("GET", f"/api/assets/{UNKNOWN}/shots", None),
]


@pytest.mark.parametrize(("method", "path", "body"), EDITOR_ENDPOINTS)
def test_editor_endpoints_need_the_key_and_answer_404_for_unknown_ids(api, method, path, body):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic eDp5"}):
        refused = api.request(method, path, json=body, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"] == "Bearer"
    found = api.request(method, path, json=body)
    assert found.status_code == 404, found.text
    assert "does not exist" in found.json()["detail"]
    malformed = api.request(method, path.replace(UNKNOWN, "not-a-uuid"), json=body)
    assert malformed.status_code == 404 and "not a valid id" in malformed.json()["detail"]


def test_the_api_does_not_exist_without_a_key(cli):
    with pytest.raises(ConfigurationError, match="CLIP_PIPELINE_API_KEY is not set"):
        create_app(Settings(api_key=None))
    result = cli("serve-api")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "CLIP_PIPELINE_API_KEY is not set" in result.stderr


def test_serve_api_serves_the_app(clip_env, engine):
    port = free_port()
    env = {**os.environ, **clip_env, "CLIP_PIPELINE_API_KEY": API_KEY, "PYTHONPATH": str(REPO_ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "clip_pipeline", "serve-api", "--port", str(port)],
        env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/clips/{UNKNOWN}/exports/{UNKNOWN}"
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(url, headers={"Authorization": f"Bearer {API_KEY}"})
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "serve-api did not start listening within 60 s"
                time.sleep(0.2)
        assert answer.status_code == 404
        assert httpx.get(url).status_code == 401
        token = "secret-callback-token-0123456789"
        callback = httpx.post(f"http://127.0.0.1:{port}/api/providers/kling/callback/{token}", json=kling_envelope("t", "succeed"))
        assert callback.status_code == 404
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=10)
    assert "/api/providers/kling/callback/[token]" in log
    assert token not in log


def test_an_unreachable_database_is_a_503_naming_the_server(clip_env):
    app = create_app(Settings(api_key=API_KEY, database_url="postgresql://clip@127.0.0.1:1/nowhere"))
    with TestClient(app, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        answer = client.get(f"/api/clips/ai-generations/{UNKNOWN}")
    assert answer.status_code == 503
    assert "127.0.0.1:1/nowhere" in answer.json()["detail"]


def test_export_is_pending_then_answers_with_its_url_once_ready(api, engine):
    rows = make_timeline(engine, "cloudflare:abc", [(1_000, 3_500)])
    clip = rows.clip_ids[0]
    first = api.post(f"/api/clips/{clip}/export", json={"format": "mp4", "resolution": "720p", "quality": "high"})
    assert first.status_code == 200
    assert first.json() | {"export_id": None} == {
        "export_id": None, "status": "pending", "url": None, "duration": None, "file_size": None,
        "expires_at": None, "error_message": None,
    }
    export_id = first.json()["export_id"]
    expires = datetime.now(timezone.utc) + timedelta(days=7)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE clip_exports SET status = 'ready', storage_path = 'exports/a.mp4', public_url = :url,"
                " duration_ms = 2500, file_size = 12345, expires_at = :expires WHERE id = :id"
            ),
            {"url": "https://files.example/exports/a.mp4", "expires": expires, "id": export_id},
        )
    again = api.post(f"/api/clips/{clip}/export", json={"resolution": "720p", "quality": "high"})
    assert again.json()["export_id"] == export_id
    assert again.json()["status"] == "ready"
    assert (again.json()["url"], again.json()["duration"], again.json()["file_size"]) == (
        "https://files.example/exports/a.mp4", 2.5, 12345,
    )
    polled = api.get(f"/api/clips/{clip}/exports/{export_id}")
    assert polled.json() == again.json()
    # another spec, no body at all: the defaults (1080p, medium) are a different export
    assert api.post(f"/api/clips/{clip}/export").json()["export_id"] != export_id
    # an export polled under another clip's id does not exist
    other = make_timeline(engine, "cloudflare:def", [(0, 1_000)]).clip_ids[0]
    assert api.get(f"/api/clips/{other}/exports/{export_id}").status_code == 404


def test_export_bad_input_names_the_field(api, engine):
    clip = make_timeline(engine, "cloudflare:abc", [(0, 1_000)]).clip_ids[0]
    assert field_errors(api.post(f"/api/clips/{clip}/export", json={"format": "avi"})) == [("body", "format")]
    assert field_errors(api.post(f"/api/clips/{clip}/export", json={"resolutoin": "720p"})) == [("body", "resolutoin")]


def test_ai_enhance_creates_a_pending_generation_with_an_estimate(api, engine):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 4_000)])
    clip = rows.clip_ids[0]
    answer = api.post(
        f"/api/clips/{clip}/ai-enhance",
        json={"provider": "kling", "task_type": "background_replace", "prompt": "a beach at dusk",
              "parameters": {"aspect_ratio": "16:9"}, "auto_apply": True},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["task_id"], body["estimated_time"]) == ("pending", None, 120.0)
    row = generation_row(engine, body["generation_id"])
    assert (row["source_clip_id"], row["model"], row["prompt"], row["auto_apply"]) == (
        clip, "kling-video-o1", "a beach at dusk", True,
    )
    assert row["parameters"] == {"aspect_ratio": "16:9"}

    # with history, the estimate is the provider's recent median
    for seconds in (30, 50, 70):
        make_generation(engine, clip, provider="runway", processing_time_ms=seconds * 1000)
    runway = api.post(f"/api/clips/{clip}/ai-enhance", json={"provider": "runway", "task_type": "scene_generate"})
    assert runway.json()["estimated_time"] == 50.0


def test_ai_enhance_bad_input_names_the_field(api, engine):
    clip = make_timeline(engine, "cloudflare:abc", [(0, 4_000)]).clip_ids[0]
    path = f"/api/clips/{clip}/ai-enhance"
    assert field_errors(api.post(path, json={"provider": "veo", "task_type": "lip_sync"})) == [("body", "task_type")]
    assert field_errors(api.post(path, json={"provider": "sora", "task_type": "lip_sync"})) == [("body", "provider")]
    assert field_errors(api.post(path, json={"task_type": "lip_sync"})) == [("body", "provider")]
    nul = api.post(path, json={"provider": "kling", "task_type": "lip_sync", "prompt": "a\x00b"})
    assert field_errors(nul) == [("body", "prompt")]
    deep = api.post(path, json={"provider": "kling", "task_type": "lip_sync", "parameters": {"a": ["\x00"]}})
    assert field_errors(deep) == [("body", "parameters")]
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM clip_ai_generations")).scalar() == 0


def test_generation_status_then_apply(api, engine):
    rows = make_timeline(engine, "cloudflare:abc", [(0, 2_000), (2_000, 3_000)])
    pending = make_generation(engine, rows.clip_ids[0], status="processing")
    status = api.get(f"/api/clips/ai-generations/{pending['id']}").json()
    assert (status["status"], status["progress"], status["result"]) == ("processing", 0, None)
    refused = api.post(f"/api/clips/ai-generations/{pending['id']}/apply", json={"mode": "replace"})
    assert refused.status_code == 409 and "not completed" in refused.json()["detail"]

    done = make_generation(engine, rows.clip_ids[0])
    status = api.get(f"/api/clips/ai-generations/{done['id']}").json()
    assert status["result"] == {"url": done["final_url"], "duration": 2.0, "applied": False, "applied_clip_id": None}

    path = f"/api/clips/ai-generations/{done['id']}/apply"
    assert field_errors(api.post(path, json={"mode": "insert"})) == [("body", "mode")]
    assert field_errors(api.post(path, json={"target_clip_id": "clip-1"})) == [("body", "target_clip_id")]
    assert api.post(path, json={"target_clip_id": UNKNOWN}).status_code == 404
    applied = api.post(path, json={"mode": "append"})
    assert applied.status_code == 200, applied.text
    assert applied.json() | {"clip_id": None} == {
        "clip_id": None, "track_id": str(rows.track_id), "start_time": 2_000, "end_time": 4_000,
    }
    assert api.post(path, json={"mode": "append"}).json() == applied.json()
    assert api.post(path, json={"mode": "overlay"}).status_code == 409
    status = api.get(f"/api/clips/ai-generations/{done['id']}").json()
    assert status["result"]["applied"] is True
    assert status["result"]["applied_clip_id"] == applied.json()["clip_id"]


def kling_envelope(task_id: str, task_status: str, url: str | None = None) -> dict:
    data = {"task_id": task_id, "task_status": task_status, "task_status_msg": "",
            "created_at": 1_764_000_000_000, "task_info": {"external_task_id": None}}
    if url:
        data["task_result"] = {"videos": [{"id": "v1", "url": url, "duration": "5.1"}]}
    return {"code": 0, "message": "SUCCEED", "request_id": "req-1", "data": data}


def test_kling_callback_updates_only_its_generation(api, engine):
    clip = make_timeline(engine, "cloudflare:abc", [(0, 5_000)]).clip_ids[0]
    ids = [
        api.post(f"/api/clips/{clip}/ai-enhance", json={"provider": "kling", "task_type": "background_replace"})
        .json()["generation_id"]
        for _ in range(2)
    ]
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE clip_ai_generations SET task_id = 'kt-' || id::text, status = 'processing'"))
    target = generation_row(engine, ids[0])
    path = f"/api/providers/kling/callback/{target['callback_token']}"
    no_auth = {"Authorization": ""}

    progress = api.post(path, json=kling_envelope(target["task_id"], "processing"), headers=no_auth)
    assert progress.status_code == 200 and progress.json() == {"received": True}
    assert generation_row(engine, ids[0])["provider_callback"]["data"]["task_status"] == "processing"

    video = "https://cdn.klingai.example/out/v1.mp4"
    done = api.post(path, json=kling_envelope(target["task_id"], "succeed", video), headers=no_auth)
    assert done.json() == {"received": True}
    stored = generation_row(engine, ids[0])
    assert stored["provider_callback"]["data"]["task_result"]["videos"][0]["url"] == video
    assert stored["provider_callback"]["data"]["task_info"] == {"external_task_id": None}  # kept as sent
    assert stored["provider_callback_at"] is not None
    assert stored["status"] == "processing"  # the completion sensor decides, not the callback

    late = api.post(path, json=kling_envelope(target["task_id"], "processing"), headers=no_auth)
    assert late.json() == {"received": False}
    assert generation_row(engine, ids[0])["provider_callback"]["data"]["task_status"] == "succeed"

    other_task = api.post(path, json=kling_envelope("kt-someone-else", "failed"), headers=no_auth)
    assert other_task.status_code == 409
    assert generation_row(engine, ids[1])["provider_callback"] is None

    assert api.post("/api/providers/kling/callback/" + "x" * 43, json=kling_envelope("t", "succeed")).status_code == 404
    assert field_errors(api.post(path, json={"code": 0, "message": "x"})) == [("body", "data")]
    bad_status = kling_envelope(target["task_id"], "done")
    assert field_errors(api.post(path, json=bad_status)) == [("body", "data", "task_status")]


def test_a_callback_token_of_another_provider_is_not_kling_s(api, engine):
    clip = make_timeline(engine, "cloudflare:abc", [(0, 5_000)]).clip_ids[0]
    runway = api.post(f"/api/clips/{clip}/ai-enhance", json={"provider": "runway", "task_type": "scene_generate"})
    token = generation_row(engine, runway.json()["generation_id"])["callback_token"]
    assert api.post(f"/api/providers/kling/callback/{token}", json=kling_envelope("t", "succeed")).status_code == 404


def test_shots_are_listed_and_split_a_clip(api, engine):
    rows = make_timeline(engine, "cloudflare:abc", [(1_000, 9_000), (0, 500)])
    clip, other = rows.clip_ids
    assert api.get(f"/api/assets/{rows.asset_id}/shots").json() == {"asset_id": str(rows.asset_id), "shots": []}
    refused = api.post(f"/api/clips/{clip}/shots")
    assert refused.status_code == 409 and "no shots detected" in refused.json()["detail"]

    shots.store_shots(
        engine, rows.asset_id,
        [shots.Shot(0, 2_500), shots.Shot(2_500, 6_000, 31.5), shots.Shot(6_000, 12_000, 28.0)],
    )
    listed = api.get(f"/api/assets/{rows.asset_id}/shots").json()["shots"]
    assert listed == [
        {"start_ms": 0, "end_ms": 2_500, "score": None},
        {"start_ms": 2_500, "end_ms": 6_000, "score": 31.5},
        {"start_ms": 6_000, "end_ms": 12_000, "score": 28.0},
    ]
    split = api.post(f"/api/clips/{clip}/shots")
    assert split.status_code == 200, split.text
    pieces = [(c["start_time"], c["end_time"], c["source_start"], c["source_end"]) for c in split.json()["clips"]]
    assert pieces == [(0, 1_500, 1_000, 2_500), (1_500, 5_000, 2_500, 6_000), (5_000, 8_000, 6_000, 9_000)]
    assert split.json()["clips"][0]["clip_id"] == str(clip)
    # the clip after it did not move; splitting the first piece again finds no cut inside it
    assert api.post(f"/api/clips/{other}/shots").json()["clips"][0]["start_time"] == 8_000
    assert len(api.post(f"/api/clips/{clip}/shots").json()["clips"]) == 1
