"""`bayesgate serve | check-config | demo | simulate`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from gateway.config import LOG_LEVELS, Config, ConfigError, load

log = logging.getLogger("bayesgate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bayesgate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", default="gateway.yaml")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--log-level", type=str.lower, choices=LOG_LEVELS,
                       help="overrides logging.level of the config")
    serve.add_argument("--pidfile", help="write the process id here (for `bayesgate reload`)")
    reload = commands.add_parser("reload", help="make a running gateway re-read its config "
                                 "(sends SIGHUP)")
    target = reload.add_mutually_exclusive_group(required=True)
    target.add_argument("--pid", type=int, help="the gateway's process id")
    target.add_argument("--pidfile", help="the file `bayesgate serve --pidfile` wrote")
    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("path")
    demo = commands.add_parser("demo", help="serve the default config and drive traffic")
    demo.add_argument("--config", default="gateway.yaml")
    demo.add_argument("--requests", type=int, default=300)
    demo.add_argument("--concurrency", type=int, default=16)
    commands.add_parser("simulate", help="offline evaluation of the policy", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "simulate":
        from gateway.cli import simulate

        return simulate.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "check-config":
        return check_config(args.path)
    if args.command == "reload":
        return send_reload(pid=args.pid, pidfile=args.pidfile)
    config = _load_or_exit(args.config)
    if config is None:
        return 1
    if args.command == "demo":
        from gateway.cli import demo as demo_module

        return demo_module.run(config, requests=args.requests, concurrency=args.concurrency)
    from gateway.cli.serve import serve_forever

    return serve_forever(config, host=args.host, port=args.port, log_level=args.log_level,
                         pidfile=args.pidfile)


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


def send_reload(*, pid: int | None, pidfile: str | None) -> int:
    import os

    if pid is None:
        try:
            pid = int(Path(pidfile or "").read_text().strip())
        except (OSError, ValueError) as exc:
            print(f"bayesgate reload: cannot read a pid from {pidfile}: {exc}", file=sys.stderr)
            return 1
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        print(f"bayesgate reload: cannot signal process {pid}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"sent SIGHUP to {pid}: the gateway re-reads its config (its log says whether the "
          "new one was applied or rejected)")
    return 0
