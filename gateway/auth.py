"""Bearer keys, compared in constant time; a key is known to the rest of the gateway only by
its name (which may appear in logs and metrics), never by its value.

The admin surface (/stats, /metrics, /dashboard) also takes HTTP Basic with the key as the
password, so a browser can open the dashboard (it asks once and sends it on every fetch).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, MutableMapping
from typing import Any

from gateway.errors import GatewayError, unauthorized


class KeyCheck:
    def __init__(self, keys: Mapping[str, str], *, basic: bool = False) -> None:
        self._keys = [(name, key.encode()) for name, key in keys.items()]
        self._basic = basic

    @property
    def open(self) -> bool:
        return not self._keys

    def check(self, scope: MutableMapping[str, Any], *, x_api_key: bool = False) -> str:
        """The caller's key name ("" when the gateway is open); raises a 401 GatewayError.

        `scope` is the request's ASGI scope (its raw `headers` are read, nothing else).
        `x_api_key`: the key may also come in an `x-api-key` header (Anthropic's clients)."""
        if not self._keys:
            return ""
        raw = next((bytes(v) for k, v in scope["headers"] if k == b"authorization"), None)
        alternative = next((bytes(v) for k, v in scope["headers"] if k == b"x-api-key"),
                           None) if x_api_key else None
        if alternative is not None and raw is None:
            offered = alternative.strip()
        elif raw is not None and raw[:7].lower() == b"bearer ":
            offered = raw[7:].strip()
        elif raw is not None and self._basic and raw[:6].lower() == b"basic ":
            offered = _basic_password(raw[6:].strip())
        else:
            raise self._refused()
        found = ""
        # Compare against every key, so the time taken does not say which one nearly matched.
        for name, key in self._keys:
            if hmac.compare_digest(offered, key):
                found = name
        if not found:
            raise self._refused()
        return found

    def _refused(self) -> GatewayError:
        if not self._basic:
            return unauthorized()
        return GatewayError(401, "This endpoint needs one of the gateway's admin keys (its API "
                            "keys when it has none): send 'Authorization: Bearer <key>' (or HTTP "
                            "Basic with the key as the password).", type="authentication_error",
                            code="invalid_api_key",
                            headers={"www-authenticate": 'Basic realm="bayesgate admin"'})


def _basic_password(encoded: bytes) -> bytes:
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return b""
    return decoded.partition(b":")[2]
