"""``/me`` and ``/users/{id|upn}``: the user object and ``mailboxSettings`` (and its single properties)."""

from __future__ import annotations

from graph.sandbox.access import own_mailbox_only
from graph.sandbox.errors import GraphError, segment_not_found
from graph.sandbox.pipeline import Ctx, GraphResponse, Route, ok
from graph.sandbox.resources import render_mailbox_settings, render_user


async def get_user(ctx: Ctx) -> GraphResponse:
    data = render_user(ctx.target)
    select = ctx.req.q("$select")
    if select:
        wanted = {s.strip().lower() for s in select.split(",") if s.strip()}
        unknown = wanted - {k.lower() for k in data}
        if unknown:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Could not find a property named '{sorted(unknown)[0]}' on type 'microsoft.graph.user'.",
            )
        data = {k: v for k, v in data.items() if k.lower() in wanted or k == "id"}
    return ok({"@odata.context": ctx.context_url("users/$entity"), **data})


def _settings(ctx: Ctx) -> dict[str, object]:
    own_mailbox_only(ctx)
    archive = ctx.state.default_calendar(ctx.target).id.replace("AQMk", "AAMk", 1)
    return render_mailbox_settings(ctx.target, archive)


async def get_mailbox_settings(ctx: Ctx) -> GraphResponse:
    context = ctx.context_url(f"users('{ctx.target.id}')/mailboxSettings")
    return ok({"@odata.context": context, **_settings(ctx)})


async def get_mailbox_setting(ctx: Ctx) -> GraphResponse:
    settings = _settings(ctx)
    name = next((k for k in settings if k.lower() == ctx.params["name"].lower()), None)
    if name is None:
        raise segment_not_found(ctx.params["name"])
    context = ctx.context_url(f"users('{ctx.target.id}')/mailboxSettings/{name}")
    value = settings[name]
    if isinstance(value, dict):
        return ok({"@odata.context": context, **value})
    return ok({"@odata.context": context, "value": value})


ROUTES = [
    Route("GET", (), get_user, kind="directory"),
    Route("GET", ("mailboxSettings",), get_mailbox_settings),
    Route("GET", ("mailboxSettings", "{name}"), get_mailbox_setting),
]
