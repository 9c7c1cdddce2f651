"""The Graph and identity error taxonomy, and the two places raw failures become typed errors.

Every failure the Graph client or MSAL reports becomes one of these (all are
:class:`scheduling.errors.IntegrationError`, so the core fails closed on any of them)::

    GraphError                    status, graph_code, message, request_id, client_request_id
    ├── CalendarAuthError         the stored sign-in no longer works (expired/revoked): reconnect_required
    │   ├── InteractionRequired   the host must sign in interactively
    │   │   └── ClaimsChallenge   MFA / Conditional Access: carries ``claims`` for the next sign-in
    │   └── ConsentRequired       tenant policy needs an administrator: carries ``admin_consent_url``
    ├── AccessDenied              403: not shared, app access policy, missing permission
    ├── GraphNotFound             404: the item (or the calendar) does not exist
    │   └── MailboxNotEnabled     404 MailboxNotEnabledForRESTAPI: no Exchange Online mailbox
    ├── GraphBadRequest           400 (other than the ones below)
    │   ├── TimeZoneNotSupported  400 TimeZoneNotSupportedException
    │   └── DeltaTokenExpired     410 / syncStateNotFound / resyncRequired: start a full delta sync
    ├── ScheduleUnavailable       getSchedule answered 200 but not for this schedule (freeBusyError)
    ├── GraphThrottled            429 still answered after the bounded retries
    └── GraphTransient            5xx / timeouts still failing after the bounded retries

Graph's own error code is ``graph_code`` (``code`` stays the Slotwise error code each adapter maps
to a card, page or problem-details response). :func:`graph_error` maps an HTTP answer (including an
inner ``$batch`` answer) and :func:`msal_error` maps an MSAL error dict; both log Graph's
``request-id`` and ``client-request-id`` on the ``slotwise.graph`` logger.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Mapping
from typing import Any

from scheduling.errors import IntegrationError, SignInRequired

log = logging.getLogger("slotwise.graph")


class GraphError(IntegrationError):
    """Microsoft Graph (or the sign-in service) answered with an error we could not get past."""

    code = "graph_error"
    # A Graph error is a definite answer (the request was refused); only GraphTransient (5xx, timeouts)
    # leaves a write's outcome unknown.
    write_may_have_happened = False
    default_message = "Microsoft 365 returned an error. Please try again later."

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        graph_code: str = "",
        detail: str = "",
        request_id: str | None = None,
        client_request_id: str | None = None,
    ) -> None:
        super().__init__(message or self.default_message)
        self.status = status
        self.graph_code = graph_code
        self.detail = detail
        self.request_id = request_id
        self.client_request_id = client_request_id

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, graph_code={self.graph_code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class CalendarAuthError(GraphError, SignInRequired):
    """The host's stored Microsoft sign-in no longer works; they must connect Outlook again."""

    code = "calendar_auth"
    default_message = (
        "The Outlook calendar connection has expired or was revoked. "
        "The host needs to reconnect their calendar in Slotwise."
    )
    reconnect_required = True


class InteractionRequired(CalendarAuthError):
    """Microsoft needs the user to sign in again interactively (no silent way to get a token)."""

    code = "interaction_required"
    default_message = "Microsoft asks you to sign in again. Use the sign-in button to reconnect your calendar."


class ClaimsChallenge(InteractionRequired):
    """MFA or Conditional Access: sign in again, passing ``claims`` as the claims challenge."""

    code = "claims_challenge"
    default_message = (
        "Your organisation requires an extra sign-in step (such as multi-factor "
        "authentication). Sign in again to continue."
    )

    def __init__(self, message: str | None = None, *, claims: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.claims = claims


class ConsentRequired(CalendarAuthError):
    """The tenant does not let users consent; an administrator must approve Slotwise."""

    code = "consent_required"
    default_message = (
        "Your organisation requires an administrator to approve Slotwise's access to "
        "Outlook calendars. Ask your Microsoft 365 admin to grant consent, then try again."
    )
    reconnect_required = False

    def __init__(self, message: str | None = None, *, admin_consent_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.admin_consent_url = admin_consent_url


class AccessDenied(GraphError):
    code = "graph_access_denied"
    default_message = (
        "Microsoft 365 denied access to this calendar. Check that it is shared with you, "
        "or ask your admin whether an access policy blocks Slotwise."
    )


class GraphNotFound(GraphError):
    code = "graph_not_found"
    default_message = "The calendar item was not found; it may have been deleted or moved in Outlook."


class MailboxNotEnabled(GraphNotFound):
    code = "mailbox_not_enabled"
    default_message = (
        "This account has no Exchange Online mailbox (it is inactive, unlicensed or "
        "hosted on-premises), so Slotwise can't use its calendar. "
        "Ask your admin to check the licence."
    )


class GraphBadRequest(GraphError):
    code = "graph_bad_request"
    default_message = "Microsoft 365 rejected the request."


class TimeZoneNotSupported(GraphBadRequest):
    code = "time_zone_not_supported"
    default_message = (
        "Outlook rejected the time zone. Set a time zone in your Outlook settings (Settings > Calendar) and try again."
    )


class DeltaTokenExpired(GraphBadRequest):
    """A delta (or skip) token Graph no longer knows: 410 Gone, ``syncStateNotFound`` or ``resyncRequired``.
    Start a full sync without a token; ``location`` is Graph's ``Location`` link for that, if it sent one."""

    code = "delta_token_expired"
    default_message = "The calendar change-tracking token expired; a full resynchronisation is needed."

    def __init__(self, message: str | None = None, *, location: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class ScheduleUnavailable(GraphError):
    """``getSchedule`` answered, but carried a ``freeBusyError`` for this schedule (``graph_code`` is
    its ``responseCode``: 5009 unresolvable address, 5016 no such user or mailbox, ...)."""

    code = "schedule_unavailable"
    default_message = "Microsoft 365 could not give this person's free/busy time."


class GraphThrottled(GraphError):
    code = "graph_throttled"
    default_message = "Microsoft 365 is limiting requests right now. Please try again in a minute."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class GraphTransient(GraphError):
    code = "graph_unavailable"
    write_may_have_happened = True
    default_message = "Microsoft 365 is temporarily unavailable. Please try again shortly."


_AUTH_CODES = frozenset({"invalidauthenticationtoken", "unauthenticated", "invalidtoken"})
_ACCESS_CODES = frozenset(
    {"erroraccessdenied", "accessdenied", "authorization_requestdenied", "extensionerror", "erroraccessdeniedbypolicy"}
)
_MAILBOX_CODES = frozenset({"mailboxnotenabledforrestapi", "mailboxnotsupportedforrestapi"})
_DELTA_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})


def _lower_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (headers or {}).items()}


def claims_from_www_authenticate(value: str) -> str:
    """The decoded ``claims`` of a CAE ``WWW-Authenticate: Bearer ..., claims="<base64>"`` header."""
    m = re.search(r'claims="([^"]+)"', value)
    if not m:
        return ""
    raw = m.group(1)
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return raw


def graph_error(
    status: int,
    body: object,
    headers: Mapping[str, str] | None = None,
    *,
    client_request_id: str | None = None,
    retry_after: float | None = None,
    what: str = "",
) -> GraphError:
    """Map one Graph HTTP answer (status, parsed JSON body, headers) to the right :class:`GraphError`.

    ``body`` may be the parsed error JSON, raw text or None; ``what`` names the operation for the log.
    """
    hdrs = _lower_headers(headers)
    err: Mapping[str, Any] = {}
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        err = body["error"]
    gcode = str(err.get("code") or "")
    gmessage = str(err.get("message") or (body if isinstance(body, str) else "") or "")[:500]
    inner = err.get("innerError") or err.get("innererror") or {}
    if not isinstance(inner, Mapping):
        inner = {}
    request_id = hdrs.get("request-id") or inner.get("request-id")
    crid = hdrs.get("client-request-id") or inner.get("client-request-id") or client_request_id
    kw: dict[str, Any] = {
        "status": status,
        "graph_code": gcode,
        "detail": gmessage,
        "request_id": request_id,
        "client_request_id": crid,
    }
    lcode = gcode.lower()
    exc: GraphError
    if status == 401:
        claims = claims_from_www_authenticate(hdrs.get("www-authenticate", ""))
        exc = ClaimsChallenge(claims=claims, **kw) if claims else CalendarAuthError(**kw)
    elif status == 403 or lcode in _ACCESS_CODES:
        exc = AccessDenied(**kw)
    elif lcode in _MAILBOX_CODES:
        exc = MailboxNotEnabled(**kw)
    elif status == 410 or lcode in _DELTA_CODES:
        exc = DeltaTokenExpired(location=hdrs.get("location"), **kw)
    elif status == 404:
        exc = GraphNotFound(**kw)
    elif lcode == "timezonenotsupportedexception":
        exc = TimeZoneNotSupported(**kw)
    elif status == 429:
        exc = GraphThrottled(retry_after=retry_after, **kw)
    elif status >= 500:
        exc = GraphTransient(**kw)
    elif 400 <= status < 500:
        message = f"Microsoft 365 rejected the request: {gmessage.rstrip('.')}." if gmessage else None
        exc = GraphBadRequest(message, **kw)
    else:
        exc = GraphError(**kw)
    log.warning(
        "graph error %s%s: status=%s code=%s request-id=%s client-request-id=%s message=%s",
        type(exc).__name__,
        f" ({what})" if what else "",
        status,
        gcode or "-",
        request_id or "-",
        crid or "-",
        gmessage or "-",
    )
    return exc


def _aadsts_codes(result: Mapping[str, Any]) -> set[int]:
    codes: set[int] = set()
    for c in result.get("error_codes") or ():
        try:
            codes.add(int(c))
        except (TypeError, ValueError):
            continue
    for m in re.finditer(r"AADSTS(\d+)", str(result.get("error_description") or "")):
        codes.add(int(m.group(1)))
    return codes


def msal_error(
    result: Mapping[str, Any], *, admin_consent_url: str | None = None, silent_refresh: bool = False
) -> GraphError:
    """Map an MSAL error dict (``{"error": ..., "error_description": ..., "suberror": ...}``).

    * ``AADSTS65001`` / ``consent_required`` -> :class:`ConsentRequired` (with the admin-consent URL);
    * ``AADSTS50076``/``50158`` (MFA, Conditional Access) or any ``claims`` -> :class:`ClaimsChallenge`;
    * ``AADSTS50079`` (MFA enrolment) and other ``interaction_required`` -> :class:`InteractionRequired`;
    * ``invalid_grant`` (``AADSTS70008``, ``700082``, revoked or expired refresh token) -> reconnect.

    Logged as a WARNING, except an ``invalid_grant`` met by a ``silent_refresh``: a
    stored refresh token no longer accepted is expected (expiry, revocation, a sandbox restart) and
    handled by reconnecting, so it is INFO.
    """
    error = str(result.get("error") or "")
    suberror = str(result.get("suberror") or "")
    description = str(result.get("error_description") or "")
    claims = str(result.get("claims") or "")
    codes = _aadsts_codes(result)
    first_line = description.splitlines()[0] if description else error
    kw: dict[str, Any] = {
        "status": 400,
        "graph_code": error,
        "detail": first_line,
        "request_id": result.get("trace_id"),
        "client_request_id": result.get("correlation_id"),
    }
    exc: GraphError
    level = logging.WARNING
    if suberror == "consent_required" or 65001 in codes or error == "consent_required":
        exc = ConsentRequired(admin_consent_url=admin_consent_url, **kw)
    elif claims or codes & {50076, 50158}:
        exc = ClaimsChallenge(claims=claims, **kw)
    elif (
        error in ("interaction_required", "login_required")
        or 50079 in codes
        or suberror in ("basic_action", "additional_action")
    ):
        exc = InteractionRequired(**kw)
    elif error == "invalid_grant" or codes & {70008, 700082, 50173, 700084}:
        exc = CalendarAuthError(**kw)
        level = logging.INFO if silent_refresh else logging.WARNING
    elif error in ("temporarily_unavailable", "server_error"):
        exc = GraphTransient(**kw)
    else:
        exc = CalendarAuthError(**kw)
    log.log(
        level,
        "sign-in error %s: error=%s suberror=%s codes=%s trace-id=%s correlation-id=%s",
        type(exc).__name__,
        error or "-",
        suberror or "-",
        sorted(codes) or "-",
        result.get("trace_id") or "-",
        result.get("correlation_id") or "-",
    )
    return exc
