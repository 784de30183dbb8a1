"""Learning from the traffic itself: from what was measured to the posteriors, off the
request path.

    measure     what one attempt measured (Exchange), built by the web layer and the mirror
    validity    is an answer usable: the label-free validity half of the reward
    learner     the bounded queue and its worker: reward, store update, counters, request log
    retries     declared SDK retries, and the same conversation arriving again (fingerprints)
    shadow      copies of answered requests to hidden candidates, scored like live answers
    promotion   the review that finds a shadow candidate ready, and promotes it fleet-wide

May import: `gateway.routing`, `gateway.store`, `gateway.ops`, `gateway.config`, `policies`,
`providers` (the mirror calls providers). Never the web layer: a front door hands facts here.
"""
