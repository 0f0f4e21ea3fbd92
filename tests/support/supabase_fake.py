"""A loopback fake of the Supabase Storage REST API (supabase/storage), faithful in the ways our
client code depends on:

- routes under /storage/v1 (Kong strips that prefix in front of the real server);
- object routes check only `Authorization: Bearer <JWT>` (HS256, claim `role`);
- every non-500 error on object routes is HTTP 400 with the real code in the JSON body
  (`{"statusCode": "404", "error": "not_found", "message": "Object not found"}`);
- upload via multipart (field `cacheControl`, part `file`) or a binary body; `x-upsert: true` only;
- signed URLs: POST /object/sign/{bucket}/{path} returns `/object/sign/...?token=JWT` where the JWT
  is {url: "bucket/path", iat, exp}; GET on it needs no auth; expired/tampered tokens are refused;
- public URLs only for public buckets; downloads honour HEAD and a single `Range`;
- TUS resumable uploads at /upload/resumable (POST create, PATCH with Upload-Offset, HEAD), with
  Supabase's rule that every chunk but the last is exactly 6 MiB; TUS routes use real HTTP codes.
Faults: `fail_next(n, path_contains=...)` answers the next n matching requests with HTTP 500.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import jwt

from clip_pipeline.storage.file_server import parse_range

PREFIX = "/storage/v1"
TUS_CHUNK = 6 * 1024 * 1024


@dataclass
class FakeObject:
    data: bytes
    content_type: str
    cache_control: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())


@dataclass
class TusUpload:
    bucket: str
    name: str
    length: int
    content_type: str
    cache_control: str
    upsert: bool
    data: bytearray = field(default_factory=bytearray)


class ApiError(Exception):
    def __init__(self, status_code: str, error: str, message: str) -> None:
        super().__init__(message)
        self.status_code, self.error, self.message = status_code, error, message


def not_found() -> ApiError:
    return ApiError("404", "not_found", "Object not found")


class SupabaseStorageFake:
    def __init__(self, *, jwt_secret: str = "fake-jwt-secret-at-least-32-bytes-long!", buckets: dict[str, bool]) -> None:
        self.jwt_secret = jwt_secret
        self.buckets = dict(buckets)  # name -> public
        self.objects: dict[tuple[str, str], FakeObject] = {}
        self.uploads: dict[str, TusUpload] = {}
        self.requests: list[tuple[str, str]] = []
        self.info_reports_size = True  # older servers return object info without a top-level `size`
        self._failures = 0
        self._failure_path = ""
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """What a project's SUPABASE_URL would be."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def token(self, role: str = "service_role", secret: str | None = None) -> str:
        now = int(time.time())
        payload = {"role": role, "iss": "supabase", "iat": now, "exp": now + 3600}
        return jwt.encode(payload, secret or self.jwt_secret, algorithm="HS256")

    @property
    def service_key(self) -> str:
        return self.token()

    def start(self) -> "SupabaseStorageFake":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, path_contains: str = "") -> None:
        with self._lock:
            self._failures, self._failure_path = count, path_contains

    def take_failure(self, method: str, path: str) -> bool:
        with self._lock:
            if self._failures > 0 and self._failure_path in f"{method} {path}":
                self._failures -= 1
                return True
            return False

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    # --- state changes (called from handler threads) ------------------------------------------

    def put_object(self, bucket: str, name: str, obj: FakeObject, *, upsert: bool) -> None:
        with self._lock:
            if bucket not in self.buckets:
                raise ApiError("404", "Bucket not found", "Bucket not found")
            if (bucket, name) in self.objects and not upsert:
                raise ApiError("409", "Duplicate", "The resource already exists")
            self.objects[(bucket, name)] = obj

    def get_object(self, bucket: str, name: str) -> FakeObject:
        with self._lock:
            if bucket not in self.buckets:
                raise ApiError("404", "Bucket not found", "Bucket not found")
            obj = self.objects.get((bucket, name))
        if obj is None:
            raise not_found()
        return obj


def _handler_class(fake: SupabaseStorageFake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else every keep-alive request waits ~40 ms for a delayed ACK

        def log_message(self, format, *args):  # noqa: A002
            pass

        # --- plumbing ------------------------------------------------------------------------

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, payload) -> None:
            self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

        def _api_error(self, error: ApiError) -> None:
            # The quirk: HTTP 400 for every non-500 error; the real code travels in the body.
            http_status = 500 if error.status_code.startswith("5") else 400
            self._json(http_status, {"statusCode": error.status_code, "code": error.error, "error": error.error, "message": error.message})

        def _authenticate(self) -> None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                raise ApiError("403", "Unauthorized", "headers must have required property 'authorization'")
            try:
                claims = jwt.decode(header[7:], fake.jwt_secret, algorithms=["HS256"])
            except jwt.ExpiredSignatureError:
                raise ApiError("400", "InvalidJWT", '"exp" claim timestamp check failed') from None
            except jwt.InvalidTokenError:
                raise ApiError("403", "Unauthorized", "invalid signature") from None
            if "role" not in claims:
                raise ApiError("403", "Unauthorized", "role claim missing")

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            fake.record(self.command, url.path)
            if fake.take_failure(self.command, url.path):
                self._body()  # drain it, so the connection stays usable
                self._json(500, {"statusCode": "500", "error": "internal", "message": "Internal Server Error"})
                return
            if not url.path.startswith(PREFIX + "/"):
                self._json(404, {"message": "no Route matched with those values"})
                return
            path = url.path[len(PREFIX):]
            query = parse_qs(url.query)
            try:
                if path.startswith("/upload/resumable"):
                    self._tus(path)
                    return
                self._object_route(path, query)
            except ApiError as error:
                self._api_error(error)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = lambda self: self._dispatch()  # noqa: E731

        # --- object routes -------------------------------------------------------------------

        def _object_route(self, path: str, query: dict[str, list[str]]) -> None:
            parts = [unquote(part) for part in path.strip("/").split("/")]
            method = self.command
            if parts[:2] == ["object", "sign"] and method in ("GET", "HEAD"):
                bucket, name = parts[2], "/".join(parts[3:])
                self._check_token(bucket, name, query.get("token", [""])[0])
                self._serve(fake.get_object(bucket, name))
                return
            if parts[:2] == ["object", "public"] and method in ("GET", "HEAD"):
                bucket, name = parts[2], "/".join(parts[3:])
                if not fake.buckets.get(bucket, False):
                    raise not_found()
                self._serve(fake.get_object(bucket, name))
                return
            self._authenticate()
            if parts[:2] == ["object", "sign"] and method == "POST":
                self._sign(parts[2], "/".join(parts[3:]))
            elif parts[:2] == ["object", "info"] and method == "GET":
                self._info(parts[2], "/".join(parts[3:]))
            elif parts[:2] == ["object", "authenticated"] and method in ("GET", "HEAD"):
                self._serve(fake.get_object(parts[2], "/".join(parts[3:])))
            elif parts[0] == "object" and len(parts) == 2 and method == "DELETE":
                self._remove(parts[1])
            elif parts[0] == "object" and len(parts) >= 3 and method in ("POST", "PUT"):
                self._upload(parts[1], "/".join(parts[2:]), update=method == "PUT")
            elif parts[0] == "object" and len(parts) >= 3 and method in ("GET", "HEAD"):
                self._serve(fake.get_object(parts[1], "/".join(parts[2:])))
            else:
                raise ApiError("404", "not_found", f"Route {method}:{path} not found")

        def _upload(self, bucket: str, name: str, *, update: bool) -> None:
            body = self._body()
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("multipart/form-data"):
                data, content_type, cache_control = _parse_multipart(content_type, body)
            else:
                data, cache_control = body, self.headers.get("Cache-Control", "no-cache")
            if update:
                fake.get_object(bucket, name)
            obj = FakeObject(data, content_type or "application/octet-stream", cache_control)
            fake.put_object(bucket, name, obj, upsert=update or self.headers.get("x-upsert") == "true")
            self._json(200, {"Id": obj.id, "Key": f"{bucket}/{name}"})

        def _info(self, bucket: str, name: str) -> None:
            obj = fake.get_object(bucket, name)
            info = {
                "id": obj.id, "name": name, "bucket_id": bucket, "version": obj.id,
                "size": len(obj.data), "content_type": obj.content_type, "cache_control": obj.cache_control,
                "etag": f'"{obj.id}"', "last_modified": obj.created_at, "created_at": obj.created_at,
                "metadata": {},  # user metadata
            }
            if not fake.info_reports_size:
                del info["size"]
            self._json(200, info)

        def _remove(self, bucket: str) -> None:
            if bucket not in fake.buckets:
                raise ApiError("404", "Bucket not found", "Bucket not found")
            prefixes = json.loads(self._body() or b"{}").get("prefixes", [])
            removed = []
            with fake._lock:
                for name in prefixes:
                    obj = fake.objects.pop((bucket, name), None)
                    if obj is not None:
                        removed.append({"name": name, "bucket_id": bucket, "id": obj.id})
            self._json(200, removed)

        def _sign(self, bucket: str, name: str) -> None:
            payload = json.loads(self._body() or b"{}")
            expires_in = payload.get("expiresIn")
            try:
                seconds = int(expires_in)
            except (TypeError, ValueError):
                seconds = 0
            if seconds < 1:
                raise ApiError("400", "InvalidRequest", "expiresIn must be a number greater than 0")
            fake.get_object(bucket, name)
            now = int(time.time())
            token = jwt.encode({"url": f"{bucket}/{name}", "scope": "download", "iat": now, "exp": now + seconds},
                               fake.jwt_secret, algorithm="HS256")
            self._json(200, {"signedURL": f"/object/sign/{quote(bucket)}/{quote(name)}?token={token}"})

        def _check_token(self, bucket: str, name: str, token: str) -> None:
            try:
                claims = jwt.decode(token, fake.jwt_secret, algorithms=["HS256"])
            except jwt.ExpiredSignatureError:
                raise ApiError("400", "InvalidJWT", "The provided token has expired.") from None
            except jwt.InvalidTokenError:
                raise ApiError("400", "InvalidJWT", "invalid signature") from None
            if claims.get("url") != f"{bucket}/{name}":
                raise ApiError("400", "InvalidSignature", "The url do not match the signature")

        def _serve(self, obj: FakeObject) -> None:
            size = len(obj.data)
            span = parse_range(self.headers.get("Range"), size)
            base = {"Content-Type": obj.content_type, "Cache-Control": obj.cache_control,
                    "Accept-Ranges": "bytes", "ETag": f'"{obj.id}"'}
            if span == "unsatisfiable":
                self._send(416, b"", {"Content-Range": f"bytes */{size}"})
            elif span:
                start, end = span
                self._send(206, obj.data[start:end + 1], {**base, "Content-Range": f"bytes {start}-{end}/{size}"})
            else:
                self._send(200, obj.data, base)

        # --- TUS -----------------------------------------------------------------------------

        def _tus(self, path: str) -> None:
            tus_headers = {"Tus-Resumable": "1.0.0"}
            try:
                self._authenticate()
            except ApiError as error:
                self._send(401, error.message.encode(), tus_headers)
                return
            upload_id = path[len("/upload/resumable"):].strip("/")
            if self.command == "POST" and not upload_id:
                self._tus_create(tus_headers)
                return
            upload = fake.uploads.get(upload_id)
            if upload is None:
                self._send(404, b"Upload not found", tus_headers)
            elif self.command == "HEAD":
                self._send(200, b"", {**tus_headers, "Upload-Offset": str(len(upload.data)),
                                      "Upload-Length": str(upload.length), "Cache-Control": "no-store"})
            elif self.command == "PATCH":
                self._tus_patch(upload_id, upload, tus_headers)
            else:
                self._send(405, b"", tus_headers)

        def _tus_create(self, tus_headers: dict[str, str]) -> None:
            metadata = {}
            for pair in (self.headers.get("Upload-Metadata") or "").split(","):
                key, _, value = pair.strip().partition(" ")
                if key:
                    metadata[key] = base64.b64decode(value).decode() if value else ""
            bucket, name = metadata.get("bucketName", ""), metadata.get("objectName", "")
            if bucket not in fake.buckets or not name:
                self._send(404, b"Bucket not found", tus_headers)
                return
            upsert = self.headers.get("x-upsert") == "true"
            if (bucket, name) in fake.objects and not upsert:
                self._send(409, b"The resource already exists", tus_headers)
                return
            upload_id = uuid.uuid4().hex
            fake.uploads[upload_id] = TusUpload(bucket, name, int(self.headers.get("Upload-Length") or 0),
                                                metadata.get("contentType", "application/octet-stream"),
                                                metadata.get("cacheControl", "3600"), upsert)
            location = f"{fake.url}{PREFIX}/upload/resumable/{upload_id}"
            self._send(201, b"", {**tus_headers, "Location": location, "Upload-Offset": "0"})

        def _tus_patch(self, upload_id: str, upload: TusUpload, tus_headers: dict[str, str]) -> None:
            chunk = self._body()
            if int(self.headers.get("Upload-Offset", "-1")) != len(upload.data):
                self._send(409, b"Upload-Offset mismatch", tus_headers)
                return
            is_last = len(upload.data) + len(chunk) >= upload.length
            if not is_last and len(chunk) != TUS_CHUNK:
                self._send(400, b"chunk size must be 6MB", tus_headers)
                return
            upload.data.extend(chunk)
            if len(upload.data) == upload.length:
                obj = FakeObject(bytes(upload.data), upload.content_type, f"max-age={upload.cache_control}")
                try:
                    fake.put_object(upload.bucket, upload.name, obj, upsert=upload.upsert)
                except ApiError as error:
                    self._send(int(error.status_code), error.message.encode(), tus_headers)
                    return
                fake.uploads.pop(upload_id, None)
            self._send(204, b"", {**tus_headers, "Upload-Offset": str(len(upload.data))})

    return Handler


def _parse_multipart(content_type: str, body: bytes) -> tuple[bytes, str, str]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    data, part_type, cache_control = b"", "", "no-cache"
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name == "file":
            data, part_type = part.get_payload(decode=True) or b"", part.get_content_type()
        elif name == "cacheControl":
            cache_control = f"max-age={part.get_payload(decode=True).decode()}"
        elif name == "contentType":
            part_type = part.get_payload(decode=True).decode()
    return data, part_type, cache_control
