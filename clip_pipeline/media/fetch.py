"""HTTP reads for the media layer: retries with backoff on 5xx and dropped connections (tenacity),
an immediate clear error on 404, and a count of the bytes fetched."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from clip_pipeline.media.ffmpeg import MediaError
from clip_pipeline.media.options import MediaOptions


class SourceUnavailable(MediaError):
    """The server kept failing (5xx, dropped connections) after the retries; another base may work."""


class _Transient(Exception):
    pass


@dataclass
class Fetcher:
    options: MediaOptions
    bytes_fetched: int = 0
    _client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self._client = httpx.Client(follow_redirects=True, timeout=httpx.Timeout(30.0))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, url: str) -> httpx.Response:
        """GET URL (whole body) with retries; 4xx are final, 5xx and transport errors retried."""
        return self._retrying(lambda: self._get_once(url))

    def content_type(self, url: str) -> str:
        """The Content-Type of URL, reading at most the first KiB (servers may ignore Range)."""
        return self._retrying(lambda: self._peek_once(url))

    def _retrying(self, call):
        retrying = Retrying(
            stop=stop_after_attempt(self.options.http_retries + 1),
            wait=wait_exponential(multiplier=self.options.retry_wait_s, max=8),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return call()
        except _Transient as exc:
            raise SourceUnavailable(f"{exc} (gave up after {self.options.http_retries} retries)") from None

    def _get_once(self, url: str) -> httpx.Response:
        try:
            response = self._client.get(url)
        except httpx.TransportError as exc:
            raise _Transient(f"{url}: connection failed ({type(exc).__name__})") from None
        _check_status(url, response)
        self.bytes_fetched += len(response.content)
        return response

    def _peek_once(self, url: str) -> str:
        try:
            with self._client.stream("GET", url, headers={"Range": "bytes=0-1023"}) as response:
                _check_status(url, response)
                for chunk in response.iter_bytes(1024):
                    self.bytes_fetched += len(chunk)
                    break
                return response.headers.get("content-type", "")
        except httpx.TransportError as exc:
            raise _Transient(f"{url}: connection failed ({type(exc).__name__})") from None


def _check_status(url: str, response: httpx.Response) -> None:
    if response.status_code >= 500:
        raise _Transient(f"{url}: server answered HTTP {response.status_code}")
    if response.status_code == 404:
        raise MediaError(f"{url}: not found (HTTP 404)")
    if response.status_code >= 400:
        raise MediaError(f"{url}: refused (HTTP {response.status_code})")
