"""Reading what crosses the wire into the models of :mod:`web.models`, at the edge, before any use case.

* A JSON body must come as ``application/json`` (or a ``+json`` type): anything else is 415. It is read
  as UTF-8 JSON (RFC 8259) with a size cap (413), without ``NaN``/``Infinity``, without duplicate keys
  in any object (400 naming the key: the last one silently winning would let two readers of one body
  disagree) and nested at most :data:`MAX_JSON_DEPTH` deep (400; thousands of ``[`` never reach the
  parser's recursion). Each refusal is a :class:`WireRefusal`, answered as problem details
  (:func:`web.problems.wire_problem`).
* A model's validation errors become the core's errors: a query's first problem is InvalidQuery naming
  its parameter (400, :func:`parse_query`), a body's problems ValidationFailed with every field at once
  (422, :func:`field_errors`).
* A form post must be ``application/x-www-form-urlencoded`` or ``multipart/form-data`` (415) and
  readable (a malformed multipart body is 400), each field given once (400).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ValidationError

from scheduling.errors import InvalidQuery, ValidationFailed
from web.models import StartField

MAX_JSON_DEPTH = 32
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
M = TypeVar("M", bound=BaseModel)


class WireRefusal(Exception):
    """A request that can't be read at all: the wrong media type, not JSON, a duplicate key, too deep, too
    large. ``parameter`` names the header or key at fault, when there is one."""

    def __init__(self, status: int, title: str, detail: str, code: str, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.parameter = parameter


def is_json_type(content_type: str) -> bool:
    """``application/json`` or a structured ``+json`` type such as ``application/merge-patch+json``."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def loads_strict(data: bytes) -> Any:
    """``data`` as strict JSON; WireRefusal (400) when it is not, or has a duplicate key, or nests too deep."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise WireRefusal(400, "Invalid JSON", "The request body is not UTF-8 text.", "invalid_json") from None
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        raise WireRefusal(
            400,
            "Invalid JSON",
            f"duplicate key '{exc.key[:100]}': give each field once.",
            "duplicate_key",
            parameter=exc.key[:100],
        ) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # not JSON; also a number with more digits than Python converts
        raise WireRefusal(400, "Invalid JSON", "The request body is not valid JSON.", "invalid_json") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise _too_deep()
    return value


def _too_deep() -> WireRefusal:
    return WireRefusal(400, "Invalid JSON", f"The JSON nests deeper than {MAX_JSON_DEPTH} levels.", "too_deep")


async def read_json(request: web.Request, max_bytes: int) -> Any:
    """The request's JSON body (see the module docstring for every refusal)."""
    if not is_json_type(request.headers.get("Content-Type", "")):
        raise WireRefusal(
            415,
            "Unsupported media type",
            "Send the body as application/json.",
            "unsupported_media_type",
            parameter="Content-Type",
        )
    if request.content_length is not None and request.content_length > max_bytes:
        raise WireRefusal(413, "Request too large", "The request body is too large.", "too_large")
    data = await request.read()  # aiohttp's client_max_size caps what is read (413 beyond it)
    if len(data) > max_bytes:
        raise WireRefusal(413, "Request too large", "The request body is too large.", "too_large")
    return loads_strict(data)


async def read_form(request: web.Request) -> dict[str, str]:
    """A form post's text fields, each given once; WireRefusal when the body can't be read as a form."""
    if request.content_type not in FORM_TYPES:
        raise WireRefusal(
            415,
            "Unsupported media type",
            "Send the form as application/x-www-form-urlencoded.",
            "unsupported_media_type",
            parameter="Content-Type",
        )
    try:
        form = await request.post()
    except web.HTTPException:
        raise  # 413 from aiohttp's own size limit
    except Exception:  # a malformed multipart body, undecodable text: aiohttp raises whatever its parser hit
        raise WireRefusal(
            400, "Invalid form", "The form could not be read. Reload the page and try again.", "invalid_form"
        ) from None
    values: dict[str, str] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            continue  # a file where text belongs: ignored, like any field the form does not have
        if key in values:
            raise WireRefusal(
                400, "Invalid form", f"The field '{key[:100]}' was sent twice.", "duplicate_key", parameter=key[:100]
            )
        values[key] = value
    return values


# ------------------------------------------------------------------------------- validation errors


def _key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _message(error: Mapping[str, Any], key: str) -> str:
    kind = error["type"]
    if kind == "missing":
        return f"'{key}' is required."
    if kind == "extra_forbidden":
        return f"'{key}' is not a field of this request."
    if kind == "string_type":
        return "Must be text."
    if kind == "dict_type":
        return "Must be an object of names and values."
    return str(error["msg"])


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Every field a model refused and why (the first problem of each), keyed by the wire name
    (``answers.company`` for a nested one)."""
    out: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        key = _key(error["loc"])
        out.setdefault(key, _message(error, key))
    return out


def parse_query(model: type[M], query: MultiMapping[str], context: Mapping[str, Any] | None = None) -> M:
    """``model`` from a query string; InvalidQuery naming the first parameter at fault (one given twice
    included). Parameters the model does not name are ignored (a cache-buster, a tracking tag)."""
    names = {field.alias or name for name, field in model.model_fields.items()}
    values: dict[str, str] = {}
    for name in names:
        given = query.getall(name, [])
        if len(given) > 1:
            raise InvalidQuery(name, f"Give '{name}' once.")
        if given:
            values[name] = given[0]
    try:
        return model.model_validate(values, context=dict(context or {}))
    except ValidationError as exc:
        parameter, message = next(iter(field_errors(exc).items()))
        raise InvalidQuery(parameter, message) from None


def parse_instant(value: object, now: datetime) -> datetime:
    """The ``start`` a page or form sent (``Instant`` of web.models: ISO 8601 with an offset, within reach of
    ``now``); ValidationFailed naming ``start`` when it is not one."""
    try:
        return StartField.model_validate({"start": value}, context={"now": now}).start
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None
