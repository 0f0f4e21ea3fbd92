"""Dagster resources: thin wrappers that hand services their database engine and settings."""

import dagster as dg
from sqlalchemy.engine import Engine

from clip_pipeline.db.engine import database_url, get_engine
from clip_pipeline.settings import Settings, get_settings


class DatabaseResource(dg.ConfigurableResource):
    """The app's PostgreSQL. `url` unset: CLIP_PIPELINE_DATABASE_URL, else the embedded server."""

    url: str | None = None

    def get_engine(self) -> Engine:
        return get_engine(self.url or database_url(get_settings()))


class SettingsResource(dg.ConfigurableResource):
    """Gives ops the app settings (read from CLIP_PIPELINE_* in the run's process)."""

    def get(self) -> Settings:
        return get_settings()
