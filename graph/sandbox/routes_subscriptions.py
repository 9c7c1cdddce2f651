"""``/subscriptions``: change-notification subscriptions on a mailbox's events.

Create validates the body, then performs Graph's validation handshake against ``notificationUrl`` (and
``lifecycleNotificationUrl``): no 200 text/plain echo of the token within 10 s means 400 and no
subscription. Resources: ``me/events`` or ``users/{id|upn}/events`` of the signed-in user (delegated
access cannot subscribe to someone else's mailbox, nor to calendars shared with them: Graph's Outlook
resource paths for events are exactly these two). Expiry at most ``state.subscription_max_minutes``
ahead (10,080 for Outlook events today; further is 400 ``InvalidRequest``) and at least
``change_tracking.min_lifetime_minutes`` (45: sooner is raised to it, as Graph does). PATCH renews
(and reauthorizes), ``POST .../reauthorize`` answers a ``reauthorizationRequired`` challenge (204),
DELETE removes; an expired subscription is gone (404) and notifies nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from graph.sandbox.errors import GraphError
from graph.sandbox.model import Subscription
from graph.sandbox.pipeline import Ctx, GraphResponse, Route, ok
from graph.sandbox.timefmt import fmt_stamp, parse_query_instant

CHANGE_TYPES = ("created", "updated", "deleted")
_RESOURCE = re.compile(r"^/?(?:(me)|users/([^/]+))/events/?$", re.IGNORECASE)
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _invalid(message: str) -> GraphError:
    return GraphError(400, "InvalidRequest", message)


def _not_found(sub_id: str) -> GraphError:
    return GraphError(404, "ResourceNotFound", f"The object was not found. Subscription '{sub_id}'.")


def _field(body: Mapping[str, Any], name: str) -> Any:
    return next((v for k, v in body.items() if k.lower() == name.lower()), None)


def render_subscription(ctx: Ctx, sub: Subscription) -> dict[str, Any]:
    return {
        "@odata.context": ctx.context_url("subscriptions/$entity"),
        "id": sub.id,
        "resource": sub.resource,
        "applicationId": sub.application_id,
        "changeType": ",".join(sub.change_types),
        "clientState": sub.client_state,
        "notificationUrl": sub.notification_url,
        "notificationQueryOptions": None,
        "lifecycleNotificationUrl": sub.lifecycle_notification_url,
        "expirationDateTime": fmt_stamp(sub.expiration),
        "creatorId": sub.creator_id,
        "includeResourceData": False,
        "latestSupportedTlsVersion": sub.latest_tls,
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationUrlAppId": None,
    }


def _expiration(ctx: Ctx, value: Any) -> datetime:
    if not isinstance(value, str):
        raise _invalid("expirationDateTime is required.")
    try:
        when = parse_query_instant("expirationDateTime", value)
    except GraphError as exc:
        raise _invalid(f"expirationDateTime '{value}' is not a valid date and time.") from exc
    now = ctx.state.now()
    limit = ctx.state.subscription_max_minutes
    if when <= now:
        raise _invalid("Subscription expiration must be in the future.")
    if when > now + timedelta(minutes=limit):
        raise _invalid(f"Subscription expiration can only be {limit} minutes in the future.")
    return max(when, now + timedelta(minutes=ctx.state.change_tracking.min_lifetime_minutes))


def _answer_challenge(sub: Subscription) -> None:
    sub.challenge_pending_since = None


def _check_url(ctx: Ctx, name: str, url: Any) -> str:
    if not isinstance(url, str) or not url:
        raise _invalid(f"{name} is required.")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if (
        parts.scheme == "http"
        and parts.hostname
        and (parts.hostname in LOOPBACK or ctx.state.allow_insecure_notification_urls)
    ):
        return url
    raise _invalid(f"The {name} must be an absolute HTTPS URL.")


def _live(ctx: Ctx, sub_id: str) -> Subscription:
    sub = ctx.state.subscriptions.get(sub_id)
    if sub is None or sub.creator_id != ctx.caller.id:
        raise _not_found(sub_id)
    if sub.expiration <= ctx.state.now():
        ctx.state.subscriptions.pop(sub_id, None)
        raise _not_found(sub_id)
    return sub


async def create_subscription(ctx: Ctx) -> GraphResponse:
    body = ctx.json_body()
    if not isinstance(body, Mapping):
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    change_raw = _field(body, "changeType")
    changes = tuple(c.strip() for c in str(change_raw or "").split(",") if c.strip())
    if not changes or any(c not in CHANGE_TYPES for c in changes):
        raise _invalid("changeType must be a comma-separated list of created, updated, deleted.")
    url = _check_url(ctx, "notificationUrl", _field(body, "notificationUrl"))
    lifecycle = _field(body, "lifecycleNotificationUrl")
    if lifecycle is not None:
        lifecycle = _check_url(ctx, "lifecycleNotificationUrl", lifecycle)
    resource = _field(body, "resource")
    m = _RESOURCE.match(str(resource or ""))
    if not m:
        raise _invalid(f"Resource '{resource}' is not supported. Use 'me/events' or 'users/{{id}}/events'.")
    target = ctx.caller if m.group(1) else ctx.state.get_user(m.group(2))
    if target is None or target.id != ctx.caller.id:
        raise GraphError(
            403,
            "ExtensionError",
            "Operation: Create; Exception: [Status Code: Forbidden; "
            "Reason: Access is denied. Check credentials and try again.]",
        )
    if not target.mailbox_enabled:
        raise GraphError(
            400,
            "ExtensionError",
            "Operation: Create; Exception: [Status Code: NotFound; "
            "Reason: The mailbox is either inactive, soft-deleted, or is hosted on-premise.]",
        )
    expiration = _expiration(ctx, _field(body, "expirationDateTime"))
    client_state = _field(body, "clientState")
    if client_state is not None and len(str(client_state)) > 128:
        raise _invalid("clientState can be at most 128 characters long.")
    notifier = ctx.state.notifier
    if notifier is None:
        raise GraphError(503, "serviceNotAvailable", "Change notifications need a running Graph app.")
    for check_url in filter(None, (url, lifecycle)):
        if not await notifier.validate(check_url):
            raise _invalid(
                "Subscription validation request failed. Notification endpoint must respond with "
                "200 OK to validation request."
            )
    sub = Subscription(
        id=ctx.state.ids.guid(),
        user_id=target.id,
        resource=str(resource),
        change_types=changes,
        notification_url=url,
        lifecycle_notification_url=lifecycle,
        expiration=expiration,
        client_state=None if client_state is None else str(client_state),
        application_id=ctx.token.app_id,
        creator_id=ctx.caller.id,
        tenant_id=ctx.caller.tenant_id,
        latest_tls=str(_field(body, "latestSupportedTlsVersion") or "v1_2"),
    )
    ctx.state.subscriptions[sub.id] = sub
    return ok(render_subscription(ctx, sub), 201)


async def list_subscriptions(ctx: Ctx) -> GraphResponse:
    now = ctx.state.now()
    subs = [s for s in ctx.state.subscriptions.values() if s.creator_id == ctx.caller.id and s.expiration > now]
    value = [{k: v for k, v in render_subscription(ctx, s).items() if k != "@odata.context"} for s in subs]
    return ok({"@odata.context": ctx.context_url("subscriptions"), "value": value})


async def get_subscription(ctx: Ctx) -> GraphResponse:
    return ok(render_subscription(ctx, _live(ctx, ctx.params["sid"])))


async def update_subscription(ctx: Ctx) -> GraphResponse:
    sub = _live(ctx, ctx.params["sid"])
    body = ctx.json_body()
    if not isinstance(body, Mapping):
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    if _field(body, "lifecycleNotificationUrl") is not None and sub.lifecycle_notification_url is None:
        raise _invalid("lifecycleNotificationUrl can't be added to an existing subscription.")
    if _field(body, "expirationDateTime") is not None:
        sub.expiration = _expiration(ctx, _field(body, "expirationDateTime"))
        _answer_challenge(sub)  # renewing also reauthorizes
        sub.challenged_at = None
    if _field(body, "notificationUrl") is not None:
        url = _check_url(ctx, "notificationUrl", _field(body, "notificationUrl"))
        if url != sub.notification_url:
            if ctx.state.notifier is None or not await ctx.state.notifier.validate(url):
                raise _invalid(
                    "Subscription validation request failed. Notification endpoint must respond "
                    "with 200 OK to validation request."
                )
            sub.notification_url = url
    return ok(render_subscription(ctx, sub))


async def delete_subscription(ctx: Ctx) -> GraphResponse:
    sub = _live(ctx, ctx.params["sid"])
    ctx.state.subscriptions.pop(sub.id, None)
    return GraphResponse(204)


async def reauthorize_subscription(ctx: Ctx) -> GraphResponse:
    """Answer a ``reauthorizationRequired`` challenge without extending the expiry (204, no body)."""
    sub = _live(ctx, ctx.params["sid"])
    _answer_challenge(sub)
    return GraphResponse(204)


ROUTES = [
    Route("POST", ("subscriptions",), create_subscription, kind="global"),
    Route("GET", ("subscriptions",), list_subscriptions, kind="global"),
    Route("GET", ("subscriptions", "{sid}"), get_subscription, kind="global"),
    Route("PATCH", ("subscriptions", "{sid}"), update_subscription, kind="global"),
    Route("DELETE", ("subscriptions", "{sid}"), delete_subscription, kind="global"),
    Route(
        "POST",
        ("subscriptions", "{sid}", "reauthorize|microsoft.graph.reauthorize"),
        reauthorize_subscription,
        kind="global",
    ),
]
