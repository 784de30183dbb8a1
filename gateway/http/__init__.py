"""The web layer: the ASGI app and its endpoints, thin handlers over the parts below.

    app        create_app(): routes, the lifespan (runtime.running + the dashboard's history),
               the raw hot path for chat, the middleware that pins a request to a generation
    asgi       raw-ASGI helpers: body with a size limit, JSON answers, the disconnect guard
    chat       the chat-completions front door: parse, plan, hand to a Call
    pipeline   Call: failover before the first byte, relay, measurements to the learner
    views      /v1/models, /healthz, /readyz, /stats, /metrics
    snapshot   the /stats document (also behind /metrics, /dashboard/data and the history)
    dashboard  /dashboard and its static files
    openapi    /openapi.json

May import every package below it (runtime, learning, routing, ops, store, config) and
`providers` for their error types; never the CLI. A new front door is a module here that
parses its dialect into a plan and a Call, and one Route in app.py.
"""
