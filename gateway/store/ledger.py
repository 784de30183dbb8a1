"""What each route spent in its current budget period, for the whole fleet.

A route with a budget (`routes.NAME.objective.budget`) paces itself on the fleet's spend, so N
replicas share one budget, not N. A period is a whole UTC hour or day (`Budget.period_start`).

`policies.objective.Ledger` is the memory store's (one process; the evaluator's too).
`SharedLedger` is the redis store's: additions
are kept locally until Redis acknowledges them (HINCRBYFLOAT into one hash per route and
period length, a field per period, expiring after two periods), and the fleet's totals are read
back on every sync; what this replica added and Redis has not acknowledged yet is laid over
them. A batch whose acknowledgement was lost is sent again, so a Redis failure can count a
spend twice, never zero times: a budget errs on the side of spending less.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policies.objective import Ledger, period_start

Key = tuple[str, float]  # (route, period length in seconds)



class SharedLedger:
    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._shared = Ledger()  # the fleet's totals as last read (and acknowledged since)
        self._unsent: dict[tuple[str, float, float], float] = {}  # (route, period, start)
        self._tracked: set[Key] = set()

    @property
    def pending(self) -> bool:
        return bool(self._unsent)

    def key(self, route: str, period_s: float) -> str:
        return f"{self._prefix}:{{{route}}}:spend:{int(period_s)}"

    def add(self, route: str, usd: float, *, period_s: float, now: float) -> None:
        if not usd > 0:
            return
        self._tracked.add((route, period_s))
        cell = (route, period_s, period_start(now, period_s))
        self._unsent[cell] = self._unsent.get(cell, 0.0) + usd

    def spent(self, route: str, *, period_s: float, now: float) -> float:
        self._tracked.add((route, period_s))
        start = period_start(now, period_s)
        return self._shared.spent(route, period_s=period_s, now=now) + \
            self._unsent.get((route, period_s, start), 0.0)

    def queue_flush(self, pipe: Any) -> list[tuple[tuple[str, float, float], float]]:
        """HINCRBYFLOAT and EXPIRE for what is unsent; pass the result to `flushed()` once
        the pipeline succeeded."""
        sent = list(self._unsent.items())
        for (route, period_s, start), usd in sent:
            name = self.key(route, period_s)
            pipe.hincrbyfloat(name, repr(start), usd)
            pipe.expire(name, int(2 * period_s))
        return sent

    def flushed(self, sent: Sequence[tuple[tuple[str, float, float], float]]) -> None:
        for cell, usd in sent:
            left = self._unsent.get(cell, 0.0) - usd
            if left > 1e-12:
                self._unsent[cell] = left
            else:
                self._unsent.pop(cell, None)
            route, period_s, start = cell
            self._shared.add(route, usd, period_s=period_s, now=start)

    def queue_read(self, pipe: Any, now: float) -> list[tuple[Key, float]]:
        """HGET of the current period of every tracked (route, period); the result and the
        replies go to `read()`."""
        cells = [(key, period_start(now, key[1])) for key in sorted(self._tracked)]
        for (route, period_s), start in cells:
            pipe.hget(self.key(route, period_s), repr(start))
        return cells

    def read(self, cells: Sequence[tuple[Key, float]], replies: Sequence[Any]) -> None:
        shared = Ledger()
        for ((route, period_s), start), raw in zip(cells, replies, strict=True):
            try:
                usd = float(raw) if raw is not None else 0.0
            except (TypeError, ValueError):
                usd = 0.0
            shared.add(route, usd, period_s=period_s, now=start)
        self._shared = shared
