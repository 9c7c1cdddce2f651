"""Secrets never reach a log line: manage tokens in ``/manage/{token}`` paths, the sign-in ``code``,
``state`` and tokens in ``/auth/...`` queries and forms, ``Authorization`` headers and bearer tokens
(Graph tokens, API keys), client secrets and assertions, and ``whsec_`` webhook secrets.

:class:`RedactSecrets` is a :class:`logging.Filter` that rewrites each record's message, arguments and
traceback text; :func:`install_log_redaction` puts it on every handler of a logger (the root logger by
default), so records from any module are redacted, whatever logged them. ``app.main`` installs it.
"""

from __future__ import annotations

import logging
import re
import traceback

REDACTED = "[redacted]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # /manage/<token>[/...]: the token is the invitee's key to the booking (a route pattern's ``{token}``
    # placeholder, as access lines name routes, is no token: a real one never holds braces)
    (re.compile(r"(/manage/)(?!\{\w+\}(?:[/\s?#\"'<>]|$))[^/\s?#\"'<>]+"), rf"\g<1>{REDACTED}"),
    # query strings and form bodies: sign-in codes and states, tokens, secrets, assertions, keys
    (
        re.compile(
            r"(?i)([?&;\s\"'{,](?:code|state|id_token|access_token|refresh_token|client_secret|client_info|"
            r"session_state|assertion|client_assertion|token|api_key|apikey|key|sig|signature|password|"
            r"claims)=)[^&\s#\"'<>]+"
        ),
        rf"\g<1>{REDACTED}",
    ),
    # Authorization: <scheme> <credentials> (headers printed as text, dict reprs, JSON)
    (
        re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic)\s+)?[^\s\"',}]+"),
        rf"\g<1>\g<2> {REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), rf"\g<1> {REDACTED}"),
    # Standard Webhooks secrets
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_\-]+"), f"whsec_{REDACTED}"),
)


def redact(text: str) -> str:
    """``text`` with every secret the patterns above recognise replaced by ``[redacted]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text.replace(" " + " " + REDACTED, " " + REDACTED)


class RedactSecrets(logging.Filter):
    """Rewrites a record so no handler after it can print a secret (never drops the record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: keep what there is, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> RedactSecrets:
    """Add one :class:`RedactSecrets` to every handler of ``logger`` (the root logger by default)."""
    target = logger or logging.getLogger()
    found = next((f for h in target.handlers for f in h.filters if isinstance(f, RedactSecrets)), None)
    redactor = found or RedactSecrets()
    for handler in target.handlers:
        if redactor not in handler.filters:
            handler.addFilter(redactor)
    return redactor
