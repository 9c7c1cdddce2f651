"""OData query options the emulator honours: ``$top``, ``$skip``, ``$select``, ``$expand``,
``$orderby`` and a small but real ``$filter`` language.

``$filter`` understands clauses joined by ``and``: ``singleValueExtendedProperties/any(ep: ep/id eq
'<id>' [and ep/value eq '<v>'])``, comparisons (``eq ne gt ge lt le``) of ``start/dateTime``,
``end/dateTime`` (as UTC wall time strings), ``subject``, ``showAs``, ``type``, ``iCalUId``,
``sensitivity``, ``isCancelled``, ``isAllDay``, ``isOnlineMeeting``. Anything else is a 400, so a
client never silently gets unfiltered data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from graph.sandbox.errors import GraphError
from graph.sandbox.events import Expand, canonical_property, ext_prop_key
from graph.sandbox.model import StoredEvent
from graph.sandbox.pipeline import GraphRequest
from graph.sandbox.timefmt import fmt_wall, parse_wall

Predicate = Callable[[StoredEvent], bool]


def parse_int(req: GraphRequest, name: str, default: int | None, *, minimum: int = 0) -> int | None:
    raw = req.q(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or int(raw) < minimum:
        raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for query option '{name}'.")
    return int(raw)


def _not_found(name: str, entity: str = "event") -> GraphError:
    return GraphError(
        400, "RequestBroker--ParseUri", f"Could not find a property named '{name}' on type 'microsoft.graph.{entity}'."
    )


def parse_select(req: GraphRequest) -> list[str] | None:
    raw = req.q("$select")
    if raw is None or not raw.strip():
        return None
    out = []
    for name in (p.strip() for p in raw.split(",")):
        canonical = canonical_property(name)
        if canonical is None:
            raise _not_found(name)
        out.append(canonical)
    return out


_EXPAND_ITEM = re.compile(r"^\s*(\w+)\s*(?:\(\s*\$filter\s*=\s*(.*)\))?\s*$", re.IGNORECASE | re.DOTALL)
_ID_EQ = re.compile(r"^\s*id\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes and parentheses."""
    parts: list[str] = []
    buf: list[str] = []
    depth, quoted, i = 0, False, 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if not quoted and depth == 0 and text[i : i + len(sep)].lower() == sep.lower():
            parts.append("".join(buf))
            buf, i = [], i + len(sep)
            continue
        buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


def _id_filter(text: str | None) -> frozenset[str]:
    if text is None:
        return frozenset()
    ids = []
    for clause in _split_top(text, " or "):
        m = _ID_EQ.match(clause)
        if not m:
            raise GraphError(400, "BadRequest", f"Unsupported $filter in $expand: '{text}'.")
        ids.append(ext_prop_key(m.group(1).replace("''", "'")))
    return frozenset(ids)


def parse_expand(req: GraphRequest) -> Expand | None:
    raw = req.q("$expand")
    if raw is None or not raw.strip():
        return None
    props = exts = None
    for item in _split_top(raw, ","):
        m = _EXPAND_ITEM.match(item)
        if not m:
            raise GraphError(400, "BadRequest", f"Invalid $expand '{item}'.")
        name, filt = m.group(1).lower(), m.group(2)
        if name == "singlevalueextendedproperties":
            props = _id_filter(filt)
        elif name == "extensions":
            ids = _id_filter(filt)
            exts = frozenset(i.split(" ")[0] for i in ids) if ids else frozenset()
        else:
            raise _not_found(m.group(1))
    return Expand(ext_props=props, extensions=exts)


_ANY = re.compile(
    r"^\s*singleValueExtendedProperties\s*/\s*any\s*\(\s*(\w+)\s*:\s*(.*)\)\s*$", re.IGNORECASE | re.DOTALL
)
_CMP = re.compile(r"^\s*([\w/]+)\s+(eq|ne|gt|ge|lt|le)\s+('(?:[^']|'')*'|true|false|null|[\w\-:.]+)\s*$", re.IGNORECASE)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "ge": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "le": lambda a, b: a is not None and a <= b,
}
_FIELDS: dict[str, Callable[[StoredEvent], Any]] = {
    "start/datetime": lambda e: fmt_wall(e.start.replace(tzinfo=None)),
    "end/datetime": lambda e: fmt_wall(e.end.replace(tzinfo=None)),
    "subject": lambda e: e.subject,
    "showas": lambda e: e.show_as,
    "type": lambda e: e.type,
    "icaluid": lambda e: e.ical_uid,
    "sensitivity": lambda e: e.sensitivity,
    "iscancelled": lambda e: e.is_cancelled,
    "isallday": lambda e: e.is_all_day,
    "isonlinemeeting": lambda e: e.is_online_meeting,
}


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    return text


def _any_clause(var: str, body: str, raw: str) -> Predicate:
    wanted_id = wanted_value = None
    for clause in _split_top(body, " and "):
        m = _CMP.match(clause)
        if not m or m.group(2).lower() != "eq":
            raise GraphError(400, "BadRequest", f"Unsupported $filter: '{raw}'.")
        target = m.group(1).lower()
        if target == f"{var.lower()}/id":
            wanted_id = ext_prop_key(str(_literal(m.group(3))))
        elif target == f"{var.lower()}/value":
            wanted_value = _literal(m.group(3))
        else:
            raise GraphError(400, "BadRequest", f"Unsupported $filter: '{raw}'.")
    if wanted_id is None:
        raise GraphError(400, "BadRequest", "A singleValueExtendedProperties filter needs 'ep/id eq ...'.")

    def pred(ev: StoredEvent) -> bool:
        prop = ev.ext_props.get(wanted_id)
        return prop is not None and (wanted_value is None or prop[1] == wanted_value)

    return pred


def parse_filter(req: GraphRequest) -> Predicate | None:
    raw = req.q("$filter")
    if raw is None or not raw.strip():
        return None
    preds: list[Predicate] = []
    for clause in _split_top(raw.strip(), " and "):
        clause = clause.strip()
        while clause.startswith("(") and clause.endswith(")"):
            clause = clause[1:-1].strip()
        m_any = _ANY.match(clause)
        if m_any:
            preds.append(_any_clause(m_any.group(1), m_any.group(2), raw))
            continue
        m = _CMP.match(clause)
        if not m or m.group(1).lower() not in _FIELDS:
            raise GraphError(400, "BadRequest", f"Unsupported $filter: '{raw}'.")
        getter, op, value = _FIELDS[m.group(1).lower()], _OPS[m.group(2).lower()], _literal(m.group(3))
        if m.group(1).lower().endswith("/datetime") and isinstance(value, str):
            naive, offset = parse_wall(value)
            value = fmt_wall(naive - offset if offset is not None else naive)

        def pred(
            ev: StoredEvent,
            getter: Callable[[StoredEvent], Any] = getter,
            op: Callable[[Any, Any], bool] = op,
            value: Any = value,
        ) -> bool:
            return op(getter(ev), value)

        preds.append(pred)
    return lambda ev: all(p(ev) for p in preds)


_ORDER_KEYS: dict[str, Callable[[StoredEvent], Any]] = {
    "start/datetime": lambda e: e.start,
    "end/datetime": lambda e: e.end,
    "subject": lambda e: e.subject.lower(),
    "createddatetime": lambda e: e.created,
    "lastmodifieddatetime": lambda e: e.modified,
}


def order(req: GraphRequest, items: list[StoredEvent]) -> list[StoredEvent]:
    """``$orderby`` (one or more keys, asc/desc); without it a stable order that is *not* by start."""
    raw = req.q("$orderby")
    if raw is None or not raw.strip():
        return sorted(items, key=lambda e: e.id)
    result = sorted(items, key=lambda e: e.id)
    for part in reversed([p.strip() for p in raw.split(",") if p.strip()]):
        name, _, direction = part.partition(" ")
        key = _ORDER_KEYS.get(name.lower())
        if key is None:
            raise _not_found(name)
        result.sort(key=key, reverse=direction.strip().lower() == "desc")
    return result
