"""The loopback CDN used as a test fixture lives with the simulators (the demo uses it too)."""

from clip_pipeline.simulators.cdn import Faults, LoopbackFileServer, RequestRecord, serve_directory

__all__ = ["Faults", "LoopbackFileServer", "RequestRecord", "serve_directory"]
