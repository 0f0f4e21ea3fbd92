"""HTTP reads for the media layer: retries with backoff on 5xx and dropped connections (tenacity),
an immediate clear error on 404, and a count of the bytes fetched."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from tenacity import retry_if_exception_type, stop_after_attempt, wait_exponential
from tenacity import Retrying

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

    def get(self, url: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
        """GET URL (whole body) with retries; 4xx are final, 5xx and transport errors retried."""
        retrying = Retrying(
            stop=stop_after_attempt(self.options.http_retries + 1),
            wait=wait_exponential(multiplier=self.options.retry_wait_s, max=8),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._get_once(url, headers)
        except _Transient as exc:
            raise SourceUnavailable(
                f"{url}: {exc} (gave up after {self.options.http_retries} retries)"
            ) from None
        return response

    def _get_once(self, url: str, headers: dict[str, str] | None) -> httpx.Response:
        try:
            response = self._client.get(url, headers=headers)
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise _Transient(f"server answered HTTP {response.status_code}")
        if response.status_code == 404:
            raise MediaError(f"{url}: not found (HTTP 404)")
        if response.status_code >= 400:
            raise MediaError(f"{url}: refused (HTTP {response.status_code})")
        self.bytes_fetched += len(response.content)
        return response
