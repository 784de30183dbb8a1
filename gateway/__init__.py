"""bayesgate: an OpenAI-compatible gateway that learns which model to use from its own traffic.

Packages, bottom to top (each imports only from its own layer and the ones below; see
docs/architecture.md): errors / redact / auth, config, store, ops, routing, learning, runtime,
http, cli. Beside them, never importing the gateway: `providers` and `policies`.
"""

__version__ = "0.1.0"
