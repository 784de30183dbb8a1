"""schemathesis against the gateway's own OpenAPI description (GET /openapi.json): generated
requests, valid and not, against a real server and a fake upstream; every answer must conform
to the description (status, content type, schema) and none may be a 5xx the gateway caused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection
from support.gateway import GatewayThread
from support.upstream import FakeUpstream

KEY = "gw-schema-key-0123456789"


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream) -> Iterator[GatewayThread]:
    server = GatewayThread(f"""
server: {{api_keys: ["{KEY}"], admin_keys: ["{KEY}"], max_body_bytes: 100000}}
providers: {{up: {{type: openai, base_url: "{fake.url}", timeout_s: 5}}}}
models: {{good: {{provider: up}}, other: {{provider: up}}}}
routes: {{auto: {{candidates: [good, other]}}}}
""").start()
    yield server
    server.stop()


# schemathesis' own pytest integration (`schemathesis.pytest.from_fixture`) fails under
# pytest 9 ("'Function' object has no attribute '_nodeid'"), so each operation's strategy is
# driven by hypothesis directly: the same generation and the same checks.
OPERATIONS = ["POST /v1/chat/completions", "GET /v1/models", "GET /healthz", "GET /readyz",
              "GET /stats", "POST /v1/responses", "GET /v1/responses/{response_id}",
              "DELETE /v1/responses/{response_id}",
              "GET /v1/responses/{response_id}/input_items", "POST /v1/messages",
              "POST /v1/messages/count_tokens", "GET /v1/models/{model_id}",
              "POST /v1/embeddings", "POST /v1/feedback", "POST /v1/route"]
POSTS = ["POST /v1/chat/completions", "POST /v1/responses", "POST /v1/messages",
         "POST /v1/embeddings"]


@pytest.fixture(scope="module")
def operations(gw: GatewayThread) -> dict[str, Any]:
    loaded = schemathesis.openapi.from_url(f"{gw.url}/openapi.json")
    found = {}
    for result in loaded.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


@pytest.mark.parametrize(("name", "mode"), [(op, GenerationMode.POSITIVE) for op in OPERATIONS]
                         + [(op, GenerationMode.NEGATIVE) for op in POSTS])
def test_conforms_to_its_openapi(name: str, mode: GenerationMode,
                                 operations: dict[str, Any]) -> None:
    operation = operations[name]
    # The gateway passes the OpenAI parameters it does not need (temperature, tools, ...) on
    # to the upstream, which judges them; so schema-invalid values of those may be answered
    # 200, and the check that wants them rejected does not apply. Every other check does.
    excluded = [negative_data_rejection] if mode is GenerationMode.NEGATIVE else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=60 if name.startswith("POST") else 10, deadline=None,
              derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        # On the case (not as call() headers), so the ignored-auth check can take it away.
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {KEY}"}
        case.call_and_validate(timeout=10, excluded_checks=excluded)

    check()


def test_openapi_is_served_and_lists_the_endpoints(gw: GatewayThread) -> None:
    spec = httpx.get(f"{gw.url}/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {"/v1/chat/completions", "/v1/models", "/healthz", "/readyz",
                                  "/stats", "/v1/responses", "/v1/responses/{response_id}",
                                  "/v1/responses/{response_id}/input_items", "/v1/messages",
                                  "/v1/messages/count_tokens", "/v1/models/{model_id}",
                                  "/v1/embeddings", "/v1/feedback", "/v1/route"}
