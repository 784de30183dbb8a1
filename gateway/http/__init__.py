"""The web layer: the ASGI app and its endpoints, thin handlers over the parts below.

    app        create_app(): routes, the lifespan (runtime.running + the dashboard's history),
               the raw hot path for the front doors, the middleware that pins a request to a
               generation
    asgi       raw-ASGI helpers: body with a size limit, JSON answers, the disconnect guard
    door       serve(door): one front door's request start to end (auth, parse, plan, Call,
               errors in the door's shape, the shadow copy)
    chat       POST /v1/chat/completions, the pipeline's own dialect
    responses  POST /v1/responses and the stored responses (GET, DELETE, input_items)
    messages   POST /v1/messages and /v1/messages/count_tokens (Anthropic)
    embeddings POST /v1/embeddings (provider.embed; no retry fingerprint, no shadow copies)
    pipeline   Call: failover before the first byte, relay through the door's Dialect,
               measurements to the learner
    views      /v1/models, /v1/models/{id}, /healthz, /readyz, /stats, /metrics
    snapshot   the /stats document (also behind /metrics, /dashboard/data and the history)
    dashboard  /dashboard and its static files
    openapi    /openapi.json

May import every package below it (translate, runtime, learning, routing, ops, store,
config) and `providers` for their error types; never the CLI. A new front door is a mapping
in gateway/translate/, a Door and a Dialect here, and one entry in app.py's `_DOORS`.
"""
