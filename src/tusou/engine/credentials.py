"""Access keys (API key + secret) and the bearer tokens issued for them.

Vendor faces authenticate callers against these: a token, or an HMAC signature that the
face recomputes with ``secret``. Secrets and tokens never reach a log line.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tusou.errors import InvalidParameter, TusouError
from tusou.store.credentials import ApiKeyRecord, CredentialStore

_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_SECRET = re.compile(r"^[\x21-\x7e]{1,256}$")
DEFAULT_TOKEN_TTL = timedelta(days=30)


class TokenInvalid(TusouError):
    code = "token_invalid"


class TokenExpired(TusouError):
    code = "token_expired"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    api_key: str
    expires_in: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Credentials:
    def __init__(self, store: CredentialStore) -> None:
        self._store = store

    def add_key(self, api_key: str, secret_key: str, name: str = "") -> ApiKeyRecord:
        if not _KEY.match(api_key):
            raise InvalidParameter("API key: 1-128 letters, digits, '_', '.', '-'",
                                   field="api_key")
        if not _SECRET.match(secret_key):
            raise InvalidParameter("secret key: 1-256 printable ASCII characters, no spaces",
                                   field="secret_key")
        if len(name) > 128:
            raise InvalidParameter("name is at most 128 characters", field="name")
        if not self._store.add_key(api_key, secret_key, name):
            raise InvalidParameter(f"API key {api_key} is already registered", field="api_key")
        return next(k for k in self._store.keys() if k.api_key == api_key)

    def remove_key(self, api_key: str) -> bool:
        """Removes the key and revokes every token issued for it."""
        return self._store.remove_key(api_key)

    def keys(self) -> list[ApiKeyRecord]:
        return self._store.keys()

    def secret(self, api_key: str) -> str | None:
        return self._store.secret(api_key)

    def check_secret(self, api_key: str, secret_key: str) -> bool:
        stored = self._store.secret(api_key)
        return stored is not None and secrets.compare_digest(stored.encode(), secret_key.encode())

    def issue_token(self, api_key: str, prefix: str = "",
                    ttl: timedelta = DEFAULT_TOKEN_TTL) -> IssuedToken:
        token = f"{prefix}{secrets.token_urlsafe(32)}"
        self._store.add_token(_digest(token), api_key, datetime.now(UTC) + ttl)
        return IssuedToken(token, api_key, int(ttl.total_seconds()))

    def resolve_token(self, token: str) -> str:
        """The API key a token was issued for; TokenInvalid / TokenExpired otherwise."""
        found = self._store.token(_digest(token))
        if found is None:
            raise TokenInvalid("access token invalid or no longer valid", field="access_token")
        api_key, expires_at = found
        if expires_at <= datetime.now(UTC):
            raise TokenExpired("access token expired", field="access_token")
        return api_key
