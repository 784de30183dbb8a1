"""What the gateway measured about one attempt, as the learner receives it.

The web layer reports facts (an attempt failed after so long; an answer came with this
validity, latency, usage and retry count) through the two constructors below; the learner
turns them into a reward with `policies.reward` and updates the posteriors. Scoring lives
in the learner only, so every front door and the shadow mirror are scored alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.reward import Outcome


@dataclass(frozen=True, slots=True)
class Finished:
    """How the client's request ended, attached to the answer that ended it (for the log)."""

    decision: str
    status: int
    latency_s: float
    ttft_s: float | None
    overhead_s: float
    stream: bool = False
    client_retries: int = 0  # what the client's SDK declared (x-stainless-retry-count)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One attempt to be scored: what the gateway measured about a model's answer."""

    route: str  # "" when the client named the model directly
    model: str
    outcome: Outcome
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # The gateway key's name ("" on an open gateway); None for the gateway's own shadow copies,
    # which no caller chose and so no caller's share of the evidence counts.
    caller: str | None = ""
    messages: Any = None  # for the client-retry fingerprint; None for failed attempts and copies
    request: Finished | None = None  # set on the answer the client got
    cls: str = ""  # the request class that decided ("" for a named model or no classes)
    prompt_estimate: int = 0  # the gateway's estimate of the prompt's tokens
    # Invalid because the output budget the client set cut it short: not the model's fault.
    client_cut: bool = False


def failed(route: str, model: str, *, elapsed_s: float, retries: int = 0,
           caller: str | None = None, cls: str = "") -> Exchange:
    """An attempt that got no usable answer (error, timeout, refused): it scores 0."""
    return Exchange(route, model, Outcome(False, elapsed_s * 1000, retries), caller=caller,
                    cls=cls)


def answered(route: str, model: str, *, problem: str | None, latency_s: float,
             retries: int = 0, usage: Any = None, completion_estimate: int = 0,
             caller: str | None = None, messages: Any = None,
             finished: Finished | None = None, cls: str = "", prompt_estimate: int = 0,
             client_cut: bool = False, signals: frozenset[str] = frozenset()) -> Exchange:
    """An answer: valid when `problem` is None; tokens from its usage block, else (streams
    without one) the completion estimate."""
    prompt, completion = usage_tokens(usage)
    if not isinstance(usage, dict) and completion_estimate:
        completion = completion_estimate
    return Exchange(route, model, Outcome(problem is None, latency_s * 1000, retries, signals),
                    prompt_tokens=prompt, completion_tokens=completion, caller=caller,
                    messages=messages, request=finished, cls=cls,
                    prompt_estimate=prompt_estimate, client_cut=client_cut)


def usage_tokens(usage: Any) -> tuple[int, int]:
    """(prompt, completion) tokens from an OpenAI usage block; 0 for what is missing or broken."""
    if not isinstance(usage, dict):
        return 0, 0
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def finish_reason(data: dict[str, Any]) -> Any:
    """The first choice's finish_reason of a chat answer (None when there is none)."""
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0].get("finish_reason")
    return None
