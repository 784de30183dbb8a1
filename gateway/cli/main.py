"""bayesgate: an OpenAI-compatible gateway that learns which model to use from its traffic.

Commands: serve (run the gateway), check-config (validate a file), reload (make a running
gateway re-read its config), demo (serve a config and drive traffic through it), simulate
(offline evaluation of the routing policy).
"""

from __future__ import annotations

import argparse
import signal
import sys
from importlib import resources
from pathlib import Path

from gateway import __version__
from gateway.config import LOG_LEVELS, Config, ConfigError, load

LOCAL_CONFIG = "gateway.yaml"
CONFIG_HELP = (f"the config file (default: ./{LOCAL_CONFIG} when there is one, else the "
               "default config shipped with bayesgate: three simulated models)")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
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
    path, note = config_path(args.config)
    config = _load_or_exit(path)
    if config is None:
        return 1
    if args.command == "demo":
        from gateway.cli import demo as demo_module

        if note:
            print(note)
        return demo_module.run(config, requests=args.requests, concurrency=args.concurrency)
    from gateway.cli.serve import serve_forever

    return serve_forever(config, host=args.host, port=args.port, log_level=args.log_level,
                         pidfile=args.pidfile, access_log=args.access_log, config_note=note)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayesgate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"bayesgate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help=CONFIG_HELP)
    serve.add_argument("--host", help="overrides server.host of the config")
    serve.add_argument("--port", type=int, help="overrides server.port of the config")
    serve.add_argument("--log-level", type=str.lower, choices=LOG_LEVELS,
                       help="overrides logging.level of the config")
    serve.add_argument("--access-log", action="store_true", default=None,
                       help="log every HTTP request (overrides logging.access_log)")
    serve.add_argument("--pidfile", help="write the process id here (for `bayesgate reload`)")
    reload = commands.add_parser("reload", help="make a running gateway re-read its config "
                                 "(sends SIGHUP)")
    target = reload.add_mutually_exclusive_group(required=True)
    target.add_argument("--pid", type=int, help="the gateway's process id")
    target.add_argument("--pidfile", help="the file `bayesgate serve --pidfile` wrote")
    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("path")
    demo = commands.add_parser("demo", help="serve a config in-process and drive traffic")
    demo.add_argument("--config", help=CONFIG_HELP)
    demo.add_argument("--requests", type=int, default=300, help="(default: %(default)s)")
    demo.add_argument("--concurrency", type=int, default=16, help="(default: %(default)s)")
    commands.add_parser("simulate", help="offline evaluation of the policy", add_help=False)
    return parser


def config_path(given: str | None) -> tuple[str, str | None]:
    """The config file to load, and a note to show when it is the packaged default."""
    if given:
        return given, None
    if Path(LOCAL_CONFIG).exists():
        return LOCAL_CONFIG, None
    shipped = str(resources.files("gateway.config") / "default.yaml")
    return shipped, (f"{shipped} (no ./{LOCAL_CONFIG} here: the default config shipped "
                     "with bayesgate; pass --config to use your own)")


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
