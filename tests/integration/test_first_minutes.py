"""What a new user meets first: errors that are seen (logged, counted, explained), an index at
/, no `_created` noise in /metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from support.gateway import GatewayThread

CONFIG = """
providers: {sim: {type: simulated}}
models:
  fast: {provider: sim, simulate: {latency_ms: 1, jitter_ms: 0}}
routes: {auto: {candidates: [fast]}}
"""


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayThread]:
    server = GatewayThread(CONFIG).start()
    yield server
    server.stop()


def test_an_unknown_path_is_explained_logged_and_counted(
        gw: GatewayThread, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bayesgate.requests"):
        answer = httpx.post(f"{gw.url}/v1/audio/speech", json={"model": "auto", "input": "hi"})
        # The line is written once the answer is out (ErrorAudit): it may come just after it.
        deadline = time.monotonic() + 5
        while not (found := [r for r in caplog.records
                             if getattr(r, "fields", {}).get("status") == 404]):
            assert time.monotonic() < deadline, "no request line for the 404"
            time.sleep(0.01)
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert message.startswith("No such endpoint: /v1/audio/speech. This gateway serves: ")
    assert "POST /v1/chat/completions" in message and "GET /v1/models" in message
    line = found[0]
    assert line.fields["path"] == "/v1/audio/speech" and line.fields["method"] == "POST"
    stats = httpx.get(f"{gw.url}/stats").json()
    assert stats["errors"]["/v1/audio/speech"]["404"] >= 1
    metrics = httpx.get(f"{gw.url}/metrics").text
    assert 'bayesgate_http_errors_total{path="unmatched",status="404"}' in metrics


def test_an_unknown_model_names_the_model_in_the_log(
        gw: GatewayThread, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bayesgate.requests"):
        answer = httpx.post(f"{gw.url}/v1/chat/completions",
                            json={"model": "gpt4o\nforged line",
                                  "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 404
    line = next(r for r in caplog.records
                if getattr(r, "fields", {}).get("code") == "model_not_found")
    assert line.fields["requested"] == "gpt4o\\nforged line"  # escaped: no forged log line
    assert line.fields["path"] == "/v1/chat/completions"
    metrics = httpx.get(f"{gw.url}/metrics").text
    assert 'bayesgate_http_errors_total{path="/v1/chat/completions",status="404"}' in metrics


def test_the_root_leads_somewhere(gw: GatewayThread) -> None:
    index = httpx.get(f"{gw.url}/").json()
    assert index["service"] == "bayesgate" and index["openai_base_url"].endswith("/v1")
    assert "POST /v1/chat/completions" in index["endpoints"]
    browser = httpx.get(f"{gw.url}/", headers={"accept": "text/html"})
    assert browser.status_code == 307 and browser.headers["location"] == "/dashboard"


def test_metrics_have_no_created_series(gw: GatewayThread) -> None:
    httpx.post(f"{gw.url}/v1/chat/completions",
               json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    text = httpx.get(f"{gw.url}/metrics").text
    assert "bayesgate_requests_total" in text
    assert "_created" not in text
