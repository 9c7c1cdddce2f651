"""The fleet's processes on loopback: the Graph emulator (``python -m graph.sandbox``), the app replicas
(``python app.py``, each with its own port and var folder) and HAProxy in front of them.

Every child is started from the harness's main thread with ``PR_SET_PDEATHSIG`` (SIGKILL), so a harness that dies
takes its children with it. A replica's stdout and stderr go to ``replica-<n>.log`` in the work folder (appended
across incarnations); its peak resident memory (``VmHWM`` of ``/proc/<pid>/status``) is read before each kill or
stop and the maximum over its incarnations is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[2]  # the repository (app.py, graph/)
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLOTWISE_", "Microsoft", "MICROSOFT_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def spawn(args: list[str], *, cwd: Path, env: Mapping[str, str], log: IO[bytes] | int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT if log != subprocess.PIPE else subprocess.PIPE,
        preexec_fn=_die_with_parent,
    )


def peak_rss_mb(pid: int) -> float | None:
    """``VmHWM`` (peak resident set) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int | None:
    """SIGTERM, then SIGKILL after ``timeout``; the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


# ------------------------------------------------------------------ the Graph emulator


class Emulator:
    """``python -m graph.sandbox`` with an admin token; Graph at ``/v1.0``, the admin API at ``/_admin``."""

    def __init__(self, work: Path, *, latency_ms: int, seed: int, access_log: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_urlsafe(24)
        self.work = work
        self.log_path = work / "emulator.log"
        self.latency_ms = latency_ms
        self.seed = seed
        self.access_log = access_log
        self.proc: asyncio.subprocess.Process | None = None
        self._copier: asyncio.Task[None] | None = None

    async def start(self, within: float = 60.0) -> None:
        args = [
            "-m",
            "graph.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--admin-token",
            self.token,
            "--state-file",
            str(self.work / "emulator-state.json"),
            "--fault-rate",
            "0",
            "--latency-ms",
            str(self.latency_ms),
            "--seed",
            str(self.seed),
            "--no-demo",
            *(["--access-log"] if self.access_log else []),
        ]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=ROOT,
            env=_clean_env({}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        assert self.proc.stdout is not None
        log = self.log_path.open("ab")
        try:
            async with asyncio.timeout(within):
                while True:
                    line = await self.proc.stdout.readline()
                    log.write(line)
                    if not line:
                        await self.proc.wait()
                        log.close()
                        tail = self.log_path.read_text(errors="replace")[-3000:]
                        raise RuntimeError(f"the Graph emulator exited ({self.proc.returncode}):\n{tail}")
                    if line.startswith(b"ready "):
                        break
        except TimeoutError:
            log.close()
            raise RuntimeError("the Graph emulator did not print its 'ready' line in time") from None
        log.flush()
        self._copier = asyncio.create_task(self._copy(self.proc.stdout, log))

    @staticmethod
    async def _copy(pipe: asyncio.StreamReader, log: IO[bytes]) -> None:
        """Keep copying the emulator's output to its log (a full pipe would block it)."""
        try:
            while chunk := await pipe.read(65536):
                log.write(chunk)
                log.flush()
        finally:
            log.close()

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def admin(self, client: httpx.AsyncClient, method: str, path: str, body: object = None) -> httpx.Response:
        return await client.request(
            method, f"{self.url}/_admin/{path}", json=body, headers=self.admin_headers, timeout=60.0
        )

    async def set_faults(self, client: httpx.AsyncClient, rate: float, latency_ms: int) -> None:
        resp = await self.admin(client, "PUT", "faults", {"rate": rate, "latencyMs": latency_ms})
        resp.raise_for_status()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._copier is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._copier, 5)


# ------------------------------------------------------------------ the app replicas


@dataclass
class Replica:
    index: int
    port: int
    var_dir: Path
    log_path: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    incarnations: int = 0
    peak_rss: float = 0.0
    started_at: float = 0.0
    exits: list[int] = field(default_factory=list)  # exit statuses other than our SIGKILL/SIGTERM

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== incarnation {self.incarnations + 1} =====\n".encode())
            log.flush()
            self.proc = spawn([sys.executable, str(ROOT / "app.py")], cwd=self.var_dir, env=self.env, log=log)
        self.incarnations += 1
        self.started_at = time.monotonic()

    def sample_rss(self) -> None:
        if self.alive:
            assert self.proc is not None
            rss = peak_rss_mb(self.proc.pid)
            if rss is not None:
                self.peak_rss = max(self.peak_rss, rss)

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM killer would."""
        if self.alive:
            assert self.proc is not None
            self.sample_rss()
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM (graceful shutdown), SIGKILL after 20 s."""
        if self.proc is None:
            return None
        self.sample_rss()
        return stop_process(self.proc, 20.0)

    def reap(self) -> int | None:
        """The exit status if it exited on its own since the last look (then it is noted in ``exits``)."""
        if self.proc is not None and self.proc.poll() is not None:
            code = self.proc.returncode
            self.proc = None
            self.exits.append(code)
            return code
        return None


def replica_env(
    *,
    port: int,
    var_dir: Path,
    database_url: str,
    public_url: str,
    secret_key: str,
    emulator: Emulator,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Sandbox mode (no MicrosoftAppId) against the shared external emulator, on the shared database, behind the
    balancer; rate limits raised for load (one harness is every client)."""
    env = {
        "SLOTWISE_HOST": "127.0.0.1",
        "SLOTWISE_PORT": str(port),
        "SLOTWISE_DATABASE_URL": database_url,
        "SLOTWISE_PUBLIC_BASE_URL": public_url,
        "SLOTWISE_SECRET_KEY": secret_key,
        "SLOTWISE_VAR_DIR": str(var_dir),
        "SLOTWISE_TRUSTED_PROXIES": "127.0.0.1",
        "SLOTWISE_SANDBOX_SEED": "0",
        "SLOTWISE_SANDBOX_EMULATOR_URL": emulator.url,
        "SLOTWISE_SANDBOX_EMULATOR_TOKEN": emulator.token,
        "SLOTWISE_METRICS_LOOPBACK": "1",
        "SLOTWISE_LOG_FORMAT": "json",
        "SLOTWISE_BOOKING_RATE_LIMIT": "1000000",
        "SLOTWISE_SLOT_READ_RATE_LIMIT": "1000000",
        "SLOTWISE_API_RATE_LIMIT": "1000000",
        "SLOTWISE_RECONCILE_SECONDS": "5",
        "SLOTWISE_PENDING_SECONDS": "60",  # the least the app allows
    }
    env.update(extra or {})
    return _clean_env(env)


async def wait_ready(client: httpx.AsyncClient, url: str, seconds: float, proc: Replica | None = None) -> bool:
    """``/readyz`` answers 200 within ``seconds`` (False early when the replica's process exits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(f"{url}/readyz", timeout=2.0)).status_code == 200:
                return True
        await asyncio.sleep(0.2)
    return False


# ------------------------------------------------------------------ HAProxy


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).exists()), None
    )


HAPROXY_CONFIG = """\
global
    maxconn 4096
    nbthread 1
    log stdout format raw local0 notice

defaults
    mode http
    log global
    option log-health-checks
    option forwardfor
    option http-server-close
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 15s
    timeout queue 30s
    # a replica busy for a moment (two cores shared by the whole fleet) is not a dead one
    timeout check 3s
    # A request that could not reach a replica (refused: it was just killed) goes to another one; one that
    # reached a replica which then died is answered 502 (the client sees it).
    retries 3
    retry-on conn-failure
    option redispatch 1

frontend fleet
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 500ms rise 1 fall 2 maxconn 256
{servers}
"""


class Balancer:
    """HAProxy, round-robin over the replicas, health-checked on ``/readyz``."""

    def __init__(self, work: Path, replicas: list[Replica], port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config = work / "haproxy.cfg"
        self.log_path = work / "haproxy.log"
        servers = "\n".join(f"    server r{r.index} 127.0.0.1:{r.port} check" for r in replicas)
        self.config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = haproxy_binary()
        if binary is None:
            raise RuntimeError("haproxy not found (make haproxy, or apt-get install haproxy)")
        check = subprocess.run([binary, "-c", "-f", str(self.config)], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration: {check.stderr or check.stdout}")
        with self.log_path.open("ab") as log:
            self.proc = spawn([binary, "-f", str(self.config), "-db"], cwd=self.config.parent, env=os.environ, log=log)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 5.0)
