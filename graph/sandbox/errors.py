"""Graph-shaped errors raised inside the emulator and turned into HTTP responses in one place.

A handler raises :class:`GraphError`; the request pipeline (``pipeline.py``) renders it as Graph's
standard body ``{"error": {"code", "message", "innerError": {"date", "request-id",
"client-request-id"}}}``, or, for the few Outlook errors that carry none (``ApplicationThrottled``),
without ``innerError``. The constructors below hold the exact codes and messages of graph-facts.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)


class GraphError(Exception):
    """An HTTP error response in Graph's shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        inner: bool = True,
        inner_extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.inner = inner
        self.inner_extra = dict(inner_extra or {})

    def body(self, *, date: str, request_id: str, client_request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            inner: dict[str, Any] = dict(self.inner_extra)
            inner.update({"date": date, "request-id": request_id, "client-request-id": client_request_id})
            error["innerError"] = inner
        return {"error": error}


def bad_request(message: str, code: str = "ErrorInvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def invalid_parameter(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidParameter", message)


def time_zone_not_supported(name: str) -> GraphError:
    return GraphError(
        400,
        "TimeZoneNotSupportedException",
        f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name}'.",
    )


def item_not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def id_malformed() -> GraphError:
    return GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")


def access_denied() -> GraphError:
    return GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def token_empty() -> GraphError:
    return GraphError(
        401, "InvalidAuthenticationToken", "Access token is empty.", headers={"WWW-Authenticate": WWW_AUTHENTICATE}
    )


def token_expired() -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        "Access token has expired or is not yet valid.",
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


def token_unparseable() -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        "CompactToken parsing failed with error code: 80049217",
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


def mailbox_not_enabled() -> GraphError:
    return GraphError(
        404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
    )


def invalid_user(ref: str) -> GraphError:
    return GraphError(404, "ErrorInvalidUser", f"The requested user '{ref}' is invalid.")


def directory_not_found(ref: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{ref}' does not exist or one of its queried reference-property objects are not present.",
    )


def segment_not_found(segment: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def method_not_allowed(method: str) -> GraphError:
    return GraphError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed on this resource.")


def unreadable_json() -> GraphError:
    return GraphError(
        400,
        "BadRequest",
        "Unable to read JSON request payload. Please ensure Content-Type "
        "header is set and payload is of valid JSON format.",
    )


def too_many_requests(retry_after: float | None, code: str = "TooManyRequests") -> GraphError:
    headers = {"Retry-After": format_retry_after(retry_after)} if retry_after is not None else {}
    return GraphError(
        429,
        code,
        "Please retry again later.",
        headers=headers,
        inner_extra={"code": "429", "message": "Please retry after", "status": "429"},
    )


def mailbox_concurrency(retry_after: float | None) -> GraphError:
    headers = {"Retry-After": format_retry_after(retry_after)} if retry_after is not None else {}
    return GraphError(
        429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", headers=headers, inner=False
    )


def service_unavailable(status: int, retry_after: float | None) -> GraphError:
    headers = {"Retry-After": format_retry_after(retry_after)} if retry_after is not None else {}
    if status == 504:
        return GraphError(504, "UnknownError", "The gateway timed out waiting for the mailbox server.", headers=headers)
    if status == 500:
        return GraphError(
            500,
            "ErrorInternalServerTransientError",
            "An internal server error occurred. The operation failed.",
            headers=headers,
        )
    return GraphError(
        status,
        "serviceNotAvailable",
        "The service is temporarily unavailable for maintenance or is overloaded. "
        "You may repeat the request after a delay.",
        headers=headers,
    )


def format_retry_after(seconds: float) -> str:
    """``2`` for whole seconds, ``0.2`` or ``2.128`` for fractional ones (Graph sends both)."""
    if float(seconds).is_integer():
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0")
