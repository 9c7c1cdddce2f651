"""A PostgreSQL server of the harness's own: ``initdb`` in a temporary folder, trust auth, listening on 127.0.0.1 at
a free port (its Unix socket in that folder too), so the machine's server (5432) is never touched.

PostgreSQL refuses to run as root: when the harness runs as root, ``initdb`` and the server run as the ``postgres``
system user (the child drops to it between fork and exec) on a folder that user owns. The server is the harness's
own child (not daemonized by ``pg_ctl``) and dies with it (``PR_SET_PDEATHSIG``), so an interrupted harness leaves
no server behind. Stopping it is what ``pg_ctl stop`` does: SIGINT for ``-m fast`` (every session is cut, a
checkpoint is written), SIGQUIT for ``-m immediate``. The binaries are PostgreSQL's own
(``/usr/lib/postgresql/<version>/bin``, the newest; else ``pg_config --bindir``; else ``PATH``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

SERVER_USER = "postgres"  # the system user the server runs as when the harness is root
DATABASE = "slotwise"
_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


class PostgresUnavailable(RuntimeError):
    """initdb, or a user to run it as, can't be found on this machine."""


def bin_dir() -> Path:
    """Where ``initdb`` and ``postgres`` are (PostgresUnavailable when nowhere)."""
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if found and (Path(found) / "initdb").exists():
            return Path(found)
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(initdb).parent
    raise PostgresUnavailable("initdb not found (install PostgreSQL: apt-get install postgresql)")


def server_user() -> pwd.struct_passwd | None:
    """The user the server runs as: None (the harness's own) unless the harness is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as"
        ) from None


def available() -> str | None:
    """Why the harness can't run its own PostgreSQL here (None: it can)."""
    try:
        bin_dir()
        server_user()
    except PostgresUnavailable as exc:
        return str(exc)
    return None


def _child_setup(user: pwd.struct_passwd | None) -> Callable[[], None]:
    """What the child does between fork and exec: become ``user`` (if any), then die with the harness (the
    death signal is set after the change of user, which would clear it)."""

    def setup() -> None:  # pragma: no cover - runs in the child
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return setup


class Postgres:
    """One cluster in its own temporary folder: ``init()``, ``start()``, ``restart()``, ``destroy()`` (stops it
    and removes the folder)."""

    def __init__(self, port: int, *, max_connections: int = 300) -> None:
        self.port = port
        self.max_connections = max_connections
        self.bin = bin_dir()
        self.user = server_user()
        self.root = Path(tempfile.mkdtemp(prefix="slotwise-fleet-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def dsn(self) -> str:
        """The same database for asyncpg itself."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"HOME": str(self.root), "LC_ALL": "C.UTF-8"})
        return env

    def _cmd(self, name: str, *args: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [str(self.bin / name), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            cwd=self.root,
            env=self._env(),
            preexec_fn=_child_setup(self.user),
        )
        if done.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed ({done.returncode}): {done.stderr or done.stdout}")

    def init(self) -> None:
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.root.chmod(0o700)
        self._cmd("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": str(self.max_connections),
            "shared_buffers": "'128MB'",
            "log_min_messages": "warning",
            "log_line_prefix": "'%m [%p] '",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# slotwise fleet harness\n")
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")

    def spawn(self) -> None:
        """Start the server process (from the calling thread: the server dies with it)."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data)],
                cwd=self.root,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_child_setup(self.user),
            )

    async def start(self, within: float = 60.0) -> None:
        """Start the server and wait until it accepts connections."""
        self.spawn()
        assert self.proc is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited ({self.proc.returncode}):\n" + "\n".join(self.log_tail()))
            try:
                conn = await asyncpg.connect(
                    host="127.0.0.1", port=self.port, user="postgres", database="postgres", timeout=2
                )
            except (OSError, asyncpg.PostgresError, TimeoutError):
                await asyncio.sleep(0.1)
                continue
            await conn.close()
            return
        raise RuntimeError("PostgreSQL did not accept connections in time:\n" + "\n".join(self.log_tail()))

    async def stop(self, mode: str = "fast", within: float = 60.0) -> None:
        """What ``pg_ctl stop -m <mode>`` does: the mode's signal to the postmaster, then wait for it to exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(_STOP_SIGNALS[mode])
        for _ in range(int(within / 0.05)):
            if self.proc.poll() is not None:
                return
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    async def restart(self, down_seconds: float = 0.0) -> None:
        """Stop (fast: every connection is cut), then start again after ``down_seconds``."""
        await self.stop("fast")
        await asyncio.sleep(down_seconds)
        await self.start()
        self.restarts += 1

    def create_database(self) -> None:
        self._cmd("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE)

    def destroy(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(_STOP_SIGNALS["immediate"])
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> list[str]:
        try:
            return self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []
