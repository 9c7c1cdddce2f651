"""Operations: the figures an operator watches that only the database knows, read when metrics are scraped.

* outbox lag: per delivery channel, how many items wait and how old the oldest is (an item held until its
  recipient can be reached, or given up as a dead letter, is not waiting on us and is not counted);
* the number of Graph subscriptions kept (one per host whose calendar is synced).

Cheap reads (an aggregate over the outbox's due items, a count): meant to be called at most every few seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from scheduling.ports import Clock
from scheduling.stores import OperationsStore


@dataclass(frozen=True, slots=True)
class ChannelLag:
    pending: int
    oldest_age: timedelta  # zero when nothing waits


@dataclass(frozen=True, slots=True)
class OperationsSnapshot:
    outbox: Mapping[str, ChannelLag]
    subscriptions: int


class OperationsService:
    """Reads the :class:`OperationsSnapshot`; every channel in ``channels`` is reported, idle ones as zero."""

    def __init__(self, *, store: OperationsStore, clock: Clock, channels: Sequence[str]) -> None:
        self._store = store
        self._clock = clock
        self.channels = tuple(channels)

    async def snapshot(self) -> OperationsSnapshot:
        backlog = await self._store.outbox_backlog()
        now = self._clock.now()
        lag = {channel: ChannelLag(0, timedelta(0)) for channel in self.channels}
        for entry in backlog:
            lag[entry.channel] = ChannelLag(entry.pending, max(timedelta(0), now - entry.oldest))
        return OperationsSnapshot(outbox=lag, subscriptions=await self._store.subscription_count())
