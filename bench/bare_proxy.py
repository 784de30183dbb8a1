"""The floor: a bare starlette + aiohttp pass-through with no routing, auth or measurement.

Same stack as the gateway (one uvicorn worker, uvloop, httptools, one pooled aiohttp session),
so the gap between this row and bayesgate's is what routing, measurement and learning cost.

    python bench/bare_proxy.py --port 9002 --upstream http://127.0.0.1:9001/v1
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

HOP_HEADERS = {"content-type": "application/json"}


def build_app(upstream: str) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict]:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            yield {"session": session}

    async def chat(request: Request) -> Response:
        session: aiohttp.ClientSession = request.state.session
        body = await request.body()
        stream = bool(orjson.loads(body).get("stream"))
        resp = await session.post(f"{upstream}/chat/completions", data=body,
                                  headers=HOP_HEADERS)
        if not stream:
            async with resp:
                data = await resp.read()
            return Response(data, status_code=resp.status,
                            media_type=resp.headers.get("content-type"))

        async def relay() -> AsyncIterator[bytes]:
            async with resp:
                async for chunk in resp.content.iter_any():
                    yield chunk

        return StreamingResponse(relay(), status_code=resp.status,
                                 media_type="text/event-stream")

    async def models(request: Request) -> Response:
        async with request.state.session.get(f"{upstream}/models") as resp:
            return Response(await resp.read(), status_code=resp.status,
                            media_type="application/json")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/models", models)], lifespan=lifespan)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9002)
    p.add_argument("--upstream", default="http://127.0.0.1:9001/v1")
    args = p.parse_args()
    uvicorn.run(build_app(args.upstream.rstrip("/")), host=args.host, port=args.port,
                loop="uvloop", http="httptools", access_log=False, log_level="warning",
                workers=1)


if __name__ == "__main__":
    main()
