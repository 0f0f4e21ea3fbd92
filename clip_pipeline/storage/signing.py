"""HMAC-signed URLs for the local disk store, checked by the file server.

A signed URL is `{base}/o/{bucket}/{key}?expires=UNIX&signature=SIG`, where SIG is the URL-safe
base64 HMAC-SHA256 of "bucket/key\\nexpires". The key comes from settings.url_signing_key, or else a
random key generated once and kept in HOME/url-signing.key (mode 0600) so that every process of
one installation (CLI, workers, `serve-files`) signs and checks with the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from clip_pipeline.errors import ConfigurationError
from clip_pipeline.settings import Settings

SIGNING_KEY_FILE = "url-signing.key"


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ConfigurationError("CLIP_PIPELINE_URL_SIGNING_KEY is too short: use at least 16 characters")
        self._secret = secret

    def __repr__(self) -> str:
        return "UrlSigner(<secret>)"

    def signature(self, bucket: str, key: str, expires: int) -> str:
        message = f"{bucket}/{key}\n{expires}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def is_valid(self, bucket: str, key: str, expires: str, signature: str, now: float | None = None) -> bool:
        """True if the signature matches and the expiry has not passed."""
        if not expires.isdigit():
            return False
        expected = self.signature(bucket, key, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return False
        return int(expires) > (time.time() if now is None else now)


def signer_for(settings: Settings) -> UrlSigner:
    if settings.url_signing_key is not None:
        return UrlSigner(settings.url_signing_key.get_secret_value().encode())
    return UrlSigner(_home_signing_key(settings.home))


def _home_signing_key(home: Path) -> bytes:
    """Read HOME/url-signing.key, creating it (0600, atomically) on first use."""
    path = home / SIGNING_KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        temp = home / f".{SIGNING_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(temp, path)  # fails if another process created the key first; theirs wins
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    return path.read_text().strip().encode()
