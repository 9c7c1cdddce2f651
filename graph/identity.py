"""Delegated Microsoft identity for Graph: MSAL confidential client, one encrypted token cache per user.

* **Per-user cache.** Each user's ``msal.SerializableTokenCache`` lives in a
  :class:`scheduling.ports.TokenCacheStore` as one encrypted blob (:class:`TokenCacheCipher`: AES-256-GCM
  under the token-cache key derived from the Slotwise secret key, with the Slotwise user id as associated
  data, so a blob copied to another user's row does not decrypt; the secret is passed in, never read
  from the environment). Blobs of the first format (Fernet, not bound to a user) are still read and are
  re-encrypted in the current format the first time they are loaded. A blob is loaded, used and - only
  when ``has_state_changed`` - saved back, under a per-user lock.
* **Silent first.** :meth:`MsalIdentity.access_token` calls ``acquire_token_silent_with_error`` before
  every Graph call, so access tokens are refreshed transparently from the stored refresh token (a
  booking made while the host is offline works); failures are typed (``graph.errors.msal_error``).
* **Tenant.** On-behalf-of runs against the tenant of the incoming Teams token (its ``tid``), the
  sign-in fallback against the Teams user's tenant, and a silent refresh against the tenant the cache's
  tokens were issued in, never ``organizations``/``common``: a guest gets a token of the tenant they
  use Teams in, not of their home tenant.
* **Connecting.** Teams SSO: :meth:`MsalIdentity.obtain_sso_tokens` (on-behalf-of). Fallback:
  :meth:`MsalIdentity.start_sign_in` / :meth:`MsalIdentity.redeem_sign_in` (authorization code with
  PKCE, ``state`` from the caller). Both start from an empty cache, so a blob holds one account, and
  both return :class:`PendingTokens`: nothing is stored until the caller has checked whose account it
  is and calls ``keep()`` (:meth:`exchange_sso_token` / :meth:`complete_sign_in` keep at once).
* **Threads.** msal is blocking (its constructor already fetches the OIDC discovery document), so every
  msal call runs in ``asyncio.to_thread``; discovery is cached in one ``http_cache`` per instance.
* **Sandbox.** :func:`sandbox_http_client` gives MSAL an ``httpx.Client`` that forwards
  ``https://login.microsoftonline.com/...`` to the emulator's login app (graph-facts §8.3), so the
  authority stays a real-looking https URL and MSAL code paths are the production ones.

Scopes are the graph-qualified ``Calendars.ReadWrite``, ``MailboxSettings.Read`` and ``User.Read``;
``openid``/``profile``/``offline_access`` are added by MSAL itself and must never be passed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import httpx
import msal
from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from msal.exceptions import MsalServiceError

from graph.errors import CalendarAuthError, GraphError, GraphTransient, InteractionRequired, msal_error
from scheduling.keys import TOKEN_CACHE, derive_key
from scheduling.ports import TokenCacheStore

log = logging.getLogger("slotwise.graph")

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_SCOPES: tuple[str, ...] = (
    f"{GRAPH_RESOURCE}/Calendars.ReadWrite",
    f"{GRAPH_RESOURCE}/MailboxSettings.Read",
    f"{GRAPH_RESOURCE}/User.Read",
)
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
MICROSOFT_LOGIN = "https://login.microsoftonline.com"
_LEGACY_HKDF_SALT = b"slotwise/msal-token-cache"  # format 1 (Fernet): read only, re-encrypted when loaded
_LEGACY_HKDF_INFO = b"fernet-key-v1"
_CACHE_FORMAT = b"sw2."  # format 2: AES-256-GCM, the user id as associated data
_CACHE_AAD = b"slotwise/token-cache/v2\x00"
_MULTI_TENANT = frozenset({"common", "organizations", "consumers"})
_UNREACHABLE = "Slotwise can't reach the Microsoft sign-in service right now. Try again shortly."
_NOT_CONNECTED = "This person hasn't connected their Outlook calendar to Slotwise yet."
_STALE_SIGN_IN = "That sign-in link expired or was already used. Please sign in again."

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    """The app registration. ``tenant`` is the authority tenant (a GUID or domain for single-tenant
    apps, ``organizations`` for multi-tenant work accounts)."""

    client_id: str
    client_secret: str
    redirect_uri: str = ""
    tenant: str = "organizations"
    authority_host: str = MICROSOFT_LOGIN
    admin_consent_redirect_uri: str = ""
    scopes: tuple[str, ...] = GRAPH_SCOPES
    instance_discovery: bool = True
    timeout: float = 15.0

    def __post_init__(self) -> None:
        bad = [s for s in self.scopes if s.lower() in RESERVED_SCOPES]
        if bad:
            raise ValueError(f"MSAL adds {', '.join(bad)} itself; don't configure them")

    @property
    def authority(self) -> str:
        return self.authority_for(None)

    def authority_for(self, tenant: str | None) -> str:
        """The authority of ``tenant`` (a user's own tenant id), or of the configured tenant."""
        return f"{self.authority_host.rstrip('/')}/{tenant or self.tenant}"


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """Who a token cache belongs to (from the id token / client_info)."""

    user_id: str
    object_id: str
    tenant_id: str
    username: str
    name: str
    home_account_id: str


@dataclass(frozen=True, slots=True)
class SignInStart:
    """The start of an auth-code sign-in: send the browser to ``auth_uri``; keep ``flow`` server-side
    (it holds the PKCE verifier and nonce) until the callback."""

    auth_uri: str
    flow: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class PendingTokens:
    """Tokens just obtained for ``signed_in``, in memory only: ``await keep()`` stores them (encrypted) as
    the cache of the Slotwise user they were requested for. Drop it to store nothing."""

    signed_in: SignedInUser
    keep: Callable[[], Awaitable[None]] = field(repr=False, compare=False)


class TokenCacheCipher:
    """Encryption of token-cache blobs, each bound to the Slotwise user it belongs to.

    Format 2 (written): ``sw2.`` + base64url(nonce || AES-256-GCM ciphertext and tag), the key derived
    with :func:`scheduling.keys.derive_key` for the token-cache purpose, the user id as associated data.
    Format 1 (read only, from before): Fernet with an HKDF-SHA256 key of the secret, not bound to a user;
    :meth:`is_current` tells the caller to re-encrypt it. ``previous_secret_keys`` still decrypt (key
    rotation); new blobs use ``secret_key``."""

    def __init__(self, secret_key: str | bytes, previous_secret_keys: Sequence[str | bytes] = ()) -> None:
        keys = [secret_key, *previous_secret_keys]
        if not secret_key:
            raise ValueError("a secret key is required to encrypt token caches")
        self._aeads = [AESGCM(derive_key(k, TOKEN_CACHE)) for k in keys]
        self._legacy = MultiFernet([Fernet(self._legacy_key(k)) for k in keys])

    @staticmethod
    def _legacy_key(secret: str | bytes) -> bytes:
        material = secret.encode("utf-8") if isinstance(secret, str) else secret
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_LEGACY_HKDF_SALT, info=_LEGACY_HKDF_INFO).derive(
            material
        )
        return base64.urlsafe_b64encode(key)

    @staticmethod
    def _aad(user_id: str) -> bytes:
        return _CACHE_AAD + user_id.encode("utf-8")

    @staticmethod
    def is_current(blob: bytes) -> bool:
        """Whether ``blob`` is in the current (user-bound) format."""
        return blob.startswith(_CACHE_FORMAT)

    def encrypt(self, text: str, user_id: str) -> bytes:
        nonce = os.urandom(12)
        sealed = self._aeads[0].encrypt(nonce, text.encode("utf-8"), self._aad(user_id))
        return _CACHE_FORMAT + base64.urlsafe_b64encode(nonce + sealed)

    def decrypt(self, blob: bytes, user_id: str) -> str:
        """The cache text of ``user_id``'s blob. Raises :class:`cryptography.fernet.InvalidToken` for a blob
        not made with our keys, or made for another user."""
        if not self.is_current(blob):
            return self._legacy.decrypt(blob).decode("utf-8")
        try:
            raw = base64.urlsafe_b64decode(blob[len(_CACHE_FORMAT) :])
        except (binascii.Error, ValueError) as exc:
            raise InvalidToken from exc
        if len(raw) < 12 + 16:
            raise InvalidToken
        for aead in self._aeads:
            try:
                return aead.decrypt(raw[:12], raw[12:], self._aad(user_id)).decode("utf-8")
            except InvalidTag:
                continue
        raise InvalidToken


class _LockedDict(MutableMapping[Any, Any]):
    """A thread-safe dict for MSAL's ``http_cache`` shared by the apps built in worker threads."""

    def __init__(self) -> None:
        self._data: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key: Any) -> Any:
        with self._lock:
            return self._data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value

    def __delitem__(self, key: Any) -> None:
        with self._lock:
            del self._data[key]

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            return iter(list(self._data))

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


def _jwt_claims(token: str) -> dict[str, Any]:
    """The unverified payload of a JWT (used only to pick a tenant for a URL), or {}."""
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return {}
    return payload if isinstance(payload, dict) else {}


class MsalIdentity:
    """Token handling for delegated Graph access, one encrypted MSAL cache per Slotwise user.

    ``http_client`` replaces MSAL's HTTP client (see :func:`sandbox_http_client`); ``http_cache`` is
    MSAL's HTTP cache (discovery for 24 h, a failed token POST replayed for 60 s) - pass a fresh one
    when a test flips a sign-in error off again. ``browser_login_base`` rewrites the ``auth_uri`` sent
    to browsers (the sandbox login app); the authority itself is unchanged.
    """

    def __init__(
        self,
        config: IdentityConfig,
        store: TokenCacheStore,
        secret_key: str | bytes,
        *,
        previous_secret_keys: Sequence[str | bytes] = (),
        http_client: Any = None,
        http_cache: MutableMapping[Any, Any] | None = None,
        browser_login_base: str | None = None,
        owns_http_client: bool = False,
    ) -> None:
        self.config = config
        self._owns_http_client = owns_http_client
        self._store = store
        self._cipher = TokenCacheCipher(secret_key, previous_secret_keys)
        self._http_client = http_client
        self._http_cache: MutableMapping[Any, Any] = http_cache if http_cache is not None else _LockedDict()
        self._browser_login_base = browser_login_base.rstrip("/") if browser_login_base else None
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def close(self) -> None:
        """Close the HTTP client if this identity created it (see :func:`sandbox_identity`)."""
        if self._owns_http_client and self._http_client is not None:
            self._http_client.close()

    # ------------------------------------------------------------------ plumbing

    def _lock(self, user_id: str) -> asyncio.Lock:
        lock = self._locks.get(user_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[user_id] = lock
        return lock

    def _app(
        self, cache: msal.TokenCache | None = None, tenant: str | None = None
    ) -> msal.ConfidentialClientApplication:
        kwargs: dict[str, Any] = {
            "client_credential": self.config.client_secret,
            "authority": self.config.authority_for(tenant),
            "token_cache": cache,
            "http_cache": self._http_cache,
            "timeout": self.config.timeout,
        }
        if self._http_client is not None:
            kwargs["http_client"] = self._http_client
        if not self.config.instance_discovery:
            kwargs["instance_discovery"] = False
        try:
            return msal.ConfidentialClientApplication(self.config.client_id, **kwargs)
        except ValueError as exc:
            raise GraphError(_UNREACHABLE, graph_code="authority_unavailable", detail=str(exc)) from exc

    async def _load(self, user_id: str) -> msal.SerializableTokenCache | None:
        """``user_id``'s cache (call under the user's lock). A blob in the old format is re-encrypted in the
        current one at once; a blob that doesn't decrypt for this user (another key, or copied from another
        user's row) raises CalendarAuthError: that user is not connected."""
        blob = await self._store.load_token_cache(user_id)
        if blob is None:
            return None
        try:
            text = self._cipher.decrypt(blob, user_id)
        except InvalidToken as exc:
            log.error("token cache of user %s can't be decrypted (secret key changed, or not this user's)", user_id)
            raise CalendarAuthError(_NOT_CONNECTED, graph_code="token_cache_unreadable") from exc
        if not self._cipher.is_current(blob):
            await self._store.save_token_cache(user_id, self._cipher.encrypt(text, user_id))
            log.info("token cache of user %s re-encrypted in the current format", user_id)
        cache = msal.SerializableTokenCache()
        cache.deserialize(text)
        return cache

    async def _save(self, user_id: str, cache: msal.SerializableTokenCache) -> None:
        if cache.has_state_changed:
            await self._store.save_token_cache(user_id, self._cipher.encrypt(cache.serialize(), user_id))

    @staticmethod
    def _cache_tenant(cache: msal.TokenCache) -> str | None:
        """The tenant the cache's tokens were issued in: the account's realm when it is a tenant (caches made
        since tokens are requested per tenant), else the id token's ``tid``, else the home tenant."""
        accounts = list(cache.search(msal.TokenCache.CredentialType.ACCOUNT))
        for account in accounts:
            realm = str(account.get("realm") or "")
            if realm and realm.lower() not in _MULTI_TENANT:
                return realm
        for id_token in cache.search(msal.TokenCache.CredentialType.ID_TOKEN):
            tid = str(_jwt_claims(str(id_token.get("secret") or "")).get("tid") or "")
            if tid:
                return tid
        home = str(accounts[0].get("home_account_id") or "") if accounts else ""
        return home.split(".", 1)[1] if "." in home else None

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except MsalServiceError as exc:
            raise GraphTransient(_UNREACHABLE, graph_code="authority_error", detail=str(exc)) from exc
        except (httpx.HTTPError, OSError) as exc:
            raise GraphError(_UNREACHABLE, graph_code="authority_unreachable", detail=str(exc)) from exc

    def _tenant_hint(self, tenant_id: str | None) -> str:
        if tenant_id:
            return tenant_id
        if self.config.tenant.lower() not in ("common", "consumers"):
            return self.config.tenant
        return "organizations"

    def admin_consent_url(self, tenant_id: str | None = None, state: str | None = None) -> str:
        """The tenant admin-consent URL for Slotwise's scopes (never ``common``; graph-facts §8)."""
        params = {
            "client_id": self.config.client_id,
            "scope": " ".join(self.config.scopes),
            "redirect_uri": self.config.admin_consent_redirect_uri or self.config.redirect_uri,
            "state": state or secrets.token_urlsafe(16),
        }
        base = self.config.authority_host.rstrip("/")
        query = urlencode(params, quote_via=quote)
        return self._browser_uri(f"{base}/{self._tenant_hint(tenant_id)}/v2.0/adminconsent?{query}")

    def _error(self, result: Mapping[str, Any], tenant_id: str | None, *, silent_refresh: bool = False) -> GraphError:
        return msal_error(result, admin_consent_url=self.admin_consent_url(tenant_id), silent_refresh=silent_refresh)

    def _signed_in(
        self, user_id: str, result: Mapping[str, Any], cache: msal.TokenCache, vouched: Mapping[str, Any] | None = None
    ) -> SignedInUser:
        """Who the tokens in ``result`` belong to: the ``oid``/``tid`` of the id token Microsoft returned (of
        the tenant the tokens were requested in, so a guest's object id there), else of ``vouched`` (the
        assertion Microsoft just accepted for on-behalf-of). Never the home account (``client_info``),
        which for a guest is another tenant's identity."""
        claims = result.get("id_token_claims") or {}
        source = claims if claims.get("oid") and claims.get("tid") else (vouched or {})
        accounts = list(cache.search(msal.TokenCache.CredentialType.ACCOUNT))
        account = accounts[0] if accounts else {}
        home = str(account.get("home_account_id") or "")
        return SignedInUser(
            user_id=user_id,
            object_id=str(source.get("oid") or ""),
            tenant_id=str(source.get("tid") or ""),
            username=str(
                claims.get("preferred_username") or source.get("preferred_username") or account.get("username") or ""
            ),
            name=str(claims.get("name") or source.get("name") or ""),
            home_account_id=home,
        )

    def _pending(
        self,
        user_id: str,
        result: Mapping[str, Any],
        cache: msal.SerializableTokenCache,
        vouched: Mapping[str, Any] | None = None,
    ) -> PendingTokens:
        async def keep() -> None:
            async with self._lock(user_id):
                await self._save(user_id, cache)

        return PendingTokens(self._signed_in(user_id, result, cache, vouched), keep)

    # ------------------------------------------------------------------ silent use

    async def access_token(
        self, user_id: str, *, force_refresh: bool = False, claims_challenge: str | None = None
    ) -> str:
        """A Graph access token for ``user_id``, refreshed silently when needed.

        Raises :class:`CalendarAuthError` (not connected, expired or revoked: reconnect),
        :class:`ConsentRequired`, :class:`ClaimsChallenge` or :class:`InteractionRequired`."""
        async with self._lock(user_id):
            cache = await self._load(user_id)
            if cache is None:
                raise CalendarAuthError(_NOT_CONNECTED, graph_code="not_connected")
            scopes = list(self.config.scopes)
            tenant = self._cache_tenant(cache)

            def silent() -> dict[str, Any] | None:
                app = self._app(cache, tenant)
                accounts = app.get_accounts()
                if not accounts:
                    return None
                result: dict[str, Any] | None = app.acquire_token_silent_with_error(
                    scopes, account=accounts[0], force_refresh=force_refresh, claims_challenge=claims_challenge
                )
                return result

            result = await self._in_thread(silent)
            await self._save(user_id, cache)
        if not result:
            raise CalendarAuthError(graph_code="no_refresh_token")
        if "access_token" not in result:
            raise self._error(result, tenant, silent_refresh=True)  # invalid_grant: INFO, a reconnect follows
        return str(result["access_token"])

    def token_provider(self) -> TokenProvider:
        return TokenProvider(self)

    async def is_connected(self, user_id: str) -> bool:
        """Whether ``user_id`` has a token cache that is readable as theirs."""
        async with self._lock(user_id):
            try:
                return await self._load(user_id) is not None
            except CalendarAuthError:
                return False

    async def disconnect(self, user_id: str) -> None:
        """Forget the user's tokens (the "disconnect" command)."""
        async with self._lock(user_id):
            await self._store.delete_token_cache(user_id)

    # ------------------------------------------------------------------ connecting

    async def obtain_sso_tokens(
        self, user_id: str, sso_token: str, *, claims_challenge: str | None = None
    ) -> PendingTokens:
        """Teams SSO: exchange the Teams token on-behalf-of for Graph, against the token's own tenant
        (its ``tid``). Nothing is stored until ``keep()``."""
        vouched = _jwt_claims(sso_token)
        tenant = str(vouched.get("tid") or "") or None
        cache = msal.SerializableTokenCache()
        scopes = list(self.config.scopes)

        def obo() -> dict[str, Any]:
            result: dict[str, Any] = self._app(cache, tenant).acquire_token_on_behalf_of(
                user_assertion=sso_token, scopes=scopes, claims_challenge=claims_challenge
            )
            return result

        result = await self._in_thread(obo)
        if "access_token" not in result:
            raise self._error(result, tenant)
        return self._pending(user_id, result, cache, vouched)

    async def exchange_sso_token(
        self, user_id: str, sso_token: str, *, claims_challenge: str | None = None
    ) -> SignedInUser:
        """:meth:`obtain_sso_tokens` and store them as ``user_id``'s cache at once (no account check: for
        callers that know whose token it is, like the sandbox connector)."""
        pending = await self.obtain_sso_tokens(user_id, sso_token, claims_challenge=claims_challenge)
        await pending.keep()
        return pending.signed_in

    async def start_sign_in(
        self,
        state: str,
        *,
        redirect_uri: str | None = None,
        login_hint: str | None = None,
        domain_hint: str | None = None,
        claims_challenge: str | None = None,
        prompt: str | None = None,
        response_mode: str = "form_post",
        tenant: str | None = None,
    ) -> SignInStart:
        """Begin the auth-code + PKCE sign-in. ``state`` comes from the caller (bind it to the user);
        ``tenant`` is the user's own tenant (the configured authority without it).

        With the default ``form_post`` the callback receives the code as a POSTed form (RFC 9700
        §4.3.1); pass the form fields (or, with ``query``, the query parameters) and the same ``tenant``
        to :meth:`redeem_sign_in`."""
        if not state:
            raise ValueError("state is required (CSRF protection)")
        scopes = list(self.config.scopes)

        def initiate() -> dict[str, Any]:
            flow: dict[str, Any] = self._app(None, tenant).initiate_auth_code_flow(
                scopes,
                redirect_uri=redirect_uri or self.config.redirect_uri,
                state=state,
                prompt=prompt,
                login_hint=login_hint,
                domain_hint=domain_hint,
                claims_challenge=claims_challenge,
                response_mode=response_mode,
            )
            return flow

        flow = await self._in_thread(initiate)
        return SignInStart(auth_uri=self._browser_uri(str(flow["auth_uri"])), flow=flow)

    async def redeem_sign_in(
        self, user_id: str, flow: Mapping[str, Any], auth_response: Mapping[str, str], *, tenant: str | None = None
    ) -> PendingTokens:
        """Redeem the callback's code for tokens, against ``tenant`` (as given to :meth:`start_sign_in`).
        Nothing is stored until ``keep()``."""
        cache = msal.SerializableTokenCache()
        scopes = list(self.config.scopes)

        def redeem() -> dict[str, Any]:
            result: dict[str, Any] = self._app(cache, tenant).acquire_token_by_auth_code_flow(
                dict(flow), dict(auth_response), scopes=scopes
            )
            return result

        try:
            result = await self._in_thread(redeem)
        except (ValueError, RuntimeError) as exc:
            log.warning(
                "sign-in callback rejected for user %s: %s",
                user_id,  # never the states themselves
                "state missing or mismatched" if isinstance(exc, ValueError) else "nonce mismatch",
            )
            raise InteractionRequired(_STALE_SIGN_IN, graph_code="invalid_state", detail=str(exc)) from exc
        if "access_token" not in result:
            raise self._error(result, tenant)
        return self._pending(user_id, result, cache)

    async def complete_sign_in(
        self, user_id: str, flow: Mapping[str, Any], auth_response: Mapping[str, str], *, tenant: str | None = None
    ) -> SignedInUser:
        """:meth:`redeem_sign_in` and store the tokens as ``user_id``'s cache at once (no account check)."""
        pending = await self.redeem_sign_in(user_id, flow, auth_response, tenant=tenant)
        await pending.keep()
        return pending.signed_in

    def _browser_uri(self, uri: str) -> str:
        """A login URL as a browser must open it (the sandbox login app instead of Microsoft's host)."""
        if not self._browser_login_base:
            return uri
        parts = urlsplit(uri)
        prefix = urlsplit(self._browser_login_base).path
        path = parts.path[len(prefix) :] if prefix and parts.path.startswith(prefix + "/") else parts.path
        return f"{self._browser_login_base}{path}" + (f"?{parts.query}" if parts.query else "")


class TokenProvider:
    """The ``token_provider`` of :class:`graph.client.GraphClient`: ``await provider(user_id)``."""

    def __init__(self, identity: MsalIdentity) -> None:
        self._identity = identity

    async def __call__(self, user_id: str, force_refresh: bool = False) -> str:
        return await self._identity.access_token(user_id, force_refresh=force_refresh)


class LoginForwardingTransport(httpx.BaseTransport):
    """Sends requests for ``hosts`` (the Microsoft login host) to ``target_base`` instead.

    The emulator's discovery document may name its own ``http://127.0.0.1`` endpoints; MSAL only
    accepts https endpoints, so those are rewritten back to the Microsoft host, which this transport
    forwards again. Every other host goes out unchanged."""

    def __init__(
        self,
        target_base: str,
        hosts: Sequence[str] = ("login.microsoftonline.com",),
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self._target = target_base.rstrip("/")
        self._hosts = {h.lower() for h in hosts}
        self._public = f"https://{next(iter(hosts))}"
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host.lower() not in self._hosts:
            return self._inner.handle_request(request)
        path = request.url.raw_path.decode("ascii")
        target = urlsplit(self._target)
        # a discovery document built from the forwarded host already carries the mount prefix
        prefixed = bool(target.path) and (path == target.path or path.startswith(target.path + "/"))
        url = f"{target.scheme}://{target.netloc}{path}" if prefixed else self._target + path
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
        headers += [(b"X-Forwarded-Host", request.url.host.encode()), (b"X-Forwarded-Proto", b"https")]
        forwarded = httpx.Request(request.method, url, headers=headers, content=request.read())
        response = self._inner.handle_request(forwarded)
        content = response.read()
        is_discovery = path.split("?", 1)[0].endswith("/.well-known/openid-configuration")
        if is_discovery and response.status_code == 200:
            local_root = f"{target.scheme}://{target.netloc}"
            content = content.replace(local_root.encode(), self._public.encode())
        out_headers = [
            (k, v)
            for k, v in response.headers.raw
            if k.lower() not in (b"content-length", b"content-encoding", b"transfer-encoding")
        ]
        return httpx.Response(response.status_code, headers=out_headers, content=content, request=request)

    def close(self) -> None:
        self._inner.close()


def sandbox_http_client(login_base_url: str, *, timeout: float = 10.0) -> httpx.Client:
    """A sync ``httpx.Client`` for MSAL that serves ``https://login.microsoftonline.com/...`` from the
    emulator's login app at ``login_base_url`` (e.g. ``http://127.0.0.1:8000/sandbox/login``)."""
    return httpx.Client(transport=LoginForwardingTransport(login_base_url), timeout=timeout)


def sandbox_identity(
    config: IdentityConfig, store: TokenCacheStore, secret_key: str | bytes, login_base_url: str
) -> MsalIdentity:
    """An identity whose MSAL talks to the emulator's login app at ``login_base_url`` (for example
    ``http://127.0.0.1:3978/sandbox/login``): forwarded HTTP client, no instance discovery, and browser
    URLs (sign-in, admin consent) pointing at the local app. Call ``close()`` when done."""
    return MsalIdentity(
        replace(config, instance_discovery=False),
        store,
        secret_key,
        http_client=sandbox_http_client(login_base_url),
        browser_login_base=login_base_url,
        owns_http_client=True,
    )
