"""OpenTelemetry traces, opt-in (`telemetry: {enabled: true}`; the `telemetry` extra).

One SERVER span per routed request, named as the GenAI semantic conventions say
(`chat auto`), with `gen_ai.*` attributes (operation, provider, requested and answering model,
token usage, finish reasons) and bayesgate's own (route, class, decision id, attempts, front
door, shadow or live); a CLIENT child span per upstream attempt. A shadow copy is an INTERNAL
span of its own trace (`bayesgate.shadow: true`) with its one attempt. A W3C `traceparent` from the
client is continued. Never any message content, prompt, answer or key: only names and numbers.

Spans go out in batches from the SDK's own thread (BatchSpanProcessor, OTLP over HTTP), never
from the event loop. With telemetry off nothing here is imported and the request path pays one
`is None` check per hook. The tracer provider is our own, not the global one, so an application
embedding the gateway keeps its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.config import ConfigError, ModelConfig, TelemetryConfig

_TRACEPARENT = (b"traceparent", b"tracestate")


class Tracing:
    """The process's tracer (one per process, kept across reloads)."""

    def __init__(self, config: TelemetryConfig) -> None:
        self.enabled = config.enabled
        self._provider: Any = None
        self._tracer: Any = None
        self._propagator: Any = None
        if config.enabled:
            self._start(config)

    def _start(self, config: TelemetryConfig) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )
        except ImportError as exc:
            raise ConfigError([f"telemetry.enabled: needs the OpenTelemetry SDK and its OTLP "
                               f"exporter (pip install 'bayesgate[telemetry]'): {exc}"]) from None

        resource = Resource.create({"service.name": config.service_name})
        self._provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)))
        exporter = (OTLPSpanExporter(endpoint=config.endpoint) if config.endpoint
                    else OTLPSpanExporter())
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("bayesgate")
        self._propagator = TraceContextTextMapPropagator()

    def request(self, headers: list[tuple[bytes, bytes]], *, door: str, route: str, cls: str,
                decision: str, requested: object, request: Mapping[str, Any],
                ranked: Sequence[str] = (), scores: Sequence[float] = ()) -> RequestSpan:
        """`ranked`, `scores`: the route's candidates in the policy's order and the utility
        each drew (theta minus its cost term), empty for a model asked for by name."""
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers
                   if k in _TRACEPARENT}
        parent = self._propagator.extract(carrier) if carrier else None
        return RequestSpan(self._tracer, parent, door=door, route=route, cls=cls,
                           decision=decision, requested=requested, request=request,
                           ranked=ranked, scores=scores)

    def shadow(self, *, route: str, requested: str) -> RequestSpan:
        """A copy for a shadow candidate: a trace of its own (the client's answer is gone)."""
        return RequestSpan(self._tracer, None, door="shadow", route=route, cls="",
                           decision="", requested=requested, request={}, shadow=True)

    def shutdown(self) -> None:
        """Flush what is queued and stop the exporter thread (blocking: call it in a thread)."""
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None


class RequestSpan:
    """The spans of one request: its own, and the attempt in flight."""

    __slots__ = ("_attempt", "_context", "_operation", "_span", "_tracer", "attempts")

    def __init__(self, tracer: Any, parent: Any, *, door: str, route: str, cls: str,
                 decision: str, requested: object, request: Mapping[str, Any],
                 shadow: bool = False, ranked: Sequence[str] = (),
                 scores: Sequence[float] = ()) -> None:
        from opentelemetry import trace

        self._tracer = tracer
        self._operation = "embeddings" if door == "embeddings" else "chat"
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": self._operation, "bayesgate.door": door,
            "bayesgate.route": route, "bayesgate.class": cls, "bayesgate.decision_id": decision,
            "bayesgate.shadow": shadow}
        if isinstance(requested, str):
            attributes["gen_ai.request.model"] = requested
        for key, name in (("max_tokens", "max_tokens"), ("max_completion_tokens", "max_tokens"),
                          ("temperature", "temperature"), ("top_p", "top_p")):
            value = request.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attributes[f"gen_ai.request.{name}"] = value
        attributes["bayesgate.stream"] = request.get("stream") is True
        if ranked:
            attributes["bayesgate.candidates"] = list(ranked)
            attributes["bayesgate.sampled_scores"] = [round(u, 4) for u in scores]
        self._span = tracer.start_span(
            f"{self._operation} {requested if isinstance(requested, str) else ''}".strip(),
            context=parent, kind=trace.SpanKind.INTERNAL if shadow else trace.SpanKind.SERVER,
            attributes=attributes)
        self._context = trace.set_span_in_context(self._span, parent)
        self._attempt: Any = None
        self.attempts = 0

    def attempt(self, model: ModelConfig, provider_type: str) -> None:
        from opentelemetry import trace

        self._end_attempt("superseded")
        self.attempts += 1
        self._attempt = self._tracer.start_span(
            f"{self._operation} {model.upstream_name}", context=self._context,
            kind=trace.SpanKind.CLIENT, attributes={
                "gen_ai.operation.name": self._operation,
                "gen_ai.provider.name": provider_name(provider_type, model.upstream_name),
                "gen_ai.request.model": model.upstream_name, "bayesgate.model": model.name,
                "bayesgate.attempt": self.attempts})

    def attempt_failed(self, error: BaseException, status: int | None = None) -> None:
        if self._attempt is not None and status is not None:
            self._attempt.set_attribute("http.response.status_code", status)
        self._end_attempt(type(error).__name__)

    def answered(self, model: ModelConfig, provider_type: str, usage: Any,
                 finish_reason: Any, *, upstream_ok: bool) -> None:
        """The answer is sent (a stream: ended); `upstream_ok` False: it broke mid-stream."""
        span = self._span
        span.set_attribute("gen_ai.response.model", model.name)
        span.set_attribute("gen_ai.provider.name",
                           provider_name(provider_type, model.upstream_name))
        span.set_attribute("bayesgate.model", model.name)
        if isinstance(usage, dict):
            for key, name in (("prompt_tokens", "input_tokens"),
                              ("completion_tokens", "output_tokens")):
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    span.set_attribute(f"gen_ai.usage.{name}", value)
        if isinstance(finish_reason, str):
            span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
        if upstream_ok:
            if self._attempt is not None:
                self._attempt.set_attribute("gen_ai.response.model", model.upstream_name)
                self._attempt.end()
                self._attempt = None
        else:
            self._end_attempt("stream_broken")

    def end(self, status: int, error_type: str | None = None) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._end_attempt("client_gone" if status == 499 else "not_finished")
        span = self._span
        span.set_attribute("http.response.status_code", status)
        span.set_attribute("bayesgate.attempts", self.attempts)
        if status >= 400:
            span.set_attribute("error.type", error_type or str(status))
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    def _end_attempt(self, error_type: str) -> None:
        if self._attempt is None:
            return
        from opentelemetry.trace import Status, StatusCode

        self._attempt.set_attribute("error.type", error_type)
        self._attempt.set_status(Status(StatusCode.ERROR))
        self._attempt.end()
        self._attempt = None


def provider_name(provider_type: str, upstream_model: str) -> str:
    """`gen_ai.provider.name`: an OpenAI-compatible upstream is "openai"; a LiteLLM one is
    named by its model's prefix ("anthropic/claude-..." -> "anthropic")."""
    if provider_type == "litellm" and "/" in upstream_model:
        return upstream_model.split("/", 1)[0]
    return "bayesgate.simulated" if provider_type == "simulated" else (
        "openai" if provider_type == "openai" else provider_type)
