"""From the `model` a client asked for to the ranked models to try.

    router        Router.plan(): a route's policy over the candidates, or a direct model
    beliefs       priors and posteriors (decayed to now, cold starts) from the store's snapshot
    availability  the one "may this model be tried now" rule: cool-downs and breakers
    costs         prices and the expected cost of a request per model

May import: `gateway.config`, `gateway.store`, `gateway.errors`, `policies`. Nothing here does
I/O or waits: selection reads local state only.
"""
