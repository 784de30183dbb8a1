"""Recommended per-route defaults, in one place so the gateway config and the offline
evaluator (`bayesgate simulate`) use the same numbers. The evidence is the simulate report
(20 seeds, four scenarios, 2 req/s); the comments say what each number buys."""

from __future__ import annotations

from .breaker import BreakerConfig
from .reward import RewardConfig

# utility = theta - 0.3 * cost / max cost: the priciest model must earn 0.3 more reward.
COST_WEIGHT = 0.3
# Evidence halves every 200 requests of the route (policies.traffic), so a model dropped after a
# few unlucky answers, or one that failed, is judged afresh within a few hundred requests at
# 0.2 or at 20 requests/s alike; and at the latest every 30 minutes, so a quiet route forgets
# too. Time alone (120 s before) held 2,400 requests at 20 req/s, where the route locked onto
# a worse model for good, and 24 at 0.2 req/s, where every idle model was tried again and again.
# 150 adapted faster in the lock-in report but cost 25% more regret in the stationary scenario;
# 300 let runs lock in.
HALF_LIFE_S = 1800.0
HALF_LIFE_REQUESTS = 200.0
# Busy routes: the posterior holds at most ~100 answers, so a degradation shows within tens of
# requests however much history the model had (time decay alone is slow at high traffic).
# Tuning seeds (20 at 2 req/s, nine scenarios): mean regret 17.0 per 1,000 requests at 50,
# 15.6 at 100 (stationary 11.7 -> 9.6), 15.6 at 150, 15.5 with no cap, which was worse in the
# daily scenario (24.6 against 20.0); on 1,000 seeds of the lock-in scenarios 50 and 100 missed
# the 150-request bound about equally often (4.9-17.2% and 5.2-16.0%).
MAX_STRENGTH = 100.0
# The fallback serves when the sampled winner is less than 10% likely to beat it.
CONFIDENCE_FLOOR = 0.1
# Sample from posteriors with 40% of their variance (Chapelle & Li 2011): with noisy rewards
# plain sampling wastes ~10-20% of traffic on clearly worse models. In the lock-in report
# (200 seeds of each lock-in scenario) 0.3 left runs locked onto a worse model for the whole
# phase; 0.4 and 0.5 none, 0.4 at less regret in the stationary scenario.
EXPLORATION = 0.4
MAX_ATTEMPTS = 3
# A model whose answers leave its posterior restarts from them (policies.change): a Bernoulli
# CUSUM for a shift of 0.2 in its mean reward, alarm at a log-likelihood ratio of 6. Chosen on
# the tuning seeds (20 seeds at 2 req/s, and the lock-in report's 100) among shifts 0.15-0.3
# and thresholds 5-8: it cut the regret of the degrade scenario by 23% (27.5 -> 21.2 per 1,000
# requests) and of the lock-in scenarios by 14-22%, the median requests to adapt there from
# 81-104 to 61-94, and fired in none of 20 runs of the stationary scenario (6 times in 20 of
# the mixed workload, where a model's easy and hard answers differ). Threshold 8 kept most of
# the lock-in gain but lost the degrade one; shift 0.3 did less in both.
CHANGE_SHIFT = 0.2
CHANGE_THRESHOLD = 6.0
# A model new to a route borrows its family's evidence, but never more than this many answers:
# it is judged on its own answers within tens of requests.
COLD_START_STRENGTH = 10.0
# A request class's posterior borrows the route's evidence from the other classes, at most this
# many answers' worth: a class with little traffic routes on the pooled estimate. 10 let the
# easy answers of a cheap model keep it looking good for hard requests (mixed workload, tuning
# seeds: regret 32 per 1,000 requests at 10, 21 at 3, 22-23 at 1, 2 and 5).
CLASS_PRIOR_STRENGTH = 3.0

REWARD = RewardConfig()
BREAKER = BreakerConfig()
