"""Connecting a host's Outlook calendar, as a use case over a connector port.

The connector is the identity adapter: in sandbox mode it provisions a mailbox in the Graph emulator and
signs the user in with no browser step; in production it can only connect silently when a token cache
already exists (Teams SSO and the sign-in card are the interactive paths).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from scheduling.domain import ConnectionStatus, User
from scheduling.errors import IntegrationError
from scheduling.ports import CalendarPort
from scheduling.stores import UserStore


class CalendarConnector(Protocol):
    async def connect_without_prompt(self, user: User) -> bool:
        """Connect ``user`` if that needs nothing from them; True when connected."""
        ...

    async def disconnect(self, user: User) -> None:
        """Forget the user's tokens (and stop any Graph subscriptions)."""
        ...


class ConnectionService:
    def __init__(self, *, users: UserStore, connector: CalendarConnector, calendar: CalendarPort) -> None:
        self.users = users
        self.connector = connector
        self.calendar = calendar

    async def ensure_connected(self, user: User) -> User | None:
        """The user, connected (with their mailbox's time zone), or None when they must sign in."""
        if user.connection_status is ConnectionStatus.CONNECTED:
            return user
        try:
            connected = await self.connector.connect_without_prompt(user)
        except IntegrationError as exc:
            await self.users.set_connection(user.id, ConnectionStatus.BROKEN, exc.message)
            return None
        if not connected:
            return None
        return await self.mark_connected(user)

    async def mark_connected(self, user: User) -> User:
        """Record a new connection and take the time zone from the mailbox settings."""
        await self.users.set_connection(user.id, ConnectionStatus.CONNECTED)
        fresh = replace(user, connection_status=ConnectionStatus.CONNECTED, connection_error="")
        try:
            defaults = await self.calendar.mailbox_defaults(fresh.host_calendar())
        except IntegrationError:
            return fresh
        if defaults.time_zone and defaults.time_zone != user.time_zone:
            fresh = await self.users.upsert(replace(fresh, time_zone=defaults.time_zone))
        return fresh

    async def disconnect(self, user: User) -> None:
        await self.connector.disconnect(user)
        await self.users.set_connection(user.id, ConnectionStatus.NOT_CONNECTED)

    async def mark_broken(self, user_id: str, reason: str) -> None:
        await self.users.set_connection(user_id, ConnectionStatus.BROKEN, reason)
