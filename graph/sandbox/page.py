"""A read-only look inside the sandbox's "Outlook": every emulator mailbox and its coming meetings.

``GET`` (mounted by app.py at ``/sandbox``, sandbox mode only) renders one HTML page: per mailbox its
time zone, the Teams person it is linked to, and the meetings of its own calendars from now on for
``days`` days (default 7, at most 62): start and end in the mailbox's zone, subject, attendees and the
Teams join link. ``?mailbox=<upn or id>`` shows one mailbox. No token is needed (it is the sandbox's own
data, like the emulator's sign-in picker), but only a loopback client is answered. Everything shown is
escaped; the page has no script and its one inline style is allowed by hash only.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from aiohttp import web

from graph.sandbox.model import EmUser, StoredEvent
from graph.sandbox.state import EmulatorState

DEFAULT_DAYS = 7
MAX_DAYS = 62
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;line-height:1.4;color:#1b1b1b}"
    "table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}"
    "th,td{border-bottom:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}"
    "caption{text-align:left;font-weight:600;padding:.3rem 0}.muted{color:#595959}"
    "a{color:#0b57d0}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


def _when(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a %Y-%m-%d %H:%M}"


def _day(day: date) -> str:
    return f"{day:%a %Y-%m-%d}"


def _attendees(ev: StoredEvent) -> str:
    names = []
    for attendee in ev.attendees:
        address = attendee.get("emailAddress") if isinstance(attendee, dict) else None
        if not isinstance(address, dict):
            continue
        name, mail = str(address.get("name") or ""), str(address.get("address") or "")
        names.append(escape(f"{name} <{mail}>" if name and mail and name != mail else name or mail))
    return "<br>".join(names) or '<span class="muted">none</span>'


def _join_link(ev: StoredEvent) -> str:
    url = str((ev.online_meeting or {}).get("joinUrl") or "")
    if not url:
        return '<span class="muted">none</span>'
    if not url.lower().startswith(("https://", "http://")):
        return escape(url)  # shown, never a link: no javascript: or data: URL from an event body
    return f'<a href="{escape(url)}">Join Teams meeting</a>'


def _row(ev: StoredEvent, zone: ZoneInfo, calendar_name: str | None) -> str:
    if ev.is_all_day and ev.all_day_start is not None and ev.all_day_end is not None:
        start, end = f"{_day(ev.all_day_start)} (all day)", _day(ev.all_day_end - timedelta(days=1))
    else:
        start, end = _when(ev.start, zone), _when(ev.end, zone)
    subject = escape(ev.subject) if ev.subject else '<span class="muted">(no subject)</span>'
    if calendar_name:
        subject += f' <span class="muted">({escape(calendar_name)})</span>'
    return (
        f"<tr><td>{escape(start)}</td><td>{escape(end)}</td><td>{subject}</td><td>{escape(ev.show_as)}</td>"
        f"<td>{_attendees(ev)}</td><td>{_join_link(ev)}</td></tr>"
    )


def _section(state: EmulatorState, user: EmUser, start: datetime, end: datetime, days: int) -> str:
    zone = user.mailbox_zone()
    rows: list[tuple[datetime, str]] = []
    for cal in state.calendars.values():
        if cal.owner_id != user.id:
            continue
        for ev in state.view(cal, start, end):
            rows.append((ev.start, _row(ev, zone, None if cal.is_default else cal.name)))
    rows.sort(key=lambda r: r[0])
    owner = state.directory_owner(user)
    linked = f" · Teams user {escape(owner[1])} in tenant {escape(owner[0])}" if owner is not None else ""
    zone_name = user.time_zone.strip() or "not set (UTC)"
    heading = f"{escape(user.display_name)} &lt;{escape(user.upn)}&gt;"
    meta = (
        f'<p class="muted">Mailbox id {escape(user.id)} · time zone {escape(zone_name)} '
        f"({escape(str(zone))}){linked}</p>"
    )
    if not rows:
        body = f"<p>No meetings in the next {days} days.</p>"
    else:
        body = (
            f"<table><caption>{len(rows)} meeting{'s' if len(rows) != 1 else ''}, times in "
            f'{escape(str(zone))}</caption><thead><tr><th scope="col">Start</th><th scope="col">End</th>'
            '<th scope="col">Subject</th><th scope="col">Show as</th><th scope="col">Attendees</th>'
            '<th scope="col">Teams meeting</th></tr></thead><tbody>' + "".join(r for _, r in rows) + "</tbody></table>"
        )
    return (
        f'<section aria-labelledby="mb-{escape(user.id)}"><h2 id="mb-{escape(user.id)}">{heading}</h2>{meta}{body}'
        "</section>"
    )


def render(state: EmulatorState, *, days: int = DEFAULT_DAYS, mailbox: EmUser | None = None) -> str:
    """The page: every mailbox (or ``mailbox``) with its meetings from now for ``days`` days."""
    start = state.now()
    end = start + timedelta(days=days)
    people = (
        [mailbox]
        if mailbox is not None
        else sorted(state.users.values(), key=lambda u: (u.display_name.lower(), u.upn.lower()))
    )
    sections = "".join(_section(state, u, start, end, days) for u in people) or "<p>No mailboxes yet.</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Sandbox Outlook</title><style>{STYLE}</style></head><body><main>"
        "<h1>Sandbox Outlook</h1>"
        f"<p>The Graph emulator's mailboxes and their meetings from {escape(f'{start:%Y-%m-%d %H:%M}')} UTC for "
        f"the next {days} days (read-only; reload to see changes; <code>?days=</code> up to {MAX_DAYS}, "
        "<code>?mailbox=</code> an address).</p>"
        f"{sections}</main></body></html>"
    )


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain")


def sandbox_page(state: EmulatorState) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for the page over ``state``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if not _is_loopback(request.remote):
            return _text(403, "The sandbox page only answers this computer.")
        raw_days = request.query.get("days", str(DEFAULT_DAYS)).strip()
        if not (raw_days.isascii() and raw_days.isdigit() and len(raw_days) <= 3 and 1 <= int(raw_days) <= MAX_DAYS):
            return _text(400, f"days must be a whole number from 1 to {MAX_DAYS}.")
        mailbox = None
        wanted = request.query.get("mailbox", "").strip()
        if wanted:
            mailbox = state.get_user(wanted)
            if mailbox is None:
                return _text(404, "There is no sandbox mailbox with that address or id.")
        html = render(state, days=int(raw_days), mailbox=mailbox)
        return web.Response(
            text=html, content_type="text/html", headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
        )

    return handler
