"""The cyclic garbage collector, set for a server that holds thousands of open streams.

CPython's full collection walks every tracked object, and with the default thresholds
(700, 10, 10) it runs whenever the objects promoted to the oldest generation have grown by a
quarter: while streams open, every few seconds. Each walk over the objects of 5,000 open
streams (~150 each) paused the event loop for 0.5-1 s, and that was the p99 time to first
token of every stream opened meanwhile (bench/streams.py: 825 ms; 17 ms with this module).
The gateway leaves no cyclic garbage per request (a test holds it to that), so full
collections can be rare:
- the objects alive once the app is built (modules, config: ~100,000) are frozen out of
  every collection;
- the youngest generation is collected after YOUNG new objects instead of 700. Its counter
  is allocations minus deallocations, reset by each collection, and with 64 requests in
  flight the churn of their objects crossed 700 every ~40 requests, each collection walking
  the ~5,000 objects of the requests in flight: 35 us of CPU per request under
  bench/run.py's saturation load, the biggest single item of the profile. At 10,000 there were
  no collections at all in 30,000 such requests (none is needed: no request leaves cycles);
  with 5,000 streams opening, each collection walks at most that many new objects (~1 ms);
- the middle one is collected after MIDDLE collections of the youngest instead of 10: with
  5,000 streams open its pauses (timed with gc.callbacks) were up to 31 ms at 10 and up to
  9 ms at 3;
- the oldest generation is collected after FULL_EVERY collections of the middle one,
  instead of after 10.

Only `bayesgate serve` calls this: embedding the app (tests, the demo) keeps the host's
collector as it is.
"""

from __future__ import annotations

import gc

YOUNG = 10_000
MIDDLE = 3
FULL_EVERY = 10_000


def tune() -> None:
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, FULL_EVERY)
