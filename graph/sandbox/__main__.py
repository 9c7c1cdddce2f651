"""``python -m graph.sandbox --port 8765``: the emulator on 127.0.0.1 with the demo people.

Graph is served at ``/v1.0`` and the sandbox identity platform at ``/login``; each demo user's bearer
token is printed so you can ``curl -H "Authorization: Bearer ..." http://127.0.0.1:8765/v1.0/me``.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime

from aiohttp import web

from graph.sandbox import EmulatorState, create_graph_app, create_login_app, seed_demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m graph.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token-hours", type=int, default=24, help="lifetime of the printed tokens")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    state = EmulatorState()
    state.access_token_lifetime = args.token_hours * 3600
    people = seed_demo(state, datetime.now(UTC))
    app = create_graph_app(state)
    app.add_subapp("/login", create_login_app(state))
    base = f"http://{args.host}:{args.port}"
    print(f"Graph emulator: {base}/v1.0    sandbox login: {base}/login/{state.default_tenant_id}")
    for person in people:
        token = state.issue_token(person.id, expires_in=args.token_hours * 3600)
        print(f"\n{person.display_name} <{person.upn}> ({person.time_zone})\n  {token}")
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
