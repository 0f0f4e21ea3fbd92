"""The loopback CDN fixture answers HEAD and Range like a CDN and injects faults on request."""

from __future__ import annotations

import httpx
import pytest


def test_head_range_and_missing(file_server):
    payload = bytes(range(256)) * 40
    (file_server.root / "a.bin").write_bytes(payload)
    with httpx.Client() as client:
        head = client.head(file_server.url("a.bin"))
        assert head.status_code == 200 and head.headers["content-length"] == str(len(payload))
        assert head.content == b""
        part = client.get(file_server.url("a.bin"), headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == payload[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(payload)}"
        tail = client.get(file_server.url("a.bin"), headers={"Range": "bytes=-5"})
        assert tail.content == payload[-5:]
        beyond = client.get(file_server.url("a.bin"), headers={"Range": f"bytes={len(payload)}-"})
        assert beyond.status_code == 416
        assert client.get(file_server.url("missing.bin")).status_code == 404
        assert client.get(file_server.url("../../etc/passwd")).status_code == 404
    assert file_server.bytes_sent("a.bin") == 10 + 5


def test_injected_faults(file_server):
    (file_server.root / "b.bin").write_bytes(b"x" * 1000)
    file_server.faults.status_codes = [503]
    file_server.faults.drops = 1
    with httpx.Client() as client:
        assert client.get(file_server.url("b.bin")).status_code == 503
        with pytest.raises(httpx.HTTPError):
            client.get(file_server.url("b.bin"))
        assert client.get(file_server.url("b.bin")).content == b"x" * 1000
