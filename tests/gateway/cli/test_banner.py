"""The start-up banner: what to do next, and never a secret."""

from __future__ import annotations

from gateway.cli.banner import banner
from gateway.config import loads

SECRET_KEY = "gw-key-do-not-print-123456"
REDIS_PASSWORD = "redis-pass-do-not-print"

CONFIG = f"""
server: {{api_keys: ["{SECRET_KEY}"], admin_keys: ["admin-do-not-print-1234"]}}
store: {{backend: redis, url: "redis://:{REDIS_PASSWORD}@cache:6379/0"}}
providers: {{sim: {{type: simulated, api_key: "sk-upstream-do-not-print"}}}}
models: {{a: {{provider: sim}}, b: {{provider: sim}}}}
routes: {{auto: {{candidates: [a, b], fallback: b}}}}
"""


def test_the_banner_says_what_to_do_next_without_secrets() -> None:
    text = banner(loads(CONFIG, env={}, path="my.yaml"), host="0.0.0.0", port=9000)
    assert "http://127.0.0.1:9000/v1" in text  # listening everywhere: loopback for the curl
    assert "config     my.yaml" in text
    assert "route      auto: a, b (fallback b)" in text
    assert "redis redis://:***@cache:6379/0" in text
    assert "1 API key(s)" in text and 'Bearer <your key>' in text
    assert "http://127.0.0.1:9000/dashboard (admin key required)" in text
    for secret in (SECRET_KEY, REDIS_PASSWORD, "admin-do-not-print", "sk-upstream"):
        assert secret not in text


def test_an_open_gateway_says_how_to_set_a_key() -> None:
    text = banner(loads(CONFIG.replace(f'api_keys: ["{SECRET_KEY}"], ', ""), env={}),
                  host="127.0.0.1", port=8080)
    assert "keys       none: every caller is accepted (set server.api_keys" in text
