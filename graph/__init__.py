"""Microsoft Graph and identity adapter: MSAL token handling, the httpx Graph client (retries,
throttling, $batch), typed calendar operations, the CalendarPort implementation (adapter.py) and the
CalendarSyncPort one (sync.py: subscriptions and calendarView delta). graph/sandbox/ is the Graph
emulator. Must not import: storage, bot, cards, web."""

from graph.adapter import GraphCalendar
from graph.client import GraphClient
from graph.identity import IdentityConfig, MsalIdentity, sandbox_identity
from graph.signin import MsalSignIn
from graph.sync import (
    OUTLOOK_EVENT_SUBSCRIPTION_MAX_MINUTES,
    OUTLOOK_EVENT_SUBSCRIPTION_SAFE_MINUTES,
    GraphChangeTracking,
)

__all__ = [
    "OUTLOOK_EVENT_SUBSCRIPTION_MAX_MINUTES",
    "OUTLOOK_EVENT_SUBSCRIPTION_SAFE_MINUTES",
    "GraphCalendar",
    "GraphChangeTracking",
    "GraphClient",
    "IdentityConfig",
    "MsalIdentity",
    "MsalSignIn",
    "sandbox_identity",
]
