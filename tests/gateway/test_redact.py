"""gateway.redact: configured secrets and secret-shaped strings are scrubbed; the message a
user needs ("context length exceeded", token counts) survives."""

from __future__ import annotations

import pytest

from gateway.redact import Redactor

SECRET = "my-configured-secret-value"


@pytest.mark.parametrize(("text", "gone"), [
    (f"key {SECRET} rejected", SECRET),
    ("Authorization: Bearer abcdefgh12345678", "abcdefgh12345678"),
    ("authorization: bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJhbGci"),
    ("Incorrect API key provided: sk-proj-AbCdEf0123456789", "sk-proj-AbCdEf0123456789"),
    ("sk-ant-api03-abcdefghijklmnop is invalid", "abcdefghijklmnop"),
    ("key=AIzaSyA1234567890abcdefghijklmnopqrs", "AIzaSyA1234567890"),
    ("AKIAIOSFODNN7EXAMPLE denied", "AKIAIOSFODNN7EXAMPLE"),
    ('{"api_key": "abcdef123456"}', "abcdef123456"),
    ("api-key=zyxwvu987654", "zyxwvu987654"),
    ("password: hunter2hunter2", "hunter2hunter2"),
    ("'token': 'tok_live_123456'", "tok_live_123456"),
])
def test_secrets_are_redacted(text: str, gone: str) -> None:
    out = Redactor([SECRET])(text)
    assert gone not in out and "[redacted]" in out


@pytest.mark.parametrize("text", [
    "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9000 tokens. Please reduce the length of the messages.",
    "Rate limit reached for gpt-4o-mini: Limit 200000 tokens per min, Used 199000.",
    "The model `gpt-5` does not exist or you do not have access to it.",
    "upstream answered 503: overloaded, retry after 2 s",
])
def test_useful_messages_survive(text: str) -> None:
    assert Redactor([SECRET])(text) == text


def test_longest_secret_first_and_short_ones_ignored() -> None:
    # "abcd-efgh" inside "abcd-efgh-ijkl" must not leave "-ijkl" behind.
    redact = Redactor(["abcd-efgh", "abcd-efgh-ijkl", ""])
    assert redact("x abcd-efgh-ijkl y abcd-efgh z") == "x [redacted] y [redacted] z"
    assert Redactor([""])("nothing to hide") == "nothing to hide"
