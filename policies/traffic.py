"""Evidence that lasts a number of requests, not a number of seconds.

Decay by time alone makes a route's memory depend on its traffic: at 20 requests/s a 120 s
half-life holds 2,400 requests, so a model abandoned after a few unlucky answers stays
abandoned long after the world has changed; at 0.2 requests/s it holds 24, and every idle model
is back at its prior and tried again and again. So evidence halves every `half_life_requests`
requests the route receives, converted to seconds with the route's request rate as measured
here, and at the latest every `half_life_s` seconds (a quiet route still forgets, slowly).
The store keeps decaying by time: each update and each read is given this effective half-life.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The request rate is measured over about this many of the latest arrivals, whatever the rate.
ARRIVALS = 50


@dataclass(slots=True)
class RequestRate:
    """Requests per second arriving at one route on this replica: the inverse of the mean gap
    between the latest ~ARRIVALS requests (or of the silence since the last one, if longer)."""

    last: float = math.nan  # time of the latest request; NaN before the first
    gap: float = math.inf  # exponentially weighted mean of the gaps between requests
    seen: int = 0  # gaps measured, up to ARRIVALS

    def arrived(self, now: float) -> None:
        if not math.isfinite(now):
            return
        last = self.last
        self.last = now if not now < last else last  # a clock step back keeps the later time
        if last != last or now < last:  # the first request, or a clock step back
            return
        seen = self.seen + 1 if self.seen < ARRIVALS else ARRIVALS
        gap = now - last
        self.gap = gap if seen == 1 else self.gap + (gap - self.gap) / seen
        self.seen = seen

    def per_second(self, now: float) -> float:
        silence = now - self.last
        gap = self.gap if not silence > self.gap else silence
        return 1.0 / gap if gap > 0 else 0.0


def effective_half_life(half_life_s: float | None, half_life_requests: float | None,
                        rate: float) -> float | None:
    """The half-life in seconds that makes evidence halve every `half_life_requests` requests
    at `rate` requests/s, and at least every `half_life_s` seconds. None: no decay at all."""
    if half_life_s is None:
        return None
    if half_life_requests is None or not rate > 0:
        return half_life_s
    by_requests = half_life_requests / rate
    return by_requests if by_requests < half_life_s else half_life_s
