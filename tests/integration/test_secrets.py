"""Secrets and access: named gateway keys, upstream keys that never leak (a run with known fake
keys, grepping every log line, error body, response header, /stats, /metrics and the
dashboard), a client that cannot redirect the gateway nor pass its key upstream, and CORS off
unless configured.

Every secret below contains "SeCrEt", so one grep finds any of them wherever it ends up.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

import httpx
import orjson
import pytest
from support.gateway import GatewayThread
from support.logs import captured_logs
from support.upstream import Behavior, FakeUpstream

from gateway import auth
from gateway.auth import KeyCheck

MARK = "SeCrEt"
ALICE = f"gw-alice-{MARK}-1111111111"
BOB = f"gw-bob-{MARK}-2222222222"
ADMIN = f"gw-admin-{MARK}-3333333333"
UPSTREAM_KEY = f"sk-upstream-{MARK}-4444444444"
HEADER_SECRET = f"hdr-{MARK}-5555555555"
# What a careless upstream puts in its error messages: our key, a bearer token, key shapes.
LEAKY = (f"invalid api key {UPSTREAM_KEY} (Authorization: Bearer tok{MARK}6666666666); "
         f"project key sk-proj-{MARK}77777777, api_key={MARK}88888888")
MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    server = FakeUpstream(behaviors={
        "leaky500": Behavior(error_rate=1.0, status=500, error_message=LEAKY),
        "leaky400": Behavior(error_rate=1.0, status=400, error_message=LEAKY),
        "leaky429": Behavior(error_rate=1.0, status=429, retry_after="5", error_message=LEAKY),
        "leakystream": Behavior(mode="error_event", error_message=LEAKY),
    }).start()
    yield server
    server.stop()


def _config(url: str, extra_server: str = "") -> str:
    return f"""
server: {{api_keys: {{alice: "{ALICE}", bob: "{BOB}"}}, admin_keys: {{ops: "{ADMIN}"}}
          {extra_server}}}
providers:
  up: {{type: openai, base_url: "{url}", api_key: "{UPSTREAM_KEY}", timeout_s: 5,
        headers: {{x-org-token: "{HEADER_SECRET}"}}}}
models: {{good: {{provider: up}}, leaky500: {{provider: up}}, leaky400: {{provider: up}},
          leaky429: {{provider: up}}, leakystream: {{provider: up}}}}
routes:
  auto: {{candidates: [good, leaky500]}}
  leaky: {{candidates: [leaky500, leaky429, leakystream]}}
"""


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream) -> Iterator[GatewayThread]:
    server = GatewayThread(_config(fake.url)).start()
    yield server
    server.stop()


def test_keys_never_leak(gw: GatewayThread, fake: FakeUpstream) -> None:
    """Traffic of every kind (answers, failovers, upstream errors that quote our upstream key
    and bearer tokens, broken streams, wrong keys), then a grep for any secret in everything
    the gateway said or logged."""
    seen: list[str] = []  # every status line, header and body the clients received

    def record(r: httpx.Response) -> None:
        r.read()
        seen.append(f"{r.status_code} {list(r.headers.multi_items())} {r.text}")

    def chat(key: str, model: str, *, stream: bool = False, **extra: object) -> None:
        body = {"model": model, "messages": MSG, "stream": stream, **extra}
        record(http.post("/v1/chat/completions", json=body,
                         headers={"authorization": f"Bearer {key}"}))

    with captured_logs() as logs, httpx.Client(base_url=gw.url, timeout=10) as http:
        for key in (ALICE, BOB):
            for stream in (False, True):
                chat(key, "auto", stream=stream)
                chat(key, "leaky", stream=stream)  # every candidate fails, quoting secrets
                chat(key, "leaky500", stream=stream)
                chat(key, "leaky400", stream=stream)  # passed on to the client, redacted
                chat(key, "leaky429", stream=stream)
                chat(key, "leakystream", stream=True)
        chat(f"{ALICE}x", "auto")  # wrong keys
        chat(ALICE[:-1], "auto")
        chat(ADMIN, "auto")  # an admin key is not a gateway key
        record(http.get("/v1/models", headers={"authorization": f"Bearer {ALICE}"}))
        gw.settle()
        for path in ("/stats", "/metrics", "/dashboard", "/dashboard/data", "/readyz",
                     "/healthz", "/openapi.json"):
            record(http.get(path, headers={"authorization": f"Bearer {ADMIN}"}))
            record(http.get(path))  # and without a key
    statuses = [int(line.split(" ", 1)[0]) for line in seen]
    assert {200, 400, 401, 429, 502} <= set(statuses)  # the run covered what it meant to
    assert any("fake failure" not in s and "invalid api key" in s for s in seen)
    leaks = [s for s in seen + logs.lines() if MARK.lower() in s.lower()]
    assert not leaks, leaks[:3]
    # The upstream got its own key and configured header, never a gateway key.
    for request in fake.requests:
        assert request.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
        assert request.headers["x-org-token"] == HEADER_SECRET
        assert not any(k in str(request.headers) for k in (ALICE, BOB, ADMIN))


def test_named_keys_name_the_caller(gw: GatewayThread) -> None:
    """The caller is known by its key's name (in the request log), never by the key."""
    with captured_logs() as logs:
        for key in (ALICE, BOB):
            r = httpx.post(f"{gw.base_url}/chat/completions", json={"model": "good",
                           "messages": MSG}, headers={"authorization": f"Bearer {key}"})
            assert r.status_code == 200
        gw.settle()
    text = "\n".join(logs.lines())
    assert "alice" in text and "bob" in text
    assert ALICE not in text and BOB not in text
    # /stats and /metrics are for admin keys only.
    for path in ("/stats", "/metrics"):
        assert httpx.get(f"{gw.url}{path}",
                         headers={"authorization": f"Bearer {ALICE}"}).status_code == 401
        assert httpx.get(f"{gw.url}{path}",
                         headers={"authorization": f"Bearer {ADMIN}"}).status_code == 200


@pytest.mark.parametrize(("offered", "name"), [
    (ALICE, "alice"), (BOB, "bob"), (ALICE + "x", None), (ALICE[:-1], None), ("", None),
    (ALICE.upper(), None), (f"{ALICE} ", "alice"),  # trailing space stripped, as HTTP does
])
def test_key_check(offered: str, name: str | None) -> None:
    check = KeyCheck({"alice": ALICE, "bob": BOB})
    scope = {"headers": [(b"authorization", f"Bearer {offered}".encode())]}
    if name is None:
        with pytest.raises(Exception) as info:
            check.check(scope)
        assert getattr(info.value, "status", None) == 401
    else:
        assert check.check(scope) == name


def test_key_check_compares_every_key_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """hmac.compare_digest against every configured key, whichever matches: no early exit
    that would let response times tell how many keys were tried before the match."""
    calls: list[bytes] = []
    original = hmac.compare_digest

    def compare(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return original(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", compare)
    keys = {f"k{i}": f"key-{i}-{MARK}-000000" for i in range(5)}
    check = KeyCheck(keys)
    for offered in (keys["k0"], keys["k4"], "wrong"):
        calls.clear()
        try:
            check.check({"headers": [(b"authorization", f"Bearer {offered}".encode())]})
        except Exception:
            pass
        assert len(calls) == 5


def test_client_cannot_redirect_or_inject(gw: GatewayThread, fake: FakeUpstream) -> None:
    """Every key that could redirect the call or change its credentials is dropped, and the
    client's own headers (its key, cookies, org ids, forwarded-for) are not forwarded."""
    hostile = {"api_base": "http://evil.example/v1", "base_url": "http://evil.example/v1",
               "api_key": "sk-evil-0000000000", "api_version": "1", "organization": "org-evil",
               "extra_headers": {"x-evil": "1"}, "headers": {"x-evil": "1"},
               "extra_body": {"x": 1}, "custom_llm_provider": "openai",
               "mock_response": "pwned", "litellm_params": {"api_base": "http://evil"},
               "azure_ad_token": "t", "deployment_id": "d"}
    r = httpx.post(f"{gw.base_url}/chat/completions",
                   json={"model": "good", "messages": MSG, **hostile},
                   headers={"authorization": f"Bearer {ALICE}", "cookie": "session=abc",
                            "openai-organization": "org-evil", "x-forwarded-for": "1.2.3.4",
                            "x-api-key": "sk-evil-1111111111"})
    assert r.status_code == 200
    forwarded = fake.requests[-1]
    assert not set(hostile) & forwarded.body.keys()
    assert "evil" not in str(forwarded.body) and "pwned" not in r.text
    assert not {"cookie", "openai-organization", "x-forwarded-for", "x-api-key"} & set(
        forwarded.headers)
    assert ALICE not in str(forwarded.headers)


def test_cors_is_off_unless_configured(gw: GatewayThread, fake: FakeUpstream) -> None:
    preflight = {"origin": "https://app.example", "access-control-request-method": "POST",
                 "access-control-request-headers": "authorization, content-type"}
    r = httpx.options(f"{gw.base_url}/chat/completions", headers=preflight)
    assert not any(h.startswith("access-control-") for h in r.headers)
    r = httpx.post(f"{gw.base_url}/chat/completions", json={"model": "good", "messages": MSG},
                   headers={"authorization": f"Bearer {ALICE}", "origin": "https://app.example"})
    assert r.status_code == 200
    assert not any(h.startswith("access-control-") for h in r.headers)
    # Configured: that origin (only) may call, and read our headers.
    server = GatewayThread(_config(fake.url, ', cors_origins: ["https://app.example"]')).start()
    try:
        r = httpx.options(f"{server.base_url}/chat/completions", headers=preflight)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in r.headers
        evil = httpx.options(f"{server.base_url}/chat/completions",
                             headers={**preflight, "origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers
        for stream in (False, True):
            r = httpx.post(f"{server.base_url}/chat/completions",
                           json={"model": "good", "messages": MSG, "stream": stream},
                           headers={"authorization": f"Bearer {ALICE}",
                                    "origin": "https://app.example"})
            assert r.status_code == 200
            assert r.headers["access-control-allow-origin"] == "https://app.example"
            assert "x-bayesgate-model" in r.headers["access-control-expose-headers"]
    finally:
        server.stop()


def test_upstream_error_text_reaches_the_client_redacted(gw: GatewayThread) -> None:
    r = httpx.post(f"{gw.base_url}/chat/completions", json={"model": "leaky400",
                   "messages": MSG}, headers={"authorization": f"Bearer {ALICE}"})
    assert r.status_code == 400
    message = orjson.loads(r.content)["error"]["message"]
    assert "invalid api key [redacted]" in message  # a user still learns what went wrong
    assert MARK not in message


def test_a_redis_password_with_at_signs_never_shows() -> None:
    """`redis://:p@ss@host`: the userinfo runs to the last '@'. It used to show as
    `redis://:***@ss-w0rd@host` on the unauthenticated /readyz, and logs did not redact it."""
    from support.redis_server import RedisServer

    password = "p@ss-w0rd@x9"
    with RedisServer(password=password) as server:
        url = f"redis://:{password}@127.0.0.1:{server.port}/0"
        with captured_logs() as logs:
            gw = GatewayThread(f"""
store: {{backend: redis, url: "{url}", sync_interval_s: 0.05}}
providers: {{sim: {{type: simulated}}}}
models: {{m: {{provider: sim, simulate: {{latency_ms: 1, jitter_ms: 0}}}}}}
routes: {{auto: {{candidates: [m]}}}}
""").start()
            try:
                ready = httpx.get(f"{gw.url}/readyz")
                stats = httpx.get(f"{gw.url}/stats")
                assert password in gw.gateway.config.secrets
                assert gw.gateway.redact(f"connect to {url} failed") == \
                    "connect to redis://:[redacted]@127.0.0.1:" + f"{server.port}/0 failed"
            finally:
                gw.stop()
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        for text in (ready.text, stats.text, *logs.lines()):
            assert "w0rd" not in text and "p@ss" not in text, text
        assert ready.json()["store"]["url"].startswith("redis://:***@127.0.0.1")
