"""Simulators and adapters wired together for tests (loopback, fast retries, tiny videos)."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from clip_pipeline.settings import Settings
from clip_pipeline.simulators.core import RunningServer

SECRETS = {
    "kling_access_key": "ak-test-0f1e2d3c",
    "kling_secret_key": "sk-test-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
    "google_api_key": "AIza-test-4b5c6d7e8f",
    "runway_api_secret": "key_test_1a2b3c4d5e6f",
}
TEST_SIZE = "256x144"


def provider_settings(tmp_path, **overrides) -> Settings:
    return Settings(home=tmp_path / "home", provider_retry_attempts=4, provider_retry_max_wait_s=0.05,
                    local_provider_size=TEST_SIZE, **{**SECRETS, **overrides})


@contextmanager
def running(simulator):
    """SIMULATOR served on a free loopback port (its base_url set) until the block ends."""
    server = RunningServer(simulator.app)
    simulator.base_url = server.base_url
    try:
        yield simulator
    finally:
        server.stop()
        simulator.core.shutdown()


class CallbackReceiver:
    """A loopback endpoint that records the JSON bodies POSTed to it (a provider's callbacks)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                receiver.paths.append(self.path)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
