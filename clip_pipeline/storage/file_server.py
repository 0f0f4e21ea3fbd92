"""The HTTP server behind local-disk URLs (`clip-pipeline serve-files`).

GET/HEAD /o/<bucket>/<key>?expires=..&signature=..  signed URL: tampered or expired -> 403
GET/HEAD /public/<bucket>/<key>                     only the public (results) bucket, else 403
Missing objects get 404; a single `Range: bytes=` request gets 206 (or 416 when unsatisfiable).
"""

from __future__ import annotations

import mimetypes
import re
import threading
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from clip_pipeline.settings import Settings
from clip_pipeline.storage.base import InvalidKey, is_valid_bucket_name, validate_key
from clip_pipeline.storage.local import PUBLIC_PREFIX, SIGNED_PREFIX
from clip_pipeline.storage.signing import UrlSigner, signer_for

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 256 * 1024

mimetypes.add_type("audio/mp4", ".m4a")


@dataclass
class FileServerHandle:
    base_url: str
    _server: ThreadingHTTPServer
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self) -> None:
        """Block until stop() is called (the foreground `serve-files` command)."""
        self._thread.join()


def start_file_server(settings: Settings, *, host: str | None = None, port: int | None = None) -> FileServerHandle:
    """Serve settings.local_storage_root in a background thread; port 0 picks a free port."""
    bind_host = host or settings.file_server_host
    bind_port = settings.file_server_port if port is None else port
    handler = _handler_class(
        root=settings.local_storage_root,
        signer=signer_for(settings),
        public_buckets=frozenset({settings.results_bucket}),
    )
    server = ThreadingHTTPServer((bind_host, bind_port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="clip-file-server", daemon=True)
    thread.start()
    actual_host, actual_port = server.server_address[:2]
    return FileServerHandle(f"http://{actual_host}:{actual_port}", server, thread)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """(start, end) for a satisfiable single range, None to serve everything, "unsatisfiable" for 416."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or not (match.group(1) or match.group(2)):
        return None  # RFC 9110: a Range we do not understand is ignored
    first, last = match.groups()
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if last and int(last) < start:
            return None
    else:
        start, end = max(0, size - int(last)), size - 1
        if int(last) == 0:
            return "unsatisfiable"
    if start >= size:
        return "unsatisfiable"
    return start, end


def _handler_class(*, root: Path, signer: UrlSigner, public_buckets: frozenset[str]):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "clip-pipeline-files"
        # Headers and body go out in separate writes; with Nagle on, each keep-alive request then
        # waits for the client's delayed ACK (~40 ms per Range probe).
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # noqa: A002 - access logs would leak signatures
            pass

        def do_GET(self):
            self._serve(send_body=True)

        def do_HEAD(self):
            self._serve(send_body=False)

        def _status(self, status: int) -> None:
            body = f"{status} {self.responses.get(status, ('',))[0]}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _authorized_path(self) -> Path | int:
            """The file a valid request names, or the HTTP status to answer."""
            url = urlsplit(self.path)
            prefix, _, rest = url.path.lstrip("/").partition("/")
            bucket, _, quoted_key = rest.partition("/")
            key = unquote(quoted_key)
            try:
                validate_key(key)
            except InvalidKey:
                return 404
            if not is_valid_bucket_name(bucket):
                return 404
            if prefix == SIGNED_PREFIX:
                query = parse_qs(url.query)
                expires = query.get("expires", [""])[0]
                signature = query.get("signature", [""])[0]
                if not signer.is_valid(bucket, key, expires, signature):
                    return 403
            elif prefix == PUBLIC_PREFIX:
                if bucket not in public_buckets:
                    return 403
            else:
                return 404
            return root / bucket / key

        def _serve(self, send_body: bool) -> None:
            target = self._authorized_path()
            if isinstance(target, int):
                self._status(target)
                return
            try:
                handle = open(target, "rb")
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                self._status(404)
                return
            with handle:
                stat = Path(handle.name).stat()
                size = stat.st_size
                span = parse_range(self.headers.get("Range"), size)
                if span == "unsatisfiable":
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end = span if span else (0, size - 1)
                self.send_response(206 if span else 200)
                self.send_header("Content-Type", mimetypes.guess_type(target.name)[0] or "application/octet-stream")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Last-Modified", formatdate(stat.st_mtime, usegmt=True))
                self.send_header("Content-Length", str(end - start + 1))
                if span:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.end_headers()
                if send_body and size:
                    handle.seek(start)
                    self._copy(handle, end - start + 1)

        def _copy(self, handle, remaining: int) -> None:
            try:
                while remaining > 0:
                    chunk = handle.read(min(remaining, _CHUNK))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    remaining -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (a player seeking elsewhere)

    return Handler
