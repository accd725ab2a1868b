"""Baidu Cloud ``bce-auth-v1`` signed requests (the Baidu SDK's fallback "cloud user" mode)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

_AUTH = re.compile(r"^bce-auth-v1/([^/]+)/([^/]+)/(\d{1,6})/([^/]*)/([0-9a-f]{64})$")
# The SDK signs for 1800 s; a longer validity would make a captured request replayable.
MAX_EXPIRE_S = 86400


class SignatureRejected(Exception):
    """Any reason a signed request is not accepted; the face answers one generic error."""


def _hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def verify_bce(method: str, path: str, raw_query: str, headers: Mapping[str, str],
               secret_for: Callable[[str], str | None],
               now: datetime | None = None) -> str:
    """Check the ``authorization`` header over the request as received; returns the AK.

    ``headers`` must have lower-case names. Signed over the raw query (decoded then
    re-encoded, as the SDK does) and the signed headers' values, including ``host``.
    """
    match = _AUTH.match(headers.get("authorization", ""))
    if not match:
        raise SignatureRejected("no bce-auth-v1 authorization")
    ak, timestamp, expire, signed, signature = match.groups()
    secret = secret_for(ak)
    if secret is None:
        raise SignatureRejected("unknown access key")
    try:
        issued = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SignatureRejected("bad timestamp") from None
    if int(expire) > MAX_EXPIRE_S:
        raise SignatureRejected("signature validity too long")
    moment = now or datetime.now(UTC)
    age = (moment - issued).total_seconds()
    # A little clock skew is tolerated in the future; the SDK's own window in the past.
    if age > int(expire) or age < -300:
        raise SignatureRejected("signature expired")
    signing_key = _hmac_hex(secret.encode(), f"bce-auth-v1/{ak}/{timestamp}/{expire}")
    query = "&".join(sorted(f"{quote(k, safe='')}={quote(v, safe='')}"
                            for k, v in parse_qsl(raw_query, keep_blank_values=True)))
    signed_headers = "\n".join(sorted(
        f"{quote(h, safe='').lower()}:{quote(headers.get(h, '').strip(), safe='')}"
        for h in signed.split(";") if h))
    canonical = f"{method}\n{quote(path)}\n{query}\n{signed_headers}"
    if not hmac.compare_digest(_hmac_hex(signing_key.encode(), canonical), signature):
        raise SignatureRejected("signature mismatch")
    return ak
