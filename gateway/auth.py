"""Bearer keys, compared in constant time; a key is known to the rest of the gateway only by
its name (which may appear in logs and metrics), never by its value."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from gateway.asgi import Scope, header
from gateway.errors import unauthorized


class KeyCheck:
    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = [(name, key.encode()) for name, key in keys.items()]

    @property
    def open(self) -> bool:
        return not self._keys

    def check(self, scope: Scope) -> str:
        """The caller's key name ("" when the gateway is open); raises a 401 GatewayError."""
        if not self._keys:
            return ""
        raw = header(scope, b"authorization")
        if raw is None or not raw[:7].lower() == b"bearer ":
            raise unauthorized()
        offered = raw[7:].strip()
        found = ""
        # Compare against every key, so the time taken does not say which one nearly matched.
        for name, key in self._keys:
            if hmac.compare_digest(offered, key):
                found = name
        if not found:
            raise unauthorized()
        return found
