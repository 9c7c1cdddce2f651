"""``/graph/notifications`` and ``/graph/lifecycle``: Microsoft Graph's change and lifecycle notifications.

* **Validation handshake**: a request with ``validationToken`` in the query (Graph POSTs it when a
  subscription is created; GET is answered too) gets ``200 text/plain`` with the URL-decoded token, at once.
* **Notifications**: ``{"value": [...]}``, possibly for several subscriptions in one POST. Each entry is
  read into a :class:`scheduling.sync.ChangeNotice` and handed to the core
  (:meth:`CalendarSyncService.accept`), which checks ``subscriptionId`` and ``clientState`` and only queues
  work in the database; nothing is processed here, so the answer (202) comes well inside Graph's 3 seconds.
  Entries that don't match a subscription or carry the wrong ``clientState`` change nothing and are
  logged. A body that is not a notification is a 400; a database that can't take the work is a 503 (Graph
  retries for hours).

Both URLs accept both kinds (Graph sends lifecycle events to the lifecycle URL when there is one).
Must not import storage, graph or bot (the service arrives through ``app[GRAPH_SYNC]``, set by app.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from scheduling.errors import IntegrationError
from scheduling.sync import CalendarSyncService, ChangeNotice
from web.problems import status_and_title

log = logging.getLogger("slotwise.web.graph")

GRAPH_SYNC = web.AppKey("slotwise.graph_sync", CalendarSyncService)
NOTIFICATIONS_PATH = "/graph/notifications"
LIFECYCLE_PATH = "/graph/lifecycle"
MAX_TOKEN_LENGTH = 2048  # Graph's tokens are about 120 characters
MAX_ENTRIES = 1000
_FIELD = 200  # ids and client states are far shorter (clientState: at most 128 characters)


def _text(entry: dict[str, Any], name: str, limit: int = _FIELD) -> str | None:
    value = entry.get(name)
    return value if isinstance(value, str) and len(value) <= limit else None


def parse_notices(body: Any) -> list[ChangeNotice] | None:
    """The entries of a notification body as core values; None when it is not a notification body at all.
    Entries without a usable ``subscriptionId`` are left out (they can't match anything)."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        return None
    out: list[ChangeNotice] = []
    for entry in body["value"][:MAX_ENTRIES]:
        if not isinstance(entry, dict):
            continue
        subscription_id = _text(entry, "subscriptionId")
        if not subscription_id:
            continue
        resource = entry.get("resourceData")
        event_id = _text(resource, "id", 1000) if isinstance(resource, dict) else None
        out.append(
            ChangeNotice(
                subscription_id=subscription_id,
                client_state=_text(entry, "clientState"),
                change_type=_text(entry, "changeType") or "",
                event_id=event_id or "",
                lifecycle_event=_text(entry, "lifecycleEvent") or "",
            )
        )
    return out


async def graph_notification(request: web.Request) -> web.StreamResponse:
    token = request.query.get("validationToken")
    if token is not None:  # the handshake: echo the decoded token, as plain text
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return web.Response(status=400, text="Bad validation token.", content_type="text/plain")
        return web.Response(text=token, content_type="text/plain")
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["POST"])
    try:
        body = json.loads(await request.read())
    except ValueError:
        return web.Response(status=400, text="Expected a JSON notification body.", content_type="text/plain")
    notices = parse_notices(body)
    if notices is None:
        return web.Response(status=400, text='Expected {"value": [...]}.', content_type="text/plain")
    service = request.app.get(GRAPH_SYNC)
    if service is None:
        return web.Response(status=503, text="Calendar sync is not running.", content_type="text/plain")
    try:
        report = await service.accept(notices)
    except IntegrationError as exc:  # the database can't take the work now: Graph retries later
        status, _title = status_and_title(exc)
        log.warning("graph notifications not queued (%s): %s", status, exc.message)
        return web.Response(status=status, text=exc.message, content_type="text/plain")
    for dropped in report.dropped:
        log.warning(
            "graph notification dropped (%s): subscription %r on %s",
            dropped.reason,
            dropped.subscription_id[:64],
            request.path,
        )
    return web.Response(status=202)


def setup_graph_notifications(app: web.Application) -> None:
    for path in (NOTIFICATIONS_PATH, LIFECYCLE_PATH):
        app.router.add_post(path, graph_notification)
        app.router.add_get(path, graph_notification)
