"""Text logs stay one line per record whatever an upstream puts in its error text."""

from __future__ import annotations

import io
import logging

import openai
import pytest
from support.gateway import GatewayThread
from support.upstream import Behavior, FakeUpstream

from gateway.config import LoggingConfig
from gateway.ops import logs

FORGED = "2026-01-01 00:00:00,000 ERROR bayesgate.requests: forged line"


def test_an_upstream_cannot_forge_log_lines() -> None:
    """An upstream's error text with newlines went into text logs as-is: it could write lines
    that look like the gateway's own."""
    fake = FakeUpstream(behaviors={"bad": Behavior(
        error_rate=1.0, status=500, error_message=f"nope\n{FORGED}\r\n\x1b[2Jcleared")}).start()
    gw = GatewayThread(f"""
providers: {{up: {{type: openai, base_url: "{fake.url}"}}}}
models: {{bad: {{provider: up}}}}
""").start()
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    listener = logs.configure(LoggingConfig(level="debug", format="text"), stream=out)
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="bad", messages=[{"role": "user",
                                                                   "content": "hi"}])
        # Any record, not only the ones the pipeline cleans: the text formatter escapes.
        logging.getLogger("bayesgate.test").warning("upstream said %s", f"a\n{FORGED}")
    finally:
        listener.stop()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        gw.stop()
        fake.stop()
    lines = out.getvalue().splitlines()
    failed = [line for line in lines if "attempt on bad failed" in line]
    assert failed and all("forged line" in line for line in failed)  # on one line each
    assert not any(line.startswith(FORGED[:10]) for line in lines), lines
    assert not any("\x1b" in line for line in lines)
    assert any("\\n2026-01-01" in line for line in lines)
