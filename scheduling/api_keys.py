"""Personal API keys: made in chat ("api key"), shown once, stored hashed, revoked with a button.

A key is ``swk_`` followed by 43 URL-safe characters (256 random bits). The store keeps its SHA-256 (a key
can't be guessed, so an unsalted hash is as good as any: the database alone yields no working key) and its
first characters (``prefix``) so the owner can tell their keys apart. A request presents the key as
``Authorization: Bearer swk_...``; :meth:`ApiKeyService.authenticate` finds it by its hash and answers the
:class:`ApiPrincipal` acting: the key's owner, as stored *now* (a revoked key, or one whose owner is gone, is
refused at once, on every replica: nothing is cached).

What a principal may see and change is decided by the use cases it is passed to (``scheduling.api``): the
owner's own links and the bookings they host, never anyone else's (NotFound, the same answer as for what does
not exist).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from scheduling.domain import Caller, User
from scheduling.errors import Conflict, NotFound, SlotwiseError, ValidationFailed
from scheduling.invitee import has_control
from scheduling.ports import Clock

if TYPE_CHECKING:
    from scheduling.stores import ApiKeyStore, UserStore

KEY_PREFIX = "swk_"
KEY_BYTES = 32  # 256 bits
SHOWN_PREFIX = len(KEY_PREFIX) + 8  # what the owner sees of a key afterwards: "swk_AbCdEfGh"
MAX_KEYS = 25  # active keys per person
MAX_NAME = 60
TOUCH_EVERY = timedelta(minutes=1)  # how often "last used" is written, at most


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key (never the key itself)."""

    id: str
    user_id: str
    tenant_id: str
    prefix: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: the stored record and the key itself, which is shown once and never again."""

    key: ApiKey
    secret: str


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """Who is acting through the API: the key (its id) and its owner."""

    key_id: str
    user: User

    @property
    def caller(self) -> Caller:
        """The booking caller: idempotency keys live in this API key's own namespace."""
        return Caller.api(self.key_id, self.user.tenant_id)


class InvalidApiKey(SlotwiseError):
    """No usable API key came with the request (missing, malformed, unknown or revoked)."""

    code = "invalid_api_key"

    def __init__(
        self,
        message: str = "This API key is not valid. Create one by typing 'api key' in your chat with Slotwise, "
        "and send it as 'Authorization: Bearer <key>'.",
    ) -> None:
        super().__init__(message)


def hash_api_key(token: str) -> str:
    """What the store keeps of a key: its SHA-256 (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    return (
        token.startswith(KEY_PREFIX)
        and len(token) == len(KEY_PREFIX) + 43
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in token[len(KEY_PREFIX) :])
    )


def name_problem(name: str) -> str | None:
    if len(name) > MAX_NAME:
        return f"A key's name can be at most {MAX_NAME} characters long."
    if has_control(name):
        return "The name contains characters we can't use."
    return None


class ApiKeyService:
    def __init__(
        self,
        *,
        keys: ApiKeyStore,
        users: UserStore,
        clock: Clock,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        touch_every: timedelta = TOUCH_EVERY,
    ) -> None:
        self._keys = keys
        self._users = users
        self.clock = clock
        self._new_id = new_id
        self.touch_every = touch_every

    async def create(self, user: User, name: str = "") -> IssuedKey:
        """A new key for ``user`` (at most :data:`MAX_KEYS` active at once): the key is in the answer only."""
        name = " ".join(name.split())
        if (problem := name_problem(name)) is not None:
            raise ValidationFailed({"name": problem})
        active = [k for k in await self._keys.for_user(user.id) if k.active]
        if len(active) >= MAX_KEYS:
            raise Conflict(f"You have {MAX_KEYS} API keys already. Revoke one you no longer use first.")
        secret = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
        key = ApiKey(
            id=self._new_id(),
            user_id=user.id,
            tenant_id=user.tenant_id,
            prefix=secret[:SHOWN_PREFIX],
            name=name or f"Key {len(active) + 1}",
            created_at=self.clock.now(),
        )
        stored = await self._keys.add(key, hash_api_key(secret))
        return IssuedKey(stored, secret)

    async def list(self, user: User) -> list[ApiKey]:
        """``user``'s active keys, newest first."""
        keys = [k for k in await self._keys.for_user(user.id) if k.active]
        return sorted(keys, key=lambda k: (k.created_at, k.id), reverse=True)

    async def revoke(self, user: User, key_id: str) -> ApiKey:
        """Revoke one of ``user``'s keys: every request with it is refused from now on. NotFound when it is not
        theirs (or does not exist); revoking a revoked key again changes nothing."""
        revoked = await self._keys.revoke(key_id, user.id, self.clock.now())
        if revoked is None:
            raise NotFound("No such API key.")
        return revoked

    async def authenticate(self, token: str) -> ApiPrincipal:
        """The principal of a presented key; InvalidApiKey when it is malformed, unknown or revoked, or its owner
        is gone. Records when the key was last used (at most once per ``touch_every``)."""
        if not looks_like_key(token):
            raise InvalidApiKey()
        key = await self._keys.by_hash(hash_api_key(token))
        if key is None:
            raise InvalidApiKey()
        if not key.active:
            raise InvalidApiKey("This API key was revoked. Create a new one by typing 'api key' in your chat.")
        user = await self._users.get(key.user_id)
        if user is None or user.tenant_id != key.tenant_id:
            raise InvalidApiKey()
        now = self.clock.now()
        if key.last_used_at is None or key.last_used_at <= now - self.touch_every:
            await self._keys.touch(key.id, now, now - self.touch_every)
        return ApiPrincipal(key.id, user)
