"""Every config error names its path and says what is wrong."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, load, loads

BASE = """
providers: {sim: {type: simulated}}
models: {a: {provider: sim}, b: {provider: sim}}
routes: {auto: {candidates: [a, b]}}
"""


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loads(text, env=env or {})
    return info.value.errors


def test_defaults() -> None:
    config = loads(BASE, env={})
    route = config.routes["auto"]
    assert route.fallback == "a"
    assert route.candidates == ("a", "b")
    assert config.server.port == 8080 and config.store.backend == "memory"
    assert config.models["a"].upstream_name == "a"


def test_the_shipped_config_is_valid() -> None:
    config = load("gateway.yaml")
    assert set(config.routes["auto"].candidates) == {"sim-mini", "sim-balanced", "sim-pro"}


@pytest.mark.parametrize(("text", "expected"), [
    (BASE + "extra: 1", "extra: unknown key (expected one of: dashboard, logging, models, "
     "providers, routes, server, store, telemetry)"),
    (BASE.replace("[a, b]", "[a, gpt4o]"), "routes.auto.candidates[1]: unknown model 'gpt4o'"),
    (BASE.replace("[a, b]}", "[a, b], fallback: gpt4o}"),
     "routes.auto.fallback: unknown model 'gpt4o'"),
    (BASE.replace("{a: {provider: sim}", "{a: {provider: nope}"),
     "models.a.provider: unknown provider 'nope'"),
    (BASE.replace("[a, b]", "[]"), "routes.auto.candidates: must not be empty"),
    (BASE.replace("{candidates: [a, b]}", "{cost_weight: 1}"),
     "routes.auto.candidates: required, a non-empty list of models"),
    (BASE.replace("[a, b]}", "[a, b], cost_weight: -1}"),
     "routes.auto.cost_weight: must be at least 0, got -1"),
    (BASE.replace("[a, b]}", "[a, b], cost_weight: lots}"),
     "routes.auto.cost_weight: expected a number, got 'lots'"),
    (BASE.replace("[a, b]}", "[a, b], max_attempts: 2.5}"),
     "routes.auto.max_attempts: expected an integer, got 2.5"),
    (BASE.replace("[a, b]}", "[a, b], shadow: {candidates: [a]}}"),
     "routes.auto.shadow.candidates[0]: 'a' is already a live candidate of this route"),
    (BASE.replace("[a, b]}", "[a, b], shadow: {rate: 2}}"),
     "routes.auto.shadow.rate: must be at most 1, got 2"),
    (BASE.replace("[a, b]}", "[a, b], reward: {latency_scale_ms: 0}}"),
     "routes.auto.reward.latency_scale_ms: must be greater than 0, got 0"),
    (BASE.replace("{type: simulated}", "{type: magic}"),
     "providers.sim.type: expected one of openai, litellm, simulated, got 'magic'"),
    (BASE.replace("{type: simulated}", "{base_url: x}"),
     "providers.sim.type: required (one of: openai, litellm, simulated)"),
    (BASE + "server: {port: 70000}", "server.port: must be at most 65535, got 70000"),
    (BASE + "store: {backend: etcd}", "store.backend: expected one of memory, redis, got 'etcd'"),
    (BASE + "store: {backend: redis, url: 'http://x'}",
     "store.url: expected a redis://, rediss:// or unix:// URL, got 'http://x'"),
    (BASE + "server: {api_keys: ['${GW_KEY}']}",
     "server.api_keys[0]: environment variable GW_KEY is not set"),
    (BASE.replace("{a: {provider: sim}", "{a: {provider: sim, cost: {input_per_mtok: 1}}"),
     "models.a.cost: needs both input_per_mtok and output_per_mtok"),
    (BASE.replace("{a: {provider: sim}", "{a: {provider: sim, simulate: {error_rate: 1.5}}"),
     "models.a.simulate.error_rate: must be at most 1, got 1.5"),
    ("routes: {a: {candidates: [x]}}\nmodels: {}", "models: at least one model must be "
     "configured"),
    ("[1, 2]", "<root>: expected a mapping, got list"),
    (BASE.replace("[a, b]}", "[a, b], breaker: {failure_rate: 0}}"),
     "routes.auto.breaker.failure_rate: must be greater than 0, got 0"),
    (BASE.replace("[a, b]}", "[a, b], breaker: {cooldown: 5}}"),
     "routes.auto.breaker.cooldown: unknown key"),
    (BASE.replace("[a, b]}", "[a, b], decay: {max_strength: 1}}"),
     "routes.auto.decay.max_strength: must be greater than 2, got 1"),
    (BASE.replace("[a, b]}", "[a, b], confidence_floor: 1}"),
     "routes.auto.confidence_floor: must be at most 0.99, got 1"),
    (BASE.replace("{type: simulated}", "{type: simulated, native: [responses]}"),
     "providers.sim.native: only an openai provider passes requests on untranslated"),
    (BASE.replace("{type: simulated}", "{type: openai, native: [responses, chat]}"),
     "providers.sim.native[1]: expected one of responses, messages, got 'chat'"),
    (BASE.replace("[a, b]}", "[a, b], learning: {change_threshold: 0}}"),
     "routes.auto.learning.change_threshold: must be greater than 0, got 0"),
    (BASE.replace("[a, b]}", "[a, b], learning: {caller_answers: 0.5}}"),
     "routes.auto.learning.caller_answers: must be at least 1, got 0.5"),
    (BASE.replace("[a, b]}", "[a, b], learning: {change_shift: 0.7}}"),
     "routes.auto.learning.change_shift: must be at most 0.5, got 0.7"),
])
def test_error_messages(text: str, expected: str) -> None:
    errors = errors_of(text)
    assert any(e.startswith(expected) for e in errors), errors


def test_change_detection_is_on_by_default_and_can_be_turned_off() -> None:
    learning = loads(BASE, env={}).routes["auto"].learning
    assert (learning.change_shift, learning.change_threshold) == (0.2, 6.0)
    off = loads(BASE.replace("[a, b]}", "[a, b], learning: {change_threshold: null}}"), env={})
    assert off.routes["auto"].learning.change_threshold is None


def test_native_apis() -> None:
    config = loads(BASE.replace("{type: simulated}", "{type: openai, native: [messages]}"),
                   env={})
    assert config.providers["sim"].native == ("messages",)
    assert loads(BASE, env={}).providers["sim"].native == ()


def test_all_errors_are_reported_at_once() -> None:
    errors = errors_of(BASE.replace("[a, b]}", "[a, zz], fallback: yy, bogus: 1}"))
    assert len(errors) == 3, errors


def test_route_cannot_shadow_a_model_name() -> None:
    text = BASE.replace("routes: {auto:", "routes: {a:")
    assert "routes.a: a route cannot share its name with a model" in errors_of(text)


def test_env_interpolation() -> None:
    text = BASE + "server: {port: '${PORT:-9090}', api_keys: {ci: '${KEY}', empty: '${NONE:-}'}}"
    config = loads(text, env={"KEY": "secret-1"})
    assert config.server.port == 9090
    assert dict(config.server.api_keys) == {"ci": "secret-1"}  # empty keys are dropped
    assert "secret-1" in config.secrets


def test_decay_off_and_on() -> None:
    off = loads(BASE.replace("[a, b]}", "[a, b], decay: {half_life_s: null}}"), env={})
    assert off.routes["auto"].half_life_s is None
    assert off.routes["auto"].max_strength is None  # no decay, no cap: every answer counts
    default = loads(BASE, env={}).routes["auto"]
    assert (default.half_life_s, default.half_life_requests, default.max_strength) == (
        1800.0, 200.0, 100.0)
    on = loads(BASE.replace("[a, b]}", "[a, b], decay: {half_life_s: 60}}"), env={})
    assert on.routes["auto"].half_life_s == 60


def test_unreadable_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "missing.yaml")
    assert "cannot read config" in info.value.errors[0]
