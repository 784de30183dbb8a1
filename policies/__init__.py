"""Pure decision math for bayesgate: no I/O, no web imports, only the standard library and numpy.

    posterior   Beta posteriors, time decay toward the prior, the Beta update
    reward      the label-free composite reward from measured latency, validity and retries
    thompson    Thompson sampling with a cost-aware utility; returns a ranked decision
    cost        normalised expected cost per request
"""
