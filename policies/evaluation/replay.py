"""One seeded run: requests arrive at a route, an agent ranks the models, a replica fails over
down the ranking with breakers like the gateway, and every answer updates the posteriors
through the same functions the server uses (policies.posterior, reward, breaker, priors)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from policies import breaker, defaults
from policies.cost import TokenMeter, normalized, request_cost
from policies.evaluation.agents import BLIND, POOLED, TODAY, TODAY_HALF_LIFE_S, Agent, View
from policies.evaluation.world import (
    HARD_SHARE,
    KINDS,
    REQUEST_RATE,
    Phase,
    Route,
    WorldModel,
    true_utilities,
)
from policies.posterior import (
    Posterior,
    Prior,
    backed_off,
    decayed,
    observe,
    on_route_scale,
    route_level,
)
from policies.priors import cold_start, family_prior
from policies.reward import Outcome, reward
from policies.thompson import Arm
from policies.traffic import RequestRate, effective_half_life

SHARE_WINDOW = 50  # "80% share" is measured over the last this many requests


@dataclass(slots=True)
class Run:
    cost: float = 0.0
    quality: float = 0.0  # sum of the reward the client got (0 for an error)
    regret: float = 0.0
    errors: int = 0
    to80: list[float] = field(default_factory=list)  # one per change of the best model
    choices: list[str] = field(default_factory=list)
    trace: list[tuple[float, dict[str, tuple[float, float]]]] = field(default_factory=list)


@dataclass(slots=True)
class Replica:
    """What one gateway replica holds for the route: posteriors, breakers, token meters."""

    route: Route
    world: np.random.Generator  # the simulated upstreams' dice
    posts: dict[str, Posterior] = field(default_factory=dict)
    priors: dict[str, Prior] = field(default_factory=dict)
    breakers: dict[str, breaker.BreakerState] = field(default_factory=dict)
    meters: dict[str, TokenMeter] = field(default_factory=dict)
    families: dict[str, str] = field(default_factory=dict)
    # (request kind, model) -> the class's own posterior, for agents that judge the request
    cells: dict[tuple[str, str], Posterior] = field(default_factory=dict)
    rate: RequestRate = field(default_factory=RequestRate)
    # The policy before lock-in was fixed: time decay only, uniform decay targets.
    today: bool = False

    def half_life(self, now: float) -> float | None:
        """The route's effective half-life (policies.traffic), as the gateway's Beliefs give."""
        if self.today:
            return TODAY_HALF_LIFE_S
        return effective_half_life(self.route.half_life_s, self.route.half_life_requests,
                                   self.rate.per_second(now))

    def add(self, m: WorldModel, *, now: float) -> None:
        """A model appears: it starts from its family's pooled evidence (cold start)."""
        siblings = [decayed(p, self.priors[n], now=now, half_life_s=self.half_life(now))
                    for n, p in self.posts.items() if self.families[n] == m.family]
        self.families[m.name] = m.family
        self.priors[m.name] = family_prior(m.family)
        self.posts[m.name] = cold_start(family=m.family, siblings=siblings, now=now,
                                        max_strength=defaults.COLD_START_STRENGTH)
        self.breakers[m.name] = breaker.BreakerState(window_start=now)
        self.meters[m.name] = TokenMeter()

    def arms(self, models: dict[str, WorldModel], *, now: float, decay: bool,
             kind: str = "") -> list[Arm]:
        """`kind`: the request's class, whose back-off posteriors the arms carry (as the
        gateway's Beliefs do); "" for the route level."""
        costs = normalized({n: request_cost(self.meters[n], m.price) for n, m in models.items()})
        arms = []
        half = self.half_life(now)
        posts = {n: decayed(self.posts[n], self.priors[n], now=now, half_life_s=half)
                 if decay else self.posts[n] for n in models}
        level = route_level(list(posts.values()), [self.priors[n] for n in posts]) \
            if not self.today else None
        for n in models:
            p = posts[n]
            if kind:
                own = self.cells.get((kind, n))
                if own is not None:
                    own = decayed(own, self.priors[n], now=now, half_life_s=half)
                p = backed_off(own, p, self.priors[n], bound=self.route.class_prior_strength,
                               now=now)
            alpha, beta = on_route_scale(p, self.priors[n], level)
            ok = breaker.available(self.breakers[n], self.route.breaker, now=now)
            arms.append(Arm(n, alpha, beta, costs[n], ok))
        return arms

    def serve(self, ranked: tuple[str, ...], models: dict[str, WorldModel], *,
              now: float, kind: str = "easy", learn_kind: bool = False,
              ) -> tuple[float, float] | None:
        """Fail over down the ranking; (client reward, USD) or None for a client error."""
        tried = 0
        for n in ranked:
            if tried == self.route.max_attempts:
                return None
            ok, state = breaker.admit(self.breakers[n], self.route.breaker, now=now)
            if not ok:
                continue
            self.breakers[n] = state
            tried += 1
            served = self._attempt(models[n], now=now, kind=kind, learn_kind=learn_kind)
            if served is not None:
                return served
        # Every breaker is open: a likely error beats a certain one.
        return self._attempt(models[ranked[0]], now=now, kind=kind,
                             learn_kind=learn_kind) if tried == 0 else None

    def _attempt(self, m: WorldModel, *, now: float, kind: str = "easy",
                 learn_kind: bool = False) -> tuple[float, float] | None:
        n, world = m.name, self.world
        failed = world.random() < m.error_rate
        before = self.breakers[n]
        self.breakers[n] = breaker.record(before, self.route.breaker, success=not failed, now=now)
        if breaker.recovered(before, self.breakers[n]):
            self.posts[n] = Posterior.from_prior(self.priors[n], now=now)
        r = 0.0  # a failed attempt is an observation too (DESIGN.md, /stats)
        if not failed:
            valid = bool(world.random() < m.quality_on(kind))
            latency = float(m.latency_ms * np.exp(m.latency_sigma * world.standard_normal()))
            r = reward(Outcome(valid=valid, latency_ms=latency), self.route.reward)
        self.posts[n] = observe(self.posts[n], r, prior=self.priors[n], now=now,
                                half_life_s=self.half_life(now),
                                max_strength=self.route.max_strength)
        if learn_kind:  # both levels learn from every answer, as the gateway's learner does
            cell = self.cells.get((kind, n)) or Posterior.from_prior(self.priors[n], now=now)
            self.cells[(kind, n)] = observe(cell, r, prior=self.priors[n], now=now,
                                            half_life_s=self.half_life(now),
                                            max_strength=self.route.max_strength)
        if failed:
            return None
        out_tokens = float(m.output_tokens * np.exp(0.3 * world.standard_normal()))
        self.meters[n] = self.meters[n].observed(input_tokens=600.0, output_tokens=out_tokens)
        return r, (m.price.input_per_mtok * 600.0 + m.price.output_per_mtok * out_tokens) / 1e6


def run(name: str, agent: Agent, phases: Sequence[Phase], route: Route, *, seed: int,
        requests: int, trace_every: int = 0, rate: float = REQUEST_RATE) -> Run:
    """Drive `requests` requests through `agent`; `seed` fixes the world and the agent."""
    gw = Replica(route, np.random.default_rng([seed, 1]), today=name == TODAY)
    rng = np.random.default_rng([seed, 2, sum(map(ord, name))])
    starts = [int(p.start * requests) for p in phases] + [requests]
    out = Run()
    now = 0.0
    changes: list[tuple[int, int, str]] = []  # (start, end, new best) per change of the best
    for k, phase in enumerate(phases):
        for m in phase.models:
            if m.name not in gw.posts:
                gw.add(m, now=now)
        truths = {kind: true_utilities(phase.models, route, kind) for kind in KINDS}
        bests = {kind: max(t, key=t.__getitem__) for kind, t in truths.items()}
        best = bests["easy"]
        if k == 0 or best != changes[-1][2]:
            changes.append((starts[k], starts[k + 1], best))
        models = {m.name: m for m in phase.models}
        mixed = any(m.hard_quality is not None for m in phase.models)
        for i in range(starts[k], starts[k + 1]):
            now += float(gw.world.exponential(1.0 / rate))
            gw.rate.arrived(now)
            kind = "hard" if mixed and gw.world.random() < HARD_SHARE else "easy"
            # Agents that ignore posteriors skip the decay: a third of the run time.
            judges = mixed and name not in BLIND and name != POOLED
            arms = gw.arms(models, now=now, decay=name not in BLIND,
                           kind=kind if judges else "")
            truth = truths[kind]
            ranked = agent(View(i, arms, truth), rng)
            out.choices.append(ranked[0])
            out.regret += truth[bests[kind]] - truth[ranked[0]]
            served = gw.serve(ranked, models, now=now, kind=kind, learn_kind=judges)
            if served is None:
                out.errors += 1
            else:
                out.quality += served[0]
                out.cost += served[1]
            if trace_every and i % trace_every == 0:
                out.trace.append((float(i), {a.name: (a.alpha, a.beta) for a in arms}))
    out.to80 = [_requests_to_share(out.choices, start, best, end)
                for start, end, best in changes[1:]]
    return out


def _requests_to_share(choices: list[str], start: int, best: str, end: int) -> float:
    """Requests after `start` until `best` held 80% of the last SHARE_WINDOW choices (the
    window reaches back before `start`, where the old best was serving)."""
    lo = max(0, start - SHARE_WINDOW)
    hits = sum(c == best for c in choices[lo:start])
    for i in range(start, end):
        hits += choices[i] == best
        if i - SHARE_WINDOW >= lo:
            hits -= choices[i - SHARE_WINDOW] == best
        if hits >= 0.8 * SHARE_WINDOW:
            return float(i - start + 1)
    return math.inf
