"""AI video providers (Kling, Veo, Runway, local) behind one task model; see base.py."""

from __future__ import annotations

from clip_pipeline.errors import ConfigurationError
from clip_pipeline.providers.base import Provider
from clip_pipeline.settings import Settings

PROVIDER_NAMES = ("kling", "veo", "runway", "local")


def get_provider(name: str, settings: Settings) -> Provider:
    """The adapter for NAME ("kling" | "veo" | "runway" | "local") configured from SETTINGS."""
    if name == "local":
        from clip_pipeline.providers.local import LocalProvider

        return LocalProvider(settings)
    if name == "kling":
        from clip_pipeline.providers.kling import KlingProvider

        return KlingProvider(settings)
    if name == "veo":
        from clip_pipeline.providers.veo import VeoProvider

        return VeoProvider(settings)
    if name == "runway":
        from clip_pipeline.providers.runway import RunwayProvider

        return RunwayProvider(settings)
    raise ConfigurationError(f"unknown provider '{name}'; choose one of {', '.join(PROVIDER_NAMES)}")
