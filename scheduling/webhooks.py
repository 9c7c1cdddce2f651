"""Webhooks: subscriptions (made through the REST API), and their delivery from the durable outbox.

Events: ``booking.created``, ``booking.rescheduled``, ``booking.cancelled`` (also when the host cancelled or moved
the meeting in Outlook: ``"source": "outlook"``), ``link.created``, and ``ping`` (sent on request, to one
subscription). A delivery is a POST of ``{"type", "timestamp", "data"}`` (``data``: the booking or link as the API
returns it, ``scheduling.resources``), signed per the Standard Webhooks specification: ``webhook-id`` (the same on
every attempt of one delivery), ``webhook-timestamp`` (the attempt's, in Unix seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, keyed with the base64 key of a ``whsec_`` secret). After a
secret is rotated, the old one signs too, for :data:`ROTATION_OVERLAP` (two signatures, space-separated).

How an event becomes deliveries (the fan-out):

1. the use case that changes something writes one outbox item on the ``webhook`` channel in the same transaction
   as the change (:func:`announce`; the booking use cases write it beside the Teams item; ``link.created``,
   ``scheduling.links.link_created``, is written with the link, personal or team);
2. the webhook channel's delivery (``scheduling.delivery``, row leases with SKIP LOCKED) hands that *event item*
   to :meth:`WebhookService.deliver`, which finds the subscriptions that want it (its audience's, by event type, in
   the event's tenant), renders the event's ``data`` and writes one *delivery item* per subscription
   (``dedupe_key`` = ``whd:<subscription>:<event>``) with its delivery record, in one transaction; the event item
   is then done. Repeating this step (a crash before the event item was marked done) writes nothing new: the
   dedupe keys already exist. So each (subscription, event) is one outbox item, created once, whose id is the
   ``webhook-id``; the change itself never waits for anyone's subscriptions, and a subscription made after the
   event is not sent it.
3. each delivery item is sent by the same channel: 2xx within :data:`SEND_TIMEOUT` is delivered; 410 disables
   the subscription at once; anything else is retried with exponential back-off and jitter by the channel's
   retry policy (``WEBHOOK_RETRY``: up to 24 hours, no sooner than a receiver's ``Retry-After``). When the policy
   gives up and nothing reached the subscription since the event (24 hours of failures), the subscription is
   disabled and its owner is told in chat (an outbox item of the Teams channel, written with the change).

Who an event goes to (its audience, :meth:`WebhookService._audience`): whoever sees the booking or link through
the API. A booking event goes to every host of the booking (``hostIds``: the organiser, and every member of a
collective booking), to its link's owner, and for a team link to who manages it away from Teams
(``TeamLinkView.managers_without_roster``: its creator), whichever member hosts it; ``link.created`` goes to who
made the link. Nobody else: not the other members of a team's rotation, never anyone of another tenant.

What an event carries: a booking event the booking as ``GET /api/v1/bookings/{id}`` returns it (with its
``hosts``, those still Slotwise users, organiser first) and what the change adds; ``link.created`` the event type as
``GET /api/v1/event-types/{id}`` returns it (a team link's with its team and team settings, read through the
``team_links`` port, ``TeamLinkService.view``).

Delivery is at least once: a worker that dies between a send and its record sends again, with the same
``webhook-id``, once its lease runs out.

Where a target may be: :func:`url_problem` (https only, except in sandbox mode) and :func:`address_problem`
(never loopback, private, link-local, shared, reserved or metadata addresses; sandbox mode allows IPv4 loopback so
a receiver on this machine works). The sender adapter (``web.webhooks``) applies :func:`address_problem` to every
address a name resolves to at each attempt and connects only to an address it checked, so DNS rebinding doesn't
pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from scheduling.delivery import WEBHOOK, WEBHOOK_RETRY, RetryPolicy
from scheduling.domain import EventType, OutboxItem, User
from scheduling.errors import Conflict, NotFound, SchedulingError, ValidationFailed
from scheduling.invitee import has_control
from scheduling.ports import Clock, Delivery, Obsolete, RetryLater, Undeliverable
from scheduling.resources import booking_event_data, iso_z, link_resource, team_link_resource

if TYPE_CHECKING:
    from scheduling.stores import EventTypeStore, LinkExpiryStore, UserStore, WebhookStore
    from scheduling.teams import TeamLinkView

#: A team link with its team, settings, rotation and creator (``TeamLinkService.view``; NotFound when the link is
#: gone or no team link): what ``link.created`` of a team link carries, and who manages it (booking events' audience).
TeamLinkReader = Callable[[str], Awaitable["TeamLinkView"]]

BOOKING_CREATED = "booking.created"
BOOKING_RESCHEDULED = "booking.rescheduled"
BOOKING_CANCELLED = "booking.cancelled"
LINK_CREATED = "link.created"
PING = "ping"
#: what a subscription can ask for (``ping`` is sent on request to one subscription)
EVENTS: tuple[str, ...] = (BOOKING_CREATED, BOOKING_RESCHEDULED, BOOKING_CANCELLED, LINK_CREATED)
WEBHOOK_DISABLED = "webhook.disabled"  # the Teams notice to a subscription's owner

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SECRET_BYTES = 32
SECRET_KEY_PURPOSE = "webhook-secrets"  # noqa: S105 - a purpose name; derive_key(secret, ...) encrypts the signing secrets at rest
ROTATION_OVERLAP = timedelta(hours=24)
SEND_TIMEOUT = 10.0  # seconds: a 2xx later than this is a failure
FINAL_MARGIN = timedelta(seconds=30)  # a failure this close to the policy's deadline is the last one
MAX_URL = 2048
MAX_DESCRIPTION = 200
MAX_SUBSCRIPTIONS = 20  # per person
DELIVERIES_SHOWN = 50
USER_AGENT = "Slotwise-Webhooks/1"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not attempted yet
    RETRYING = "retrying"  # failed, tried again later
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # given up (410, or retries ran out)
    SKIPPED = "skipped"  # not sent: the subscription was disabled first


@dataclass(frozen=True, slots=True)
class WebhookSubscription:
    id: str
    user_id: str
    tenant_id: str
    url: str
    events: tuple[str, ...]
    description: str
    secret: str  # whsec_...; encrypted at rest by the store
    created_at: datetime
    updated_at: datetime
    previous_secret: str | None = None  # signs too until previous_secret_expires_at (after a rotation)
    previous_secret_expires_at: datetime | None = None
    enabled: bool = True
    disabled_reason: str = ""
    disabled_at: datetime | None = None
    last_success_at: datetime | None = None
    version: int = 1


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery (a subscription and an event): what happened to it so far. ``id`` is its ``webhook-id``."""

    id: str
    subscription_id: str
    event: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    response_code: int | None = None
    error: str = ""
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery item to write (with its record) at fan-out or for a ping."""

    item: OutboxItem
    subscription_id: str


@dataclass(frozen=True, slots=True)
class SubscriptionChanges:
    """A partial update: None leaves a field as it is."""

    url: str | None = None
    events: tuple[str, ...] | None = None
    description: str | None = None
    enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class NewSubscription:
    subscription: WebhookSubscription
    secret: str  # shown once


@dataclass(frozen=True, slots=True)
class Rotation:
    subscription: WebhookSubscription
    secret: str  # the new secret, shown once
    previous_expires_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """What a receiver answered: its status, and its ``Retry-After`` when it gave one."""

    status: int
    retry_after: timedelta | None = None


class UnsafeTarget(SchedulingError):
    """A webhook target Slotwise won't call (scheme, credentials, or an address that is not public)."""

    code = "unsafe_webhook_target"


class WebhookSender(Protocol):
    """Sends one signed request (``web.webhooks``). Both methods raise :class:`UnsafeTarget` for a target that
    is, or resolves to, an address :func:`address_problem` refuses."""

    async def check(self, url: str) -> None:
        """Resolve ``url``'s host now and check every address (when a subscription is made or changed)."""
        ...

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        """POST ``body`` to ``url`` (no redirects followed), bounded by :data:`SEND_TIMEOUT` in all; raises on a
        network failure or timeout."""
        ...


# ------------------------------------------------------------------ where a target may be


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_problem(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why Slotwise won't connect to ``address``, or None. Only public (global unicast) addresses are allowed;
    ``allow_loopback`` (sandbox mode) also allows IPv4 loopback (127.0.0.0/8)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        if allow_loopback and address.version == 4:
            return None
        return f"{address} is a loopback address (this machine)."
    if address.is_link_local:
        metadata = str(address) in ("169.254.169.254", "fd00:ec2::254")
        return f"{address} is a {'cloud metadata' if metadata else 'link-local'} address."
    if str(address) == "fd00:ec2::254":
        return f"{address} is a cloud metadata address."
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return f"{address} is not an address a webhook can be sent to."
    if address.is_private:
        return f"{address} is a private network address."
    if not address.is_global:
        return f"{address} is not a public internet address."
    return None


def url_problem(url: str, *, sandbox: bool = False) -> str | None:
    """What is wrong with ``url`` as a webhook target, before resolving it (None: fine so far)."""
    if not url or len(url) > MAX_URL:
        return f"Give the receiver's address, up to {MAX_URL} characters."
    if has_control(url) or any(c.isspace() for c in url):
        return "The address contains spaces or characters that can't be in a URL."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "This is not a valid URL."
    allowed = ("https", "http") if sandbox else ("https",)
    if parts.scheme.lower() not in allowed:
        return "The address must start with https:// (webhooks are only sent over HTTPS)."
    if parts.username is not None or parts.password is not None:
        return "Put no user name or password in the address; verify our signature instead."
    if parts.fragment:
        return "The address can't have a #fragment."
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "The address needs a host name."
    if port == 0:
        return "The address's port must be 1 to 65535."
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        problem = address_problem(literal, allow_loopback=sandbox)
        return f"Webhooks can't be sent to {problem[:1].lower()}{problem[1:]}" if problem else None
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return None if sandbox else "Webhooks can't be sent to localhost (this machine)."
    if "." not in host:
        return "Use the receiver's full host name (like hooks.example.com)."
    return None


# ------------------------------------------------------------------ secrets and signatures


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """One Standard Webhooks signature: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signature_header(
    subscription: WebhookSubscription, message_id: str, timestamp: int, body: str, now: datetime
) -> str:
    """The ``webhook-signature`` header: the current secret's signature, and the previous secret's while it is
    still valid after a rotation."""
    signatures = [sign(subscription.secret, message_id, timestamp, body)]
    previous, until = subscription.previous_secret, subscription.previous_secret_expires_at
    if previous and until is not None and now < until:
        signatures.append(sign(previous, message_id, timestamp, body))
    return " ".join(signatures)


def event_body(kind: str, timestamp: datetime, data: Mapping[str, Any]) -> str:
    return json.dumps(
        {"type": kind, "timestamp": iso_z(timestamp), "data": dict(data)}, separators=(",", ":"), ensure_ascii=False
    )


def announce(item: OutboxItem) -> list[OutboxItem]:
    """``item`` (a Teams notice of a change) and the webhook event item of the same change, to write together."""
    return [item, replace(item, dedupe_key=f"webhook:{item.dedupe_key}", channel=WEBHOOK)]


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:500]


def _nothing() -> None:
    return None


def _host_ids(payload: Mapping[str, Any]) -> list[str]:
    """Who hosts a booking event's booking, organiser first: ``hostIds`` (``scheduling.booking.booking_payload``),
    or the organiser alone (``hostId``) in an event written before bookings named every host."""
    hosts = payload.get("hostIds")
    organiser = payload.get("hostId")
    ids = [organiser] if isinstance(organiser, str) else []
    if isinstance(hosts, list):
        ids += [h for h in hosts if isinstance(h, str)]
    return [h for h in dict.fromkeys(ids) if h]


# ------------------------------------------------------------------ the use cases


class WebhookService:
    """Subscriptions of a person (every method takes the acting user and sees only their own: NotFound
    otherwise), and the webhook channel's :class:`~scheduling.ports.Notifier` (:meth:`deliver`)."""

    def __init__(
        self,
        *,
        store: WebhookStore,
        event_types: EventTypeStore,
        users: UserStore,
        expiries: LinkExpiryStore,
        sender: WebhookSender,
        clock: Clock,
        base_url: str,
        team_links: TeamLinkReader | None = None,
        sandbox: bool = False,
        policy: RetryPolicy = WEBHOOK_RETRY,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        on_work: Callable[[], None] = _nothing,
    ) -> None:
        self._store = store
        self._event_types = event_types
        self._users = users
        self._expiries = expiries
        self._sender = sender
        self._team_links = team_links  # None: no team links (their link.created is not sent)
        self.clock = clock
        self.base_url = base_url
        self.sandbox = sandbox
        self.policy = policy
        self._new_id = new_id
        self.on_work = on_work  # new delivery items are due: the app wakes the webhook delivery

    # -------------------------------------------------------------- subscriptions

    async def _problems(self, url: str | None, events: Sequence[str] | None, description: str | None) -> dict[str, str]:
        problems: dict[str, str] = {}
        if url is not None:
            problem = url_problem(url, sandbox=self.sandbox)
            if problem is None:
                try:
                    await self._sender.check(url)
                except UnsafeTarget as exc:
                    problem = exc.message
            if problem is not None:
                problems["url"] = problem
        if events is not None:
            unknown = [e for e in events if e not in EVENTS]
            if unknown:
                problems["events"] = f"'{unknown[0][:40]}' is not an event; choose from: {', '.join(EVENTS)}."
            elif not events:
                problems["events"] = "Choose at least one event."
            elif len(set(events)) != len(events):
                problems["events"] = "Give each event once."
        if description is not None:
            if len(description) > MAX_DESCRIPTION:
                problems["description"] = f"A description can be at most {MAX_DESCRIPTION} characters long."
            elif has_control(description):
                problems["description"] = "The description contains characters we can't use."
        return problems

    async def create(self, user: User, url: str, events: Sequence[str], description: str = "") -> NewSubscription:
        """A subscription of ``user`` to ``events`` at ``url``, with a new secret (in the answer only)."""
        problems = await self._problems(url, events, description)
        if problems:
            raise ValidationFailed(problems)
        if len(await self._store.subscriptions_of(user.id)) >= MAX_SUBSCRIPTIONS:
            raise Conflict(f"You have {MAX_SUBSCRIPTIONS} webhook subscriptions already. Delete one first.")
        now = self.clock.now()
        secret = new_secret()
        subscription = WebhookSubscription(
            id=self._new_id(),
            user_id=user.id,
            tenant_id=user.tenant_id,
            url=url,
            events=tuple(events),
            description=description.strip(),
            secret=secret,
            created_at=now,
            updated_at=now,
        )
        return NewSubscription(await self._store.add_subscription(subscription), secret)

    async def subscriptions(self, user: User) -> list[WebhookSubscription]:
        return sorted(await self._store.subscriptions_of(user.id), key=lambda s: (s.created_at, s.id))

    async def get(self, user: User, subscription_id: str) -> WebhookSubscription:
        found = await self._store.subscription(subscription_id)
        if found is None or found.user_id != user.id or found.tenant_id != user.tenant_id:
            raise NotFound("No such webhook subscription.")
        return found

    async def update(self, user: User, subscription_id: str, changes: SubscriptionChanges) -> WebhookSubscription:
        """Change what is given (every problem at once, nothing saved unless all are fine). Enabling a disabled
        subscription clears why it was disabled; deliveries it skipped meanwhile are not sent again."""
        current = await self.get(user, subscription_id)
        url = changes.url if changes.url is not None and changes.url != current.url else None
        problems = await self._problems(url, changes.events, changes.description)
        if problems:
            raise ValidationFailed(problems)
        enabled = current.enabled if changes.enabled is None else changes.enabled
        updated = replace(
            current,
            url=changes.url if changes.url is not None else current.url,
            events=tuple(changes.events) if changes.events is not None else current.events,
            description=changes.description.strip() if changes.description is not None else current.description,
            enabled=enabled,
            disabled_reason=current.disabled_reason if not enabled else "",
            disabled_at=current.disabled_at if not enabled else None,
            updated_at=self.clock.now(),
        )
        if not enabled and current.enabled:
            updated = replace(updated, disabled_reason="Disabled by its owner.", disabled_at=self.clock.now())
        return await self._store.save_subscription(updated)

    async def delete(self, user: User, subscription_id: str) -> None:
        current = await self.get(user, subscription_id)
        await self._store.delete_subscription(current.id)

    async def rotate(self, user: User, subscription_id: str) -> Rotation:
        """A new secret; the one it replaces keeps signing (beside it) for :data:`ROTATION_OVERLAP`."""
        current = await self.get(user, subscription_id)
        now = self.clock.now()
        secret = new_secret()
        until = now + ROTATION_OVERLAP
        rotated = replace(
            current, secret=secret, previous_secret=current.secret, previous_secret_expires_at=until, updated_at=now
        )
        return Rotation(await self._store.save_subscription(rotated), secret, until)

    async def ping(self, user: User, subscription_id: str) -> DeliveryRecord:
        """Queue a ``ping`` to the subscription (delivered like any event); its delivery record."""
        subscription = await self.get(user, subscription_id)
        if not subscription.enabled:
            raise Conflict("This subscription is disabled; enable it before sending a ping.")
        now = self.clock.now()
        occasion = self._new_id()
        body = event_body(PING, now, {"subscriptionId": subscription.id, "ping": occasion})
        item = OutboxItem(
            PING,
            subscription.tenant_id,
            {"subscriptionId": subscription.id, "body": body},
            f"whd:{subscription.id}:ping:{occasion}",
            channel=WEBHOOK,
        )
        written = await self._store.fan_out([NewDelivery(item, subscription.id)])
        if not written:
            raise Conflict("The ping could not be queued; please try again.")
        self.on_work()
        return DeliveryRecord(written[0], subscription.id, PING, DeliveryStatus.PENDING, 0, now)

    async def deliveries(self, user: User, subscription_id: str) -> list[DeliveryRecord]:
        """The subscription's last :data:`DELIVERIES_SHOWN` deliveries, newest first."""
        subscription = await self.get(user, subscription_id)
        return await self._store.deliveries(subscription.id, DELIVERIES_SHOWN)

    # -------------------------------------------------------------- delivery (the webhook channel's Notifier)

    async def deliver(self, delivery: Delivery) -> None:
        subscription_id = delivery.item.payload.get("subscriptionId")
        if isinstance(subscription_id, str):
            await self._send(delivery, subscription_id)
        else:
            await self._fan_out(delivery)

    async def _fan_out(self, delivery: Delivery) -> None:
        item = delivery.item
        if item.kind not in EVENTS:
            raise Undeliverable(f"there is no webhook event '{item.kind}'")
        link = await self._link_of(item)
        team = await self._team_of(link)
        audience = self._audience(item, link, team)
        if not audience:
            return
        subscriptions = await self._store.audience(item.tenant_id, sorted(audience), item.kind)
        if not subscriptions:
            return
        body = event_body(item.kind, delivery.enqueued_at, await self._event_data(item, link, team))
        written = await self._store.fan_out(
            [
                NewDelivery(
                    OutboxItem(
                        item.kind,
                        item.tenant_id,
                        {"subscriptionId": s.id, "body": body},
                        f"whd:{s.id}:{item.dedupe_key}",
                        channel=WEBHOOK,
                    ),
                    s.id,
                )
                for s in subscriptions
            ]
        )
        if written:
            self.on_work()

    async def _link_of(self, item: OutboxItem) -> EventType | None:
        """The event's link, in the event's tenant (None: deleted, or never a link of that tenant)."""
        link_id = item.payload.get("eventTypeId")
        link = await self._event_types.get(link_id) if isinstance(link_id, str) and link_id else None
        return link if link is not None and link.tenant_id == item.tenant_id else None

    async def _team_of(self, link: EventType | None) -> TeamLinkView | None:
        """A team link's view (team, settings, rotation, creator); None for a personal link, and for a team link
        that is gone (with its team) or when no team links are wired."""
        if link is None or link.team_id is None or self._team_links is None:
            return None
        try:
            view = await self._team_links(link.id)
        except NotFound:
            return None
        return view if view.link.tenant_id == link.tenant_id else None

    async def _event_data(self, item: OutboxItem, link: EventType | None, team: TeamLinkView | None) -> dict[str, Any]:
        """The event's ``data``: the booking (with its hosts) or the link, as the API returns it."""
        payload = item.payload
        if item.kind != LINK_CREATED:
            return booking_event_data(payload, await self._hosts(item))
        if link is None or (link.team_id is not None and team is None):
            raise Obsolete("the link was deleted before its webhooks went out")
        expires = (await self._expiries.expiries([link.id])).get(link.id)
        if team is not None:
            return team_link_resource(team, self.base_url, expires)
        owner = await self._users.get(link.owner_user_id) if link.owner_user_id else None
        return link_resource(link, owner, self.base_url, expires)

    async def _hosts(self, item: OutboxItem) -> list[User]:
        """The people hosting the event's booking, organiser first (those still Slotwise users, as the API's
        booking names them)."""
        out = []
        for host_id in _host_ids(item.payload):
            user = await self._users.get(host_id)
            if user is not None and user.tenant_id == item.tenant_id:
                out.append(user)
        return out

    def _audience(self, item: OutboxItem, link: EventType | None, team: TeamLinkView | None) -> set[str]:
        """Whose subscriptions an event goes to (the module docstring): a booking's hosts, its link's owner, and
        who manages its team link; a new link's maker. The store keeps to the event's tenant."""
        payload = item.payload
        if item.kind == LINK_CREATED:
            owner = payload.get("ownerId")
            return {owner} if isinstance(owner, str) and owner else set()
        people = set(_host_ids(payload))
        if link is not None and link.owner_user_id:
            people.add(link.owner_user_id)
        if team is not None:
            people |= {u.id for u in team.managers_without_roster}
        return people

    async def _send(self, delivery: Delivery, subscription_id: str) -> None:
        subscription = await self._store.subscription(subscription_id)
        if subscription is None:
            raise Obsolete("the subscription was deleted")
        now = self.clock.now()
        if not subscription.enabled:
            await self._store.attempted(
                delivery.id, subscription.id, status=DeliveryStatus.SKIPPED, response_code=None, error="", at=now
            )
            raise Obsolete("the subscription is disabled")
        body = delivery.item.payload.get("body")
        if not isinstance(body, str):
            raise Undeliverable("the delivery has no body")
        message_id = f"msg_{delivery.id}"
        timestamp = int(now.timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(subscription, message_id, timestamp, body, now),
        }
        try:
            answer = await self._sender.post(subscription.url, body.encode(), headers)
        except UnsafeTarget as exc:
            await self._failed(delivery, subscription, None, exc.message, None)
            return
        except Exception as exc:  # network failure, timeout: an attempt retried by the policy
            await self._failed(delivery, subscription, None, _describe(exc), None)
            return
        done = self.clock.now()
        if 200 <= answer.status < 300:
            await self._store.attempted(
                delivery.id,
                subscription.id,
                status=DeliveryStatus.SUCCEEDED,
                response_code=answer.status,
                error="",
                at=done,
                succeeded=True,
            )
            return
        if answer.status == 410:
            await self._store.attempted(
                delivery.id,
                subscription.id,
                status=DeliveryStatus.FAILED,
                response_code=410,
                error="410 Gone",
                at=done,
            )
            await self._disable(subscription, "The receiver answered 410 Gone, so it was disabled at once.", done)
            raise Undeliverable("the receiver answered 410 Gone: the subscription is disabled")
        await self._failed(delivery, subscription, answer.status, f"HTTP {answer.status}", answer.retry_after)

    async def _failed(
        self,
        delivery: Delivery,
        subscription: WebhookSubscription,
        code: int | None,
        reason: str,
        retry_after: timedelta | None,
    ) -> None:
        now = self.clock.now()
        final = (
            self.policy.next_attempt(
                delivery.attempt, now=now + FINAL_MARGIN, enqueued_at=delivery.enqueued_at, retry_after=retry_after
            )
            is None
        )
        status = DeliveryStatus.FAILED if final else DeliveryStatus.RETRYING
        await self._store.attempted(
            delivery.id, subscription.id, status=status, response_code=code, error=reason, at=now
        )
        if not final:
            raise RetryLater(reason, retry_after=retry_after)
        last = subscription.last_success_at
        if last is None or last < delivery.enqueued_at:
            await self._disable(subscription, f"Deliveries failed for 24 hours (the last one: {reason}).", now)
        raise Undeliverable(f"given up after {delivery.attempt} attempts: {reason}")

    async def _disable(self, subscription: WebhookSubscription, reason: str, now: datetime) -> None:
        notice = OutboxItem(
            WEBHOOK_DISABLED,
            subscription.tenant_id,
            {
                "hostId": subscription.user_id,
                "subscriptionId": subscription.id,
                "url": subscription.url,
                "description": subscription.description,
                "reason": reason,
            },
            f"{WEBHOOK_DISABLED}:{subscription.id}:{iso_z(now)}",
        )
        await self._store.disable(subscription.id, reason, now, notice)
