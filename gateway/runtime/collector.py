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
- the young generations are collected after YOUNG new objects instead of 700, both at once
  (MIDDLE 1). The youngest's counter is allocations minus deallocations, reset by each
  collection; with 64 requests in flight their churn crossed 700 every ~40 requests, and each
  collection walked the ~5,000 objects in flight for nothing: 23-27 us of CPU per request
  in-process under bench/run.py's saturation load (gc.callbacks), 3-5 us at 2,000. A pause
  grows with what the young generations hold, and with 5,000 streams opening the middle one
  held MIDDLE collections' worth: the added p99 time to first token (bench/streams.py) was
  15 ms at (700, 3), 24-31 ms at (2,000, 3), 64 ms at (10,000, 3), 15 ms at (2,000, 1);
- the oldest generation is collected after FULL_EVERY collections of the middle one,
  instead of after 10.

Only `bayesgate serve` calls this: embedding the app (tests, the demo) keeps the host's
collector as it is.
"""

from __future__ import annotations

import gc

YOUNG = 2_000
MIDDLE = 1
FULL_EVERY = 10_000


def tune() -> None:
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, FULL_EVERY)
