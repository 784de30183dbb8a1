"""Direct pass-through to any OpenAI-compatible API (OpenAI, vLLM, Ollama, Together, ...).

One pooled aiohttp session per provider: it costs 0.25-0.56 ms of CPU per request here against
1.3-2.6 ms for httpx (docs/architecture.md, measured facts). The body is sent with only
`model` rewritten; SSE lines are parsed as they arrive and handed on one by one, never
buffered. aiohttp's errors are mapped into providers.base's tree in one place,
`mapped_errors()`, with the original kept as the cause.

An upstream that also speaks OpenAI's Responses API or Anthropic's Messages API
(`providers.NAME.native`) gets requests through those front doors untranslated: `native()` and
`native_stream()` post them to `base_url/responses` or `base_url/messages` (the latter with the
key as `x-api-key`, as Anthropic's API takes it) and hand back that API's JSON and events.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.utils
import errno
import math
import time
from collections.abc import AsyncGenerator, Iterator, Mapping
from typing import Any

import aiohttp
import orjson

from providers.base import (
    Context,
    Json,
    ProviderError,
    Settings,
    UpstreamInvalid,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
)

_MAX_EVENT_BYTES = 16 * 1024 * 1024
# The request fields of OpenAI's chat completions and embeddings APIs: the only ones passed on
# (with a provider's `extra_fields`). Anything else a client sends is dropped, so nothing the
# gateway does not know (a credential, a redirect, a vendor switch) reaches an upstream.
CHAT_FIELDS = frozenset({
    "messages", "model", "stream", "stream_options", "temperature", "top_p", "n", "stop",
    "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty",
    "logit_bias", "logprobs", "top_logprobs", "user", "tools", "tool_choice",
    "parallel_tool_calls", "response_format", "seed", "reasoning_effort", "modalities",
    "audio", "prediction", "service_tier", "store", "metadata", "web_search_options",
    "verbosity", "prompt_cache_key", "safety_identifier", "functions", "function_call",
})
EMBEDDING_FIELDS = frozenset({"input", "model", "dimensions", "encoding_format", "user"})
# The request fields of the Responses and Messages APIs passed to an upstream that speaks them
# natively. Not `previous_response_id`: the gateway keeps the chain and sends it whole.
NATIVE_FIELDS = {
    "responses": frozenset({
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
        "text", "max_output_tokens", "max_tool_calls", "temperature", "top_p", "top_logprobs",
        "metadata", "user", "safety_identifier", "prompt_cache_key", "reasoning", "stream",
        "store", "include", "truncation", "service_tier"}),
    "messages": frozenset({
        "model", "messages", "system", "max_tokens", "stop_sequences", "temperature", "top_p",
        "top_k", "tools", "tool_choice", "metadata", "stream", "thinking", "service_tier",
        "container", "mcp_servers", "context_management", "output_format", "output_config"}),
}
# The events that end a native stream properly (it has no [DONE]).
NATIVE_ENDS = {"responses": frozenset({"response.completed", "response.incomplete",
                                       "response.failed"}),
               "messages": frozenset({"message_stop"})}
ANTHROPIC_VERSION = "2023-06-01"  # sent when the client named none
_ERROR_BYTES = 65_536  # of an error answer: its message is all that is used (300 characters)


class OpenAIProvider:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        stream_idle_timeout_s: float | None = None,
        stream_timeout_s: float | None = 1800.0,
        max_connections: int = 256,
        headers: Mapping[str, str] | None = None,
        max_response_bytes: int = 32_000_000,
        extra_fields: tuple[str, ...] = (),
        native: tuple[str, ...] = (),
    ) -> None:
        base = base_url.rstrip("/")
        self._url = base + "/chat/completions"
        self._embeddings_url = base + "/embeddings"
        self._headers = {"content-type": "application/json", "accept-encoding": "identity"}
        self._headers.update(headers or {})
        anthropic = {k: v for k, v in self._headers.items() if k.lower() != "authorization"}
        anthropic["anthropic-version"] = ANTHROPIC_VERSION
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
            anthropic["x-api-key"] = api_key
        # api -> (url, fields, headers) for the APIs this upstream speaks natively
        self._native = {api: (f"{base}/{api}", NATIVE_FIELDS[api].union(extra_fields),
                              anthropic if api == "messages" else self._headers)
                        for api in native}
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._idle_timeout_s = stream_idle_timeout_s or timeout_s
        self._stream_timeout_s = stream_timeout_s
        self._max_connections = max_connections
        self._max_response_bytes = max_response_bytes
        self._chat_fields = CHAT_FIELDS.union(extra_fields)
        self._embedding_fields = EMBEDDING_FIELDS.union(extra_fields)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings, context: Context) -> OpenAIProvider:
        return cls(base_url=settings.base_url or "", api_key=settings.api_key,
                   timeout_s=settings.timeout_s, connect_timeout_s=settings.connect_timeout_s,
                   stream_idle_timeout_s=settings.stream_idle_timeout_s,
                   stream_timeout_s=settings.stream_timeout_s,
                   max_connections=settings.max_connections, headers=settings.headers,
                   max_response_bytes=settings.max_response_bytes,
                   extra_fields=settings.extra_fields, native=settings.native)

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout_s),
            skip_auto_headers=("User-Agent",),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def speaks(self, api: str) -> bool:
        """Whether requests of this API (a front door's) may come untranslated."""
        return api in self._native

    def _post(self, body: Json, upstream_model: str, *, stream: bool, url: str | None = None,
              fields: frozenset[str] | None = None,
              headers: Mapping[str, str] | None = None) -> Any:
        assert self._session is not None, "provider used before start()"
        if fields is None:
            fields = self._embedding_fields if url == self._embeddings_url else self._chat_fields
        payload = {k: v for k, v in body.items() if k in fields}
        payload["model"] = upstream_model
        # Streams keep their own deadlines (stream()); whole answers get a total one.
        timeout = (aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout_s)
                   if stream else
                   aiohttp.ClientTimeout(total=self._timeout_s,
                                         sock_connect=self._connect_timeout_s))
        return self._session.post(url or self._url, data=orjson.dumps(payload),
                                  headers=headers or self._headers, timeout=timeout)

    def _native_post(self, api: str, body: Json, upstream_model: str, *, stream: bool,
                     headers: Mapping[str, str] | None) -> Any:
        url, fields, base = self._native[api]
        return self._post(body, upstream_model, stream=stream, url=url, fields=fields,
                          headers={**base, **headers} if headers else base)

    async def embed(self, body: Json, *, upstream_model: str) -> Json:
        return await self.complete(body, upstream_model=upstream_model, url=self._embeddings_url)

    async def native(self, api: str, body: Json, *, upstream_model: str,
                     headers: Mapping[str, str] | None = None) -> Json:
        """A non-streaming answer of `api` ("responses" or "messages") as that API's JSON."""
        return await self._answer(self._native_post(api, body, upstream_model, stream=False,
                                                    headers=headers))

    async def count_tokens(self, body: Json, *, upstream_model: str,
                           headers: Mapping[str, str] | None = None) -> Json:
        """Anthropic's `POST /v1/messages/count_tokens` (an upstream that speaks Messages)."""
        url, fields, base = self._native["messages"]
        return await self._answer(self._post(
            body, upstream_model, stream=False, url=url + "/count_tokens",
            fields=fields - {"max_tokens", "stream"}, headers={**base, **(headers or {})}))

    async def complete(self, body: Json, *, upstream_model: str, url: str | None = None) -> Json:
        return await self._answer(self._post(body, upstream_model, stream=False, url=url))

    async def _answer(self, request: Any) -> Json:
        with mapped_errors():
            async with request as resp:
                if resp.status != 200:
                    raise _status_error(resp, await resp.content.read(_ERROR_BYTES))
                raw = await _read_capped(resp, self._max_response_bytes)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamInvalid("upstream answered 200 with a body that is not JSON") from None
        if not isinstance(data, dict):
            raise UpstreamInvalid("upstream answered 200 with JSON that is not an object")
        return data

    def stream(self, body: Json, *, upstream_model: str) -> AsyncGenerator[Json, None]:
        return self._events(self._post(body, upstream_model, stream=True), None)

    def native_stream(self, api: str, body: Json, *, upstream_model: str,
                      headers: Mapping[str, str] | None = None,
                      ) -> AsyncGenerator[list[Json], None]:
        """The events of a streaming answer of `api`, each its `data` JSON (with its `type`),
        a list per read from the upstream: the events that arrived together go on together."""
        return self._events(self._native_post(api, body, upstream_model, stream=True,
                                              headers=headers), NATIVE_ENDS[api])

    async def _read(self, resp: aiohttp.ClientResponse, deadline: float, end: float) -> bytes:
        """What the stream sent next, by `deadline` (the next event's, or the stream's `end`)."""
        try:
            async with asyncio.timeout_at(deadline):
                return await resp.content.readany()
        except TimeoutError:
            if asyncio.get_running_loop().time() < end:
                raise
            raise UpstreamTimeout(f"upstream stream ran past stream_timeout_s "
                                  f"({self._stream_timeout_s:g} s)") from None

    async def _events(self, request: Any, ends: frozenset[str] | None,
                      ) -> AsyncGenerator[Any, None]:
        """The parsed `data` events of a stream: a chat stream's one by one until `[DONE]`, a
        native one's a list per read until an event whose type is in `ends`."""
        with mapped_errors():
            resp = await request
        finished = False
        try:
            with mapped_errors():
                if resp.status != 200:
                    raise _status_error(resp, await resp.content.read(_ERROR_BYTES))
                buffer = b""
                # The first event may take timeout_s (a slow first token is normal for some
                # models), each next one stream_idle_timeout_s, the whole stream_timeout_s.
                # Only data events are progress: ": ping" comments keep no stream alive.
                loop = asyncio.get_running_loop()
                began = loop.time()
                end = began + (self._stream_timeout_s or math.inf)
                deadline = began + self._timeout_s
                while True:
                    data = await self._read(resp, min(deadline, end), end)
                    if not data:
                        break
                    buffer += data
                    batch: list[Json] = []
                    while (cut := buffer.find(b"\n")) >= 0:
                        line, buffer = buffer[:cut].strip(), buffer[cut + 1:]
                        if not line.startswith(b"data:"):
                            continue  # blank separators, comments (": ping"), event/id fields
                        payload = line[5:].strip()
                        if payload == b"[DONE]":
                            if ends is not None:
                                continue  # some proxies end native streams so too
                            finished = True
                            return
                        chunk = _parse_chunk(payload, native=ends is not None)
                        deadline = loop.time() + self._idle_timeout_s
                        if ends is None:
                            yield chunk
                            continue
                        batch.append(chunk)
                        if chunk.get("type") in ends:
                            finished = True
                            yield batch
                            return
                    if batch:
                        yield batch
                    # A line that never ends must not fill memory.
                    if len(buffer) > _MAX_EVENT_BYTES:
                        raise UpstreamInvalid("upstream sent a stream line longer than 16 MiB")
                raise UpstreamInvalid("upstream stream ended without [DONE]" if ends is None
                                      else "upstream stream ended before its last event")
        finally:
            # Closing (not releasing) on any early exit tells the upstream to stop generating.
            if finished:
                resp.release()
            else:
                resp.close()


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, unless it is larger than `limit` (an answer no client needs, and
    memory every other request needs)."""
    length = resp.content_length
    if length is not None:
        if length > limit:
            raise UpstreamInvalid(f"upstream answered with a body of {length} bytes, over "
                                  f"max_response_bytes ({limit})")
        return await resp.read()
    parts, size = [], 0
    async for part in resp.content.iter_any():
        size += len(part)
        if size > limit:
            raise UpstreamInvalid(f"upstream answered with a body over max_response_bytes "
                                  f"({limit})")
        parts.append(part)
    return b"".join(parts)


def _parse_chunk(payload: bytes, *, native: bool = False) -> Json:
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise UpstreamInvalid("upstream sent a stream event that is not JSON") from None
    if not isinstance(chunk, dict):
        raise UpstreamInvalid("upstream sent a stream event that is not a JSON object")
    if "error" in chunk and "choices" not in chunk:
        raise UpstreamStatus(502, _message(chunk))
    if native and chunk.get("type") == "error":  # the Responses API's error event
        message = chunk.get("message")
        raise UpstreamStatus(502, message if isinstance(message, str) else "no message")
    return chunk


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    """The one place aiohttp's errors become ours; the cause stays attached for the logs."""
    try:
        yield
    except ProviderError:
        raise
    except Exception as exc:
        raise _map_exception(exc) from exc


def _map_exception(exc: BaseException) -> ProviderError:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return UpstreamTimeout("upstream did not answer in time")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamUnavailable(f"cannot connect to upstream: {exc.strerror or 'refused'}")
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return UpstreamUnavailable("upstream closed the connection mid-answer")
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
        return UpstreamUnavailable("upstream reset the connection")
    return UpstreamUnavailable(f"upstream connection failed: {type(exc).__name__}")


def _status_error(resp: aiohttp.ClientResponse, raw: bytes) -> UpstreamStatus:
    retry_after = _retry_after(resp.headers.get("retry-after"))
    try:
        message = _message(orjson.loads(raw))
    except orjson.JSONDecodeError:
        message = raw[:300].decode("utf-8", "replace").strip() or resp.reason or ""
    return UpstreamStatus(resp.status, f"upstream answered {resp.status}: {message}",
                          retry_after_s=retry_after)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110,
    section 10.2.3); None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _message(data: Any) -> str:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
    return "no message"
