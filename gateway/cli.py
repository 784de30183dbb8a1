"""`bayesgate serve | check-config | demo | simulate`."""

from __future__ import annotations

import argparse
import logging
import sys

from gateway.config import Config, ConfigError, load

log = logging.getLogger("bayesgate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bayesgate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", default="gateway.yaml")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--log-level", default="info")
    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("path")
    demo = commands.add_parser("demo", help="serve the default config and drive traffic")
    demo.add_argument("--config", default="gateway.yaml")
    demo.add_argument("--requests", type=int, default=300)
    demo.add_argument("--concurrency", type=int, default=16)
    commands.add_parser("simulate", help="offline evaluation of the policy", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "simulate":
        from gateway import simulate

        return simulate.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "check-config":
        return check_config(args.path)
    config = _load_or_exit(args.config)
    if config is None:
        return 1
    if args.command == "demo":
        from gateway import demo as demo_module

        return demo_module.run(config, requests=args.requests, concurrency=args.concurrency)
    return serve_forever(config, host=args.host, port=args.port, log_level=args.log_level)


def check_config(path: str) -> int:
    config = _load_or_exit(path)
    if config is None:
        return 1
    print(f"{path}: ok ({len(config.routes)} routes, {len(config.models)} models, "
          f"{len(config.providers)} providers)")
    return 0


def _load_or_exit(path: str) -> Config | None:
    try:
        return load(path)
    except ConfigError as exc:
        print(f"{path}: invalid config:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return None


def serve_forever(config: Config, *, host: str | None, port: int | None,
                  log_level: str = "info") -> int:
    import uvicorn

    from gateway.app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    uvicorn.run(create_app(config), host=host or config.server.host,
                port=config.server.port if port is None else port,
                loop=_loop(), http="httptools", log_level=log_level, access_log=False,
                lifespan="on", timeout_graceful_shutdown=10)
    return 0


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"
