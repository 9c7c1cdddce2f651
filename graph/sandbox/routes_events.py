"""Events: list, create (201, ``transactionId`` de-duplication, Teams meetings), get, PATCH, DELETE,
``cancel`` (organizer only, 202) and ``instances``; under ``/events``, ``/calendar/events`` and
``/calendars/{id}/events`` of ``/me`` or ``/users/{id}``."""

from __future__ import annotations

from collections.abc import Mapping

from graph.sandbox.access import calendar_for, event_scope
from graph.sandbox.events import instances
from graph.sandbox.listing import RenderOptions, paged, view_window
from graph.sandbox.odata import order, parse_filter
from graph.sandbox.pipeline import Ctx, GraphResponse, Route, ok


async def list_events(ctx: Ctx) -> GraphResponse:
    opts = RenderOptions.from_ctx(ctx)
    mailbox, cal_id = event_scope(ctx, ctx.params.get("cid"), explicit_default="default" in ctx.params)
    items = ctx.state.stored_events(mailbox, cal_id)
    predicate = parse_filter(ctx.req)
    if predicate is not None:
        items = [e for e in items if predicate(e)]
    body = paged(ctx, order(ctx.req, items), f"users('{ctx.target.id}')/events", opts)
    return ok(body, headers=ctx.applied())


async def create_event(ctx: Ctx) -> GraphResponse:
    opts = RenderOptions.from_ctx(ctx)
    cal = calendar_for(ctx, ctx.params.get("cid"), write=True)
    owner = ctx.state.users[cal.owner_id]
    ev, _ = ctx.state.create_event(owner, cal, ctx.json_body())
    body = {
        "@odata.context": ctx.context_url(f"users('{owner.id}')/events/$entity"),
        **opts.render(ev, echo_zones=True),
    }
    location = f"{ctx.req.base_url}/users('{owner.id}')/events('{ev.id}')"
    return ok(body, 201, headers=ctx.applied({"Location": location}))


async def get_event(ctx: Ctx) -> GraphResponse:
    opts = RenderOptions.from_ctx(ctx)
    mailbox, cal_id = event_scope(ctx, ctx.params.get("cid"), explicit_default="default" in ctx.params)
    ev = ctx.state.find_event(mailbox, ctx.params["eid"], cal_id)
    body = {"@odata.context": ctx.context_url(f"users('{mailbox.id}')/events/$entity"), **opts.render(ev)}
    return ok(body, headers=ctx.applied())


async def update_event(ctx: Ctx) -> GraphResponse:
    opts = RenderOptions.from_ctx(ctx)
    mailbox, cal_id = event_scope(ctx, ctx.params.get("cid"), write=True, explicit_default="default" in ctx.params)
    ev = ctx.state.update_event(mailbox, ctx.params["eid"], ctx.json_body(), cal_id)
    body = {
        "@odata.context": ctx.context_url(f"users('{mailbox.id}')/events/$entity"),
        **opts.render(ev, echo_zones=True),
    }
    return ok(body, headers=ctx.applied())


async def delete_event(ctx: Ctx) -> GraphResponse:
    mailbox, cal_id = event_scope(ctx, ctx.params.get("cid"), write=True, explicit_default="default" in ctx.params)
    ctx.state.delete_event(mailbox, ctx.params["eid"], cal_id)
    return GraphResponse(204)


async def cancel_event(ctx: Ctx) -> GraphResponse:
    mailbox, cal_id = event_scope(ctx, ctx.params.get("cid"), write=True, explicit_default="default" in ctx.params)
    body = ctx.json_body()
    comment = ""
    if isinstance(body, Mapping):
        comment = str(next((v for k, v in body.items() if k.lower() == "comment"), "") or "")
    ctx.state.cancel_event(mailbox, ctx.params["eid"], comment, cal_id)
    return GraphResponse(202)


async def list_instances(ctx: Ctx) -> GraphResponse:
    start, end = view_window(ctx)
    opts = RenderOptions.from_ctx(ctx)
    mailbox, cal_id = event_scope(ctx, ctx.params.get("cid"), explicit_default="default" in ctx.params)
    ev = ctx.state.find_event(mailbox, ctx.params["eid"], cal_id)
    items = order(ctx.req, instances(ev, start, end))
    body = paged(ctx, items, f"users('{mailbox.id}')/events('{ev.id}')/instances", opts, view=True)
    return ok(body, headers=ctx.applied())


def _routes() -> list[Route]:
    routes = []
    prefixes: list[tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = [
        (("events",), ()),
        (("calendar", "events"), (("default", "1"),)),
        (("calendars", "{cid}", "events"), ()),
    ]
    for prefix, defaults in prefixes:
        routes += [
            Route("GET", prefix, list_events, defaults=defaults),
            Route("POST", prefix, create_event, defaults=defaults),
            Route("GET", (*prefix, "{eid}"), get_event, defaults=defaults),
            Route("PATCH", (*prefix, "{eid}"), update_event, defaults=defaults),
            Route("DELETE", (*prefix, "{eid}"), delete_event, defaults=defaults),
            Route("POST", (*prefix, "{eid}", "cancel|microsoft.graph.cancel"), cancel_event, defaults=defaults),
            Route("GET", (*prefix, "{eid}", "instances"), list_instances, defaults=defaults),
        ]
    return routes


ROUTES = _routes()
