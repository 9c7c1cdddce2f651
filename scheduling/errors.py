"""The one exception tree of Slotwise.

Every error a user can meet derives from :class:`SlotwiseError` and carries a message that says what
happened and what to do next. Each adapter maps this tree to its medium in exactly one place (an error
card in ``bot/``, a page or problem-details JSON in ``web/``)::

    SlotwiseError
    ├── SchedulingError                 the request breaks a scheduling rule
    │   ├── InvalidRule                 an event-type rule is malformed (field names the rule)
    │   ├── UnknownTimeZone             an IANA or Windows zone name we cannot resolve
    │   ├── InvalidQuery                a slot query is malformed (inverted or too long window)
    │   ├── OutsideBookingWindow        the start is before the notice cut-off or past the window
    │   ├── SlotUnavailable             the slot is taken or no longer free; carries alternatives
    │   ├── ValidationFailed            invitee input is invalid; carries one message per field
    │   │   └── IdempotencyKeyReused    the same idempotency key with a different request
    │   ├── NotFound                    a link or booking does not exist (or is not yours)
    │   │   └── LinkInactive            the link was switched off, deleted, or (single use) used
    │   └── Conflict                    someone else changed it first (stale version, link used up)
    └── IntegrationError                an outside system failed; the caller fails closed
        ├── HostUnavailable             the host's calendar cannot be read or written right now
        ├── SignInRequired              the person must sign in (again): reconnect, admin consent, MFA
        │   └── WrongAccount            the account that signed in is not the Teams user's own
        ├── (scheduling.ports)          DeliveryError: what a Notifier's failed attempt means for the
        │                               outbox item (RetryLater, Undeliverable, Obsolete, NotReachable)
        └── (graph.errors)              GraphError and its subclasses; CalendarAuthError is also a
                                        SignInRequired
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime


class SlotwiseError(Exception):
    """Base of every Slotwise error. ``str(err)`` is a sentence a user can act on."""

    code: str = "slotwise_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SchedulingError(SlotwiseError):
    code = "scheduling_error"


class InvalidRule(SchedulingError):
    """An event-type rule is malformed; ``field`` names the offending rule."""

    code = "invalid_rule"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownTimeZone(InvalidRule):
    code = "unknown_time_zone"

    def __init__(self, name: str, field: str = "time_zone") -> None:
        super().__init__(field, f"'{name}' is not a time zone we know. Use an IANA name such as 'Europe/London'.")
        self.name = name


class InvalidQuery(SchedulingError):
    code = "invalid_query"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class OutsideBookingWindow(SchedulingError):
    code = "outside_booking_window"


class SlotUnavailable(SchedulingError):
    """The requested slot cannot be booked; ``alternatives`` holds the next free slots (UTC starts)."""

    code = "slot_unavailable"

    def __init__(
        self,
        message: str = "That time is no longer available. Please pick another one.",
        alternatives: Sequence[datetime] = (),
    ) -> None:
        super().__init__(message)
        self.alternatives = tuple(alternatives)


class ValidationFailed(SchedulingError):
    """Invalid user input; ``fields`` maps each offending field to what is wrong with it."""

    code = "validation_failed"

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__("Please correct: " + "; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = dict(fields)


class IdempotencyKeyReused(ValidationFailed):
    """An Idempotency-Key came back with a different request: never answer with the other booking."""

    code = "idempotency_key_reused"
    parameter = "Idempotency-Key"

    def __init__(self) -> None:
        super().__init__(
            {
                "Idempotency-Key": "This key was used for a different booking request. "
                "Use a new key for each new booking."
            }
        )


class NotFound(SchedulingError):
    code = "not_found"


class LinkInactive(NotFound):
    code = "link_inactive"

    def __init__(self, *, used: bool = False) -> None:
        super().__init__(
            "This one-time booking link has already been used. Ask the host for a new link."
            if used
            else "This booking link is no longer active. Ask the host for a current link."
        )
        self.used = used


class Conflict(SchedulingError):
    code = "conflict"


class IntegrationError(SlotwiseError):
    """An outside system (Microsoft Graph, the database, Teams) failed. Never read as 'no busy time'.

    ``write_may_have_happened`` tells a caller whose *write* failed whether the outside system may
    still have applied it (a timeout, a 5xx): then the caller must not assume nothing happened and
    leaves the work to reconciliation. Adapters set it False for definite refusals (4xx).
    """

    code = "integration_error"
    write_may_have_happened: bool = True


class HostUnavailable(IntegrationError):
    """The host's calendar cannot be read or written, so no slot may be offered or booked."""

    code = "host_unavailable"
    write_may_have_happened = False

    def __init__(
        self,
        message: str = "This host can't take bookings right now. Please try again later.",
        *,
        reconnect_required: bool = False,
        host_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reconnect_required = reconnect_required
        self.host_id = host_id


class SignInRequired(IntegrationError):
    """Microsoft sign-in must happen (again) before the calendar can be used.

    ``kind`` tells the person what to do: ``"reconnect"`` (the stored sign-in expired or was revoked),
    ``"consent"`` (the tenant requires an administrator's consent: forward ``admin_consent_url``) or
    ``"mfa"`` (multi-factor / Conditional Access: sign in again passing ``claims``).
    """

    code = "sign_in_required"
    write_may_have_happened = False
    reconnect_required = True
    claims: str = ""
    admin_consent_url: str | None = None

    @property
    def kind(self) -> str:
        if self.admin_consent_url is not None or self.code == "consent_required":
            return "consent"
        if self.claims:
            return "mfa"
        return "reconnect"


class WrongAccount(SignInRequired):
    """The Microsoft account that signed in is not the Teams user who asked to connect (another person's
    account, or the right person signed in to another tenant). Nothing is stored; they sign in again."""

    code = "wrong_account"

    def __init__(
        self,
        message: str = (
            "You signed in with a different Microsoft account from the one you use in Teams, so nothing was "
            "connected. Sign in with your own work account (the one you use in Teams) to connect your "
            "calendar."
        ),
    ) -> None:
        super().__init__(message)
