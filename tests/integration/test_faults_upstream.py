"""Upstream faults, one by one: a fake OpenAI-compatible upstream over real HTTP misbehaves on
purpose, the official SDK is the client. For each fault: what the client receives, that the
failing model's posterior records it (reward 0: alpha stays at the prior, observations grow)
and its breaker opens, and that the following requests go to the other candidate.

Each route pairs one faulty model (with an optimistic prior, so that it is tried first) with
`good`; decay is off so that posteriors are exact, and the breakers open on the first failure
so that "the next requests go elsewhere" is exact too.
Requests naming the faulty model directly come last: they are learned for its route as well.
"""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from support.gateway import GatewayThread
from support.upstream import Behavior, FakeUpstream

from providers.openai import _retry_after

KEY = "gw-faults-key-0123456789"
ADMIN = {"authorization": f"Bearer {KEY}"}  # with no admin_keys, the API keys open /stats
UPSTREAM_KEY = "sk-faults-upstream-0123456789abcdef"
MSG = [{"role": "user", "content": "hi"}]

# model -> (what its upstream does, the status a client naming it directly gets, in the message)
FAILOVER_FAULTS: dict[str, tuple[Behavior | None, int, str]] = {
    "e500": (Behavior(error_rate=1.0, status=500), 502, "upstream answered 500"),
    "e503": (Behavior(error_rate=1.0, status=503), 502, "upstream answered 503"),
    "badjson": (Behavior(mode="invalid_json"), 502, "body that is not JSON"),
    "nochoices": (Behavior(mode="no_choices"), 502, "without any choices"),
    "cut": (Behavior(mode="cut_body"), 502, "closed the connection mid-answer"),
    "hang": (Behavior(mode="hang"), 504, "did not answer in time"),
    "reset": (Behavior(mode="reset"), 502, "upstream reset the connection"),  # TCP RST
    "refused": (None, 502, "cannot connect to upstream"),  # a provider on a closed port
}
# streams that break after the first bytes reached the client: no failover is possible
STREAM_FAULTS: dict[str, tuple[Behavior, str]] = {
    "s-nodone": (Behavior(mode="no_done"), "ended without [DONE]"),
    "s-stall": (Behavior(mode="stall"), "did not answer in time"),
    "s-drop": (Behavior(mode="drop"), "closed the connection mid-answer"),
    # only ": ping" comments after two chunks: they kept a stream open forever
    "s-pings": (Behavior(mode="pings"), "did not answer in time"),
    "s-endless": (Behavior(mode="endless"), "ran past stream_timeout_s (1.5 s)"),
}
OTHER: dict[str, Behavior] = {
    "empty": Behavior(mode="empty"),
    "s-slow": Behavior(delay_s=3.0),
    "rl": Behavior(error_rate=1.0, status=429, retry_after="30"),
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(url: str) -> str:
    faulty = [*FAILOVER_FAULTS, *STREAM_FAULTS, *OTHER]
    # An optimistic prior: the policy tries the faulty model first, as it would a new one.
    models = "\n".join(f"  {m}: {{provider: {'dead' if m == 'refused' else 'up'}, "
                       "prior: {alpha: 4, beta: 1}}" for m in faulty)
    routes = "\n".join(
        f"  r-{m}: {{candidates: [{m}, good], cost_weight: 0, decay: {{half_life_s: null}}"
        + (", ttft_deadline_s: 0.3" if m == "s-slow" else "")
        # rl: only its Retry-After keeps it away; empty: valid HTTP, the breaker has no say
        + ("" if m in ("rl", "empty") else ", breaker: {consecutive_failures: 1}")
        + "}" for m in faulty)
    return f"""
server: {{api_keys: ["{KEY}"]}}
providers:
  up: {{type: openai, base_url: "{url}", api_key: "{UPSTREAM_KEY}", timeout_s: 0.6,
        stream_idle_timeout_s: 0.3, stream_timeout_s: 1.5}}
  dead: {{type: openai, base_url: "http://127.0.0.1:{_closed_port()}/v1", connect_timeout_s: 1}}
models:
  good: {{provider: up}}
{models}
routes:
{routes}
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    behaviors = {m: b for m, (b, _, _) in FAILOVER_FAULTS.items() if b is not None}
    behaviors |= {m: b for m, (b, _) in STREAM_FAULTS.items()} | OTHER
    server = FakeUpstream(behaviors=behaviors).start()
    yield server
    server.stop()


@pytest.fixture
def gw(fake: FakeUpstream) -> Iterator[GatewayThread]:
    server = GatewayThread(_config(fake.url), seed=11).start()
    yield server
    server.stop()


@pytest.fixture
def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)


def _row(gw: GatewayThread, route: str, model: str) -> dict[str, Any]:
    stats = httpx.get(f"{gw.url}/stats", headers=ADMIN).json()
    return stats["routes"][route]["models"][model]  # type: ignore[no-any-return]


def _until_tried(gw: GatewayThread, fake: FakeUpstream, bad: str, request: Any, *,
                 then: int = 10, limit: int = 40, explore: int = 0) -> list[Any]:
    """Send requests on the route until the policy has tried `bad` once, then `then` more;
    the learner is settled after each, as a steady stream of traffic would see it. The
    following requests must go elsewhere (up to `explore` more tries where no breaker opens)."""
    results = []
    counters = gw.gateway.stats.counters(f"r-{bad}", bad)
    for _ in range(limit):
        results.append(request())
        gw.settle()
        if counters.selections + counters.failover_attempts >= 1:
            break
    assert counters.selections + counters.failover_attempts >= 1, "the policy never tried it"
    calls = fake.count(bad)
    for _ in range(then):
        results.append(request())
        gw.settle()
    assert fake.count(bad) - calls <= explore, (fake.count(bad), calls)
    return results


def _learned_failure(gw: GatewayThread, route: str, model: str) -> dict[str, Any]:
    row = _row(gw, route, model)
    good = _row(gw, route, "good")
    prior = gw.gateway.beliefs.prior(route, model)
    assert row["failures"] == 1 and row["observations"] == 1
    assert row["alpha"] == pytest.approx(prior.alpha)  # scored 0
    assert row["beta"] == pytest.approx(prior.beta + 1)
    assert row["mean"] < prior.alpha / (prior.alpha + prior.beta) < good["mean"]
    assert row["circuit"] == "open"
    return row


@pytest.mark.parametrize("bad", list(FAILOVER_FAULTS))
def test_failover_fault(bad: str, gw: GatewayThread, client: openai.OpenAI,
                        fake: FakeUpstream) -> None:
    _, status, text = FAILOVER_FAULTS[bad]
    # Behind a route, the client never sees it: the other candidate answers.
    answers = _until_tried(gw, fake, bad, lambda: client.chat.completions.with_raw_response
                           .create(model=f"r-{bad}", messages=MSG))
    for raw in answers:
        assert raw.headers["x-bayesgate-model"] == "good"
        assert raw.parse().choices[0].message.content == "Hello from the fake upstream."
    _learned_failure(gw, f"r-{bad}", bad)
    # Named directly, the faulty model is all there is: a clear error in OpenAI's shape.
    began = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=bad, messages=MSG)
    assert time.monotonic() - began < 5
    assert info.value.status_code == status
    error = info.value.response.json()["error"]
    assert error["type"] == "upstream_error" and text in error["message"]
    assert "Traceback" not in info.value.response.text
    assert UPSTREAM_KEY not in info.value.response.text


@pytest.mark.parametrize("bad", list(STREAM_FAULTS))
def test_stream_breaks_after_first_bytes(bad: str, gw: GatewayThread, client: openai.OpenAI,
                                         fake: FakeUpstream) -> None:
    _, text = STREAM_FAULTS[bad]

    def one() -> str:
        try:
            return "".join(c.choices[0].delta.content or "" for c in client.chat.completions
                           .create(model=f"r-{bad}", messages=MSG, stream=True) if c.choices)
        except openai.APIError:
            return "broken"

    results = _until_tried(gw, fake, bad, one)
    assert results.count("broken") == 1
    row = _learned_failure(gw, f"r-{bad}", bad)
    assert row["invalid"] == 1
    # Named directly: the client gets the chunks that were sent, then an error event that
    # the SDK raises.
    received: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model=bad, messages=MSG, stream=True):
            assert chunk.model == bad
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert text in info.value.message
    assert "Hello" in "".join(received)


def test_stream_slow_first_token_fails_over(gw: GatewayThread, client: openai.OpenAI,
                                            fake: FakeUpstream) -> None:
    before = fake.cancelled

    def one() -> tuple[set[str], str, float]:
        began = time.monotonic()
        chunks = list(client.chat.completions.create(model="r-s-slow", messages=MSG,
                                                     stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return {c.model for c in chunks}, text.strip(), time.monotonic() - began

    for models, text, took in _until_tried(gw, fake, "s-slow", one, then=5):
        assert models == {"good"} and text == "Hello from the fake upstream."
        assert took < 2.0  # 0.3 s deadline, then the other candidate
    row = _learned_failure(gw, "r-s-slow", "s-slow")
    # The abandoned call was closed: the upstream saw its client go.
    deadline = time.monotonic() + 3
    while fake.cancelled - before < row["failures"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.cancelled - before == row["failures"]


def test_empty_message_is_passed_on_and_scored_invalid(gw: GatewayThread, client: openai.OpenAI,
                                                        fake: FakeUpstream) -> None:
    answers = _until_tried(gw, fake, "empty", lambda: client.chat.completions.create(
        model="r-empty", messages=MSG), then=15, explore=8)
    assert {a.model for a in answers} == {"empty", "good"}
    for answer in answers:  # the client gets what there is
        assert answer.choices[0].message.content == ("" if answer.model == "empty" else
                                                      "Hello from the fake upstream.")
    row = _row(gw, "r-empty", "empty")
    assert row["invalid"] == row["answers"] == row["observations"] >= 1
    # reward 0 however fast it was
    assert row["alpha"] == pytest.approx(gw.gateway.beliefs.prior("r-empty", "empty").alpha)
    assert row["mean"] < _row(gw, "r-empty", "good")["mean"]
    assert row["circuit"] == "closed"  # the upstream works; its answers are what is wrong


def test_rate_limited_model_waits_its_retry_after(gw: GatewayThread, client: openai.OpenAI,
                                                  fake: FakeUpstream) -> None:
    # Behind a route: once it said 429, it goes last until its Retry-After (30 s) is over.
    answers = _until_tried(gw, fake, "rl", lambda: client.chat.completions.create(
        model="r-rl", messages=MSG), then=15)
    assert {a.model for a in answers} == {"good"}
    assert fake.count("rl") == 1
    assert _row(gw, "r-rl", "rl")["failures"] == 1
    wait = gw.gateway.live.availability.cooldown_until["rl"] - time.time()
    assert 25 < wait <= 30
    # Named directly: one call (not an immediate retry against its wish), then a 429 that
    # carries the upstream's Retry-After, so that the SDK backs off.
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="rl", messages=MSG)
    assert fake.count("rl") == 2
    assert info.value.response.headers["retry-after"] == "30"
    assert info.value.code == "rate_limit_exceeded"


def test_retry_after_forms() -> None:
    assert _retry_after("7") == 7.0
    assert _retry_after("0.5") == 0.5
    assert _retry_after("-3") == 0.0
    assert _retry_after(None) is None and _retry_after("") is None
    assert _retry_after("soon") is None and _retry_after("nan") is None
    when = email.utils.formatdate(time.time() + 20, usegmt=True)  # RFC 9110 HTTP-date
    assert 17 < (_retry_after(when) or 0) <= 20
    assert _retry_after(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0


@pytest.mark.parametrize(("yaml", "message"), [
    ("routes: {r: {candidates: [m], ttft_deadline_s: 0}}",
     "routes.r.ttft_deadline_s: must be greater than 0, got 0"),
    ("routes: {r: {candidates: [m], ttft_deadline_s: soon}}",
     "routes.r.ttft_deadline_s: expected a number, got 'soon'"),
    ("providers: {p: {type: openai, stream_idle_timeout_s: -1}}",
     "providers.p.stream_idle_timeout_s: must be greater than 0, got -1"),
])
def test_deadline_settings_are_validated(yaml: str, message: str) -> None:
    from gateway.config import ConfigError, loads

    base = {"providers": "providers: {p: {type: openai}}", "models": "models: {m: {provider: p}}"}
    key = yaml.split(":")[0]
    text = "\n".join([yaml, *(v for k, v in base.items() if k != key)])
    with pytest.raises(ConfigError) as info:
        loads(text)
    assert message in info.value.errors
