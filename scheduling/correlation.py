"""The request id of the work in progress: one web request (or Teams turn), or one pass of a background job.

Every adapter tags what it does with it: each log line (``web.observability``), the ``client-request-id`` of
every Graph call made meanwhile (``graph.client``), and the reference shown to a person when something failed
on our side (the 500 page and problem details in ``web.security``, the error card in ``bot.errors``), so one id
leads from a user's screenshot to our log lines and to Microsoft's.

It is carried in a :class:`contextvars.ContextVar`, so concurrent requests never see each other's id and a task
started while serving a request inherits it. The core's use cases never read it (they take everything as
arguments); it lives here only because the core is the one package every adapter may import.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

MAX_REQUEST_ID = 64
#: what an incoming ``X-Request-Id`` may look like to be taken over: letters, digits, ``.``, ``_``, ``-``
_SANE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_REQUEST_ID - 1}}}")

_REQUEST_ID: ContextVar[str | None] = ContextVar("slotwise_request_id", default=None)


def new_request_id() -> str:
    """A fresh request id: a random GUID (the form Graph expects in ``client-request-id``)."""
    return str(uuid.uuid4())


def sane_request_id(value: str | None) -> str | None:
    """``value`` when it is fit to be a request id (1 to 64 letters, digits, ``.``, ``_``, ``-``, starting with a
    letter or digit), else None: an id someone else sent ends up in log lines, headers and pages, so nothing
    that could forge a log line, split a header or carry markup is taken over."""
    if value is None or not _SANE.fullmatch(value):
        return None
    return value


def current_request_id() -> str | None:
    """The id of the request (or job pass) being served, None outside one."""
    return _REQUEST_ID.get()


@contextmanager
def request_scope(request_id: str | None = None) -> Iterator[str]:
    """Serve the block under ``request_id`` (a fresh one when None); the previous id is back afterwards."""
    rid = request_id or new_request_id()
    token = _REQUEST_ID.set(rid)
    try:
        yield rid
    finally:
        _REQUEST_ID.reset(token)


def begin_request(request_id: str | None = None) -> str:
    """Serve the rest of the current task under ``request_id`` (a fresh one when None), until the next call: for a
    task of its own that handles one unit of work after another (a background job's loop)."""
    rid = request_id or new_request_id()
    _REQUEST_ID.set(rid)
    return rid


def error_reference() -> str:
    """The reference to show with an error "on our side" (and to log with it): the request id when there is one,
    else a fresh short id of its own."""
    return current_request_id() or uuid.uuid4().hex[:12]
