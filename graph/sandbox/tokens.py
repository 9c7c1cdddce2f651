"""Unsigned JWTs as the sandbox's identity platform issues and reads them.

Access tokens, id tokens and the Teams SSO assertions accepted by the on-behalf-of grant are JWTs with a
dummy signature: the emulator trusts only tokens it issued itself (they are looked up, not verified), and
MSAL >= 1.38 does not verify id-token signatures. ``client_info`` is base64url JSON ``{"uid", "utid"}``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_jwt(claims: Mapping[str, Any], *, signature: str = "c2FuZGJveA", kid: str = "sandbox") -> str:
    header = {"typ": "JWT", "alg": "RS256", "kid": kid}
    return ".".join(
        (
            b64url(json.dumps(header, separators=(",", ":")).encode()),
            b64url(json.dumps(dict(claims), separators=(",", ":")).encode()),
            signature,
        )
    )


def decode_jwt(token: str) -> dict[str, Any]:
    """The claims of a JWT, without verifying it; raises ValueError when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        raise ValueError("not a JWT")
    try:
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not a JWT") from exc
    if not isinstance(claims, dict):
        raise ValueError("not a JWT")
    return claims


def looks_like_jwt(token: str) -> bool:
    try:
        decode_jwt(token)
    except ValueError:
        return False
    return True


def client_info(oid: str, tid: str) -> str:
    return b64url(json.dumps({"uid": oid, "utid": tid}, separators=(",", ":")).encode())
