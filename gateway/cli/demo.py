"""`bayesgate demo`: serve a config in-process, drive traffic through every route, and print
the model shares and posterior means as the gateway learns."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import numpy as np

from gateway.config import Config, RouteConfig
from gateway.http.app import create_app
from gateway.http.snapshot import snapshot
from gateway.runtime import Generation
from gateway.runtime.server import serving


def run(config: Config, *, requests: int, concurrency: int) -> int:
    return asyncio.run(_drive(config, requests=requests, concurrency=concurrency))


async def _drive(config: Config, *, requests: int, concurrency: int) -> int:
    if not config.routes:
        print("the config has no routes to demonstrate")
        return 1
    route = next(iter(config.routes))
    app = create_app(config)
    key = next(iter(config.server.api_keys.values()), "demo")
    async with serving(app) as url, aiohttp.ClientSession(
            headers={"authorization": f"Bearer {key}"}) as session:
        print(f"bayesgate demo: {requests} requests through route {route!r} at {url}\n")
        sent = done = 0
        errors = 0
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal sent, done, errors
            while sent < requests:
                sent += 1
                body = {"model": route, "messages": [{"role": "user", "content": f"q{sent}"}]}
                async with session.post(f"{url}/v1/chat/completions", json=body) as resp:
                    await resp.read()
                    errors += resp.status != 200
                done += 1
                if done % 50 == 0 and done < requests:
                    _print_table(app.state.gateway, route, done, time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await app.state.gateway.learner.drain()
        _print_table(app.state.gateway, route, requests, time.perf_counter() - started)
        print(f"\n{errors} client-visible errors")
        for line in untried(app.state.gateway, route):
            print(line)
    return 0


def untried(gateway: Generation, name: str, *, draws: int = 2000) -> list[str]:
    """Why a candidate was never chosen first: how often the route's policy would choose it
    now, from its current posteriors (the same Thompson sampling, on a separate RNG)."""
    route = gateway.config.routes[name]
    models = snapshot(gateway)["routes"][name]["models"]
    never = [m for m, row in models.items() if row["selections"] == 0 and not row["shadow"]]
    if not never:
        return []
    policy = gateway.router.policy(name)
    now = gateway.clock()
    arms = gateway.router.arms(route, now=now)
    rng = np.random.default_rng(0)
    firsts = Counter(policy.select(arms, rng=rng, now=now).choice for _ in range(draws))
    lines = []
    for model in never:
        cost = next(a.cost for a in arms if a.name == model)
        row = models[model]
        seen = (f"{row['observations']} answers" if row["observations"] else
                "no answers yet: it is still its prior")
        lines.append(f"{model} was never chosen first: its posterior mean is {row['mean']:.2f} "
                     f"({seen}) and its price costs it {cost:.2f} of utility "
                     f"({_scale(route)}), "
                     f"so the policy would choose it in {firsts[model] / draws:.1%} of requests "
                     "now; it still serves when the others fail (failover).")
    return lines


def _scale(route: RouteConfig) -> str:
    objective = route.objective
    if objective.value_usd is not None:
        return f"its expected cost over the value of a good answer, ${objective.value_usd}"
    return f"cost_weight {objective.cost_weight} x its cost over the dearest candidate's"


def _print_table(gateway: Generation, route: str, done: int, elapsed: float) -> None:
    models = snapshot(gateway)["routes"][route]["models"]
    print(f"after {done:4d} requests ({elapsed:5.1f} s)")
    print(f"  {'model':<16} {'chosen':>7} {'share(last 100)':>15} {'mean':>7} {'alpha':>8} "
          f"{'beta':>8}")
    for name, row in models.items():
        print(f"  {name:<16} {row['selections']:>7} {row['share']:>15.2f} {row['mean']:>7.3f} "
              f"{row['alpha']:>8.1f} {row['beta']:>8.1f}")
