"""Request smuggling and malformed HTTP framing, sent as raw bytes over a socket.

A request whose length is ambiguous (Content-Length and Transfer-Encoding together, two
different Content-Lengths, an obfuscated Transfer-Encoding) must be refused with a 400 or the
connection closed; above all, the request hidden in its body is never forwarded upstream.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import orjson
import pytest
from support.gateway import GatewayThread
from support.logs import captured_logs
from support.upstream import FakeUpstream

BODY = orjson.dumps({"model": "good", "messages": [{"role": "user", "content": "hidden"}]})
HIDDEN = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
          b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream) -> Iterator[GatewayThread]:
    server = GatewayThread(f"""
providers: {{up: {{type: openai, base_url: "{fake.url}", timeout_s: 5}}}}
models: {{good: {{provider: up}}}}
""").start()
    yield server
    server.stop()


def exchange(gw: GatewayThread, raw: bytes, *, wait_s: float = 1.0) -> list[int]:
    """Send raw bytes; read until the server closes or goes quiet; the statuses answered."""
    host, port = gw.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as sock:
        sock.sendall(raw)
        received = b""
        try:
            while part := sock.recv(65536):
                received += part
        except (TimeoutError, ConnectionResetError):
            pass
    return [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]


def _head(*lines: bytes) -> bytes:
    return b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n" + b"".join(
        line + b"\r\n" for line in lines) + b"\r\n"


SMUGGLING = {
    # CL.TE: a front end that believes Content-Length sees one request; one that believes
    # Transfer-Encoding sees an empty chunked body and then the hidden request.
    "cl-te": _head(b"Content-Length: " + str(5 + len(HIDDEN)).encode(),
                   b"Transfer-Encoding: chunked") + b"0\r\n\r\n" + HIDDEN,
    "te-cl": _head(b"Transfer-Encoding: chunked", b"Content-Length: 4")
    + hex(len(HIDDEN))[2:].encode() + b"\r\n" + HIDDEN + b"\r\n0\r\n\r\n",
    "two-content-lengths": _head(b"Content-Length: 0", b"Content-Length: "
                                 + str(len(HIDDEN)).encode()) + HIDDEN,
    "te-twice": _head(b"Transfer-Encoding: chunked", b"Transfer-Encoding: identity",
                      b"Content-Length: " + str(5 + len(HIDDEN)).encode())
    + b"0\r\n\r\n" + HIDDEN,
    "te-space-before-colon": _head(b"Transfer-Encoding : chunked",
                                   b"Content-Length: " + str(5 + len(HIDDEN)).encode())
    + b"0\r\n\r\n" + HIDDEN,
    "te-xchunked": _head(b"Transfer-Encoding: xchunked",
                         b"Content-Length: " + str(5 + len(HIDDEN)).encode())
    + b"0\r\n\r\n" + HIDDEN,
    "te-not-last": _head(b"Transfer-Encoding: chunked, identity") + b"0\r\n\r\n" + HIDDEN,
    "content-length-plus": _head(b"Content-Length: +" + str(len(BODY)).encode()) + BODY,
    "content-length-list": _head(b"Content-Length: 0, " + str(len(HIDDEN)).encode()) + HIDDEN,
    "bare-lf": HIDDEN.replace(b"\r\n", b"\n"),
    "obs-fold": _head(b"Content-Type: application/json", b" Transfer-Encoding: chunked",
                      b"Content-Length: " + str(len(BODY)).encode()) + BODY,
    "chunk-size-overflow": _head(b"Transfer-Encoding: chunked")
    + b"ffffffffffffffffff1\r\n" + BODY + b"\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", list(SMUGGLING))
def test_smuggling_is_refused_and_never_forwarded(name: str, gw: GatewayThread,
                                                  fake: FakeUpstream) -> None:
    before = len(fake.requests)
    with captured_logs() as logs:
        statuses = exchange(gw, SMUGGLING[name])
    # Refused (400) or the connection closed without an answer; never the hidden request.
    assert statuses in ([400], []), statuses
    assert len(fake.requests) == before
    assert not [line for line in logs.errors() if line.startswith(("uvicorn", "bayesgate"))]


def test_honest_pipelining_is_answered_in_order(gw: GatewayThread, fake: FakeUpstream) -> None:
    """The control: two well-framed requests on one connection are two forwarded requests,
    so the test above would see a hidden request if it were forwarded."""
    before = len(fake.requests)
    assert exchange(gw, HIDDEN + HIDDEN) == [200, 200]
    assert len(fake.requests) == before + 2


def test_chunked_body_is_read_correctly(gw: GatewayThread, fake: FakeUpstream) -> None:
    chunked = b"".join(hex(len(part))[2:].encode() + b"\r\n" + part + b"\r\n"
                       for part in (BODY[:10], BODY[10:])) + b"0\r\n\r\n"
    assert exchange(gw, _head(b"Transfer-Encoding: chunked") + chunked) == [200]
    assert fake.requests[-1].body["messages"][0]["content"] == "hidden"
