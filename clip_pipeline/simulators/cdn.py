"""A loopback CDN (the stand-in for Cloudflare Stream's delivery hosts): serves a folder with HEAD and
single Range requests, keeps a request log (to measure bytes fetched) and injects faults on request
(5xx answers, dropped connections). The demo serves its synthetic HLS source with it; tests use it
as the origin of HTTP and HLS sources."""

from __future__ import annotations

import mimetypes
import os
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

mimetypes.add_type("application/vnd.apple.mpegurl", ".m3u8")
mimetypes.add_type("video/mp2t", ".ts")
mimetypes.add_type("video/iso.segment", ".m4s")
mimetypes.add_type("audio/mp4", ".m4a")

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class RequestRecord:
    method: str
    path: str
    range: str | None
    status: int
    bytes_sent: int


@dataclass
class Faults:
    """Faults applied to the next requests whose path matches `path_contains` (any path if empty)."""

    status_codes: list[int] = field(default_factory=list)  # answer these codes, one per request
    drops: int = 0  # close the connection after the headers this many times
    path_contains: str = ""


class LoopbackFileServer:
    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = Path(root)
        self.requests: list[RequestRecord] = []
        self.faults = Faults()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, relative_path: str) -> str:
        return f"{self.base_url}/{relative_path.lstrip('/')}"

    def start(self) -> "LoopbackFileServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bytes_sent(self, path_contains: str = "") -> int:
        with self._lock:
            return sum(r.bytes_sent for r in self.requests if path_contains in r.path)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _take_fault(self, path: str) -> tuple[int | None, bool]:
        with self._lock:
            if self.faults.path_contains not in path:
                return None, False
            if self.faults.status_codes:
                return self.faults.status_codes.pop(0), False
            if self.faults.drops > 0:
                self.faults.drops -= 1
                return None, True
            return None, False

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
                pass

            def do_HEAD(self):
                self._serve(send_body=False)

            def do_GET(self):
                self._serve(send_body=True)

            def _finish(self, status: int, sent: int, range_header: str | None) -> None:
                server._record(RequestRecord(self.command, self.path, range_header, status, sent))

            def _error(self, status: int, range_header: str | None) -> None:
                body = f"{status}\n".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                self._finish(status, 0, range_header)

            def _serve(self, send_body: bool) -> None:
                range_header = self.headers.get("Range")
                path = unquote(urlsplit(self.path).path)
                fault_status, drop = server._take_fault(path)
                if fault_status is not None:
                    self._error(fault_status, range_header)
                    return
                target = (server.root / path.lstrip("/")).resolve()
                if not target.is_relative_to(server.root.resolve()) or not target.is_file():
                    self._error(404, range_header)
                    return
                size = target.stat().st_size
                start, end, status = 0, size - 1, 200
                if range_header:
                    match = _RANGE.match(range_header.strip())
                    if not match or (not match.group(1) and not match.group(2)):
                        self._error(416, range_header)
                        return
                    if match.group(1):
                        start = int(match.group(1))
                        end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
                    else:
                        start = max(0, size - int(match.group(2)))
                    if start >= size or start > end:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        self._finish(416, 0, range_header)
                        return
                    status = 206
                length = end - start + 1
                self.send_response(status)
                content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                self.send_header("Content-Type", content_type)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(length))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.end_headers()
                if drop:
                    self.wfile.flush()
                    self.connection.shutdown(2)  # socket.SHUT_RDWR: the peer sees a cut-off body
                    self._finish(status, 0, range_header)
                    return
                sent = 0
                if send_body:
                    with open(target, "rb") as handle:
                        handle.seek(start)
                        remaining = length
                        while remaining > 0:
                            chunk = handle.read(min(remaining, 256 * 1024))
                            if not chunk:
                                break
                            try:
                                self.wfile.write(chunk)
                            except (BrokenPipeError, ConnectionResetError):
                                break
                            sent += len(chunk)
                            remaining -= len(chunk)
                self._finish(status, sent, range_header)

        return Handler


def serve_directory(root: os.PathLike[str] | str, port: int = 0) -> LoopbackFileServer:
    return LoopbackFileServer(Path(root), port).start()
