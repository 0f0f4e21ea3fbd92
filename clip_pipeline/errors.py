"""Errors a user can act on: each carries one line that names the thing and what to do."""

from __future__ import annotations


class ClipPipelineError(Exception):
    """Base for errors shown to users as one line (no traceback). `exit_code` is the CLI status."""

    exit_code = 1


class ConfigurationError(ClipPipelineError):
    """A setting is missing or wrong."""

    exit_code = 2


class DatabaseUnavailable(ClipPipelineError):
    """The database URL is malformed or its server cannot be reached."""

    exit_code = 2


class NotFound(ClipPipelineError):
    """A clip, export, generation or object does not exist."""

    exit_code = 3


class Conflict(ClipPipelineError):
    """The request does not fit the current state (e.g. applying a generation that is not finished)."""

    exit_code = 4
