"""The one place where an error becomes a card in Teams.

``SlotwiseError`` (scheduling.errors) and anything unexpected map to a card that says what happened and
what to do next, using what the turn knows (``ErrorScope``):

===========================================  ==================================================
ValidationFailed, with a form in scope        the same form again, every error under its field
SlotUnavailable, with the link in scope       ``slot_taken`` with the alternatives as buttons
LinkInactive                                  ``link_inactive``
SignInRequired (the viewer's own sign-in)     consent -> ``consent_blocked`` with the admin link;
                                              reconnect / MFA -> ``reconnect_required`` with a
                                              sign-in link (carrying the MFA claims)
HostUnavailable (reconnect required)          ``reconnect_required``: a Reconnect button for the host
                                              themselves, "try again later" for anyone else
any other IntegrationError (Graph, storage)   ``generic_error``: "on our side", its own message, try
                                              again, a reference logged (WARNING) with the details
any other SlotwiseError (InvalidRule,         ``request_refused``: "I can't do that", its own message
ValidationFailed, NotFound, Conflict...)      (the rule), nothing changed; not logged as a problem
anything else (a bug)                         ``generic_error`` with a reference id only; the details
                                              are logged (ERROR), never shown
===========================================  ==================================================

The reference is the request id of the turn (the ``/api/messages`` request: ``scheduling.correlation``), the
same id the web's 500 page shows and the turn's log lines and Graph calls carry; outside a request, a fresh one.

A sign-in link only ever goes on a card for the person it signs in, and that card (like the consent
card) is private (``Reply.private``): in a group chat or channel it is sent to the person's personal chat
and the conversation only hears "I've sent you a private message to connect" (bot.private).
"""

from __future__ import annotations

import logging

from bot.context import ErrorScope
from bot.reply import Json, Private, Reply, SignIn, sign_in_private
from cards import consent_blocked, generic_error, link_inactive, reconnect_required, request_refused, slot_taken
from scheduling.correlation import error_reference
from scheduling.errors import (
    HostUnavailable,
    IntegrationError,
    LinkInactive,
    SignInRequired,
    SlotUnavailable,
    SlotwiseError,
    ValidationFailed,
)
from scheduling.timezones import is_valid_zone

log = logging.getLogger("slotwise.bot")


def _on_our_side(exc: BaseException) -> Json:
    """The "try again" card, with a reference (the request id) that is logged with the details."""
    reference = error_reference()
    if isinstance(exc, SlotwiseError):
        log.warning("%s in a Teams turn (reference %s): %s", type(exc).__name__, reference, exc.message, exc_info=exc)
        return generic_error(exc.message, reference)
    log.error("unexpected error in a Teams turn (reference %s)", reference, exc_info=exc)
    return generic_error("", reference)


def _sign_in_card(exc: SignInRequired, scope: ErrorScope) -> Json:
    if exc.kind == "consent" and exc.admin_consent_url:
        return consent_blocked(exc.admin_consent_url)
    if scope.sign_in is None:
        return _on_our_side(exc)
    return reconnect_required(scope.sign_in(exc.claims or None), host_is_viewer=True)


def error_card(exc: BaseException, scope: ErrorScope) -> Json:
    if not isinstance(exc, SlotwiseError):
        return _on_our_side(exc)
    if isinstance(exc, ValidationFailed) and scope.form is not None:
        return scope.form(exc.fields)
    if isinstance(exc, SlotUnavailable) and scope.link is not None and is_valid_zone(scope.viewer_tz):
        return slot_taken(
            exc.alternatives,
            scope.viewer_tz,
            scope.link,
            duration=scope.duration,
            reschedule_booking_id=scope.booking_id,
        )
    if isinstance(exc, LinkInactive):
        return link_inactive()
    if isinstance(exc, SignInRequired):
        return _sign_in_card(exc, scope)
    if isinstance(exc, HostUnavailable) and exc.reconnect_required:
        if exc.host_id is not None and exc.host_id == scope.viewer_id and scope.sign_in is not None:
            return reconnect_required(scope.sign_in(None), host_is_viewer=True)
        return reconnect_required("", host_is_viewer=False)
    if isinstance(exc, IntegrationError):
        return _on_our_side(exc)
    return request_refused(exc.message)


def _private(exc: BaseException, scope: ErrorScope) -> Private | None:
    """Set when :func:`error_card` drew a card for the viewer's eyes only: their sign-in link (reconnect,
    MFA, their own broken calendar) or the admin-consent page for them to forward."""
    if isinstance(exc, SignInRequired):
        if exc.kind == "consent" and exc.admin_consent_url:
            return sign_in_private(SignIn(admin_consent_url=exc.admin_consent_url))
        if scope.sign_in is not None:
            return sign_in_private(SignIn(claims=exc.claims or "", reconnect=True))
    if (
        isinstance(exc, HostUnavailable)
        and exc.reconnect_required
        and exc.host_id is not None
        and exc.host_id == scope.viewer_id
        and scope.sign_in is not None
    ):
        return sign_in_private(SignIn(reconnect=True))
    return None


def error_reply(exc: BaseException, scope: ErrorScope) -> Reply:
    return Reply(card=error_card(exc, scope), private=_private(exc, scope))
