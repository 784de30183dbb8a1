"""What the gateway tells its operators: counters, Prometheus metrics, logs, dashboard history.

    stats     this replica's counters per route and model (selections, failures, tokens, cost)
    metrics   the Prometheus registry: families observed as things happen, and the scrape-time
              ones read from the /stats document that /metrics hands to `render()`
    logs      text or JSON lines written from a thread; the one line per request
    history   the dashboard's bounded time series

These are sinks: the pipeline writes to them and nothing here reads the router, the learner or
the store. May import: `gateway.config`. (The /stats document itself is built in the web layer,
gateway/http/snapshot.py, from all of them.)
"""
