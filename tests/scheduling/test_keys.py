"""scheduling.keys: HKDF-SHA256 as RFC 5869 defines it, and one independent key per purpose."""

from __future__ import annotations

import pytest

from scheduling.keys import CSRF, MANAGE_TOKENS, SIGN_IN_FLOW, SIGN_IN_STATE, TOKEN_CACHE, derive_key, hkdf_sha256

PURPOSES = (SIGN_IN_STATE, CSRF, TOKEN_CACHE, SIGN_IN_FLOW, MANAGE_TOKENS)


def test_hkdf_matches_the_rfc_5869_test_vectors() -> None:
    # A.1: basic test case with SHA-256
    okm = hkdf_sha256(
        bytes.fromhex("0b" * 22),
        salt=bytes.fromhex("000102030405060708090a0b0c"),
        info=bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"),
        length=42,
    )
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    # A.3: zero-length salt and info
    okm = hkdf_sha256(bytes.fromhex("0b" * 22), salt=b"", info=b"", length=42)
    assert okm.hex() == ("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")


def test_each_purpose_gets_its_own_key_and_the_secret_is_never_one() -> None:
    secret = "the-one-slotwise-secret-key-for-this-deployment"
    keys = [derive_key(secret, purpose) for purpose in PURPOSES]
    assert len(set(keys)) == len(PURPOSES) and all(len(k) == 32 for k in keys)
    assert secret.encode()[:32] not in keys
    assert derive_key(secret, CSRF) == derive_key(secret.encode(), CSRF)  # deterministic, str or bytes
    assert derive_key(secret + "x", CSRF) != derive_key(secret, CSRF)


def test_a_key_needs_a_secret_and_a_purpose() -> None:
    with pytest.raises(ValueError, match="secret"):
        derive_key("", CSRF)
    with pytest.raises(ValueError, match="purpose"):
        derive_key("secret", "")
    with pytest.raises(ValueError):
        hkdf_sha256(b"k", salt=b"s", info=b"i", length=0)
