"""The Microsoft Graph calendar emulator: Graph's real HTTP contract, in memory, for tests and sandbox mode.

Owns: an aiohttp Graph app (``create_graph_app``: ``/v1.0/me|users/{id}/...`` events, calendars,
calendarView, delta with expiring tokens, getSchedule, mailboxSettings, subscriptions with change and
lifecycle notifications delivered with Graph's retries and expiry rules (``state.change_tracking``), ``$batch``),
a sandbox identity platform for MSAL (``create_login_app``), the in-memory world behind both
(``EmulatorState``: users, mailboxes, tokens, fault injection), demo data (``seed_demo``,
``seed_mailbox``), the world kept in a versioned JSON file across restarts (``persist.StateFile``) and a
read-only HTML look at every mailbox's coming meetings (``page.sandbox_page``). Shapes, limits and
errors follow ``reference/graph-facts.md``.

Usage::

    state = EmulatorState()
    seed_demo(state, now)                     # or state.add_user(...), state.add_event(...)
    app = create_graph_app(state)             # serve; base URL is f"{server}/v1.0"
    token = state.issue_token("adele@contoso.example")

Must not import: storage, bot, cards, web, or the Graph client (``graph.client`` and friends); it may
resolve zone names with ``graph.sandbox.zones`` (the emulator stands alone, like Graph). The one bridge is
sandbox mode's wiring, exported here for ``app.py``: the connectors (``connector``: a Teams user gets a mailbox
and is signed in through ``graph.identity``), the saved world (``StateFile``) and the ``/sandbox`` page.
"""

from graph.sandbox.app import create_graph_app
from graph.sandbox.connector import RemoteSandboxConnector, SandboxConnector, SandboxMailbox, sandbox_sso_token
from graph.sandbox.faults import Faults
from graph.sandbox.login import create_login_app
from graph.sandbox.model import EmUser, NotificationRecord, RequestRecord
from graph.sandbox.page import sandbox_page
from graph.sandbox.persist import StateFile
from graph.sandbox.seed import SANDBOX_TENANT_ID, seed_demo, seed_mailbox
from graph.sandbox.state import EmulatorState

__all__ = [
    "SANDBOX_TENANT_ID",
    "EmUser",
    "EmulatorState",
    "Faults",
    "NotificationRecord",
    "RemoteSandboxConnector",
    "RequestRecord",
    "SandboxConnector",
    "SandboxMailbox",
    "StateFile",
    "create_graph_app",
    "create_login_app",
    "sandbox_page",
    "sandbox_sso_token",
    "seed_demo",
    "seed_mailbox",
]
