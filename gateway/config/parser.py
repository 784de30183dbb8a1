"""`gateway.yaml`: loaded once, `${VAR}` / `${VAR:-default}` interpolated, validated strictly.

Parsing turns the YAML tree into the frozen dataclasses of `schema`; unknown keys, bad values
and dangling references are collected (all of them, not only the first) into one ConfigError
whose lines name the path, e.g. `routes.auto.fallback: unknown model 'gpt4o'`. Only the keys
a file sets are passed on, so every default is the schema's.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gateway.config.fields import (
    Convert,
    Invalid,
    addresses,
    boolean,
    choice,
    keep,
    keys,
    native_apis,
    number,
    optional,
    provider_errors,
    server_errors,
    store_errors,
    str_list,
    str_map,
    string,
)
from gateway.config.schema import (
    LOG_FORMATS,
    LOG_LEVELS,
    PROVIDER_TYPES,
    STORE_BACKENDS,
    STORE_MODES,
    ClassConfig,
    Config,
    ConfigError,
    DashboardConfig,
    LearningConfig,
    LoggingConfig,
    ModelConfig,
    PromotionConfig,
    ProviderConfig,
    RouteConfig,
    ServerConfig,
    ShadowConfig,
    StoreConfig,
    TelemetryConfig,
)
from gateway.config.text import interpolate, join_path, yaml_error
from policies.breaker import BreakerConfig
from policies.cost import Price
from policies.objective import PERIODS, Budget, Objective
from policies.posterior import Prior
from policies.reward import SIGNALS, RewardConfig
from providers.simulated import SimModel

_CLASS_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


# ---------------------------------------------------------------------------------------------
# loading


def load(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate a config file; raises ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror or exc}"]) from None
    return loads(text, env=env, path=str(path))


def loads(text: str, *, env: Mapping[str, str] | None = None, path: str | None = None) -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([yaml_error(exc, path or "<config>")]) from None
    errors: list[str] = []
    raw = interpolate(raw if raw is not None else {}, env if env is not None else os.environ,
                      "", errors)
    config = _Parser(errors).config(raw, path)
    if errors:
        raise ConfigError(errors)
    assert config is not None
    return config


# ---------------------------------------------------------------------------------------------
# typed fields

class _Parser:
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors

    def fields(self, raw: Any, path: str, spec: Mapping[str, Convert]) -> dict[str, Any]:
        """Convert the known keys of a mapping; report unknown keys and bad values."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.errors.append(f"{path or '<root>'}: expected a mapping, got {type(raw).__name__}")
            return {}
        out: dict[str, Any] = {}
        for key, value in raw.items():
            sub = join_path(path, str(key))
            if key not in spec:
                known = ", ".join(sorted(spec))
                close = difflib.get_close_matches(str(key), list(spec), n=1, cutoff=0.7)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.errors.append(f"{sub}: unknown key ({hint}expected one of: {known})")
                continue
            try:
                out[str(key)] = spec[key](value, sub)
            except Invalid as exc:
                self.errors.append(str(exc))
        return out

    def mapping(self, raw: Any, path: str) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.errors.append(f"{path}: expected a mapping, got {type(raw).__name__}")
            return {}
        return {str(k): v for k, v in raw.items()}

    def config(self, raw: Any, path: str | None) -> Config | None:
        top = self.fields(raw, "", {k: keep for k in
                                    ("server", "store", "providers", "models", "routes",
                                     "logging", "dashboard", "telemetry")})
        server = self.server(top.get("server"))
        logging_ = LoggingConfig(**self.fields(top.get("logging"), "logging", {
            "level": choice(LOG_LEVELS, fold=True), "format": choice(LOG_FORMATS),
            "access_log": boolean}))
        dashboard = DashboardConfig(**self.fields(top.get("dashboard"), "dashboard", {
            "history_interval_s": number(0.05, 3600),
            "history_points": number(2, 100_000, integer=True)}))
        telemetry = TelemetryConfig(**self.fields(top.get("telemetry"), "telemetry", {
            "enabled": boolean, "endpoint": optional(string), "service_name": string,
            "sample_ratio": number(0, 1)}))
        store = self.store(top.get("store"))
        providers = {n: self.provider(n, v) for n, v in
                     self.mapping(top.get("providers"), "providers").items()}
        models = {n: self.model(n, v, providers) for n, v in
                  self.mapping(top.get("models"), "models").items()}
        routes = {n: self.route(n, v, models) for n, v in
                  self.mapping(top.get("routes"), "routes").items()}
        if not models and not any(e.startswith("models") for e in self.errors):
            self.errors.append("models: at least one model must be configured")
        for name in routes:
            if name in models:
                self.errors.append(f"routes.{name}: a route cannot share its name with a model")
        if self.errors:
            return None
        # With no errors, no entry is None.
        return Config(server=server, store=store, path=path, logging=logging_,
                      dashboard=dashboard, telemetry=telemetry,
                      providers={k: v for k, v in providers.items() if v is not None},
                      models={k: v for k, v in models.items() if v is not None},
                      routes={k: v for k, v in routes.items() if v is not None})

    def server(self, raw: Any) -> ServerConfig:
        f = self.fields(raw, "server", {
            "host": string, "port": number(0, 65535, integer=True),
            "api_keys": keys, "admin_keys": keys, "admin_open": boolean,
            "max_body_bytes": number(1, integer=True), "cors_origins": str_list,
        })
        self.errors += server_errors(f)
        return ServerConfig(**f)

    def store(self, raw: Any) -> StoreConfig:
        f = self.fields(raw, "store", {
            "backend": choice(STORE_BACKENDS), "url": string, "prefix": string,
            "sync_interval_s": number(0.01, 60), "max_pending": number(1, integer=True),
            "documents_ttl_s": number(0, strict_lo=True),
            "documents_max_bytes": number(0, integer=True),
            "mode": choice(STORE_MODES), "nodes": addresses, "sentinels": addresses,
            "master_name": string, "sentinel_password": optional(string),
            "replica_acks": number(0, 16, integer=True),
        })
        self.errors += store_errors(f)
        return StoreConfig(**f)

    def provider(self, name: str, raw: Any) -> ProviderConfig | None:
        path = f"providers.{name}"
        f = self.fields(raw, path, {
            "type": choice(PROVIDER_TYPES), "base_url": optional(string),
            "api_key": optional(string), "timeout_s": number(0, strict_lo=True),
            "connect_timeout_s": number(0, strict_lo=True),
            "stream_idle_timeout_s": optional(number(0, strict_lo=True)),
            "stream_timeout_s": optional(number(0, strict_lo=True)),
            "max_connections": number(1, integer=True), "headers": str_map,
            "stream_usage": boolean, "max_response_bytes": number(1, integer=True),
            "extra_fields": str_list, "native": native_apis,
        })
        self.errors += provider_errors(f, path)
        if "type" not in f:
            if isinstance(raw, dict) and "type" not in raw:
                self.errors.append(f"{path}.type: required (one of: {', '.join(PROVIDER_TYPES)})")
            return None
        if f["type"] == "openai" and not f.get("base_url"):
            f["base_url"] = "https://api.openai.com/v1"
        if f.get("api_key") == "":
            f["api_key"] = None
        return ProviderConfig(name=name, **f)

    def model(self, name: str, raw: Any,
              providers: Mapping[str, ProviderConfig | None]) -> ModelConfig | None:
        path = f"models.{name}"
        f = self.fields(raw, path, {
            "provider": string, "upstream_name": string, "family": optional(string),
            "cost": keep, "prior": keep, "simulate": keep,
        })
        provider = f.get("provider")
        if provider is None:
            if isinstance(raw, dict) and "provider" not in raw:
                self.errors.append(f"{path}.provider: required")
            return None
        if provider not in providers:
            self.errors.append(f"{path}.provider: unknown provider {provider!r}")
        cost = self.fields(f.get("cost"), f"{path}.cost", {
            "input_per_mtok": number(0), "output_per_mtok": number(0)})
        prior = self.fields(f.get("prior"), f"{path}.prior", {
            "alpha": number(0, strict_lo=True), "beta": number(0, strict_lo=True)})
        simulate = self.fields(f.get("simulate"), f"{path}.simulate", {
            "latency_ms": number(0), "jitter_ms": number(0), "error_rate": number(0, 1),
            "invalid_rate": number(0, 1), "output_tokens": number(1, integer=True),
            "chunks": number(1, 1000, integer=True), "json_invalid_rate": number(0, 1),
            "tool_call_rate": number(0, 1), "tool_invalid_rate": number(0, 1)})
        if f.get("cost") is not None and len(cost) < 2 and isinstance(f["cost"], dict):
            self.errors.append(f"{path}.cost: needs both input_per_mtok and output_per_mtok")
        return ModelConfig(
            name=name, provider=provider, upstream_name=f.get("upstream_name", name),
            family=f.get("family"),
            cost=Price(**cost) if len(cost) == 2 else None,
            prior=Prior(**prior) if prior else None,
            simulate=SimModel(**simulate),
        )

    def route(self, name: str, raw: Any,
              models: Mapping[str, ModelConfig | None]) -> RouteConfig | None:
        path = f"routes.{name}"
        f = self.fields(raw, path, {
            "candidates": str_list, "fallback": string, "cost_weight": number(0),
            "shadow": keep, "reward": keep, "decay": keep, "breaker": keep,
            "confidence_floor": number(0, 0.99), "exploration": number(0.01, 10),
            "max_attempts": number(1, 10, integer=True),
            "retry_window_s": number(0),
            "ttft_deadline_s": optional(number(0, strict_lo=True)),
            "classes": keep, "learning": keep, "objective": keep,
        })
        if "#" in name:
            self.errors.append(f"{path}: a route name may not contain '#'")
        candidates = f.get("candidates", ())
        if not candidates:
            if "candidates" not in f and not any(e.startswith(f"{path}.candidates")
                                                 for e in self.errors):
                self.errors.append(f"{path}.candidates: required, a non-empty list of models")
            elif "candidates" in f:
                self.errors.append(f"{path}.candidates: must not be empty")
        for i, model in enumerate(candidates):
            if model not in models:
                self.errors.append(f"{path}.candidates[{i}]: unknown model {model!r}")
        if len(set(candidates)) != len(candidates):
            self.errors.append(f"{path}.candidates: lists a model more than once")
        fallback = f.get("fallback", candidates[0] if candidates else "")
        if "fallback" in f and fallback not in models:
            self.errors.append(f"{path}.fallback: unknown model {fallback!r}")
        elif "fallback" in f and fallback not in candidates:
            self.errors.append(f"{path}.fallback: {fallback!r} is not one of the candidates")
        f["shadow"] = self.shadow(f.get("shadow"), f"{path}.shadow", candidates, models)
        f["reward"] = self.reward(f.get("reward"), f"{path}.reward")
        f["breaker"] = self.breaker(f.get("breaker"), f"{path}.breaker")
        f["objective"] = self.objective(f.get("objective"), f"{path}.objective",
                                        f.get("cost_weight"))
        f.update(self.decay(f.pop("decay", None), f"{path}.decay"))
        if "classes" in f:
            f["classes"] = self.classes(f["classes"], f"{path}.classes")
        f["learning"] = LearningConfig(**self.fields(f.get("learning"), f"{path}.learning", {
            "class_prior_strength": number(0), "direct_weight": number(0, 1),
            "caller_share": number(0, 1, strict_lo=True), "caller_answers": number(1),
            "caller_window_s": number(0, strict_lo=True),
            "feedback_weight": number(0, 100), "feedback_window_s": number(0, strict_lo=True),
            "change_shift": number(0, 0.5, strict_lo=True),
            "change_threshold": optional(number(0, strict_lo=True))}))
        f.pop("candidates", None)
        f.pop("fallback", None)
        return RouteConfig(name=name, candidates=candidates, fallback=fallback, **f)

    def classes(self, raw: Any, path: str) -> tuple[ClassConfig, ...]:
        """A list of `{name, when: {...}}` tried in order; `false` or `[]`: no classes."""
        if raw is False or raw is None or raw == []:
            return ()
        if not isinstance(raw, list):
            self.errors.append(f"{path}: expected a list of classes or false")
            return ()
        found: list[ClassConfig] = []
        for i, item in enumerate(raw):
            f = self.fields(item, f"{path}[{i}]", {"name": string, "when": keep})
            name = f.get("name")
            if name is None:
                if isinstance(item, dict) and "name" not in item:
                    self.errors.append(f"{path}[{i}].name: required")
                continue
            if not _CLASS_NAME.fullmatch(name):
                self.errors.append(f"{path}[{i}].name: {name!r} is not a class name (lower-case "
                                   "letters, digits, '_' and '-', at most 40)")
                continue
            if any(c.name == name for c in found):
                self.errors.append(f"{path}[{i}].name: {name!r} is listed more than once")
                continue
            when = self.fields(f.get("when"), f"{path}[{i}].when", {
                "tools": boolean, "tool_required": boolean, "structured": boolean,
                "images": boolean, "stream": boolean,
                "min_prompt_tokens": number(0, integer=True),
                "max_prompt_tokens": number(0, integer=True), "keywords": str_list})
            if "keywords" in when:
                when["keywords"] = tuple(k.lower() for k in when["keywords"] if k)
            found.append(ClassConfig(name=name, **when))
        return tuple(found)

    def decay(self, raw: Any, path: str) -> dict[str, Any]:
        """`half_life_s: null` turns decay off, and with it the strength cap unless one is set;
        `half_life_requests: null` leaves decay by time alone."""
        f = self.fields(raw, path, {"half_life_s": optional(number(0, strict_lo=True)),
                                    "half_life_requests": optional(number(0, strict_lo=True)),
                                    "max_strength": optional(number(2, strict_lo=True))})
        if f.get("half_life_s", ...) is None:
            f.setdefault("max_strength", None)
        return f

    def objective(self, raw: Any, path: str, cost_weight: float | None) -> Objective:
        """`{value_usd, budget: {usd, per}, latency_p95_ms}`; cost_weight is the route's."""
        f = self.fields(raw, path, {"value_usd": number(0, strict_lo=True), "budget": keep,
                                    "latency_p95_ms": number(0, strict_lo=True)})
        if "value_usd" in f and cost_weight is not None:
            self.errors.append(f"{path}.value_usd: a route states either cost_weight or a "
                               "value per good answer, not both")
        if "budget" in f:
            budget = self.fields(f["budget"], f"{path}.budget", {
                "usd": number(0, strict_lo=True), "per": choice(tuple(PERIODS))})
            if "usd" not in budget:
                self.errors.append(f"{path}.budget.usd: required, the most to spend per period")
            f["budget"] = Budget(**budget) if "usd" in budget else None
        return Objective(**f)  # the route sets its cost_weight

    def breaker(self, raw: Any, path: str) -> BreakerConfig:
        f = self.fields(raw, path, {
            "failure_rate": number(0, 1, strict_lo=True),
            "min_requests": number(1, integer=True), "window_s": number(0, strict_lo=True),
            "cooldown_s": number(0, strict_lo=True),
            "half_open_probes": number(1, integer=True),
            "probe_timeout_s": number(0, strict_lo=True),
            "consecutive_failures": number(1, integer=True)})
        try:
            return BreakerConfig(**f)
        except ValueError as exc:
            self.errors.append(f"{path}: {exc}")
            return BreakerConfig()

    def shadow(self, raw: Any, path: str, live: tuple[str, ...],
               models: Mapping[str, ModelConfig | None]) -> ShadowConfig:
        f = self.fields(raw, path, {"candidates": str_list, "rate": number(0, 1),
                                    "max_in_flight": number(1, integer=True),
                                    "promotion": keep, "auto_promote": boolean})
        # Below 0.5 a candidate would be promoted while probably worse than the live best.
        promotion = self.fields(f.get("promotion"), f"{path}.promotion", {
            "threshold": number(0.5, 1), "min_observations": number(1, integer=True)})
        f["promotion"] = PromotionConfig(**promotion)
        candidates = f.get("candidates", ())
        if len(set(candidates)) != len(candidates):
            self.errors.append(f"{path}.candidates: lists a model more than once")
        for i, model in enumerate(candidates):
            if model not in models:
                self.errors.append(f"{path}.candidates[{i}]: unknown model {model!r}")
            elif model in live:
                self.errors.append(f"{path}.candidates[{i}]: {model!r} is already a live "
                                   "candidate of this route")
        return ShadowConfig(**f)

    def reward(self, raw: Any, path: str) -> RewardConfig:
        f = self.fields(raw, path, {
            "validity_weight": number(0), "latency_weight": number(0),
            "retries_weight": number(0), "latency_midpoint_ms": number(0),
            "latency_scale_ms": number(0, strict_lo=True),
            **{f"{signal}_weight": number(0, 1) for signal in SIGNALS}})
        try:
            return RewardConfig(**f)
        except ValueError as exc:
            self.errors.append(f"{path}: {exc}")
            return RewardConfig()

