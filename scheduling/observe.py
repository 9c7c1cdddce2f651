"""What the booking use cases tell an observer (metrics): the outcome of every book, reschedule and cancel.

:class:`BookingEvents` is the port; :data:`NO_EVENTS` (the default) ignores everything, so the core needs no
metrics library and a test needs no observer. :func:`observed` decorates a use case once, in the core, so every
adapter that calls it (Teams, the booking pages, the JSON endpoints, the REST API) is counted the same way
and no adapter classifies outcomes on its own.

Outcomes: ``created`` (a confirmed booking), ``pending`` (its Outlook event may or may not have been written:
reconciliation settles it), ``replayed`` (an idempotent retry), ``rescheduled``, ``cancelled``; a refusal or
failure is the error's ``code`` from the error tree (``slot_unavailable``, ``validation_failed``,
``host_unavailable``, ``link_inactive``...), anything unexpected ``error``. The set is bounded by the tree, so
it is safe as a metric label.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, Literal, ParamSpec, Protocol, TypeVar, runtime_checkable

from scheduling.errors import SlotwiseError

Action = Literal["book", "reschedule", "cancel"]
_SUCCESS: dict[Action, str] = {"book": "created", "reschedule": "rescheduled", "cancel": "cancelled"}


class BookingEvents(Protocol):
    """Told the outcome of each booking use case as it ends. Must not raise (a booking is never undone by a
    failing observer) and must not block."""

    def booking_outcome(self, action: Action, outcome: str) -> None: ...


class NoEvents:
    """The default observer: ignores everything."""

    def booking_outcome(self, action: Action, outcome: str) -> None:
        return None


NO_EVENTS: BookingEvents = NoEvents()


@runtime_checkable
class _BookResult(Protocol):
    @property
    def replayed(self) -> bool: ...

    @property
    def confirmed(self) -> bool: ...


def success_outcome(action: Action, result: object) -> str:
    """The outcome of a use case that returned ``result``."""
    if action == "book" and isinstance(result, _BookResult):
        if result.replayed:
            return "replayed"
        return "created" if result.confirmed else "pending"
    return _SUCCESS[action]


def error_outcome(exc: Exception) -> str:
    """The outcome of a use case that raised ``exc``: its code in the error tree, else ``error``."""
    return exc.code if isinstance(exc, SlotwiseError) else "error"


class Observed(Protocol):
    """A service whose use cases :func:`observed` may decorate."""

    events: BookingEvents


S = TypeVar("S", bound=Observed)
P = ParamSpec("P")
R = TypeVar("R")


def observed(
    action: Action,
) -> Callable[[Callable[Concatenate[S, P], Awaitable[R]]], Callable[Concatenate[S, P], Coroutine[Any, Any, R]]]:
    """Report the outcome of the decorated use case (an async method) to ``self.events`` as ``action``."""

    def decorate(
        method: Callable[Concatenate[S, P], Awaitable[R]],
    ) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
        @functools.wraps(method)
        async def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                result = await method(self, *args, **kwargs)
            except Exception as exc:
                self.events.booking_outcome(action, error_outcome(exc))
                raise
            self.events.booking_outcome(action, success_outcome(action, result))
            return result

        return run

    return decorate
