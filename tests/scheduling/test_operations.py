"""scheduling.operations: outbox lag per channel and the subscription count, as a scrape reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from scheduling.operations import ChannelLag, OperationsService
from scheduling.stores import OutboxBacklog

NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    value: datetime = NOW

    def now(self) -> datetime:
        return self.value


@dataclass
class Store:
    backlog: list[OutboxBacklog] = field(default_factory=list)
    subscriptions: int = 0

    async def outbox_backlog(self) -> list[OutboxBacklog]:
        return self.backlog

    async def subscription_count(self) -> int:
        return self.subscriptions


async def test_lag_is_the_age_of_the_oldest_waiting_item_and_idle_channels_read_zero() -> None:
    store = Store([OutboxBacklog("teams", 3, NOW - timedelta(seconds=90))], subscriptions=2)
    snapshot = await OperationsService(store=store, clock=Clock(), channels=("teams", "webhook")).snapshot()
    assert snapshot.outbox == {
        "teams": ChannelLag(3, timedelta(seconds=90)),
        "webhook": ChannelLag(0, timedelta(0)),
    }
    assert snapshot.subscriptions == 2


async def test_a_channel_not_listed_is_still_reported_and_clock_skew_is_no_negative_lag() -> None:
    store = Store([OutboxBacklog("email", 1, NOW + timedelta(seconds=5))])  # written by a replica a little ahead
    snapshot = await OperationsService(store=store, clock=Clock(), channels=("teams",)).snapshot()
    assert snapshot.outbox["email"] == ChannelLag(1, timedelta(0))
    assert snapshot.outbox["teams"] == ChannelLag(0, timedelta(0))
