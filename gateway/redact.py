"""Scrub secrets out of text that may reach a client or a log: every configured secret,
anything shaped like a bearer token or an API key, and the password of a store URL."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

_SHAPES = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(?:sk|pk|rk|ak)-[A-Za-z0-9_-]{8,}"
    r"|\bsk-ant-[A-Za-z0-9_-]{8,}"
    r"|\bAIza[0-9A-Za-z_-]{20,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|(?i:(?:api[_-]?key|token|secret|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"
)


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        return _SHAPES.sub(_mask, text)


def _mask(match: re.Match[str]) -> str:
    prefix = match.group(1)
    if prefix:
        return f"{prefix}[redacted]"
    whole = match.group(0)
    cut = re.match(r"(?i)(?:api[_-]?key|token|secret|password)[\"']?\s*[:=]\s*[\"']?", whole)
    return (cut.group(0) if cut else "") + "[redacted]"


# scheme://userinfo@host...: the userinfo runs to the *last* '@' (a password may hold '@' and
# '/', as Redis clients read it), the host has neither.
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>.*)@(?P<rest>[^@/]*(?:/.*)?)$")
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&]*)")


def redact_url(url: str) -> str:
    """The URL without its password (`redis://user:secret@h` -> `redis://user:***@h`,
    `redis://:p@ss@h` -> `redis://:***@h`, a bare `redis://secret@h` -> `redis://***@h`)."""
    m = _USERINFO.match(url)
    if m is not None:
        user, colon, _ = m["info"].partition(":")
        info = f"{user}:***" if colon else "***"
        url = f"{m['scheme']}{info}@{m['rest']}"
    return _QUERY_PASSWORD.sub(r"\1***", url)


def url_passwords(url: str) -> list[str]:
    """The password a store URL carries, as written and percent-decoded, for redaction."""
    found = []
    m = _USERINFO.match(url)
    if m is not None:
        user, colon, password = m["info"].partition(":")
        found.append(password if colon else user)
    found += [q.group(2) for q in _QUERY_PASSWORD.finditer(url)]
    return [v for p in found if p for v in {p, unquote(p)}]
