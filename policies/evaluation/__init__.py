"""The offline evaluator behind `bayesgate simulate`: seeded, reproducible, no I/O.

    world    simulated models, scenarios that change them, the truth an oracle ranks by
    agents   our policy, the baselines and the oracle, behind one callable shape
    replay   one run: arrivals, ranking, failover with breakers, posterior updates
    report   many runs averaged per agent, the table and the checks

It drives the same functions the gateway runs (policies.thompson, posterior, reward, breaker,
priors); like the rest of `policies` it imports only the standard library and numpy.
"""
