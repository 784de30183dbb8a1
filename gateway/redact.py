"""Scrub secrets out of text that may reach a client or a log: every configured secret,
anything shaped like a bearer token or an API key, and the password of a store URL."""

from __future__ import annotations

import re
from collections.abc import Iterable

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


def redact_url(url: str) -> str:
    """The URL without its password (`redis://user:secret@h` -> `redis://user:***@h`)."""
    url = re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", url)
    url = re.sub(r"//[^:@/]+@", "//***@", url)  # a bare password: redis://secret@host
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url)
