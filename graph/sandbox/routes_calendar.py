"""Calendars (``/calendars``, ``/calendar``) and ``calendarView`` (expanded instances in a window)."""

from __future__ import annotations

from graph.sandbox.access import calendar_for
from graph.sandbox.listing import RenderOptions, paged, view_window
from graph.sandbox.odata import order, parse_filter, parse_int
from graph.sandbox.pipeline import Ctx, GraphResponse, Route, ok
from graph.sandbox.resources import render_calendar


async def list_calendars(ctx: Ctx) -> GraphResponse:
    state, caller, mailbox = ctx.state, ctx.caller, ctx.target
    if mailbox.id == caller.id:
        cals = state.visible_calendars(caller)
    else:
        cals = [c for c in state.visible_calendars(mailbox) if c.owner_id == mailbox.id and c.visible_to(caller.id)]
    top = parse_int(ctx.req, "$top", 10, minimum=1) or 10
    skip = parse_int(ctx.req, "$skip", 0) or 0
    body: dict[str, object] = {"@odata.context": ctx.context_url(f"users('{mailbox.id}')/calendars")}
    if skip + top < len(cals):
        params = {k: v for k, v in ctx.req.query.items() if k.lstrip("$").lower() != "skip"}
        params["$skip"] = str(skip + top)
        body["@odata.nextLink"] = ctx.req.link(ctx.req.raw_path, params)
    body["value"] = [render_calendar(state, c, caller) for c in cals[skip : skip + top]]
    return ok(body)


async def get_calendar(ctx: Ctx) -> GraphResponse:
    cal = calendar_for(ctx, ctx.params.get("cid"))
    context = ctx.context_url(f"users('{ctx.target.id}')/calendars/$entity")
    return ok({"@odata.context": context, **render_calendar(ctx.state, cal, ctx.caller)})


async def calendar_view(ctx: Ctx) -> GraphResponse:
    start, end = view_window(ctx)
    opts = RenderOptions.from_ctx(ctx)
    cal = calendar_for(ctx, ctx.params.get("cid"))
    items = ctx.state.view(cal, start, end)
    predicate = parse_filter(ctx.req)
    if predicate is not None:
        items = [e for e in items if predicate(e)]
    body = paged(ctx, order(ctx.req, items), f"users('{ctx.target.id}')/calendarView", opts, view=True)
    return ok(body, headers=ctx.applied())


ROUTES = [
    Route("GET", ("calendars",), list_calendars),
    Route("GET", ("calendar",), get_calendar),
    Route("GET", ("calendars", "{cid}"), get_calendar),
    Route("GET", ("calendarView",), calendar_view),
    Route("GET", ("calendar", "calendarView"), calendar_view),
    Route("GET", ("calendars", "{cid}", "calendarView"), calendar_view),
]
