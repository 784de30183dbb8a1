"""Pure decision math for bayesgate: no I/O, no web imports, only the standard library and numpy.

    posterior   Beta posteriors, time decay toward the prior, the Beta update (with a cap)
    reward      the label-free composite reward from measured latency, validity and retries
    thompson    Thompson sampling with a cost-aware utility and a confidence floor; returns a
                ranked decision (the failover order)
    promotion   P(a shadow candidate beats the route's best live model), with thompson's estimator
    cost        prices, a running mean of tokens per model, normalised expected cost
    priors      built-in family priors, per-model overrides, cold start from the family
    breaker     a per-model circuit breaker as a pure state machine (closed/open/half-open)
    defaults    recommended per-route settings, shared by the gateway and `bayesgate simulate`
    evaluation  the offline evaluator: simulated worlds, baselines, seeded runs, the report
"""
