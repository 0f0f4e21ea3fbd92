"""One contract suite over every object store backend (local disk, Supabase through the real storage3
client against a loopback fake of its REST API, S3 through boto3 against a real SeaweedFS), plus the
backend-specific parts: the local file server, TUS uploads, Supabase error quirks, SigV4 limits."""

from __future__ import annotations

import os
import stat
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from clip_pipeline.errors import ConfigurationError
from clip_pipeline.settings import Settings
from clip_pipeline.simulators.loopback import free_port
from clip_pipeline.storage import (
    InvalidKey,
    ObjectExists,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageUnavailable,
    get_store,
)
from clip_pipeline.storage.file_server import start_file_server
from clip_pipeline.storage.signing import SIGNING_KEY_FILE, signer_for
from tests.support.seaweedfs import SeaweedUnavailable, start_seaweedfs
from tests.support.supabase_fake import SupabaseStorageFake

EXPORTS, RESULTS = "clip-exports", "ai-results"
BACKENDS = ["local", "supabase", "s3"]


def make_settings(home: Path, **overrides) -> Settings:
    return Settings(_env_file=None, home=home, **overrides)


@dataclass
class Backend:
    name: str
    private: ObjectStore  # the exports bucket: signed URLs only
    public: ObjectStore  # the results bucket: public URLs too
    denied: int  # the HTTP status a refused signed URL gets (Supabase: 400 for everything)
    prefix: str  # keys of this test live under it (SeaweedFS is shared by the session)

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    try:
        server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), [EXPORTS, RESULTS], public_buckets=[RESULTS])
    except SeaweedUnavailable as exc:
        pytest.skip(f"SeaweedFS (S3) cannot start here: {exc}")
    yield server
    server.stop()


@pytest.fixture
def supabase_fake():
    fake = SupabaseStorageFake(buckets={EXPORTS: False, RESULTS: True}).start()
    yield fake
    fake.stop()


@pytest.fixture
def local_server(tmp_path):
    """Local settings plus a running file server whose address the signed URLs use."""
    settings = make_settings(tmp_path / "home", file_server_port=0)
    handle = start_file_server(settings, port=0)
    settings = make_settings(tmp_path / "home", public_base_url=handle.base_url)
    yield settings, handle
    handle.stop()


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Backend:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    if request.param == "local":
        settings, _ = request.getfixturevalue("local_server")
        denied = 403
    elif request.param == "supabase":
        fake = request.getfixturevalue("supabase_fake")
        settings = make_settings(tmp_path / "home", storage_backend="supabase", supabase_url=fake.url,
                                 supabase_key=fake.service_key)
        denied = 400
    else:
        seaweed = request.getfixturevalue("seaweed")
        settings = make_settings(tmp_path / "home", storage_backend="s3", s3_endpoint_url=seaweed.endpoint_url,
                                 s3_access_key_id="clip-test-access", s3_secret_access_key="clip-test-secret-key")
        denied = 403
    return Backend(request.param, get_store(settings, EXPORTS), get_store(settings, RESULTS), denied, prefix)


@pytest.fixture
def media_file(tmp_path) -> Path:
    path = tmp_path / "clip.mp4"
    # Binary content with CR/LF and NUL bytes, which a careless multipart parser would mangle.
    path.write_bytes(os.urandom(3000) + b"\r\n\r\n--x\r\n\n\0" + os.urandom(2000))
    return path


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- the contract ------------------------------------------------------------------------------


def test_put_exists_download_open_delete(backend, media_file, tmp_path):
    store, key = backend.private, backend.key("exports/c1_abc.mp4")
    assert not store.exists(key)
    stored = store.put_file(key, media_file, content_type="video/mp4")
    assert (stored.key, stored.size) == (key, media_file.stat().st_size)
    assert store.exists(key)
    assert store.download(key, tmp_path / "back.mp4").read_bytes() == media_file.read_bytes()
    with store.open(key) as handle:
        assert handle.read() == media_file.read_bytes()
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # idempotent
    with pytest.raises(ObjectNotFound):
        store.download(key, tmp_path / "gone.mp4")
    with pytest.raises(ObjectNotFound):
        store.open(key)
    assert not (tmp_path / "gone.mp4").exists()


def test_upsert_replaces_and_no_upsert_refuses(backend, tmp_path):
    store, key = backend.private, backend.key("exports/upsert.mp4")
    store.put_file(key, write(tmp_path, "a.mp4", b"first version"), content_type="video/mp4")
    stored = store.put_file(key, write(tmp_path, "b.mp4", b"second, longer version"), content_type="video/mp4")
    assert stored.size == len(b"second, longer version")
    with pytest.raises(ObjectExists):
        store.put_file(key, write(tmp_path, "c.mp4", b"third"), content_type="video/mp4", upsert=False)
    with store.open(key) as handle:
        assert handle.read() == b"second, longer version"


def test_signed_url_serves_get_head_and_range_without_credentials(backend, media_file):
    store, key = backend.private, backend.key("exports/range me.mp4")  # a space needs quoting
    store.put_file(key, media_file, content_type="video/mp4")
    data = media_file.read_bytes()
    url = store.url(key, timedelta(hours=1))
    full = httpx.get(url)
    assert full.status_code == 200 and full.content == data
    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    probe = httpx.get(url, headers={"Range": "bytes=0-0"})  # how a client learns the size on every backend
    assert probe.headers["content-range"] == f"bytes 0-0/{len(data)}"
    head = httpx.head(url)
    if backend.name == "s3":
        assert head.status_code == 403  # a SigV4 URL presigned for GET does not cover HEAD (real S3 too)
    else:
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(data)


def test_signed_url_expires(backend, tmp_path):
    store, key = backend.private, backend.key("exports/short.mp4")
    store.put_file(key, write(tmp_path, "s.mp4", b"short-lived"), content_type="video/mp4")
    issued = time.time()
    url = store.url(key, timedelta(seconds=2))  # expiry has whole-second resolution: > 1 s remain
    assert httpx.get(url).status_code == 200
    deadline = issued + 15
    while (status := httpx.get(url).status_code) == 200 and time.time() < deadline:
        time.sleep(0.2)
    assert status == backend.denied
    assert time.time() - issued >= 1


def test_tampered_signed_url_is_refused(backend, tmp_path):
    store = backend.private
    secret_key, other_key = backend.key("exports/secret.mp4"), backend.key("exports/other.mp4")
    store.put_file(secret_key, write(tmp_path, "a.mp4", b"secret"), content_type="video/mp4")
    store.put_file(other_key, write(tmp_path, "b.mp4", b"other"), content_type="video/mp4")
    url = store.url(other_key, timedelta(hours=1))
    assert httpx.get(url).content == b"other"
    # the same signature for another object
    assert httpx.get(url.replace("other.mp4", "secret.mp4")).status_code == backend.denied
    # a changed signature / token
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    field = next(name for name in query if name.lower() in ("signature", "x-amz-signature", "token"))
    value = query[field]
    query[field] = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    assert httpx.get(urlunsplit(parts._replace(query=urlencode(query)))).status_code == backend.denied


def test_public_url_only_for_the_public_bucket(backend, tmp_path):
    key = backend.key(f"ai-results/{uuid.uuid4()}.mp4")
    backend.public.put_file(key, write(tmp_path, "r.mp4", b"final result"), content_type="video/mp4")
    public_url = backend.public.url(key, None)
    response = httpx.get(public_url)
    assert response.status_code == 200 and response.content == b"final result"
    backend.private.put_file(key, write(tmp_path, "e.mp4", b"export"), content_type="video/mp4")
    with pytest.raises(StorageError, match="private"):
        backend.private.url(key, None)


def test_url_of_missing_object_is_not_found(backend):
    with pytest.raises(ObjectNotFound):
        backend.private.url(backend.key("exports/missing.mp4"), timedelta(minutes=5))
    with pytest.raises(ObjectNotFound):
        backend.public.url(backend.key("ai-results/missing.mp4"), None)


@pytest.mark.parametrize("bad_key", ["../escape.mp4", "exports/../../etc/passwd", "/etc/passwd", "", "a//b.mp4",
                                     "a/./b.mp4", "bad\x00key", "line\nbreak", "back\\slash", "C:/windows"])
def test_keys_that_escape_are_refused(backend, bad_key, media_file, tmp_path):
    store = backend.private
    with pytest.raises(InvalidKey):
        store.put_file(bad_key, media_file, content_type="video/mp4")
    for call in (lambda: store.exists(bad_key), lambda: store.delete(bad_key), lambda: store.open(bad_key),
                 lambda: store.download(bad_key, tmp_path / "x"), lambda: store.url(bad_key, timedelta(minutes=1))):
        with pytest.raises(InvalidKey):
            call()
    assert not (tmp_path / "escape.mp4").exists()


def test_missing_local_file_is_a_clear_error(backend, tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        backend.private.put_file(backend.key("x.mp4"), tmp_path / "nope.mp4", content_type="video/mp4")


# --- local disk and its file server --------------------------------------------------------------


def test_local_files_live_under_root_bucket_key_and_uploads_are_atomic(local_server, tmp_path):
    settings, _ = local_server
    store = get_store(settings, EXPORTS)
    store.put_file("exports/a.mp4", write(tmp_path, "a.mp4", b"abc"), content_type="video/mp4")
    assert (settings.local_storage_root / EXPORTS / "exports" / "a.mp4").read_bytes() == b"abc"
    assert list((settings.local_storage_root / ".incoming").iterdir()) == []
    store.delete("exports")  # a key prefix, not an object: nothing happens
    assert store.exists("exports/a.mp4")


def test_local_server_answers_404_416_and_refuses_unsigned(local_server, tmp_path):
    settings, handle = local_server
    store = get_store(settings, EXPORTS)
    store.put_file("exports/a.mp4", write(tmp_path, "a.mp4", b"0123456789"), content_type="video/mp4")
    url = store.url("exports/a.mp4", timedelta(minutes=5))
    assert httpx.get(url, headers={"Range": "bytes=20-"}).status_code == 416
    assert httpx.get(url, headers={"Range": "bytes=-3"}).content == b"789"
    assert httpx.get(url).headers["content-type"] == "video/mp4"
    store.delete("exports/a.mp4")
    assert httpx.get(url).status_code == 404
    assert httpx.get(f"{handle.base_url}/o/{EXPORTS}/exports/a.mp4").status_code == 403
    assert httpx.get(f"{handle.base_url}/public/{EXPORTS}/exports/a.mp4").status_code == 403
    assert httpx.get(f"{handle.base_url}/o/{EXPORTS}/..%2F..%2Furl-signing.key").status_code == 404


def test_local_signing_key_is_generated_once_with_private_permissions(tmp_path):
    settings = make_settings(tmp_path / "home")
    first = signer_for(settings).signature(EXPORTS, "k.mp4", 100)
    key_file = settings.home / SIGNING_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert signer_for(make_settings(tmp_path / "home")).signature(EXPORTS, "k.mp4", 100) == first
    configured = make_settings(tmp_path / "home", url_signing_key="x" * 32)
    assert signer_for(configured).signature(EXPORTS, "k.mp4", 100) != first
    with pytest.raises(ConfigurationError, match="too short"):
        signer_for(make_settings(tmp_path / "home", url_signing_key="short"))


def test_serve_files_command_serves_signed_urls(clip_env, tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    port = free_port()
    env = {**os.environ, **clip_env, "PYTHONPATH": str(REPO_ROOT), "CLIP_PIPELINE_FILE_SERVER_PORT": str(port)}
    settings = make_settings(Path(clip_env["CLIP_PIPELINE_HOME"]), file_server_port=port)
    store = get_store(settings, RESULTS)
    store.put_file("ai-results/g1.mp4", write(tmp_path, "g.mp4", b"generated"), content_type="video/mp4")
    process = subprocess.Popen([sys.executable, "-m", "clip_pipeline", "serve-files"], env=env, cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_line = process.stdout.readline()
        assert f":{port}" in first_line, first_line + process.stderr.read()
        assert httpx.get(store.url("ai-results/g1.mp4", timedelta(minutes=1))).content == b"generated"
        assert httpx.get(store.url("ai-results/g1.mp4", None)).content == b"generated"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_files_on_a_busy_port_is_one_line_and_non_zero(tmp_path):
    from tests.conftest import run_cli

    settings = make_settings(tmp_path / "home")
    handle = start_file_server(settings, port=0)
    try:
        port = handle.base_url.rsplit(":", 1)[1]
        result = run_cli("serve-files", "--port", port, env={"CLIP_PIPELINE_HOME": str(tmp_path / "home")})
    finally:
        handle.stop()
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "pick another --port" in result.stderr


# --- Supabase specifics --------------------------------------------------------------------------


def supabase_store(fake: SupabaseStorageFake, tmp_path: Path, bucket: str = EXPORTS, key: str | None = None):
    settings = make_settings(tmp_path / "home", storage_backend="supabase", supabase_url=fake.url,
                             supabase_key=key or fake.service_key)
    return get_store(settings, bucket)


def test_supabase_large_files_go_through_tus_in_6_mib_chunks(supabase_fake, tmp_path):
    store = supabase_store(supabase_fake, tmp_path)
    data = os.urandom(13 * 1024 * 1024 + 5)
    stored = store.put_file("exports/big.mp4", write(tmp_path, "big.mp4", data), content_type="video/mp4")
    assert stored.size == len(data)
    patches = [path for method, path in supabase_fake.requests if method == "PATCH"]
    assert len(patches) == 3 and all("/storage/v1/upload/resumable/" in path for path in patches)
    assert supabase_fake.objects[(EXPORTS, "exports/big.mp4")].data == data
    assert supabase_fake.objects[(EXPORTS, "exports/big.mp4")].content_type == "video/mp4"
    with pytest.raises(ObjectExists):
        store.put_file("exports/big.mp4", write(tmp_path, "big2.mp4", data), content_type="video/mp4", upsert=False)


def test_supabase_tus_upload_resumes_after_a_failed_chunk(supabase_fake, tmp_path):
    store = supabase_store(supabase_fake, tmp_path)
    data = os.urandom(7 * 1024 * 1024)
    supabase_fake.fail_next(1, path_contains="PATCH /storage/v1/upload/resumable/")
    store.put_file("exports/resumed.mp4", write(tmp_path, "r.mp4", data), content_type="video/mp4")
    assert supabase_fake.objects[(EXPORTS, "exports/resumed.mp4")].data == data
    methods = [method for method, path in supabase_fake.requests if "/upload/resumable" in path]
    assert methods == ["POST", "PATCH", "HEAD", "PATCH", "PATCH"]  # failed chunk, offset asked, resumed


def test_supabase_small_upload_keeps_content_type_and_cache_control(supabase_fake, tmp_path):
    store = supabase_store(supabase_fake, tmp_path)
    store.put_file("exports/a.m4a", write(tmp_path, "a.m4a", b"audio"), content_type="audio/mp4")
    stored = supabase_fake.objects[(EXPORTS, "exports/a.m4a")]
    assert (stored.content_type, stored.cache_control) == ("audio/mp4", "max-age=3600")


def test_supabase_size_check_works_when_info_has_no_size(supabase_fake, tmp_path):
    supabase_fake.info_reports_size = False
    stored = supabase_store(supabase_fake, tmp_path).put_file(
        "exports/a.mp4", write(tmp_path, "a.mp4", b"12345"), content_type="video/mp4")
    assert stored.size == 5
    assert ("HEAD", f"/storage/v1/object/authenticated/{EXPORTS}/exports/a.mp4") in supabase_fake.requests


def test_supabase_errors_come_from_the_body_not_the_http_status(supabase_fake, tmp_path):
    raw = httpx.get(f"{supabase_fake.url}/storage/v1/object/{EXPORTS}/nope.mp4",
                    headers={"Authorization": f"Bearer {supabase_fake.service_key}"})
    assert raw.status_code == 400 and raw.json()["statusCode"] == "404"
    wrong_key = supabase_store(supabase_fake, tmp_path, key=supabase_fake.token(secret="another-secret-of-32-bytes-or-more"))
    with pytest.raises(StorageError, match="SUPABASE_KEY") as refused:
        wrong_key.exists("exports/a.mp4")
    assert "eyJ" not in str(refused.value)  # the key itself never shows up
    with pytest.raises(StorageError, match="Bucket not found"):
        supabase_store(supabase_fake, tmp_path, bucket="no-such-bucket").put_file(
            "a.mp4", write(tmp_path, "a.mp4", b"x"), content_type="video/mp4")
    supabase_fake.fail_next(1)
    with pytest.raises(StorageUnavailable):
        supabase_store(supabase_fake, tmp_path).exists("exports/a.mp4")


def test_supabase_unreachable_is_storage_unavailable(tmp_path):
    settings = make_settings(tmp_path / "home", storage_backend="supabase",
                             supabase_url=f"http://127.0.0.1:{free_port()}", supabase_key="k")
    with pytest.raises(StorageUnavailable):
        get_store(settings, EXPORTS).exists("exports/a.mp4")


def test_supabase_backend_needs_url_and_key(tmp_path):
    with pytest.raises(ConfigurationError, match="SUPABASE_URL"):
        get_store(make_settings(tmp_path, storage_backend="supabase"), EXPORTS)


# --- S3 specifics --------------------------------------------------------------------------------


def test_s3_presigns_with_sigv4_and_at_most_seven_days(seaweed, tmp_path):
    settings = make_settings(tmp_path / "home", storage_backend="s3", s3_endpoint_url=seaweed.endpoint_url,
                             s3_access_key_id="clip-test-access", s3_secret_access_key="clip-test-secret-key")
    store = get_store(settings, EXPORTS)
    key = f"t{uuid.uuid4().hex[:8]}/exports/week.mp4"
    store.put_file(key, write(tmp_path, "w.mp4", b"week"), content_type="video/mp4")
    url = store.url(key, timedelta(seconds=settings.export_url_ttl_s))
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=604800" in url
    assert httpx.get(url).content == b"week"
    with pytest.raises(StorageError, match="7 days"):
        store.url(key, timedelta(days=8))


def test_s3_wrong_secret_is_a_clear_error_without_the_secret(seaweed, tmp_path):
    settings = make_settings(tmp_path / "home", storage_backend="s3", s3_endpoint_url=seaweed.endpoint_url,
                             s3_access_key_id="clip-test-access", s3_secret_access_key="wrong-secret-value")
    with pytest.raises(StorageError) as refused:
        get_store(settings, EXPORTS).put_file("a.mp4", write(tmp_path, "a.mp4", b"x"), content_type="video/mp4")
    assert "wrong-secret-value" not in str(refused.value)


def test_invalid_bucket_name_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="bucket name"):
        get_store(make_settings(tmp_path), "../up")
