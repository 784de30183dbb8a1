"""The /stats document: per route and model, what the router believes and what it did.

One document, built from every part, serves /stats, the scrape-time families of /metrics,
/dashboard/data and the dashboard's history, so a figure that appears in one appears in all.
"""

from __future__ import annotations

from typing import Any

from gateway.config import RouteConfig
from gateway.learning.shadow import ShadowCounters
from gateway.runtime.state import Generation
from gateway.store import cell
from policies.posterior import credible_interval


def snapshot(gateway: Generation) -> dict[str, Any]:
    """The /stats document: per route and model, what the router believes and what it did."""
    now = gateway.clock()
    stats = gateway.stats
    routes: dict[str, Any] = {}
    for name, route in gateway.config.routes.items():
        share = stats.share(name)
        live = gateway.router.candidates(route)
        models: dict[str, Any] = {}
        for model in (*live, *gateway.shadow.hidden(route)):
            post = gateway.beliefs.posterior(route, model, now=now)
            counters = stats.counters(name, model)
            rewards, latencies = list(counters.rewards), sorted(counters.latencies_ms)
            models[model] = {
                "alpha": round(post.alpha, 6), "beta": round(post.beta, 6),
                "mean": round(post.mean, 6),
                "interval_95": [round(x, 4) for x in credible_interval(post.alpha, post.beta)],
                "observations": gateway.store.observations(name, model),
                "selections": counters.selections, "share": round(share.get(model, 0.0), 4),
                "failover_attempts": counters.failover_attempts, "answers": counters.answers,
                "failures": counters.failures, "invalid": counters.invalid,
                "changes": counters.changes,
                "circuit": gateway.live.availability.describe(name, model, now=now),
                "shadow": model not in live,
                "tokens": {"prompt": counters.prompt_tokens,
                           "completion": counters.completion_tokens},
                "cost_usd": round(counters.cost_usd, 8),
                "doors": dict(counters.doors),  # answers by front door
                "signals": dict(counters.signals),  # answers with a warning signal, by signal
                "expected_cost_usd": gateway.costs.expected(model),
                "expected_completion_tokens": _tokens(gateway, model, ""),
                # the last 100 scores and valid answers' latencies (TTFT for streams)
                "reward_recent": round(sum(rewards) / len(rewards), 4) if rewards else None,
                "latency_ms": {"p50": _quantile(latencies, 0.5),
                               "p95": _quantile(latencies, 0.95)},
            }
            if model in route.shadow.candidates:
                models[model].update(_shadow_model(gateway, name, model,
                                                   promoted=model in live))
        routes[name] = {"candidates": list(live), "fallback": route.fallback,
                        "models": models, "cost": _savings(gateway, name, live),
                        "classes": _classes(gateway, route, live, now),
                        "decay": _decay(gateway, route, now),
                        "objective": gateway.objectives.status(route)}
        if route.shadow.candidates:
            routes[name].update(_shadow_route(gateway, name))
    return {"routes": routes, "store": gateway.store.status(),
            "requests": dict(stats.requests),
            "doors": dict(stats.doors), "client_disconnects": stats.client_disconnects,
            "errors": {path: dict(counts) for path, counts in stats.errors.items()},
            "learning_dropped": stats.learning_dropped}


def _decay(gateway: Generation, route: RouteConfig, now: float) -> dict[str, Any]:
    """The half-life in force (seconds; None: no decay) and the request rate behind it."""
    half = gateway.beliefs.half_life(route, now)
    return {"half_life_s": None if half is None else round(half, 3),
            "half_life_requests": route.half_life_requests,
            "request_rate": round(gateway.beliefs.request_rate(route.name, now), 3)}


def _classes(gateway: Generation, route: RouteConfig, live: tuple[str, ...],
             now: float) -> dict[str, Any]:
    """Per request class: the back-off posterior each live model is chosen on (the class's
    own evidence plus the route's, bounded), how often it was chosen first, its own answers."""
    found: dict[str, Any] = {}
    selections = gateway.stats.class_selections
    for cls in gateway.router.classes(route.name):
        models = {}
        for model in live:
            post = gateway.beliefs.posterior(route, model, now=now, cls=cls)
            models[model] = {
                "alpha": round(post.alpha, 6), "beta": round(post.beta, 6),
                "mean": round(post.mean, 6),
                "observations": gateway.store.observations(cell(route.name, cls), model),
                "selections": selections[(route.name, cls, model)],
                "expected_completion_tokens": _tokens(gateway, model, cls)}
        found[cls] = {"requests": sum(m["selections"] for m in models.values()),
                      "models": models}
    return found


def _tokens(gateway: Generation, model: str, cls: str) -> dict[str, float]:
    mean, sd = gateway.costs.completion_tokens(model, cls)
    return {"mean": round(mean, 1), "sd": round(sd, 1)}


def _savings(gateway: Generation, route: str, candidates: tuple[str, ...]) -> dict[str, Any]:
    """What the route's answers cost, against sending each of them, with the tokens it used,
    to the route's most expensive candidate (the one a cautious team would hard-code)."""
    counters = [gateway.stats.counters(route, m) for m in candidates]
    spent = sum(c.cost_usd for c in counters)
    prompt = sum(c.prompt_tokens for c in counters)
    completion = sum(c.completion_tokens for c in counters)
    costs = gateway.costs
    # Priced on the route's own token mix; with no tokens yet, on the typical expected turn.
    priciest = max(candidates, key=lambda m: (costs.cost_of(m, prompt, completion)
                                              if prompt or completion else costs.expected(m)))
    baseline = costs.cost_of(priciest, prompt, completion)
    saved = baseline - spent
    return {"spent_usd": round(spent, 8), "baseline_model": priciest,
            "baseline_usd": round(baseline, 8), "saved_usd": round(saved, 8),
            "saved_share": round(saved / baseline, 4) if baseline > 0 else None}


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _shadow_model(gateway: Generation, route: str, model: str, *,
                  promoted: bool) -> dict[str, Any]:
    counters = gateway.shadow.counters.get((route, model)) or ShadowCounters()
    verdict = gateway.promotion.verdicts.get(route, {}).get(model)
    return {
        "shadow_requests": counters.requests, "shadow_answers": counters.answers,
        "shadow_failures": counters.failures, "shadow_invalid": counters.invalid,
        "shadow_tokens": {"prompt": counters.prompt_tokens,
                          "completion": counters.completion_tokens},
        "shadow_cost_usd": round(counters.cost_usd, 8),
        # None until the first review (a second after start).
        "promotion_probability": verdict.probability if verdict else None,
        "promotion_against": verdict.against if verdict else None,
        "promotion_ready": verdict.ready if verdict else False,
        # answers' worth of evidence the candidate's posterior still holds (what readiness
        # requires min_observations of, not the lifetime count)
        "promotion_evidence": verdict.evidence if verdict else None,
        "promoted": promoted,  # here or by another replica, as the store says
    }


def _shadow_route(gateway: Generation, route: str) -> dict[str, Any]:
    shadow = gateway.shadow
    counters = [c for (r, _), c in shadow.counters.items() if r == route]
    return {"shadow_requests": sum(c.requests for c in counters),
            "shadow_dropped": shadow.dropped[route],
            "shadow_failures": sum(c.failures for c in counters),
            "shadow_in_flight": shadow.in_flight[route],
            "shadow_cost_usd": round(sum(c.cost_usd for c in counters), 8)}
