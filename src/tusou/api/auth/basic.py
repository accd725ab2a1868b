"""HTTP Basic authentication of the native API against the registered API keys.

Off by default (the service binds loopback unless told otherwise); turned on with
``TUSOU_NATIVE_AUTH=1`` for deployments where the native API is reachable by others.
The API key is the user name and the secret key the password, so the keys that vendor
SDKs use also open the native API, and nothing else needs managing.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from tusou.engine.credentials import Credentials
from tusou.errors import TusouError


class Unauthorized(TusouError):
    code = "unauthorized"


def check_basic(request: Request, credentials: Credentials) -> str:
    """The API key of a request with valid Basic credentials; Unauthorized otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise Unauthorized("this API needs HTTP Basic authentication with an API key and its "
                           "secret key", field="authorization")
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials", field="authorization") from None
    if not sep or not credentials.check_secret(user, password):
        raise Unauthorized("unknown API key or wrong secret key", field="authorization")
    return user
