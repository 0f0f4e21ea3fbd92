"""Schemathesis against the API's own OpenAPI schema: whatever a client sends, valid or not, the
answer is never a 5xx and always matches the schema (status code, content type, body) — both for
made-up ids and for ids of real rows (so bodies reach apply, ripple, callbacks and splits)."""

from __future__ import annotations

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from clip_pipeline.api import create_app
from clip_pipeline.services import requests, shots
from clip_pipeline.settings import Settings
from tests.support.generations import make_generation
from tests.support.timeline import make_timeline

API_KEY = "schemathesis-key"
# Built at import so schemathesis can read its schema (schemathesis' lazy fixture loader does not
# work with pytest 9); the database is bound per test below.
APP = create_app(Settings(api_key=API_KEY))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
def app_database(database_url):
    APP.state.settings = Settings(api_key=API_KEY, database_url=database_url)
    APP.state.engine = None
    yield
    APP.state.engine = None


@pytest.fixture
def real_ids(app_database, engine) -> dict[str, str]:
    """One of each thing a path can name: a clip with an export, a completed generation, shots, and
    a Kling generation waiting for its callback."""
    rows = make_timeline(engine, "cloudflare:abc", [(0, 3_000), (3_000, 6_000)])
    export = requests.select_clips(engine, [str(rows.clip_ids[0])])[0]
    generation = make_generation(engine, rows.clip_ids[0])
    waiting = requests.request_generation(engine, rows.clip_ids[1], provider="kling", task_type="lip_sync")
    shots.store_shots(engine, rows.asset_id, [shots.Shot(0, 1_500), shots.Shot(1_500, 6_000, 40.0)])
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM shot_segments")).scalar() == 2
    return {
        "clip_id": str(rows.clip_ids[0]),
        "export_id": str(export["id"]),
        "generation_id": str(generation["id"]),
        "asset_id": str(rows.asset_id),
        "token": waiting["callback_token"],
    }


def call_and_validate(case) -> None:
    # positive_data_acceptance is left out on purpose: schema-valid input that the schema cannot
    # rule out is still refused with a 422 naming the field (a provider without that task, text
    # with NUL characters PostgreSQL cannot store).
    case.call_and_validate(
        headers={"Authorization": f"Bearer {API_KEY}"}, excluded_checks=[positive_data_acceptance]
    )


@schema.parametrize()
@FUZZ
def test_no_client_input_breaks_the_api(case, app_database):
    call_and_validate(case)


@schema.parametrize()
@FUZZ
def test_no_body_breaks_the_api_on_real_rows(case, real_ids):
    case.path_parameters = {name: real_ids[name] for name in case.path_parameters or {}}
    call_and_validate(case)
