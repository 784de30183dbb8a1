"""The Call's path to a candidate whose upstream speaks the front door's API natively
(`providers.NAME.native`): the request goes as it came (`Native.native_body`) and the answer
comes back as it is, read into chat only to be measured (gateway/translate/native.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterator
from typing import Any, cast

import orjson

from gateway.config import ModelConfig
from gateway.errors import GatewayError
from gateway.http.dialect import Dialect, Native, NativeEvents
from gateway.runtime.state import Generation
from gateway.translate.native import OPENING
from providers.base import NativeProvider, Provider, UpstreamInvalid

Json = dict[str, Any]


def native_candidates(gateway: Generation, requested: object, api: str,
                      skipped: list[GatewayError]) -> frozenset[str] | None:
    """The candidates that may take a request holding what chat has no twin for (`skipped`,
    a built-in tool say): those whose provider speaks `api` natively. A 400 naming the first
    such thing when there are none; None when `requested` is no route or model (the plan's
    404)."""
    config = gateway.config
    if not isinstance(requested, str):
        return None
    route = config.routes.get(requested)
    if route is not None:
        names = gateway.router.candidates(route)
    elif requested in config.models:
        names = (requested,)
    else:
        return None
    found = frozenset(n for n in names
                      if api in config.providers[config.models[n].provider].native)
    if not found:
        first = skipped[0]
        raise GatewayError(first.status, f"{first.message} No candidate of {requested!r} is "
                           "on a provider that speaks this API natively (providers.NAME.native)"
                           ", which could take it as it is.", type=first.type,
                           code=first.code, param=first.param)
    return found


def native_dialect(gateway: Generation, model: ModelConfig, dialect: Dialect) -> Native | None:
    """`dialect` as a Native when `model`'s upstream speaks its API, else None."""
    api = dialect.native
    if api is None or api not in gateway.config.providers[model.provider].native:
        return None
    return cast(Native, dialect)


async def answer(provider: Provider, native: Native, model: ModelConfig) -> tuple[Json, bytes]:
    """The chat answer to measure and the bytes for the client."""
    data = await cast(NativeProvider, provider).native(
        cast(str, native.native), native.native_body, upstream_model=model.upstream_name,
        headers=native.native_headers)
    with _writable():
        return native.native_answer(data, model.name)


async def stream(provider: Provider, native: Native, model: ModelConfig,
                 events: NativeEvents) -> AsyncGenerator[tuple[list[Json], bytes], None]:
    """The chat chunks to measure and the bytes to send of each batch of events that
    arrived together (one send for them all). The opening events' bytes wait for the first
    event that says something of the answer, so that until then the Call may still fail
    over."""
    upstream = cast(NativeProvider, provider).native_stream(
        cast(str, native.native), native.native_body, upstream_model=model.upstream_name,
        headers=native.native_headers)
    held: list[bytes] | None = []
    try:
        async for batch in upstream:
            chunks: list[Json] = []
            bodies: list[bytes] = held if held is not None else []
            opening = True
            for event in batch:
                with _writable():
                    chunk, body = events.event(event)
                if chunk is not None:
                    chunks.append(chunk)
                bodies.append(body)
                opening = opening and event.get("type") in OPENING
            if held is not None and opening:
                continue
            held = None
            yield chunks, b"".join(bodies)
    finally:
        await upstream.aclose()


@contextlib.contextmanager
def _writable() -> Iterator[None]:
    """JSON that orjson cannot write (nested past 254 levels, though it reads 1024) is
    upstream garbage, not a 500 of ours."""
    try:
        yield
    except orjson.JSONEncodeError as exc:
        raise UpstreamInvalid(f"upstream answer cannot be passed on: {exc}") from None
