"""``python -m graph.sandbox --port 8765``: the Graph emulator as its own process, with the demo people.

Graph is served at ``/v1.0`` and the sandbox identity platform at ``/login`` (and at ``/msal`` as MSAL
must see it: Microsoft's host in its discovery document); each demo user's bearer token is printed so you
can ``curl -H "Authorization: Bearer ..." http://127.0.0.1:8765/v1.0/me``. Once it serves, it prints one
line ``ready http://HOST:PORT`` (flushed), so a script can wait for it (``--port 0`` picks a free port: read
it from that line).

Several Slotwise processes can share it (``SLOTWISE_SANDBOX_EMULATOR_URL``): with ``--admin-token T`` it
also serves the admin API at ``/_admin`` (``graph.sandbox.admin``: mailboxes for Teams people, every event,
fault settings, statistics; each call with ``Authorization: Bearer T``). ``--fault-rate`` injects random
Graph faults (429 with Retry-After, 503, MailboxConcurrency, latency spikes; ``graph.sandbox.faults``) before
any change, ``--ghost-write-rate`` applies writes and then answers 504, ``--latency-ms`` delays every Graph
request, ``--seed`` makes the draws reproducible, and ``--state-file`` keeps the world across restarts
(``graph.sandbox.persist``). SIGTERM or Ctrl+C stops it cleanly (the state file written once more).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from graph.sandbox import EmulatorState, create_graph_app, create_login_app, seed_demo
from graph.sandbox.admin import create_admin_app
from graph.sandbox.persist import StateFile
from graph.sandbox.seed import SANDBOX_TENANT_ID

MICROSOFT_LOGIN = "https://login.microsoftonline.com"
MSAL_LOGIN_PATH = "/msal"  # the login app as MSAL must see it (SLOTWISE_SANDBOX_EMULATOR_URL + this path)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a probability from 0 to 1")
    return value


def _milliseconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"{text} is not a number of milliseconds from 0 to 60000")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m graph.sandbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--port", type=int, default=8765, help="0: any free port (printed on the ready line)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--token-hours", type=int, default=24, help="lifetime of the printed tokens")
    p.add_argument("--admin-token", default="", help="serve the admin API at /_admin, guarded by this bearer token")
    p.add_argument("--state-file", type=Path, help="keep the world in this JSON file across restarts")
    p.add_argument("--fault-rate", type=_fraction, default=0.0, help="probability of a random fault per Graph request")
    p.add_argument(
        "--ghost-write-rate", type=_fraction, default=0.0, help="probability that an applied write is answered 504"
    )
    p.add_argument("--latency-ms", type=_milliseconds, default=0.0, help="delay of every Graph request")
    p.add_argument("--seed", type=int, default=None, help="seed of the fault draws and minted ids (reproducible runs)")
    p.add_argument("--no-demo", action="store_true", help="no demo people (mailboxes come from the admin API)")
    p.add_argument("--access-log", action="store_true", help="log every request (off: a busy fleet logs a lot)")
    return p


def build(args: argparse.Namespace) -> tuple[web.Application, EmulatorState]:
    state = EmulatorState(tenant_id=SANDBOX_TENANT_ID, seed=args.seed)
    state.access_token_lifetime = args.token_hours * 3600
    state.faults.reseed(args.seed)
    state.faults.rate = args.fault_rate
    state.faults.ghost_write_rate = args.ghost_write_rate
    state.faults.latency_ms = args.latency_ms
    app = create_graph_app(state)
    if args.state_file is not None:
        state_file = StateFile(args.state_file)
        state_file.load(state)  # the mailboxes, meetings, tokens and subscriptions of the last run, if any
        app.cleanup_ctx.append(state_file.keep(state))
    app.add_subapp("/login", create_login_app(state))  # for browsers and curl: names this process's own URLs
    # For MSAL (Slotwise replicas: login_base_url = {this process}/msal): the same login service, whose discovery
    # document names Microsoft's host with the tenant as the first path segment, as login.microsoftonline.com
    # does (MSAL files tokens under that segment; behind a one-segment mount such as /login it would file them
    # under "login"). The replicas' forwarding transport (graph.identity.sandbox_http_client) sends it here.
    app.add_subapp(MSAL_LOGIN_PATH, create_login_app(state, public_base_url=MICROSOFT_LOGIN))
    if args.admin_token:
        app.add_subapp("/_admin", create_admin_app(state, args.admin_token))
    return app, state


async def serve(args: argparse.Namespace) -> None:
    app, state = build(args)
    people = [] if args.no_demo else seed_demo(state, datetime.now(UTC))  # once: a restored world has them
    runner = web.AppRunner(app, access_log=logging.getLogger("aiohttp.access") if args.access_log else None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        print(f"Graph emulator: {base}/v1.0    sandbox login: {base}/login/{state.default_tenant_id}")
        if args.admin_token:
            print(f"admin API: {base}/_admin  (Authorization: Bearer <admin token>)")
        for person in people:
            token = state.issue_token(person.id, expires_in=args.token_hours * 3600)
            print(f"\n{person.display_name} <{person.upn}> ({person.time_zone})\n  {token}")
        print(f"ready {base}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()  # the notifier stops, the state file is written once more


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.admin_token and len(args.admin_token) < 8:
        parser().error("--admin-token must be at least 8 characters")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
