"""The Responses API front door, end to end: the official openai SDK -> a real uvicorn gateway
(simulated models) -> the same pipeline as chat; stored responses in memory and in a real Redis
shared by two gateways."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from pydantic import BaseModel
from support.gateway import GatewayThread
from support.redis_server import RedisServer

from gateway.http.responses import conversation_of

KEY = "gw-responses-key-123456"
OTHER_KEY = "gw-responses-other-654321"
TOOLS = [{"type": "function", "name": "get_weather", "description": "The weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"], "additionalProperties": False}}]


def config(store: str = "{backend: memory, documents_ttl_s: 0.6}") -> str:
    sim = "simulate: {latency_ms: 5, jitter_ms: 1, output_tokens: 12, chunks: 4}"
    return f"""
server: {{api_keys: {{alice: "{KEY}", bob: "{OTHER_KEY}"}}}}
store: {store}
providers: {{sim: {{type: simulated}}}}
models:
  sim-a: {{provider: sim, {sim}}}
  sim-b: {{provider: sim, {sim}}}
routes:
  auto: {{candidates: [sim-a, sim-b], exploration: 1.0}}
"""


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayThread]:
    server = GatewayThread(config()).start()
    yield server
    server.stop()


@pytest.fixture
def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)


@pytest.mark.parametrize("model", ["auto", "sim-b"])
def test_plain_answer_through_a_route_and_a_model(client: openai.OpenAI, model: str) -> None:
    raw = client.responses.with_raw_response.create(model=model, input="hi",
                                                    instructions="be brief")
    response = raw.parse()
    assert response.status == "completed" and response.object == "response"
    assert response.model == raw.headers["x-bayesgate-model"]
    assert response.model in (("sim-a", "sim-b") if model == "auto" else ("sim-b",))
    assert response.output_text.startswith("the gateway routes")
    assert response.usage is not None and response.usage.output_tokens == 12
    assert response.instructions == "be brief" and response.id.startswith("resp_")


def test_stream_is_the_typed_event_sequence(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="auto", input="hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response
    assert final.output_text == deltas and final.usage.output_tokens == 12
    assert final.id == events[0].response.id


def test_function_tool_round_trip_by_previous_response_id(client: openai.OpenAI) -> None:
    first = client.responses.create(model="auto", input="weather in Oslo?", tools=TOOLS,
                                    tool_choice="required")
    call = next(o for o in first.output if o.type == "function_call")
    assert call.name == "get_weather" and "city" in call.arguments
    second = client.responses.create(
        model="auto", previous_response_id=first.id, tools=TOOLS,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "cold"}])
    assert second.output_text and second.previous_response_id == first.id
    assert second.model == first.model  # the chain stays on the model that began it
    items = client.responses.input_items.list(second.id)
    assert [i.type for i in items.data] == ["function_call_output"]


def test_function_tool_round_trip_with_the_whole_history(client: openai.OpenAI) -> None:
    """What the Agents SDK does: the earlier output items sent back as input, store off."""
    history: list = [{"role": "user", "content": "weather in Oslo?"}]
    first = client.responses.create(model="auto", input=history, tools=TOOLS, store=False,
                                    tool_choice="required")
    call = next(o for o in first.output if o.type == "function_call")
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "cold"})
    second = client.responses.create(model="auto", input=history, tools=TOOLS, store=False)
    assert second.output[0].type == "message" and second.output_text
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)  # store: false kept nothing


def test_streamed_tool_call(client: openai.OpenAI) -> None:
    with client.responses.stream(model="auto", input="weather?", tools=TOOLS,
                                 tool_choice="required") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    call = final.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.arguments.startswith("{")


class Weather(BaseModel):
    city: str
    temperature_c: float


def test_parse_with_a_pydantic_model(client: openai.OpenAI) -> None:
    parsed = client.responses.parse(model="auto", input="weather in Oslo", text_format=Weather)
    assert isinstance(parsed.output_parsed, Weather)


def test_stored_responses_retrieve_list_delete_and_expire(client: openai.OpenAI,
                                                          gw: GatewayThread) -> None:
    made = client.responses.create(model="auto", input=[
        {"role": "user", "content": "one"}, {"role": "user", "content": "two"}])
    got = client.responses.retrieve(made.id)
    assert got.id == made.id and got.output_text == made.output_text
    items = client.responses.input_items.list(made.id, order="asc")
    assert [i.content[0].text for i in items.data] == ["one", "two"]  # type: ignore[union-attr]
    other = openai.OpenAI(base_url=gw.base_url, api_key=OTHER_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(made.id)  # another key's response is not there for it
    client.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)
    kept = client.responses.create(model="auto", input="hi")
    time.sleep(0.8)  # documents_ttl_s: 0.6
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="auto", input="again", previous_response_id=kept.id)
    assert caught.value.code == "previous_response_not_found"


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"model": "auto", "input": [{"type": "web_search_call", "id": "ws_1"}]}, 400,
     "input items of type 'web_search_call' are not supported"),
    ({"model": "auto", "input": "x", "tools": [{"type": "web_search_preview"}]}, 400,
     "the built-in tool 'web_search_preview' cannot be served"),
    ({"model": "auto", "input": "x", "previous_response_id": "resp_unknown"}, 400,
     "Previous response with id 'resp_unknown' not found"),
    ({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}, 400,
     "Unknown parameter: 'messages'"),
    ({"model": "nope", "input": "x"}, 404, "The model 'nope' does not exist"),
    ({"model": "auto"}, 400, "'input' is required."),
])
def test_bad_requests_get_openai_errors(gw: GatewayThread, body: dict, status: int,
                                        message: str) -> None:
    answer = httpx.post(f"{gw.base_url}/responses", json=body,
                        headers={"authorization": f"Bearer {KEY}"})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"


def test_malformed_json_and_no_key(gw: GatewayThread) -> None:
    answer = httpx.post(f"{gw.base_url}/responses", content=b"{nope",
                        headers={"authorization": f"Bearer {KEY}"})
    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["error"]["message"]
    assert httpx.post(f"{gw.base_url}/responses", json={"model": "auto", "input": "x"}
                      ).status_code == 401


@pytest.fixture
def fleet() -> Iterator[list[GatewayThread]]:
    with RedisServer() as server:
        store = f'{{backend: redis, url: "{server.url}", sync_interval_s: 0.05}}'
        gateways = [GatewayThread(config(store), seed=s).start() for s in (1, 2)]
        yield gateways
        for g in gateways:
            g.stop()


def test_a_chain_continues_on_another_replica(fleet: list[GatewayThread]) -> None:
    one, two = (openai.OpenAI(base_url=g.base_url, api_key=KEY, max_retries=0) for g in fleet)
    deadline = time.monotonic() + 10
    while any(g.gateway.store.status()["state"] != "ok" for g in fleet):
        assert time.monotonic() < deadline, "redis store never connected"
        time.sleep(0.05)
    first = one.responses.create(model="auto", input="remember: blue", tools=TOOLS,
                                 tool_choice="required")
    call = next(o for o in first.output if o.type == "function_call")
    second = two.responses.create(  # at once, on the other replica
        model="auto", previous_response_id=first.id, tools=TOOLS,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "ok"}])
    assert second.output_text and second.model == first.model
    assert one.responses.retrieve(second.id).previous_response_id == first.id
    third = one.responses.create(model="auto", previous_response_id=second.id, input="and?")
    # the conversation rebuilt from Redis on replica one: every turn's input and output
    chain, conversation, _ = fleet[0].call(conversation_of(fleet[0].gateway, third.id, "alice"))
    assert chain == [first.id, second.id, third.id]
    assert [i.get("type", "message") for i in conversation] == [
        "message", *[o.type for o in first.output], "function_call_output",
        *[o.type for o in second.output], "message", *[o.type for o in third.output]]
    two.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        one.responses.retrieve(first.id)
    with pytest.raises(openai.BadRequestError) as broken:  # its chain lost its first turn
        two.responses.create(model="auto", previous_response_id=third.id, input="more")
    assert "earlier responses are gone" in broken.value.message


def test_a_long_chain_stores_each_turn_once_and_stays_alive(client: openai.OpenAI,
                                                            gw: GatewayThread) -> None:
    """Each turn stores its own input and output only (linear bytes, not quadratic), and
    storing a turn renews the earlier ones: this chain outlives documents_ttl_s (0.6 s)."""
    documents = gw.gateway.store.documents
    previous, sizes = None, []
    for turn in range(12):
        before = documents.size_bytes
        made = client.responses.create(model="auto", input=f"turn {turn}: " + "x" * 2000,
                                       previous_response_id=previous)  # type: ignore[arg-type]
        sizes.append(documents.size_bytes - before)
        previous = made.id
        time.sleep(0.1)
    assert max(sizes[1:]) < 1.5 * min(sizes[1:]), sizes  # a whole-history copy: 2 KB more each
    _, conversation, _ = gw.call(conversation_of(gw.gateway, previous, "alice"))
    assert sum(1 for i in conversation if i.get("role") == "user") == 12
    listed = client.responses.input_items.list(previous)
    assert len(listed.data) == 1  # its own input only


def test_item_references_and_what_the_codex_cli_sends(client: openai.OpenAI) -> None:
    """The Vercel AI SDK refers back to stored output by id; the Codex CLI groups functions
    in a `namespace` tool and adds fields of its own."""
    first = client.responses.create(model="auto", input="hello")
    second = client.responses.create(model="auto", input=[
        {"role": "user", "content": "hello"}, {"type": "item_reference", "id": first.output[0].id},
        {"role": "user", "content": "and?"}])
    assert second.output_text
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="auto", input=[{"type": "item_reference", "id": "msg_x"}])
    assert "Item with id 'msg_x' not found" in caught.value.message
    grouped = client.responses.create(
        model="auto", input="spawn", tool_choice="required", store=False,
        extra_body={"client_metadata": {"turn_id": "t1"}},
        tools=[{"type": "namespace", "name": "agents", "description": "sub-agents",
                "tools": TOOLS}])  # type: ignore[list-item]
    call = grouped.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.namespace == "agents"
