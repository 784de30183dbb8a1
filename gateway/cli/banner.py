"""What `bayesgate serve` says at start: where it listens, what it serves, what to do next.

No secret is ever printed: keys are counted, a store URL is shown without its password, and
the curl line says `<your key>`.
"""

from __future__ import annotations

from gateway.config import Config
from gateway.redact import redact_url

_ANY = ("0.0.0.0", "::", "")  # listening everywhere: a client on this machine uses loopback


def banner(config: Config, *, host: str, port: int, note: str | None = None) -> str:
    base = f"http://{'127.0.0.1' if host in _ANY else host}:{port}"
    lines = [f"bayesgate serving {base}/v1 (OpenAI-compatible)"]
    lines.append(f"  config     {note or config.path or '<given in code>'}")
    for name, route in config.routes.items():
        lines.append(f"  route      {name}: {', '.join(route.candidates)} "
                     f"(fallback {route.fallback})")
    lines.append(f"  models     {', '.join(config.models)} (each can be asked for by name)")
    store = config.store
    lines.append("  store      memory (this process only; use store.backend: redis to share "
                 "learning across replicas)" if store.backend == "memory" else
                 f"  store      redis {redact_url(store.url)} (prefix {store.prefix})")
    keys = len(config.server.api_keys)
    auth = ' -H "Authorization: Bearer <your key>"' if keys else ""
    lines.append(f"  keys       {keys} API key(s): clients send Authorization: Bearer <key>"
                 if keys else "  keys       none: every caller is accepted (set "
                 "server.api_keys, e.g. BAYESGATE_API_KEY=... with the default config)")
    admin = ("admin key required" if config.server.admin_keys else
             "an API key required" if config.server.admin_access else "open")
    lines.append(f"  dashboard  {base}/dashboard ({admin}); stats {base}/stats, "
                 f"metrics {base}/metrics")
    first = next(iter(config.routes), next(iter(config.models)))
    lines.append(f"  try        curl {base}/v1/chat/completions{auth} -H 'content-type: "
                 f"application/json' -d '{{\"model\": \"{first}\", \"messages\": "
                 "[{\"role\": \"user\", \"content\": \"hi\"}]}'")
    lines.append(f"             or: export OPENAI_BASE_URL={base}/v1 and use model {first!r}")
    return "\n".join(lines)
