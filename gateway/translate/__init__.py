"""Dialect translation, pure functions and small encoders with no I/O: the OpenAI Responses API
and the Anthropic Messages API to and from chat completions, the pipeline's own dialect.

Requests go in as the client's JSON and come out as a chat request (or a 400 GatewayError that
names the field); answers go out from a chat completion, or chunk by chunk from a chat stream,
in the dialect's own shape. Tests hold every shape to the official SDKs' typed models.
"""
