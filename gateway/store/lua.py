"""The Redis key layout and the Lua scripts of the redis store.

Keys (prefix `bayesgate`, route `auto`, model `m1`, replica `r7`):

    bayesgate:{auto}:post:m1        hash: alpha, beta, updated_at (Redis time), observations
    bayesgate:{auto}:class:code:post:m1   the same for the route's request class `code`
                                    (the store's route "auto#code", see store.base.cell)
    bayesgate:{auto}:seen:m1:r7     the highest update sequence number of replica r7 applied
                                    to that hash (expires a day after its last use)
    bayesgate:{auto}:promoted       set: shadow candidates promoted to live candidates, for good
    bayesgate:{circuits}:m1         epoch seconds until which the model's breaker is open (PX)
    bayesgate:fp:<key>              a client-retry fingerprint (PX = the retry window)

The braces are Redis Cluster hash tags: every key a script touches lives in one slot (the
route's), and all breaker keys share one slot so a single MGET reads them.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.store.base import Update

SEEN_TTL_MS = 24 * 3600 * 1000

# One update: decay the stored posterior toward its prior for the time since its last update
# (on the Redis server's clock, so replicas never disagree), add the increments, clamp.
# It is the Lua twin of `policies.posterior.updated()`; tests hold the two to the same numbers.
#
# The `seen` key makes a resent update a no-op: a replica numbers its updates, and a flush whose
# acknowledgement was lost (Redis killed or frozen mid-pipeline) is sent again whole. A high-water
# mark is enough to apply each exactly once as long as one replica's updates reach a hash in
# order, and `prev` makes sure they do: an update names the one before it to the same hash and
# is refused (GAP, -1) while that one is not applied, so it cannot overtake it (a NOSCRIPT or a
# timeout early in a batch, a cluster client re-sending after MOVED). The replica sends a GAP
# again after its predecessor, or with prev 0 if that one will never come (it was dropped, or
# applied and lost with a Redis that restarted or failed over to a lagging replica).
#
# KEYS: post, seen
# ARGV: d_alpha, d_beta, observations, prior_alpha, prior_beta, half_life_s ('' = no decay),
#       seq, seen_ttl_ms, max_strength ('' = no cap; applied only above the prior's strength),
#       initial alpha, initial beta (a cold start; '' = the prior),
#       reset_since ('' = an update; else a reset to the prior unless `reset_at` >= it),
#       prev (0 = none)
# Returns 1 (applied), 0 (applied before: skipped) or -1 (GAP: prev is not applied yet).
UPDATE = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local seq = tonumber(ARGV[7])
local seen = tonumber(redis.call('GET', KEYS[2]))
if seen and seq <= seen then
  return 0
end
local prev = tonumber(ARGV[13]) or 0
if prev > 0 and (seen or 0) < prev then
  return -1
end
redis.call('SET', KEYS[2], ARGV[7], 'PX', ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local pa, pb = tonumber(ARGV[4]), tonumber(ARGV[5])
local since = tonumber(ARGV[12])
if since then
  local last = tonumber(redis.call('HGET', KEYS[1], 'reset_at'))
  if last and last >= since then
    return 1
  end
  redis.call('HSET', KEYS[1], 'alpha', ARGV[4], 'beta', ARGV[5],
             'updated_at', string.format('%.17g', now), 'reset_at', string.format('%.17g', now))
  return 1
end
local h = redis.call('HMGET', KEYS[1], 'alpha', 'beta', 'updated_at')
local a, b, at = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
local function finite(x) return x ~= nil and x == x and x > -math.huge and x < math.huge end
if not (h[1] or h[2]) then
  a, b, at = tonumber(ARGV[10]) or pa, tonumber(ARGV[11]) or pb, now
elseif not (finite(a) and finite(b) and a > 0 and b > 0) then
  -- policies.posterior.sanitized: a broken value (NaN, inf, <= 0) starts over from the prior
  a, b, at = pa, pb, finite(at) and at or 0
elseif not finite(at) then
  at = 0
end
local half = tonumber(ARGV[6])
if half and half > 0 and now > at then
  local keep = 0.5 ^ ((now - at) / half)
  a = math.max(pa + (a - pa) * keep, 0.001)
  b = math.max(pb + (b - pb) * keep, 0.001)
end
a = math.max(a + tonumber(ARGV[1]), 0.001)
b = math.max(b + tonumber(ARGV[2]), 0.001)
local cap = tonumber(ARGV[9])
if cap and cap > pa + pb and a + b > cap then
  -- policies.posterior.capped: shrink the evidence (not the prior) down to the cap.
  local ea, eb = a - pa, b - pb
  if ea + eb > 0 then
    local keep = math.max(0, 1 - (a + b - cap) / (ea + eb))
    a = math.max(pa + ea * keep, 0.001)
    b = math.max(pb + eb * keep, 0.001)
  end
end
-- %.17g: Lua's tostring keeps only 14 digits, which would drift from the Python twin.
redis.call('HSET', KEYS[1], 'alpha', string.format('%.17g', a), 'beta', string.format('%.17g', b),
           'updated_at', string.format('%.17g', math.max(now, at)))
redis.call('HINCRBY', KEYS[1], 'observations', ARGV[3])
return 1
"""

# Open a breaker fleet-wide: keep whichever open-until is later.
# KEYS: circuit   ARGV: until (epoch seconds), ttl_ms
OPEN_CIRCUIT = """
local current = tonumber(redis.call('GET', KEYS[1]))
if current and current >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


def script_sha(script: str) -> str:
    """The SHA1 that EVALSHA names a script by (what SCRIPT LOAD answers)."""
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


def update_call(keys: Keys, u: Update, *, replica: str, seq: int, prev: int) -> list[str | int]:
    """UPDATE's numkeys, KEYS and ARGV for one update."""
    return [2, keys.posterior(u.route, u.model), keys.seen(u.route, u.model, replica),
            repr(u.d_alpha), repr(u.d_beta), u.observations, repr(u.prior.alpha),
            repr(u.prior.beta), "" if u.half_life_s is None else repr(u.half_life_s),
            seq, SEEN_TTL_MS, "" if u.max_strength is None else repr(u.max_strength),
            *(("", "") if u.initial is None else map(repr, u.initial)),
            "" if u.reset_since is None else repr(u.reset_since), prev]


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _scope(self, route: str) -> str:
        """`{auto}` for a route, `{auto}:class:code` for one of its classes: one slot."""
        name, _, cls = route.partition("#")
        return f"{self.prefix}:{{{name}}}:class:{cls}" if cls else f"{self.prefix}:{{{name}}}"

    def posterior(self, route: str, model: str) -> str:
        return f"{self._scope(route)}:post:{model}"

    def seen(self, route: str, model: str, replica: str) -> str:
        return f"{self._scope(route)}:seen:{model}:{replica}"

    def promoted(self, route: str) -> str:
        return f"{self.prefix}:{{{route}}}:promoted"

    def circuit(self, model: str) -> str:
        return f"{self.prefix}:{{circuits}}:{model}"

    def fingerprint(self, key: str) -> str:
        return f"{self.prefix}:fp:{key}"
