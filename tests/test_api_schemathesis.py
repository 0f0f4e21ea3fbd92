"""Schemathesis against the API's own OpenAPI schema: whatever a client sends, valid or not, the
answer is never a 5xx and always matches the schema (status code, content type, body)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from clip_pipeline.api import create_app
from clip_pipeline.settings import Settings

API_KEY = "schemathesis-key"
# Built at import so schemathesis can read its schema (schemathesis' lazy fixture loader does not
# work with pytest 9); the database is bound per test below.
APP = create_app(Settings(api_key=API_KEY))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture
def app_database(database_url):
    APP.state.settings = Settings(api_key=API_KEY, database_url=database_url)
    APP.state.engine = None
    yield
    APP.state.engine = None


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_client_input_breaks_the_api(case, app_database):
    # positive_data_acceptance is left out on purpose: schema-valid input that the schema cannot
    # rule out is still refused with a 422 naming the field (a provider without that task, text
    # with NUL characters PostgreSQL cannot store).
    case.call_and_validate(
        headers={"Authorization": f"Bearer {API_KEY}"}, excluded_checks=[positive_data_acceptance]
    )
