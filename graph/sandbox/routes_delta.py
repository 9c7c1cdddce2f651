"""``GET /calendarView/delta``: a full sync paged with ``$skiptoken``, ending in a ``$deltatoken`` link.

A delta round remembers which instances (id -> changeKey) the client has seen; calling the deltaLink
returns instances that are new or changed since, and ``{"@odata.type", "id", "@removed": {"reason":
"deleted"}}`` for instances that left the window (deleted, cancelled or moved away). Page size comes
from ``Prefer: odata.maxpagesize`` (default 10). Tokens are opaque and expire like Outlook's: an unknown
one is a 400 ``syncStateNotFound``; one older than ``state.change_tracking.delta_token_max_age`` (its
link's age) is a 410 ``syncStateNotFound``, and one expired with ``state.expire_delta_tokens`` a 410
``resyncRequired``; both 410s carry a ``Location`` that starts a new full sync of the same window.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime
from typing import Any

from graph.sandbox.access import calendar_for
from graph.sandbox.errors import GraphError
from graph.sandbox.listing import RenderOptions, view_window
from graph.sandbox.model import DeltaPage, DeltaSync
from graph.sandbox.pipeline import Ctx, GraphResponse, Route, ok
from graph.sandbox.state import cap
from graph.sandbox.timefmt import fmt_wall

DEFAULT_PAGE = 10


def _page_size(ctx: Ctx) -> int:
    raw = ctx.req.prefer.get("odata.maxpagesize")
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isdigit() or int(raw) < 1:
        raise GraphError(400, "BadRequest", f"Invalid odata.maxpagesize preference '{raw}'.")
    return int(raw)


def _changes(ctx: Ctx, sync: DeltaSync, opts: RenderOptions) -> tuple[list[dict[str, Any]], DeltaSync]:
    cal = ctx.state.calendars.get(sync.calendar_id)
    current = {ev.id: ev for ev in ctx.state.view(cal, sync.start, sync.end)} if cal else {}
    items: list[dict[str, Any]] = []
    for ev_id, ev in sorted(current.items(), key=lambda kv: kv[1].start):
        if sync.seen.get(ev_id) != ev.change_key:
            items.append({"@odata.type": "#microsoft.graph.event", **opts.render(ev)})
    for ev_id in sync.seen:
        if ev_id not in current:
            items.append({"@odata.type": "#microsoft.graph.event", "id": ev_id, "@removed": {"reason": "deleted"}})
    new_sync = DeltaSync(
        sync.user_id, sync.calendar_id, sync.start, sync.end, {ev_id: ev.change_key for ev_id, ev in current.items()}
    )
    return items, new_sync


def _emit(ctx: Ctx, items: list[dict[str, Any]], sync: DeltaSync, size: int) -> GraphResponse:
    state, req = ctx.state, ctx.req
    body: dict[str, Any] = {"@odata.context": ctx.context_url("Collection(event)")}
    page, rest = items[:size], items[size:]
    issued = state.now()
    if rest:
        token = secrets.token_urlsafe(24)
        state.delta_pages[token] = DeltaPage(sync.user_id, rest, sync, issued=issued)
        cap(state.delta_pages)
        body["@odata.nextLink"] = req.link(req.raw_path, {"$skiptoken": token})
    else:
        token = secrets.token_urlsafe(24)
        state.delta_syncs[token] = replace(sync, issued=issued)
        cap(state.delta_syncs)
        body["@odata.deltaLink"] = req.link(req.raw_path, {"$deltatoken": token})
    body["value"] = page
    headers = ctx.applied()
    if "odata.maxpagesize" in req.prefer:
        headers["Preference-Applied"] = ", ".join(
            filter(None, [headers.get("Preference-Applied"), f"odata.maxpagesize={size}"])
        )
    return ok(body, headers=headers)


_NOT_FOUND = "The sync state generation is not found. Start a new full synchronization without a state token."


def _not_found() -> GraphError:
    return GraphError(400, "syncStateNotFound", _NOT_FOUND)


def _restart_link(ctx: Ctx, sync: DeltaSync) -> str:
    return ctx.req.link(
        ctx.req.raw_path,
        {
            "startDateTime": fmt_wall(sync.start.replace(tzinfo=None)) + "Z",
            "endDateTime": fmt_wall(sync.end.replace(tzinfo=None)) + "Z",
        },
    )


def _check_age(ctx: Ctx, sync: DeltaSync, issued: datetime | None) -> None:
    """410 ``syncStateNotFound`` for a token older than the configured lifetime (Outlook forgets sync
    states on its own; the client must start over)."""
    max_age = ctx.state.change_tracking.delta_token_max_age
    if max_age is None or issued is None or ctx.state.now() - issued <= max_age:
        return
    raise GraphError(410, "syncStateNotFound", _NOT_FOUND, headers={"Location": _restart_link(ctx, sync)})


async def calendar_view_delta(ctx: Ctx) -> GraphResponse:
    state, req = ctx.state, ctx.req
    cal = calendar_for(ctx, None)
    size = _page_size(ctx)
    opts = RenderOptions(zone=ctx.response_zone(), select=None, expand=None, body_as_text=False)
    skiptoken, deltatoken = req.q("$skiptoken"), req.q("$deltatoken")
    if skiptoken is not None:
        page = state.delta_pages.get(skiptoken)
        if page is None or page.user_id != ctx.target.id:
            raise _not_found()
        _check_age(ctx, page.sync, page.issued)
        state.delta_pages.pop(skiptoken, None)
        return _emit(ctx, page.items, page.sync, size)
    if deltatoken is not None:
        sync = state.delta_syncs.get(deltatoken)
        if sync is None or sync.user_id != ctx.target.id:
            raise _not_found()
        if sync.expired:
            raise GraphError(
                410,
                "resyncRequired",
                "The delta token has expired. Start a new full synchronization with the link in the Location header.",
                headers={"Location": _restart_link(ctx, sync)},
            )
        _check_age(ctx, sync, sync.issued)
        items, new_sync = _changes(ctx, sync, opts)
        return _emit(ctx, items, new_sync, size)
    start, end = view_window(ctx)
    items, sync = _changes(ctx, DeltaSync(ctx.target.id, cal.id, start, end, {}), opts)
    return _emit(ctx, items, sync, size)


ROUTES = [
    Route("GET", ("calendarView", "delta|delta()|microsoft.graph.delta()"), calendar_view_delta),
    Route("GET", ("calendar", "calendarView", "delta|delta()|microsoft.graph.delta()"), calendar_view_delta),
]
