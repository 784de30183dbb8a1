"""Hostile input: property-based tests (hypothesis) over request bodies, headers, paths and
methods against a real server, and the classic cases by name (deep nesting, huge strings,
wrong types, unicode, duplicate keys).

Every answer must be OpenAI-shaped: a valid completion (JSON or a stream ending in [DONE]) or
a JSON error {"error": {message, type, param, code}} with a 4xx status the client caused;
never a 5xx, never a traceback, never a hang, and nothing logged as an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.gateway import GatewayThread
from support.logs import Captured, captured_logs
from support.upstream import FakeUpstream

KEY = "gw-hostile-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
MAX_BODY = 200_000
CLIENT_STATUSES = {400, 401, 404, 405, 413}

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream) -> Iterator[GatewayThread]:
    server = GatewayThread(f"""
server: {{api_keys: ["{KEY}"], max_body_bytes: {MAX_BODY}}}
providers: {{up: {{type: openai, base_url: "{fake.url}", timeout_s: 5}}}}
models: {{good: {{provider: up}}, other: {{provider: up}}}}
routes: {{auto: {{candidates: [good, other], learning: {{caller_share: 1}}}}}}
""").start()  # one key sends everything: no caller-share bound, so every answer counts
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(gw: GatewayThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=10) as client:
        yield client


@pytest.fixture
def logs() -> Iterator[Captured]:
    with captured_logs() as found:
        yield found
    gateway_errors = [line for line in found.errors()
                      if line.startswith(("uvicorn", "bayesgate"))]
    assert not gateway_errors, gateway_errors[:3]


def check(r: httpx.Response, *, allowed: set[int] = CLIENT_STATUSES) -> None:
    """The answer is OpenAI-shaped and the status is one the client's input explains."""
    text = r.text
    assert "Traceback" not in text and 'File "' not in text
    if r.status_code == 400 and text == "Invalid HTTP request received.":
        return  # uvicorn's answer to a request that is not HTTP (e.g. a DEL in a header)
    if r.status_code == 307 and not text:
        return  # starlette's redirect of a trailing slash (/healthz/ -> /healthz)
    if r.status_code == 200:
        if r.headers["content-type"].startswith("text/event-stream"):
            assert text.endswith("data: [DONE]\n\n"), text[-300:]
        elif r.request.url.path.endswith("/chat/completions"):
            assert orjson.loads(r.content)["choices"]
        return
    assert r.status_code in allowed, (r.status_code, text[:500])
    if r.request.method != "HEAD":
        error = orjson.loads(r.content)["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]


# -- strategies ---------------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=15)
roles = st.sampled_from(["system", "user", "assistant", "tool", "developer"]) | st.text(max_size=8)
messages = st.lists(st.fixed_dictionaries({"role": roles, "content": values})
                    | values, max_size=3) | values
requests = st.fixed_dictionaries(
    {"model": st.sampled_from(["auto", "good", "other", "nope", ""]) | values,
     "messages": messages},
    optional={"stream": st.booleans() | values, "stream_options": values,
              "response_format": values | st.fixed_dictionaries({
                  "type": st.sampled_from(["json_object", "json_schema", "text"]),
                  "json_schema": values}),
              "tools": values, "temperature": values, "n": values, "max_tokens": values,
              "api_base": st.text(max_size=20), "base_url": st.text(max_size=20),
              "extra_headers": values})
# json.dumps, not orjson: big integers, NaN and Infinity, which a strict parser must refuse
bodies = (requests.map(lambda r: json.dumps(r).encode())
          | values.map(lambda v: json.dumps(v).encode())
          | st.binary(max_size=300))


# -- properties ----------------------------------------------------------------------------------


@given(body=bodies)
@PROPERTY
def test_any_body(http: httpx.Client, body: bytes, logs: Captured) -> None:
    check(http.post("/v1/chat/completions", content=body,
                    headers={**AUTH, "content-type": "application/json"}))


header_values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF),
                        max_size=40).map(lambda s: s.encode("latin-1"))
header_names = st.sampled_from([
    "authorization", "content-type", "x-stainless-retry-count", "accept", "accept-encoding",
    "content-encoding", "origin", "x-forwarded-for", "cookie", "x-bayesgate-model",
    "openai-organization", "x-api-key"]) | st.from_regex(r"\Ax-[a-z0-9-]{1,20}\Z")


@given(headers=st.dictionaries(header_names, header_values, max_size=6),
       authorized=st.booleans(), stream=st.booleans())
@PROPERTY
def test_any_headers(http: httpx.Client, headers: dict[str, bytes], authorized: bool,
                     stream: bool, logs: Captured) -> None:
    if authorized:
        headers = {**headers, "authorization": AUTH["authorization"].encode()}
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    check(http.post("/v1/chat/completions", content=orjson.dumps(body), headers=headers))


@given(path=st.text(max_size=40), method=st.sampled_from(
    ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]), prefix=st.sampled_from(
    ["", "/v1/", "/v1/chat/", "/stats/", "/healthz/", "/../", "//"]))
@PROPERTY
def test_any_path_and_method(http: httpx.Client, path: str, method: str, prefix: str,
                             logs: Captured) -> None:
    raw = prefix + quote(path, safe="/%?&=;:@!$'()*+,")
    r = http.request(method, raw if raw.startswith("/") else "/" + raw, headers=AUTH,
                     content=b'{"model": "auto"}' if method == "POST" else None)
    check(r)


# -- the classic cases by name --------------------------------------------------------------------


def _messages(content: Any) -> bytes:
    return orjson.dumps({"model": "good", "messages": [{"role": "user", "content": content}]})


@pytest.mark.parametrize("depth", [200, 300, 1000, 1100, 50_000])
def test_deep_nesting(http: httpx.Client, fake: FakeUpstream, depth: int,
                      logs: Captured) -> None:
    body = (b'{"model": "good", "messages": [{"role": "user", "content": ' + b"[" * depth
            + b"]" * depth + b"}]}")
    seen = len(fake.requests)
    r = http.post("/v1/chat/completions", content=body, headers=AUTH)
    check(r)
    if depth <= 200:
        assert r.status_code in (200, 400)  # forwarded; the upstream judges the content
        return
    # Deeper than what can be forwarded (orjson writes 254 levels): refused up front, not
    # blamed on the model the request was sent to.
    assert r.status_code == 400 and len(fake.requests) == seen
    message = r.json()["error"]["message"]
    assert ("nested too deeply" if depth <= 1024 else "depth limit exceeded") in message


def test_deep_nesting_is_not_blamed_on_the_model(gw: GatewayThread, http: httpx.Client,
                                                 logs: Captured) -> None:
    body = (b'{"model": "auto", "messages": [{"role": "user", "content": ' + b"[" * 500
            + b"]" * 500 + b"}]}")
    for _ in range(5):
        assert http.post("/v1/chat/completions", content=body, headers=AUTH).status_code == 400
    gw.settle()
    assert all(gw.gateway.stats.counters("auto", m).failures == 0 for m in ("good", "other"))


@pytest.mark.parametrize(("size", "status"), [(MAX_BODY - 200, 200), (MAX_BODY + 1, 413),
                                              (MAX_BODY * 20, 413)])
def test_huge_strings(http: httpx.Client, size: int, status: int, logs: Captured) -> None:
    r = http.post("/v1/chat/completions", content=_messages("é" * (size // 2)), headers=AUTH)
    check(r)
    assert r.status_code == status


def test_huge_body_without_content_length_is_cut_off(http: httpx.Client,
                                                     logs: Captured) -> None:
    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
        yield b'{"model": "good", "messages": [{"role": "user", "content": "'
        for _ in range(100):
            yield b"x" * 10_000

    r = http.post("/v1/chat/completions", content=chunks(), headers=AUTH)
    check(r)
    assert r.status_code == 413


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "good", "messages": ["hi"]}, "messages"),
    ({"model": "good", "messages": [["user", "hi"]]}, "messages"),
    ({"model": "good", "messages": {"role": "user"}}, "messages"),
    ({"model": "good", "messages": []}, "messages"),
    ({"model": "good", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
     "stream"),
    ({"model": "good", "messages": [{"role": "user", "content": "x"}], "stream": 1}, "stream"),
    ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": ["good"], "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": None, "messages": [{"role": "user", "content": "x"}]}, "model"),
])
def test_wrong_types(http: httpx.Client, body: dict[str, Any], param: str,
                     logs: Captured) -> None:
    r = http.post("/v1/chat/completions", content=orjson.dumps(body), headers=AUTH)
    check(r)
    assert r.status_code == 400 and r.json()["error"]["param"] == param


@pytest.mark.parametrize("content", [
    "héllo wörld", "日本語のテキスト", "مرحبا بالعالم", "🦜🔥👩‍👩‍👧‍👦", "\u0000nul\u0000",
    "\u202eright-to-left override", "\ufeffbom", "a\u0301\u0301\u0301 combining",
])
def test_unicode_round_trips(http: httpx.Client, fake: FakeUpstream, content: str,
                             logs: Captured) -> None:
    r = http.post("/v1/chat/completions", content=_messages(content), headers=AUTH)
    check(r)
    assert r.status_code == 200
    assert fake.requests[-1].body["messages"][0]["content"] == content


@pytest.mark.parametrize("raw", [
    b'{"model": "good", "messages": [{"role": "user", "content": "\\ud800"}]}',  # lone
    b'{"model": "good", "messages": [{"role": "user", "content": "\xff\xfe"}]}',  # not UTF-8
    b'\xef\xbb\xbf{"model": "good", "messages": [{"role": "user", "content": "x"}]}',  # BOM
    b'{"model": "good", "messages": [{"role": "user", "content": NaN}]}',
    b'{"model": "good", "messages": [{"role": "user", "content": "x"}]} trailing',
])
def test_malformed_text_is_refused(http: httpx.Client, raw: bytes, logs: Captured) -> None:
    r = http.post("/v1/chat/completions", content=raw, headers=AUTH)
    check(r)
    assert r.status_code == 400


def test_duplicate_keys_last_wins(http: httpx.Client, fake: FakeUpstream,
                                  logs: Captured) -> None:
    # RFC 8259 leaves duplicates to the parser; orjson (like Python's json) keeps the last.
    # What matters: the gateway routes on the same value it forwards.
    raw = (b'{"model": "nope", "messages": [{"role": "user", "content": "x"}], '
           b'"model": "other", "stream": true, "stream": false}')
    r = http.post("/v1/chat/completions", content=raw, headers=AUTH)
    check(r)
    assert r.json()["model"] == "other" and fake.requests[-1].model == "other"
    assert fake.requests[-1].body["stream"] is False


def test_junk_json_schema_is_still_learned_from(gw: GatewayThread, http: httpx.Client,
                                                logs: Captured) -> None:
    """response_format with a json_schema that is not an object: the upstream answered, so the
    answer is passed on and scored (the validity check used to raise after the answer was
    sent, so the model was never scored and an exception was logged)."""
    before = gw.gateway.store.observations("auto", "good")
    body = {"model": "good", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": "not an object"}}
    for stream in (False, True):
        r = http.post("/v1/chat/completions", content=orjson.dumps({**body, "stream": stream}),
                      headers=AUTH)
        check(r)
        assert r.status_code == 200
    gw.settle()
    assert gw.gateway.store.observations("auto", "good") == before + 2
