"""GET /metrics: Prometheus families, one registry per Gateway (no process-wide globals).

Two kinds of family. What only the request path knows (requests by status, latency, TTFT,
overhead) and the learner's rewards are observed as they happen, through label children
cached per label tuple (a `labels()` lookup takes a lock and hashes; the cache is one dict
get). Everything else is read at scrape time from the same document /stats serves (handed to
`render()` by the /metrics view), so a figure that appears in /stats (a store's `errors` and
`last_sync_age_s`, the shadow counts) is exported with no extra wiring.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.ops.stats import Stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CIRCUIT_STATES = ("closed", "half_open", "open")
_LATENCY = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_OVERHEAD = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
_REWARD = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


class Metrics:
    """The families observed as things happen; `render()` adds the scrape-time ones."""

    def __init__(self) -> None:
        # No `_created` series: they double the exposition and dashboards do not use them.
        # (A process-wide switch of prometheus_client; idempotent.)
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.requests = Counter("bayesgate_requests", "Requests answered, by route, model, "
                                "HTTP status (499: the client went away) and front door "
                                "(chat, responses, messages, embeddings).",
                                ["route", "model", "status", "door"], registry=r)
        self.duration = Histogram("bayesgate_request_duration_seconds", "Time from the "
                                  "request to the end of the answer.", ["route", "model"],
                                  buckets=_LATENCY, registry=r)
        self.ttft = Histogram("bayesgate_ttft_seconds", "Time to the first streamed chunk.",
                              ["route", "model"], buckets=_LATENCY, registry=r)
        self.overhead = Histogram("bayesgate_overhead_seconds", "Time spent in the gateway "
                                  "itself, upstream wait excluded.", ["route"],
                                  buckets=_OVERHEAD, registry=r)
        self.reward = Histogram("bayesgate_reward", "Scores of answers (live and shadow, "
                                "failed attempts included).", ["route", "model"],
                                buckets=_REWARD, registry=r)
        self.http_errors = Counter("bayesgate_http_errors", "Requests answered with an error, "
                                   "by endpoint (its path template, or 'unmatched') and status.",
                                   ["path", "status"], registry=r)
        self.reloads = Counter("bayesgate_config_reloads", "Config reloads, by result.",
                               ["result"], registry=r)
        for result in ("ok", "rejected"):
            self.reloads.labels(result)
        self._scraped = _Scraped()
        r.register(self._scraped)
        self._answered: dict[tuple[str, str, str], tuple[Any, Any, Any, Any]] = {}
        self._rewards: dict[tuple[str, str], Any] = {}

    def answered(self, route: str, model: str, door: str, *, total_s: float,
                 ttft_s: float | None, overhead_s: float) -> None:
        """A 200 answer, observed after its last byte was sent."""
        children = self._answered.get((route, model, door))
        if children is None:
            children = self._answered[(route, model, door)] = (
                self.requests.labels(route, model, "200", door),
                self.duration.labels(route, model),
                self.ttft.labels(route, model), self.overhead.labels(route))
        count, duration, ttft, overhead = children
        count.inc()
        duration.observe(total_s)
        if ttft_s is not None:
            ttft.observe(ttft_s)
        overhead.observe(overhead_s)

    def failed(self, route: str, status: int, door: str) -> None:
        """A request that ended without an answer (error status, or 499 for a disconnect)."""
        self.requests.labels(route, "", str(status), door).inc()

    def rewarded(self, route: str, model: str, score: float) -> None:
        child = self._rewards.get((route, model))
        if child is None:
            child = self._rewards[(route, model)] = self.reward.labels(route, model)
        child.observe(score)

    def render(self, document: dict[str, Any], stats: Stats) -> bytes:
        """The exposition text; `document` is the /stats document of this moment."""
        # The event loop runs one scrape at a time, so handing the collector this scrape's
        # figures just before generating is race-free.
        self._scraped.now = (document, stats)
        try:
            return generate_latest(self.registry)
        finally:
            self._scraped.now = None


class _Scraped(Collector):
    """Families computed at scrape time from the /stats document and the counters."""

    def __init__(self) -> None:
        self.now: tuple[dict[str, Any], Stats] | None = None

    def collect(self) -> Iterator[Metric]:
        selections = CounterMetricFamily("bayesgate_selections", "Times the policy chose the "
                                          "model first.", labels=["route", "model"])
        mean = GaugeMetricFamily("bayesgate_posterior_mean", "Mean of the model's Beta "
                                 "posterior, decayed to now.", labels=["route", "model"])
        circuit = GaugeMetricFamily("bayesgate_circuit_state", "1 for the circuit's current "
                                    "state.", labels=["model", "state"])
        shadow = CounterMetricFamily("bayesgate_shadow_requests", "Requests mirrored to a "
                                     "shadow candidate.", labels=["route", "model"])
        dropped = CounterMetricFamily("bayesgate_shadow_dropped", "Mirrored requests dropped "
                                      "(too many in flight).", labels=["route"])
        errors = CounterMetricFamily("bayesgate_store_sync_errors", "Failed syncs with the "
                                     "shared store.")
        lag = GaugeMetricFamily("bayesgate_store_sync_lag_seconds", "Age of the last "
                                "successful sync with the shared store.")
        tokens = CounterMetricFamily("bayesgate_tokens", "Tokens used, by route, model and "
                                     "kind.", labels=["route", "model", "kind"])
        cost = CounterMetricFamily("bayesgate_cost_usd", "Spend in USD by route and model.",
                                   labels=["route", "model"])
        promotion = GaugeMetricFamily("bayesgate_shadow_promotion_probability", "Probability "
                                      "that the shadow candidate beats the route's best live "
                                      "model.", labels=["route", "model"])
        changes = CounterMetricFamily("bayesgate_model_changes", "Times this replica's learner "
                                      "saw the model change and restarted its posterior.",
                                      labels=["route", "model"])
        families = [selections, mean, circuit, shadow, dropped, promotion, errors, lag, tokens,
                    cost, changes]
        if self.now is None:  # describe-time or a stray collect: families without samples
            yield from families
            yield from _classes({})
            return
        doc, stats = self.now
        yield from _classes(doc)
        circuits: dict[str, str] = {}
        for route, data in doc["routes"].items():
            dropped.add_metric([route], float(data.get("shadow_dropped", 0)))
            for model, m in data["models"].items():
                selections.add_metric([route, model], float(m["selections"]))
                mean.add_metric([route, model], float(m["mean"]))
                changes.add_metric([route, model], float(m.get("changes", 0)))
                circuits[model] = str(m.get("circuit", "closed"))
                if m.get("shadow"):
                    shadow.add_metric([route, model], float(m.get("shadow_requests", 0)))
                    if m.get("promotion_probability") is not None:
                        promotion.add_metric([route, model], float(m["promotion_probability"]))
        for model, state in sorted(circuits.items()):
            for known in {*CIRCUIT_STATES, state}:
                circuit.add_metric([model, known], 1.0 if known == state else 0.0)
        store = doc["store"]
        errors.add_metric([], float(store.get("errors", 0) or 0))
        lag.add_metric([], float(store.get("last_sync_age_s", 0) or 0))
        for (route, model), counters in sorted(stats.models.items()):
            tokens.add_metric([route, model, "prompt"], float(counters.prompt_tokens))
            tokens.add_metric([route, model, "completion"], float(counters.completion_tokens))
            cost.add_metric([route, model], counters.cost_usd)
        yield from families


def _classes(doc: dict[str, Any]) -> tuple[Metric, Metric]:
    """Per route, request class and model: selections and the class's posterior mean."""
    selections = CounterMetricFamily(
        "bayesgate_class_selections", "Times the policy chose the model first for a request "
        "of the class.", labels=["route", "class", "model"])
    mean = GaugeMetricFamily(
        "bayesgate_class_posterior_mean", "Mean of the model's posterior for the request class "
        "(its own evidence and the route's, bounded).", labels=["route", "class", "model"])
    for route, data in doc.get("routes", {}).items():
        for cls, found in data.get("classes", {}).items():
            for model, m in found["models"].items():
                selections.add_metric([route, cls, model], float(m["selections"]))
                mean.add_metric([route, cls, model], float(m["mean"]))
    return selections, mean
