"""Opaque identifiers shaped like Exchange's: base64 with ``/``, ``+`` and ``=`` in them.

Event ids look like ``AAMkAG...AAA=`` and calendar ids like ``AQMkAD...==``. Real ids routinely contain
``/`` and ``+``, so every id minted here contains at least one of them: a client that forgets to
URL-encode ids in paths fails against the emulator exactly as it would against Graph.

An *occurrence* id of a recurring series encodes the series master's key and the occurrence's original
local date, so it can be decoded without a lookup table (:func:`decode_occurrence_id`).
"""

from __future__ import annotations

import base64
import binascii
import random
import uuid
from datetime import date
from typing import Any

_EVENT_PREFIX = b"\x00\x03\x24\x00"  # base64 "AAMkA..."
_CAL_PREFIX = b"\x01\x03\x24\x00"  # base64 "AQMkA..."
_KIND_EVENT = b"E"
_KIND_OCCURRENCE = b"O"
_KIND_CALENDAR = b"C"


class IdFactory:
    """Mints ids from a seeded random source, so a seeded emulator is fully reproducible."""

    def __init__(self, seed: int | str | None = None) -> None:
        self._rng = random.Random(seed)

    def get_state(self) -> list[Any]:
        """The random source's position as JSON-able data (a restored emulator mints no id twice)."""
        version, internal, gauss = self._rng.getstate()
        return [version, list(internal), gauss]

    def set_state(self, data: Any) -> None:
        """Continue from :meth:`get_state`'s data; ValueError when it is not such data."""
        if not (
            isinstance(data, list)
            and len(data) == 3
            and isinstance(data[1], list)
            and all(isinstance(x, int) and not isinstance(x, bool) for x in data[1])
        ):
            raise ValueError("not the state of a random source")
        try:
            self._rng.setstate((data[0], tuple(data[1]), data[2]))
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError("not the state of a random source") from exc

    def guid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def hex(self, nbytes: int = 16) -> str:
        return self._rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def digits(self, n: int) -> str:
        return "".join(self._rng.choice("0123456789") for _ in range(n))

    def _key(self) -> bytes:
        return self._rng.getrandbits(128).to_bytes(16, "big")

    def _opaque(self, prefix: bytes, kind: bytes, extra_len: int) -> tuple[str, bytes]:
        while True:
            key = self._key()
            raw = prefix + kind + key + self._rng.getrandbits(extra_len * 8).to_bytes(extra_len, "big")
            text = base64.b64encode(raw).decode()
            if "/" in text or "+" in text:
                return text, key

    def event_id(self) -> tuple[str, bytes]:
        """A new single-instance or series-master id and its 16-byte key (23 bytes -> one '=')."""
        return self._opaque(_EVENT_PREFIX, _KIND_EVENT, 2)

    def calendar_id(self) -> str:
        return self._opaque(_CAL_PREFIX, _KIND_CALENDAR, 1)[0]

    def change_key(self) -> str:
        return base64.b64encode(self._rng.getrandbits(120).to_bytes(15, "big")).decode()


def occurrence_id(master_key: bytes, original_date: date) -> str:
    raw = _EVENT_PREFIX + _KIND_OCCURRENCE + master_key + original_date.toordinal().to_bytes(4, "big")
    text = base64.b64encode(raw).decode()
    return text


def decode_event_id(event_id: str) -> tuple[str, bytes, date | None]:
    """``("event"|"occurrence", master key, original date or None)``; raises ValueError if malformed."""
    try:
        raw = base64.b64decode(event_id, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("malformed id") from exc
    if not raw.startswith(_EVENT_PREFIX) or len(raw) < len(_EVENT_PREFIX) + 17:
        raise ValueError("malformed id")
    kind = raw[4:5]
    key = raw[5:21]
    if kind == _KIND_EVENT and len(raw) == 23:
        return "event", key, None
    if kind == _KIND_OCCURRENCE and len(raw) == 25:
        try:
            return "occurrence", key, date.fromordinal(int.from_bytes(raw[21:25], "big"))
        except (ValueError, OverflowError) as exc:
            raise ValueError("malformed id") from exc
    raise ValueError("malformed id")
