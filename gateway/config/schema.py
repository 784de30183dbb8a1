"""The config as typed, frozen objects: what `gateway.yaml` means once it has been validated.

Every default is stated here, once: the parser passes on only the keys a file sets. Parts that
belong to a lower layer keep their own dataclasses (the reward, breaker and prior from
`policies`, a provider's connection `Settings` and a simulated model from `providers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gateway.redact import url_passwords
from policies import defaults
from policies.breaker import BreakerConfig
from policies.cost import Price
from policies.objective import Objective
from policies.posterior import Prior
from policies.reward import RewardConfig
from providers import PROVIDERS
from providers.base import Settings
from providers.simulated import SimModel

PROVIDER_TYPES = tuple(PROVIDERS)
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")
STORE_BACKENDS = ("memory", "redis")
STORE_MODES = ("standalone", "cluster", "sentinel")


class ConfigError(Exception):
    """Every problem found in a config, one `path: message` line each."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: Mapping[str, str] = field(default_factory=dict)  # name -> key
    admin_keys: Mapping[str, str] = field(default_factory=dict)
    admin_open: bool = False  # the admin surface open to all even though api_keys are set
    max_body_bytes: int = 4_000_000
    cors_origins: tuple[str, ...] = ()

    @property
    def admin_access(self) -> Mapping[str, str]:
        """The keys that open /stats, /metrics and /dashboard (none: open to all): the admin
        keys, else the API keys, so a gateway that asks for keys never shows its stats to
        anyone without one (unless `admin_open`)."""
        return self.admin_keys if self.admin_keys or self.admin_open else self.api_keys


@dataclass(frozen=True, slots=True)
class StoreConfig:
    backend: str = "memory"
    url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "bayesgate"
    sync_interval_s: float = 0.25
    max_pending: int = 100_000
    # Stored Responses API responses (previous_response_id): how long they are kept, and the
    # most this process holds of them (the memory store, or a Redis replica's local copy).
    documents_ttl_s: float = 86_400.0
    documents_max_bytes: int = 16_000_000
    # How Redis is reached: one server at `url`, a Redis Cluster (`url` and `nodes` are seeds),
    # or the master that `sentinels` name `master_name` (then `url` gives only the scheme, the
    # master's user, password and database).
    mode: str = "standalone"
    nodes: tuple[str, ...] = ()  # "host:port"
    sentinels: tuple[str, ...] = ()  # "host:port"
    master_name: str = "mymaster"
    sentinel_password: str | None = None
    # An update counts as stored once this many replicas acknowledged it too (WAIT).
    replica_acks: int = 0


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "info"
    format: str = "text"  # or "json": one JSON object per line
    access_log: bool = False  # uvicorn's line per HTTP request (the request log is separate)


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    history_interval_s: float = 2.0  # how often /dashboard's time series take a point
    history_points: int = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderConfig(Settings):
    """`providers.NAME`: the connection settings (defaults in providers.base.Settings)."""

    name: str
    type: str
    # Ask this upstream for stream usage (stream_options.include_usage) whatever the client
    # asked; false for an upstream that refuses the field (its streams are then estimated).
    stream_usage: bool = True


@dataclass(frozen=True, slots=True)
class ModelConfig:
    name: str
    provider: str
    upstream_name: str
    family: str | None = None
    cost: Price | None = None
    prior: Prior | None = None
    simulate: SimModel = field(default_factory=SimModel)


@dataclass(frozen=True, slots=True)
class PromotionConfig:
    threshold: float = 0.95  # P(candidate beats the best live model) needed to be ready
    min_observations: int = 30  # scored shadow answers needed before that probability counts


@dataclass(frozen=True, slots=True)
class ShadowConfig:
    candidates: tuple[str, ...] = ()
    rate: float = 0.05
    max_in_flight: int = 8
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    auto_promote: bool = False  # a ready candidate joins the route's live candidates


@dataclass(frozen=True, slots=True)
class ClassConfig:
    """One request class of a route: a request matches when every condition set here holds
    (a class with none matches every request). The route's classes are tried in order."""

    name: str
    tools: bool | None = None  # the request declares tools
    tool_required: bool | None = None  # tool_choice forces a tool call
    structured: bool | None = None  # response_format json_schema or json_object
    images: bool | None = None
    stream: bool | None = None
    min_prompt_tokens: int | None = None  # the gateway's estimate of the prompt's size
    max_prompt_tokens: int | None = None
    keywords: tuple[str, ...] = ()  # any of them in the system or last user message


# A request no class matches is of this class.
UNMATCHED_CLASS = "default"

_CODE_WORDS = ("```", "code", "python", "javascript", "typescript", "golang", "rust", "java",
               "sql", "regex", "bug", "compile*", "stack trace", "traceback", "refactor*",
               "def", "#include", "function")
_MATH_WORDS = ("solve", "equation*", "integral", "derivative", "prove", "theorem",
               "calculat*", "probability", "math*")
_EXTRACT_WORDS = ("extract*", "parse", "fields from", "list all", "classif*", "label")
_SUMMARY_WORDS = ("summar*", "tl;dr", "translat*", "rewrite", "paraphras*")

# The classes of a route that sets none: features first (they change what a valid answer is),
# then cheap keyword rules for the task, then everything else.
DEFAULT_CLASSES: tuple[ClassConfig, ...] = (
    ClassConfig("tools", tools=True),
    ClassConfig("structured", structured=True),
    ClassConfig("code", keywords=_CODE_WORDS),
    ClassConfig("math", keywords=_MATH_WORDS),
    ClassConfig("extraction", keywords=_EXTRACT_WORDS),
    ClassConfig("summary", keywords=_SUMMARY_WORDS),
    ClassConfig("long", min_prompt_tokens=8000),
    ClassConfig("chat"),
)


@dataclass(frozen=True, slots=True)
class LearningConfig:
    """What may move a route's posteriors, and how far (`routes.NAME.learning`)."""

    # A class's posterior starts from the route-level evidence, at most this many answers'
    # worth, and adds its own: a class with little traffic routes on the pooled estimate.
    class_prior_strength: float = defaults.CLASS_PRIOR_STRENGTH
    # Weight of an answer to a request that named the model (not the route) on the routes that
    # list the model: the client chose the model, not the policy.
    direct_weight: float = 0.2
    # One caller may add to one model on the route, per caller_window_s, at most caller_answers
    # answers' worth of evidence or caller_share of all that callers added, whichever is more,
    # so no single client can flip a route on its own.
    caller_share: float = 0.5
    caller_answers: float = 25.0
    caller_window_s: float = 60.0
    # POST /v1/feedback: a score counts as this many answers, within this long of the decision.
    feedback_weight: float = 1.0
    feedback_window_s: float = 3600.0
    # A model whose answers stop fitting its posterior restarts from its prior plus the answers
    # since the change (policies.change): a CUSUM for a shift of change_shift in its mean
    # reward that fires at change_threshold; None: no detection, decay alone.
    change_shift: float = defaults.CHANGE_SHIFT
    change_threshold: float | None = defaults.CHANGE_THRESHOLD


@dataclass(frozen=True, slots=True)
class RouteConfig:
    name: str
    candidates: tuple[str, ...]
    fallback: str
    cost_weight: float = defaults.COST_WEIGHT
    shadow: ShadowConfig = field(default_factory=ShadowConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    half_life_s: float | None = defaults.HALF_LIFE_S
    half_life_requests: float | None = defaults.HALF_LIFE_REQUESTS
    max_strength: float | None = defaults.MAX_STRENGTH
    confidence_floor: float = defaults.CONFIDENCE_FLOOR
    exploration: float = defaults.EXPLORATION
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    max_attempts: int = defaults.MAX_ATTEMPTS
    retry_window_s: float = 120.0
    # A stream whose first chunk takes longer is abandoned for the next candidate (not on the
    # last attempt, which has nowhere to go); None: no deadline.
    ttft_deadline_s: float | None = None
    classes: tuple[ClassConfig, ...] = DEFAULT_CLASSES  # () : one posterior per model
    learning: LearningConfig = field(default_factory=LearningConfig)
    # How cost weighs against reward, and the route's budget and latency objective; its
    # cost_weight is always the route's own, kept for configs that state only that.
    objective: Objective = field(default_factory=Objective)

    def __post_init__(self) -> None:
        if self.objective.cost_weight != self.cost_weight:
            object.__setattr__(self, "objective",
                               replace(self.objective, cost_weight=self.cost_weight))


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """OpenTelemetry traces (opt-in; the `telemetry` extra). The exporter also reads the
    standard OTEL_EXPORTER_OTLP_* variables, the resource OTEL_SERVICE_NAME and
    OTEL_RESOURCE_ATTRIBUTES."""

    enabled: bool = False
    endpoint: str | None = None  # OTLP/HTTP traces URL; None: OTEL_EXPORTER_OTLP_* or :4318
    service_name: str = "bayesgate"
    sample_ratio: float = 1.0  # of the requests that arrive without a sampled parent


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig
    store: StoreConfig
    providers: Mapping[str, ProviderConfig]
    models: Mapping[str, ModelConfig]
    routes: Mapping[str, RouteConfig]
    path: str | None = None
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every configured secret, for redaction."""
        found = [p.api_key for p in self.providers.values() if p.api_key]
        found += list(self.server.api_keys.values()) + list(self.server.admin_keys.values())
        found += [v for p in self.providers.values() for v in p.headers.values()]
        found += url_passwords(self.store.url)
        found += [self.store.sentinel_password] if self.store.sentinel_password else []
        return tuple(s for s in found if len(s) >= 4)
