"""The HTTP API the editor calls (FastAPI): exports, AI enhancement, apply, provider callbacks, shots."""

from clip_pipeline.api.app import create_app

__all__ = ["create_app"]
