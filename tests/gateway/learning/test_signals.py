"""Warning signals on answers that parsed, non-stream and stream, and what they cost a reward."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.learning.signals import of_completion, signals
from gateway.learning.validity import StreamTally
from policies.reward import SIGNALS, Outcome, RewardConfig, reward

TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}}}]


def answer(content: Any = "Paris is sunny.", *, finish: str = "stop", refusal: Any = None,
           calls: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if calls:
        message["tool_calls"] = [{"id": f"c{i}", "type": "function",
                                  "function": {"name": n, "arguments": a}}
                                 for i, (n, a) in enumerate(calls)]
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}


def test_a_plain_good_answer_has_no_signal() -> None:
    assert of_completion(answer(), {}, budget_set=False) == frozenset()


@pytest.mark.parametrize(("data", "request_extra", "budget", "expected"), [
    (answer(finish="length"), {}, False, {"truncated"}),
    (answer(finish="length"), {"max_tokens": 5}, True, set()),  # the client's own budget
    (answer(finish="content_filter"), {}, False, {"content_filter"}),
    (answer(refusal="I will not do that."), {}, False, {"refusal"}),
    (answer("I'm sorry, but I can't help with that request."), {}, False, {"refusal"}),
    (answer("I cannot assist with this."), {}, False, {"refusal"}),
    (answer("As an AI language model, I think..."), {}, False, {"refusal"}),
    (answer("I can help with that: here it is."), {}, False, set()),
    (answer("Sorry for the wait, the answer is 42."), {}, False, set()),
    (answer("the same words " * 100), {}, False, {"repetition"}),
    (answer(None, calls=[("weather", '{"city": "Paris"}')]), {"tools": TOOLS}, False, set()),
    (answer(None, calls=[("wether", '{"city": "Paris"}')]), {"tools": TOOLS}, False,
     {"tool_mismatch"}),
    (answer(None, calls=[("weather", '{"town": "Paris"}')]), {"tools": TOOLS}, False,
     {"tool_mismatch"}),
    (answer(None, calls=[("weather", '["Paris"]')]), {"tools": TOOLS}, False, {"tool_mismatch"}),
    (answer("It is sunny."), {"tools": TOOLS, "tool_choice": "required"}, False,
     {"tool_mismatch"}),
    (answer("It is sunny."), {"tools": TOOLS}, False, set()),  # auto: text is fine
    (answer(None, calls=[("weather", '{"city": "P"}')]),
     {"tools": TOOLS, "tool_choice": "none"}, False, {"tool_mismatch"}),
    (answer(None, calls=[("weather", '{"city": "P"}')]),
     {"tools": [*TOOLS, {"type": "function", "function": {"name": "time"}}],
      "tool_choice": {"type": "function", "function": {"name": "time"}}}, False,
     {"tool_mismatch"}),
])
def test_signals_of_an_answer(data: dict[str, Any], request_extra: dict[str, Any], budget: bool,
                              expected: set[str]) -> None:
    assert of_completion(data, request_extra, budget_set=budget) == expected


def test_a_varied_long_answer_is_not_repetition() -> None:
    text = " ".join(f"sentence {i} talks about topic {i * 7 % 13} in its own words"
                    for i in range(60))
    assert "repetition" not in signals(text, [], "stop", None, {}, budget_set=False)


def test_stream_signals_match_the_non_stream_ones() -> None:
    tally = StreamTally()
    tally.add({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "c", "type": "function",
         "function": {"name": "wether", "arguments": ""}}]}}]})
    tally.add({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": '{"city": "P"}'}}]}}]})
    tally.add({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    assert tally.signals({"tools": TOOLS}, budget_set=False) == {"tool_mismatch", "truncated"}
    refused = StreamTally()
    refused.add({"choices": [{"index": 0, "delta": {"refusal": "No."}}]})
    assert refused.signals({}, budget_set=False) == {"refusal"}


def test_each_signal_takes_its_weights_share_of_the_reward() -> None:
    cfg = RewardConfig()
    clean = reward(Outcome(True, 100.0), cfg)
    for signal in SIGNALS:
        weight = getattr(cfg, f"{signal}_weight")
        got = reward(Outcome(True, 100.0, 0, frozenset({signal})), cfg)
        assert got == pytest.approx(clean * (1 - weight))
    both = reward(Outcome(True, 100.0, 0, frozenset({"refusal", "truncated"})), cfg)
    assert both == pytest.approx(clean * (1 - cfg.refusal_weight) * (1 - cfg.truncated_weight))
    assert reward(Outcome(False, 100.0, 0, frozenset({"refusal"})), cfg) == 0.0
    with pytest.raises(ValueError, match="refusal_weight"):
        RewardConfig(refusal_weight=1.5)
