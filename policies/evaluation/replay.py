"""One seeded run: requests arrive at a route (Poisson, at the run's rate), a policy ranks the
candidates, the run fails over down the ranking (bounded attempts, the policy's breaker may
refuse one) like the gateway, and the policy observes every attempt it made."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from policies.evaluation.agents import Observation, Policy, Request
from policies.evaluation.world import (
    HARD_SHARE,
    INPUT_TOKENS,
    Phase,
    Route,
    WorldModel,
    mixed_utilities,
    model_cost,
    true_utilities,
)
from policies.reward import Outcome, reward

SHARE_WINDOW = 50  # "80% share" is measured over the last this many requests
# Models this close to the best one's true utility count as the best for the share: two models
# 0.01 apart are a tie no policy can be asked to break within a hundred requests.
NEAR_BEST = 0.02


@dataclass(slots=True)
class Run:
    cost: float = 0.0
    quality: float = 0.0  # sum of the reward the client got (0 for an error)
    # sum of the route's utility realised: the client's reward - cost_weight x the served
    # model's normalised cost (0 for an error), the scale the oracle ranks by
    utility: float = 0.0
    regret: float = 0.0
    errors: int = 0
    wrong: int = 0  # answers that were valid but wrong (what no label-free signal sees)
    # requests until the new best (or one within NEAR_BEST of it) held 80% of the choices
    # after the "change" phase and after the "recover" phase; None where the scenario has no
    # such event or the best stayed
    adapt: float | None = None
    recover: float | None = None
    adapt_span: float = 0.0  # the requests the phase lasted (the most "adapt" can count)
    recover_span: float = 0.0
    choices: list[str] = field(default_factory=list)
    trace: list[tuple[float, dict[str, tuple[float, float]]]] = field(default_factory=list)
    # with run(log=True): (time, USD, latency ms) of each answer served (for objectives)
    served: list[tuple[float, float, float]] = field(default_factory=list)


@dataclass(slots=True)
class _Upstreams:
    """The simulated upstreams' dice."""

    dice: np.random.Generator
    route: Route

    def attempt(self, m: WorldModel, kind: str) -> tuple[Observation, float, bool]:
        """One call: what the gateway observes, the client's reward and whether it was wrong."""
        dice = self.dice
        if dice.random() < m.error_rate:
            return Observation(m.name, False, False, 0.0, 0.0, INPUT_TOKENS, 0.0), 0.0, False
        valid = bool(dice.random() < m.quality_on(kind))
        wrong = valid and bool(dice.random() < m.wrong_rate)
        latency = float(m.latency_ms * np.exp(m.latency_sigma * dice.standard_normal()))
        out = float(m.output_tokens * np.exp(0.3 * dice.standard_normal()))
        usd = (m.price.input_per_mtok * INPUT_TOKENS + m.price.output_per_mtok * out) / 1e6
        r = reward(Outcome(valid=valid, latency_ms=latency), self.route.reward)
        return Observation(m.name, True, valid, latency, usd, INPUT_TOKENS, out), r, wrong


def run(policy: Policy, phases: Sequence[Phase], route: Route, *, seed: int, requests: int,
        rate: float, salt: str = "", trace_every: int = 0, log: bool = False) -> Run:
    """Drive `requests` requests through `policy`; `seed` fixes the world, `salt` (the
    policy's name) the policy's own draws."""
    world = np.random.default_rng([seed, 1])
    upstreams = _Upstreams(np.random.default_rng([seed, 3]), route)
    rng = np.random.default_rng([seed, 2, sum(map(ord, salt))])
    starts = [int(p.start * requests) for p in phases] + [requests]
    out = Run()
    now = 0.0
    best_before = ""
    for k, phase in enumerate(phases):
        models = {m.name: m for m in phase.models}
        mixed = any(m.hard_quality is not None for m in phase.models)
        truths = {kind: true_utilities(phase.models, route, kind)
                  for kind in (("easy", "hard") if mixed else ("easy",))}
        phase_truth = mixed_utilities(phase.models, route) if mixed else truths["easy"]
        best = max(phase_truth, key=phase_truth.__getitem__)
        cost_terms = route.terms({m.name: model_cost(m) for m in phase.models})
        if phase.event in ("change", "recover") and best != best_before:
            good = frozenset(n for n, u in phase_truth.items()
                             if u >= phase_truth[best] - NEAR_BEST)
            setattr(out, "adapt" if phase.event == "change" else "recover",
                    (starts[k], starts[k + 1], good))
        best_before = best
        prices = {n: m.price for n, m in models.items()}
        families = {n: m.family for n, m in models.items()}
        for i in range(starts[k], starts[k + 1]):
            now += float(world.exponential(1.0 / rate))
            kind = ("hard" if world.random() < HARD_SHARE else "easy") if mixed else "easy"
            truth = truths[kind]
            req = Request(i, now, kind if mixed else "", prices, families, truth, phase_truth)
            first, served = _serve(policy, policy.rank(req, rng), req, models, upstreams,
                                   route.max_attempts, kind)
            out.choices.append(first)
            out.regret += max(truth.values()) - truth[first]
            if served is None:
                out.errors += 1
            else:
                r, usd, wrong, model, latency = served
                if log:
                    out.served.append((now, usd, latency))
                out.quality += r
                out.utility += r - cost_terms[model]
                out.cost += usd
                out.wrong += wrong
            if trace_every and i % trace_every == 0 and hasattr(policy, "arms"):
                out.trace.append((float(i), {a.name: (a.alpha, a.beta)
                                             for a in policy.arms(req)}))
    for event in ("adapt", "recover"):
        span = getattr(out, event)
        if span is not None:
            setattr(out, event, requests_to_share(out.choices, *span))
            setattr(out, f"{event}_span", float(span[1] - span[0]))
    return out


def _serve(policy: Policy, ranked: tuple[str, ...], req: Request,
           models: dict[str, WorldModel], upstreams: _Upstreams, max_attempts: int,
           kind: str) -> tuple[str, tuple[float, float, bool, str, float] | None]:
    """Fail over down the ranking: the first model tried (the choice: a model the policy
    ranked first but its breaker refused was not chosen) and (client reward, USD, wrong, the
    model that answered, its latency), or None for a client error."""
    tried: list[str] = []
    for n in ranked:
        if len(tried) == max_attempts:
            break
        if not policy.admit(n, req.now):
            continue
        tried.append(n)
        obs, r, wrong = upstreams.attempt(models[n], kind)
        policy.observe(req, obs)
        if obs.ok:
            return tried[0], (r, obs.usd, wrong, n, obs.latency_ms)
    if tried:
        return tried[0], None
    # Every breaker is open: a likely error beats a certain one.
    obs, r, wrong = upstreams.attempt(models[ranked[0]], kind)
    policy.observe(req, obs)
    return ranked[0], (r, obs.usd, wrong, ranked[0], obs.latency_ms) if obs.ok else None


def requests_to_share(choices: list[str], start: int, end: int, best: frozenset[str]) -> float:
    """Requests after `start` until the `best` models held 80% of the last SHARE_WINDOW
    choices (the window reaches back before `start`, where the old best was serving); inf:
    not before `end`."""
    lo = max(0, start - SHARE_WINDOW)
    hits = sum(c in best for c in choices[lo:start])
    for i in range(start, end):
        hits += choices[i] in best
        if i - SHARE_WINDOW >= lo:
            hits -= choices[i - SHARE_WINDOW] in best
        if hits >= 0.8 * SHARE_WINDOW:
            return float(i - start + 1)
    return math.inf
