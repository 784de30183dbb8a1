"""Decision ids that carry their decision: what explicit feedback applies to.

The `x-bayesgate-decision` of a routed answer (and of a `POST /v1/route` decision) names the
route, the class, the model that answered, the caller and the time, signed with a key every
replica derives from the config's secrets. `POST /v1/feedback` on any replica can then read
and check it without a lookup, and no request writes anything for feedback that never comes;
the store keeps only the ids that were rated (a claim with the route's feedback window as its
time to live), so a decision is rated once across the fleet.

With no secret in the config (an open gateway), the key is this process's own: feedback then
works on the replica that answered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

_MAC_BYTES = 12


@dataclass(frozen=True, slots=True)
class Decision:
    route: str
    cls: str
    model: str
    caller: str
    at: int  # epoch seconds


class Decisions:
    def __init__(self, secrets: Iterable[str]) -> None:
        material = "\0".join(sorted(secrets)).encode()
        self._key = hashlib.sha256(b"bayesgate decisions\0" + material).digest() if material \
            else os.urandom(32)

    def issue(self, nonce: str, decision: Decision) -> str:
        """`nonce`: the plan's random id, so two decisions never share an id."""
        payload = orjson.dumps([nonce, decision.route, decision.cls, decision.model,
                                decision.caller, decision.at])
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        return f"{_b64(payload)}.{_b64(mac)}"

    def read(self, token: object) -> Decision | None:
        """The decision behind an id this fleet issued; None for anything else."""
        if not isinstance(token, str) or len(token) > 2000 or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
        except ValueError:
            return None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(given, expected):
            return None
        try:
            _, route, cls, model, caller, at = orjson.loads(payload)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            return None
        return Decision(str(route), str(cls), str(model), str(caller), int(at))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
