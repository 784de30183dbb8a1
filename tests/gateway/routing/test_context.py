"""Request context: the features read off a chat request, and the class that decides."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, loads
from gateway.errors import GatewayError
from gateway.routing.context import Classifier, features

ROUTES = """
providers: {sim: {type: simulated}}
models: {a: {provider: sim}, b: {provider: sim}}
routes:
  auto: {candidates: [a, b]}
  custom:
    candidates: [a, b]
    classes:
      - {name: agent, when: {tools: true, tool_required: true}}
      - {name: big, when: {min_prompt_tokens: 1000}}
      - {name: sql, when: {keywords: [SQL, "select *"]}}
  flat: {candidates: [a, b], classes: false}
"""


def chat(text: str, **extra: object) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}


def test_features_of_a_plain_turn() -> None:
    f = features(chat("x" * 400))
    assert f.prompt_tokens == 4 + 100
    assert (f.tools, f.tool_required, f.structured, f.images, f.stream) == (False,) * 5
    assert f.output_budget is None


def test_features_see_tools_images_formats_budgets_and_streams() -> None:
    request = {
        "model": "auto", "stream": True, "max_completion_tokens": 64,
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": "You are TERSE."},
            {"role": "user", "content": [{"type": "text", "text": "what is this"},
                                         {"type": "image_url", "image_url": {"url": "x"}}]},
        ],
    }
    f = features(request)
    assert (f.tools, f.tool_required, f.structured, f.images, f.stream) == (True,) * 5
    assert f.output_budget == 64
    assert f.prompt_tokens > 765  # the image counts
    assert "you are terse." in f.text and "what is this" in f.text


def test_features_survive_garbage() -> None:
    f = features({"messages": [None, 3, {"content": [None, {"type": "text", "text": 5}]}],
                  "tools": "no", "max_tokens": True})
    assert f.prompt_tokens == 4 and not f.tools and f.output_budget is None


def test_the_default_classes_judge_the_request() -> None:
    config = loads(ROUTES, env={})
    classify = Classifier(config.routes["auto"].classes).classify
    assert classify(features(chat("hi there"))) == "chat"
    assert classify(features(chat("fix this python stack trace"))) == "code"
    assert classify(features(chat("Solve the equation x^2 = 4"))) == "math"
    assert classify(features(chat("Summarise this article"))) == "summary"
    assert classify(features(chat("hi", tools=[{"type": "function"}]))) == "tools"
    assert classify(features(chat("hi", response_format={"type": "json_schema"}))) == \
        "structured"
    assert classify(features(chat("word " * 8000))) == "long"


def test_configured_classes_match_in_order_and_the_rest_is_default() -> None:
    config = loads(ROUTES, env={})
    classifier = Classifier(config.routes["custom"].classes)
    assert classifier.names == ("agent", "big", "sql", "default")
    tools = [{"type": "function"}]
    assert classifier.classify(features(chat("x", tools=tools, tool_choice="required"))) == \
        "agent"
    assert classifier.classify(features(chat("x", tools=tools))) == "default"
    assert classifier.classify(features(chat("y" * 4000))) == "big"
    assert classifier.classify(features(chat("write me some sql"))) == "sql"
    assert classifier.classify(features(chat("mysqlx"))) == "default"  # keywords start words
    assert Classifier(config.routes["flat"].classes).classify(features(chat("x"))) == ""


def test_a_stated_class_must_be_one_of_the_routes() -> None:
    classifier = Classifier(loads(ROUTES, env={}).routes["custom"].classes)
    assert classifier.classify(features(chat("x")), stated=b" SQL ") == "sql"
    with pytest.raises(GatewayError) as caught:
        classifier.classify(features(chat("x")), stated=b"nope")
    assert caught.value.status == 400 and "agent, big, sql, default" in caught.value.message


@pytest.mark.parametrize(("classes", "error"), [
    ("[{name: Bad Name}]", "is not a class name"),
    ("[{name: a}, {name: a}]", "listed more than once"),
    ("[{when: {tools: true}}]", "name: required"),
    ("[{name: a, when: {tool: true}}]", "did you mean 'tools'"),
    ("{a: 1}", "expected a list of classes or false"),
])
def test_bad_classes_are_config_errors(classes: str, error: str) -> None:
    text = ROUTES.replace("flat: {candidates: [a, b], classes: false}",
                          f"flat: {{candidates: [a, b], classes: {classes}}}")
    with pytest.raises(ConfigError) as caught:
        loads(text, env={})
    assert error in str(caught.value)


def test_a_route_name_may_not_hold_the_class_separator() -> None:
    with pytest.raises(ConfigError, match="may not contain '#'"):
        loads(ROUTES.replace("flat:", "'fl#at':"), env={})
