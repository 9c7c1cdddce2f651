"""Shared plumbing for event collections: windows, paging with ``@odata.nextLink``, rendering options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from graph.sandbox.errors import GraphError, invalid_parameter
from graph.sandbox.events import Expand, render_event
from graph.sandbox.model import StoredEvent
from graph.sandbox.odata import parse_expand, parse_int, parse_select
from graph.sandbox.pipeline import Ctx
from graph.sandbox.timefmt import parse_query_instant

DEFAULT_PAGE = 10
MAX_VIEW_DAYS = 1825


def view_window(ctx: Ctx) -> tuple[datetime, datetime]:
    """``startDateTime``/``endDateTime`` (both required; offsets honoured, none = UTC)."""
    start_raw, end_raw = ctx.req.q("startDateTime"), ctx.req.q("endDateTime")
    if not start_raw or not end_raw:
        raise invalid_parameter(
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime."
        )
    start = parse_query_instant("startDateTime", start_raw)
    end = parse_query_instant("endDateTime", end_raw)
    if end < start:
        raise invalid_parameter("The parameter 'EndDateTime' must be later than 'StartDateTime'.")
    if end - start > timedelta(days=MAX_VIEW_DAYS):
        raise GraphError(
            400, "ErrorInvalidRequest", f"The time window is too large. The maximum is {MAX_VIEW_DAYS} days."
        )
    return start, end


@dataclass(frozen=True)
class RenderOptions:
    zone: str | None
    select: list[str] | None
    expand: Expand | None
    body_as_text: bool

    @classmethod
    def from_ctx(cls, ctx: Ctx) -> RenderOptions:
        body_type = ctx.req.prefer.get("outlook.body-content-type", "html").lower()
        return cls(
            zone=ctx.response_zone(),
            select=parse_select(ctx.req),
            expand=parse_expand(ctx.req),
            body_as_text=body_type == "text",
        )

    def render(self, ev: StoredEvent, *, echo_zones: bool = False, view: bool = False) -> dict[str, Any]:
        return render_event(
            ev,
            zone_name=self.zone,
            echo_zones=echo_zones,
            select=self.select,
            expand=self.expand,
            body_as_text=self.body_as_text,
            online_meeting_needs_flag=view,
        )


def paged(
    ctx: Ctx, items: Sequence[StoredEvent], context: str, opts: RenderOptions, *, view: bool = False
) -> dict[str, Any]:
    """One page (``$top``, default 10; ``$skip``) with an absolute ``@odata.nextLink`` when more remain."""
    top = parse_int(ctx.req, "$top", DEFAULT_PAGE, minimum=1) or DEFAULT_PAGE
    skip = parse_int(ctx.req, "$skip", 0) or 0
    body: dict[str, Any] = {"@odata.context": ctx.context_url(context)}
    if skip + top < len(items):
        params = {k: v for k, v in ctx.req.query.items() if k.lstrip("$").lower() != "skip"}
        params["$skip"] = str(skip + top)
        body["@odata.nextLink"] = ctx.req.link(ctx.req.raw_path, params)
    body["value"] = [opts.render(ev, view=view) for ev in items[skip : skip + top]]
    return body
