"""Uploads never lose a file: retries with backoff, a local cache when the store keeps failing, a
size check before anything counts as uploaded, and the later retry from the cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clip_pipeline.settings import Settings
from clip_pipeline.storage import InvalidKey, StorageError, StorageUnavailable, StoredObject, get_store
from clip_pipeline.storage.uploads import upload_cached, upload_with_fallback
from tests.support.supabase_fake import SupabaseStorageFake


@dataclass
class FlakyStore:
    """Wraps a real store: the first `failures` uploads raise StorageUnavailable; can misreport sizes."""

    inner: object
    failures: int = 0
    short_by: int = 0
    calls: list[str] = field(default_factory=list)

    @property
    def bucket(self) -> str:
        return self.inner.bucket

    def put_file(self, key, local_path, *, content_type, upsert=True):
        self.calls.append(key)
        if self.failures > 0:
            self.failures -= 1
            raise StorageUnavailable("store is down")
        stored = self.inner.put_file(key, local_path, content_type=content_type, upsert=upsert)
        return StoredObject(stored.key, stored.size - self.short_by)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def local_store(tmp_path):
    return get_store(Settings(_env_file=None, home=tmp_path / "home"), "clip-exports")


@pytest.fixture
def clip(tmp_path) -> Path:
    path = tmp_path / "work" / "clip.mp4"
    path.parent.mkdir()
    path.write_bytes(b"exact clip bytes" * 100)
    return path


def test_retries_with_backoff_then_uploads(local_store, clip, tmp_path):
    store = FlakyStore(local_store, failures=2)
    outcome = upload_with_fallback(store, "exports/c.mp4", clip, content_type="video/mp4",
                                   cache_dir=tmp_path / "cache", backoff_s=0.01)
    assert outcome.uploaded and outcome.cache_path is None and outcome.size == clip.stat().st_size
    assert len(store.calls) == 3
    assert local_store.download("exports/c.mp4", tmp_path / "back.mp4").read_bytes() == clip.read_bytes()
    assert not (tmp_path / "cache").exists()


def test_persistent_failure_keeps_the_file_in_the_cache_then_uploads_later(local_store, clip, tmp_path):
    down = FlakyStore(local_store, failures=99)
    outcome = upload_with_fallback(down, "exports/c.mp4", clip, content_type="video/mp4",
                                   cache_dir=tmp_path / "cache", attempts=3, backoff_s=0.01)
    assert not outcome.uploaded and len(down.calls) == 3
    assert outcome.cache_path == tmp_path / "cache" / "clip-exports" / "exports" / "c.mp4"
    assert outcome.cache_path.read_bytes() == clip.read_bytes()
    assert "store is down" in outcome.error
    assert not local_store.exists("exports/c.mp4")
    clip.unlink()  # the work file is gone: the cache is now the only copy

    still_down = upload_cached(down, "exports/c.mp4", outcome.cache_path, backoff_s=0.01)
    assert not still_down.uploaded and outcome.cache_path.exists()

    later = upload_cached(local_store, "exports/c.mp4", outcome.cache_path)
    assert later.uploaded and later.size == len(b"exact clip bytes" * 100)
    assert not outcome.cache_path.exists()
    with local_store.open("exports/c.mp4") as handle:
        assert handle.read() == b"exact clip bytes" * 100


def test_a_size_mismatch_never_counts_as_uploaded(local_store, clip, tmp_path):
    truncating = FlakyStore(local_store, short_by=1)
    outcome = upload_with_fallback(truncating, "exports/c.mp4", clip, content_type="video/mp4",
                                   cache_dir=tmp_path / "cache", attempts=2, backoff_s=0.01)
    assert not outcome.uploaded and "expected" in outcome.error
    assert outcome.cache_path.read_bytes() == clip.read_bytes()


def test_a_bad_key_fails_at_once_without_caching(local_store, clip, tmp_path):
    store = FlakyStore(local_store)
    with pytest.raises(InvalidKey):
        upload_with_fallback(store, "../c.mp4", clip, content_type="video/mp4", cache_dir=tmp_path / "cache")
    assert store.calls == [] and not (tmp_path / "cache").exists()


def test_a_missing_work_file_is_an_error_not_a_cache_entry(local_store, tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        upload_with_fallback(local_store, "exports/c.mp4", tmp_path / "nope.mp4", content_type="video/mp4",
                             cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_upload_cached_names_a_missing_cache_file(local_store, tmp_path):
    with pytest.raises(StorageError, match="missing"):
        upload_cached(local_store, "exports/c.mp4", tmp_path / "nothing.mp4")


def test_retry_through_the_real_supabase_client_after_server_errors(clip, tmp_path):
    fake = SupabaseStorageFake(buckets={"clip-exports": False}).start()
    try:
        settings = Settings(_env_file=None, home=tmp_path / "home", storage_backend="supabase",
                            supabase_url=fake.url, supabase_key=fake.service_key)
        store = get_store(settings, "clip-exports")
        fake.fail_next(2)
        outcome = upload_with_fallback(store, "exports/c.mp4", clip, content_type="video/mp4",
                                       cache_dir=tmp_path / "cache", backoff_s=0.01)
        assert outcome.uploaded
        assert fake.objects[("clip-exports", "exports/c.mp4")].data == clip.read_bytes()
    finally:
        fake.stop()
