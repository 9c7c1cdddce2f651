"""One key per purpose from the one Slotwise secret (HKDF-SHA256, RFC 5869).

A value signed or encrypted for one purpose (a sign-in ``state``, a CSRF token, a stored token cache,
the sign-in flow cookie, a manage token) is worthless for any other, because each purpose gets its own
key: ``derive_key(secret, purpose)``. The composition root derives them once; nothing else sees the
secret itself. Pure: no clock, environment or files.
"""

from __future__ import annotations

import hashlib
import hmac

SIGN_IN_STATE = "sign-in-state"
CSRF = "csrf"
TOKEN_CACHE = "token-cache"  # noqa: S105 - a purpose name, not a secret
SIGN_IN_FLOW = "sign-in-flow"
MANAGE_TOKENS = "manage-tokens"

_SALT = b"slotwise/hkdf-sha256/v1"
_HASH_LEN = hashlib.sha256().digest_size


def hkdf_sha256(key_material: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 HKDF with SHA-256: extract with ``salt``, expand with ``info`` to ``length`` bytes."""
    if not 0 < length <= 255 * _HASH_LEN:
        raise ValueError("HKDF-SHA256 can derive 1 to 8160 bytes")
    prk = hmac.new(salt or bytes(_HASH_LEN), key_material, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def derive_key(secret: bytes | str, purpose: str, length: int = 32) -> bytes:
    """The key for ``purpose`` (one of the constants above) derived from the Slotwise secret."""
    material = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not material:
        raise ValueError("a secret is required to derive keys")
    if not purpose:
        raise ValueError("every key needs a purpose")
    return hkdf_sha256(material, salt=_SALT, info=b"slotwise:" + purpose.encode("utf-8"), length=length)
