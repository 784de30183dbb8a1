"""Dialect translation, pure functions and small encoders with no I/O: the OpenAI Responses API
and the Anthropic Messages API to and from chat completions, the pipeline's own dialect.

Requests go in as the client's JSON and come out as a chat request (or a 400 GatewayError that
names the field); answers go out from a chat completion, or chunk by chunk from a chat stream,
in the dialect's own shape. Tests hold every shape to the official SDKs' typed models.
"""

from __future__ import annotations

from gateway.errors import GatewayError


def untranslatable(error: GatewayError, skipped: list[GatewayError] | None) -> None:
    """Something with no chat twin (a built-in tool, an item or block type chat lacks): raise
    `error`, or, where the request may still go to an upstream that speaks its API natively,
    note it in `skipped` and leave it out of the chat request."""
    if skipped is None:
        raise error
    skipped.append(error)
