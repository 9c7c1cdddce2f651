"""iCalendar (RFC 5545) file for a booking, so invitees outside Outlook can add it to their calendar."""

from __future__ import annotations

from datetime import datetime


def _printable(text: str, keep_newlines: bool) -> str:
    """Control characters are not allowed in content lines (RFC 5545 3.1); line breaks are encoded."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if (ch == "\n" and keep_newlines) or not (ch < " " or ch == "\x7f"))


def _escape(text: str) -> str:
    """A TEXT value (RFC 5545 3.3.11)."""
    return (
        _printable(text, keep_newlines=True)
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\n", "\\n")
    )


def _param(text: str) -> str:
    """A parameter value such as CN: always quoted; '^', '"' and line breaks caret-encoded (RFC 6868)."""
    encoded = _printable(text, keep_newlines=True).replace("^", "^^").replace('"', "^'").replace("\n", "^n")
    return f'"{encoded}"'


def _fold(line: str) -> str:
    """Fold at 75 octets as RFC 5545 3.1 requires, never splitting a UTF-8 sequence."""
    out: list[str] = []
    current = b""
    for ch in line:
        enc = ch.encode()
        limit = 75 if not out else 74
        if len(current) + len(enc) > limit:
            out.append(current.decode())
            current = b""
        current += enc
    out.append(current.decode())
    return "\r\n ".join(out)


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y%m%dT%H%M%SZ")


def booking_ics(
    *,
    uid: str,
    start: datetime,
    end: datetime,
    summary: str,
    description: str,
    location: str,
    organizer_name: str,
    organizer_email: str,
    now: datetime,
    url: str = "",
    cancelled: bool = False,
    sequence: int = 0,
) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Slotwise//Booking//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{_escape(uid)}",
        f"DTSTAMP:{_stamp(now)}",
        f"DTSTART:{_stamp(start)}",
        f"DTEND:{_stamp(end)}",
        f"SEQUENCE:{sequence}",
        f"SUMMARY:{_escape(summary)}",
        f"DESCRIPTION:{_escape(description)}",
        f"ORGANIZER;CN={_param(organizer_name)}:mailto:{_printable(organizer_email, keep_newlines=False)}",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
    ]
    if location:
        lines.append(f"LOCATION:{_escape(location)}")
    if url:
        lines.append(f"URL:{_printable(url, keep_newlines=False)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
