"""Who may see and change which calendar: the owner, and users a calendar is shared with.

``/me/...`` reaches the caller's own calendars and calendars shared with them; ``/users/{id}/...``
reaches another user's calendar only if it is shared with the caller (else 403 ErrorAccessDenied, as
Graph answers for an unshared calendar). Writing needs the owner or a share with edit rights.
"""

from __future__ import annotations

from graph.sandbox.errors import access_denied, item_not_found
from graph.sandbox.model import Calendar, EmUser
from graph.sandbox.pipeline import Ctx


def calendar_for(ctx: Ctx, calendar_id: str | None, *, write: bool = False) -> Calendar:
    """The calendar a path names (None = the target mailbox's default calendar), access-checked."""
    state, caller, mailbox = ctx.state, ctx.caller, ctx.target
    if calendar_id is None:
        cal = state.default_calendar(mailbox)
    else:
        found = state.calendars.get(calendar_id)
        if found is None:
            raise item_not_found()
        if mailbox.id == caller.id:
            if not found.visible_to(caller.id):
                raise item_not_found()
        elif found.owner_id != mailbox.id:
            raise item_not_found()
        cal = found
    if not cal.visible_to(caller.id):
        raise access_denied()
    if write and not cal.can_edit(caller.id):
        raise access_denied()
    return cal


def event_scope(
    ctx: Ctx, calendar_id: str | None, *, write: bool = False, explicit_default: bool = False
) -> tuple[EmUser, str | None]:
    """(mailbox that holds the events, calendar filter or None for every calendar of that mailbox)."""
    if calendar_id is None and not explicit_default and ctx.target.id == ctx.caller.id:
        return ctx.caller, None
    cal = calendar_for(ctx, calendar_id, write=write)
    return ctx.state.users[cal.owner_id], cal.id


def own_mailbox_only(ctx: Ctx) -> None:
    """Mailbox settings and subscriptions: delegated access reaches only the signed-in user's mailbox."""
    if ctx.target.id != ctx.caller.id:
        raise access_denied()
