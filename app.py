"""Slotwise composition root: read settings once, build storage, Graph, core services, bot and web,
and run aiohttp. The only module that knows every adapter.

Sandbox mode (the default when no Azure bot settings are present) runs everything on one laptop:
SQLite, bot authentication off, and the Microsoft Graph emulator (and its sign-in service) mounted under
/sandbox, seeded with demo people; any Teams user who talks to the bot gets a mailbox there at once. The
emulator's world is kept in var/sandbox-graph.json across restarts, and /sandbox shows its mailboxes.
With SLOTWISE_SANDBOX_EMULATOR_URL the emulator is a process of its own (python -m graph.sandbox), shared by
several replicas: nothing of it is mounted here, and Teams users get their mailboxes through its admin API.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from aiohttp import web
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from background import Background, delivery_job, delivery_pass
from bot import BOT_RUNTIME, BotDeps, create_runtime, setup_bot
from graph import (
    OUTLOOK_EVENT_SUBSCRIPTION_MAX_MINUTES,
    OUTLOOK_EVENT_SUBSCRIPTION_SAFE_MINUTES,
    GraphCalendar,
    GraphChangeTracking,
    GraphClient,
    IdentityConfig,
    MsalIdentity,
    MsalSignIn,
    sandbox_identity,
)
from graph.sandbox import (
    SANDBOX_TENANT_ID,
    EmulatorState,
    EmUser,
    RemoteSandboxConnector,
    SandboxConnector,
    SandboxMailbox,
    StateFile,
    create_graph_app,
    create_login_app,
    sandbox_page,
    seed_demo,
)
from scheduling.api import ApiService
from scheduling.api_keys import ApiKeyService
from scheduling.booking import BookingService
from scheduling.connect import ConnectionService
from scheduling.delivery import TEAMS, WEBHOOK, DeliveryService
from scheduling.domain import ConnectionStatus, EventType, User
from scheduling.keys import CSRF, MANAGE_TOKENS, SIGN_IN_FLOW, SIGN_IN_STATE, derive_key
from scheduling.links import LinkService, NewLink
from scheduling.notices import NoticeService
from scheduling.observe import NO_EVENTS
from scheduling.operations import OperationsService
from scheduling.people import PeopleService
from scheduling.ratelimit import RateLimit, RateLimitService
from scheduling.reconcile import Reconciler
from scheduling.reminders import ReminderService
from scheduling.sso import sso_resource
from scheduling.sync import CalendarSyncService, SyncPolicy
from scheduling.teams import TeamLinkService
from scheduling.webhooks import SECRET_KEY_PURPOSE, WebhookService
from storage import (
    Database,
    Repositories,
    SqlOperationsStore,
    SqlWebhookStore,
    create_database,
    repositories,
    upgrade_when_reachable,
)
from web import (
    API,
    GRAPH_SYNC,
    HANDLER_ARGS,
    OPERATIONS,
    READINESS,
    WEB,
    ApiContext,
    Check,
    Csrf,
    HttpWebhookSender,
    LogFormat,
    Metrics,
    MetricsAccess,
    Readiness,
    WebContext,
    configure_logging,
    escaped_errors,
    make_templates,
    parse_trusted_proxies,
    request_middleware,
    security_middleware,
    setup_api,
    setup_auth,
    setup_graph_notifications,
    setup_health,
    setup_observability,
    setup_pages,
)

log = logging.getLogger("slotwise")

SANDBOX_CLIENT_ID = "00000000-5a0d-4b0c-9d1e-5a0db0c5a0d1"  # the emulator accepts any client id
PLAYGROUND_DEFAULT_PORT = 56150  # the Agents Playground's own default (its cli: TEAMSAPPTESTER_PORT, else this)
SANDBOX_STATE_FILE = "sandbox-graph.json"  # the Graph emulator's world, under SLOTWISE_VAR_DIR


class Settings(BaseSettings):
    """Every option, read once from the environment (and an optional .env file).

    Bot credentials use the Bot Framework names; everything else is ``SLOTWISE_*``.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    microsoft_app_id: str = Field("", validation_alias=AliasChoices("MicrosoftAppId", "MICROSOFT_APP_ID"))
    microsoft_app_password: str = Field(
        "", validation_alias=AliasChoices("MicrosoftAppPassword", "MICROSOFT_APP_PASSWORD")
    )
    microsoft_app_tenant_id: str = Field(
        "", validation_alias=AliasChoices("MicrosoftAppTenantId", "MICROSOFT_APP_TENANT_ID")
    )
    microsoft_app_type: str = Field(
        "MultiTenant", validation_alias=AliasChoices("MicrosoftAppType", "MICROSOFT_APP_TYPE")
    )
    host: str = Field("127.0.0.1", validation_alias="SLOTWISE_HOST")
    port: int = Field(3978, validation_alias="SLOTWISE_PORT")
    database_url: str = Field("sqlite+aiosqlite:///var/slotwise.db", validation_alias="SLOTWISE_DATABASE_URL")
    public_base_url: str = Field("", validation_alias="SLOTWISE_PUBLIC_BASE_URL")
    graph_base_url: str = Field("", validation_alias="SLOTWISE_GRAPH_BASE_URL")
    secret_key: str = Field("", validation_alias="SLOTWISE_SECRET_KEY")
    emulator: bool | None = Field(None, validation_alias="SLOTWISE_SANDBOX_EMULATOR")
    emulator_latency_ms: int = Field(0, validation_alias="SLOTWISE_SANDBOX_LATENCY_MS")
    # The Graph emulator as its own process (python -m graph.sandbox --admin-token T), shared by several replicas:
    # its base URL (http://127.0.0.1:8765) and admin token; sandbox mode only, no emulator in this process then.
    emulator_url: str = Field("", validation_alias="SLOTWISE_SANDBOX_EMULATOR_URL")
    emulator_token: str = Field("", validation_alias="SLOTWISE_SANDBOX_EMULATOR_TOKEN")
    seed_demo: bool = Field(True, validation_alias="SLOTWISE_SANDBOX_SEED")
    booking_rate_limit: int = Field(10, validation_alias="SLOTWISE_BOOKING_RATE_LIMIT")
    slot_read_rate_limit: int = Field(120, validation_alias="SLOTWISE_SLOT_READ_RATE_LIMIT")  # per client a minute
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated IPs/CIDRs); none by default.
    trusted_proxies: str = Field("", validation_alias="SLOTWISE_TRUSTED_PROXIES")
    reconcile_interval: float = Field(60.0, validation_alias="SLOTWISE_RECONCILE_SECONDS")  # 0: no reconciliation
    outbox_interval: float = Field(2.0, validation_alias="SLOTWISE_OUTBOX_SECONDS")  # 0: no delivery worker
    # REST API v1 (issue 13): requests per API key a minute (shared by every replica through the database), and how
    # often the webhook delivery looks for due items (it is also woken at once by the API's own changes)
    api_rate_limit: int = Field(600, ge=1, validation_alias="SLOTWISE_API_RATE_LIMIT")
    webhook_interval: float = Field(1.0, gt=0, validation_alias="SLOTWISE_WEBHOOK_SECONDS")
    # How often the reminder job looks for meetings whose reminder is due (one replica at a time); 0: no reminders
    reminder_interval: float = Field(30.0, ge=0, validation_alias="SLOTWISE_REMINDER_SECONDS")
    var_dir: str = Field("var", validation_alias="SLOTWISE_VAR_DIR")
    # How long a booking interrupted while its Outlook event was written holds its slot before reconciliation
    # settles it; at least a minute, so a booking still being written (Graph retries) is never released.
    pending_seconds: float = Field(600.0, ge=60, le=86400, validation_alias="SLOTWISE_PENDING_SECONDS")
    # Two-way sync with Outlook (issue 14): Graph subscriptions, change notifications, the busy cache.
    calendar_sync: bool = Field(True, validation_alias="SLOTWISE_CALENDAR_SYNC")
    sync_interval: float = Field(1.0, gt=0, validation_alias="SLOTWISE_SYNC_SECONDS")  # worker poll (woken at once)
    subscription_check_interval: float = Field(300.0, gt=0, validation_alias="SLOTWISE_SUBSCRIPTION_CHECK_SECONDS")
    # Graph allows 10,080 minutes for Outlook events by its current table, 4,230 by its older pages (asking for
    # more than a tenant's limit fails): the default is valid under both; anything under 45 is raised to 45
    subscription_minutes: int = Field(
        OUTLOOK_EVENT_SUBSCRIPTION_SAFE_MINUTES,
        ge=45,
        le=OUTLOOK_EVENT_SUBSCRIPTION_MAX_MINUTES,
        validation_alias="SLOTWISE_SUBSCRIPTION_MINUTES",
    )
    subscription_renew_minutes: int = Field(24 * 60, ge=1, validation_alias="SLOTWISE_SUBSCRIPTION_RENEW_MINUTES")
    sync_horizon_days: int = Field(92, ge=1, le=400, validation_alias="SLOTWISE_SYNC_HORIZON_DAYS")
    sync_max_lag: float = Field(30.0, gt=0, validation_alias="SLOTWISE_SYNC_MAX_LAG_SECONDS")
    # Operations (issue 15): log lines as JSON or the human format (default: JSON in production, human in
    # sandbox); /metrics only with a bearer token, or from this machine when SLOTWISE_METRICS_LOOPBACK is on.
    log_format: LogFormat | None = Field(None, validation_alias="SLOTWISE_LOG_FORMAT")
    metrics_token: str = Field("", validation_alias="SLOTWISE_METRICS_TOKEN")
    metrics_loopback: bool = Field(False, validation_alias="SLOTWISE_METRICS_LOOPBACK")
    # The Agents Playground's port, read from the variable the Playground itself reads (for the guide).
    playground_port_setting: str = Field("", validation_alias="TEAMSAPPTESTER_PORT")

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_trusted_proxies(cls, value: str) -> str:
        parse_trusted_proxies(value)  # a typo must stop the start, not silently trust nobody (or everybody)
        return value

    @field_validator("metrics_token")
    @classmethod
    def _long_metrics_token(cls, value: str) -> str:
        if value and len(value) < 16:
            raise ValueError("SLOTWISE_METRICS_TOKEN must be at least 16 characters (or unset: no /metrics)")
        return value

    @model_validator(mode="after")
    def _renewal_inside_lifetime(self) -> Settings:
        if self.subscription_renew_minutes >= self.subscription_minutes:
            raise ValueError(
                f"SLOTWISE_SUBSCRIPTION_RENEW_MINUTES ({self.subscription_renew_minutes}) must be less "
                f"than SLOTWISE_SUBSCRIPTION_MINUTES ({self.subscription_minutes}): a subscription is "
                "renewed that long before it expires"
            )
        return self

    @property
    def sandbox(self) -> bool:
        """No bot app id means sandbox mode: local emulator, no bot authentication."""
        return not self.microsoft_app_id

    @property
    def effective_log_format(self) -> LogFormat:
        """SLOTWISE_LOG_FORMAT, else JSON lines in production and the human format in sandbox mode."""
        return self.log_format or ("text" if self.sandbox else "json")

    @property
    def emulator_enabled(self) -> bool:
        return self.sandbox if self.emulator is None else self.emulator

    @property
    def external_emulator(self) -> str:
        """The base URL of the Graph emulator process this sandbox uses (SLOTWISE_SANDBOX_EMULATOR_URL), or ""
        when the emulator runs inside this process (or there is none)."""
        return self.emulator_url.rstrip("/") if self.sandbox and self.emulator_url else ""

    @property
    def in_process_emulator(self) -> bool:
        return self.emulator_enabled and not self.external_emulator

    @property
    def local_base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return (self.public_base_url or self.local_base_url).rstrip("/")

    @property
    def playground_port(self) -> int | None:
        """The port the Agents Playground listens on, read as it reads it (``TEAMSAPPTESTER_PORT`` through
        JavaScript's parseInt, else 56150); None when the variable holds no usable port."""
        return playground_port(self.playground_port_setting)

    def problems(self) -> list[str]:
        """Why this configuration must not start (production safety); empty when fine."""
        if self.sandbox:
            if not is_loopback(self.host):
                return [
                    f"SLOTWISE_HOST is {self.host or '(empty)'!r}, but sandbox mode (no MicrosoftAppId) has bot "
                    "authentication off and a Graph emulator anyone could use, so it only listens on this "
                    "computer: set SLOTWISE_HOST=127.0.0.1 (or ::1, localhost), or configure MicrosoftAppId "
                    "and its production settings to listen on a network."
                ]
            return self._external_emulator_problems()
        out = []
        if self.emulator_url:
            out.append(
                "SLOTWISE_SANDBOX_EMULATOR_URL is set while MicrosoftAppId is set: the Graph emulator is for "
                "sandbox mode only. Unset SLOTWISE_SANDBOX_EMULATOR_URL."
            )
        if self.emulator_enabled:
            out.append(
                "SLOTWISE_SANDBOX_EMULATOR is on while MicrosoftAppId is set: the Graph emulator is for "
                "sandbox mode only. Unset SLOTWISE_SANDBOX_EMULATOR."
            )
        if len(self.secret_key) < 32:
            out.append(
                "SLOTWISE_SECRET_KEY must be set to a random value of at least 32 characters (it encrypts "
                "stored tokens), e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'."
            )
        if urlsplit(self.public_base_url).scheme != "https":
            out.append(
                "SLOTWISE_PUBLIC_BASE_URL must be the public https:// address of this app "
                "(Teams and Microsoft sign-in only call https)."
            )
        if not self.microsoft_app_password:
            out.append("MicrosoftAppPassword must be set (the app registration's client secret).")
        return out

    def _external_emulator_problems(self) -> list[str]:
        if not self.emulator_url:
            return []
        parts = urlsplit(self.emulator_url)
        out = []
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.rstrip("/"):
            out.append(
                f"SLOTWISE_SANDBOX_EMULATOR_URL is {self.emulator_url!r}: it must be the base URL of a Graph "
                "emulator process (python -m graph.sandbox), such as http://127.0.0.1:8765."
            )
        if not self.emulator_token:
            out.append(
                "SLOTWISE_SANDBOX_EMULATOR_URL is set without SLOTWISE_SANDBOX_EMULATOR_TOKEN: set it to the "
                "emulator's --admin-token (Teams users get their sandbox mailboxes through its admin API)."
            )
        if self.emulator is False:
            out.append(
                "SLOTWISE_SANDBOX_EMULATOR is off while SLOTWISE_SANDBOX_EMULATOR_URL is set: unset one of them."
            )
        return out


def playground_port(raw: str) -> int | None:
    """JavaScript's ``parseInt`` of ``raw`` as the Playground's cli applies it to ``TEAMSAPPTESTER_PORT``
    (empty: its default), kept only when it is a TCP port."""
    if not raw:
        return PLAYGROUND_DEFAULT_PORT
    text = raw.lstrip()
    sign = -1 if text.startswith("-") else 1
    text = text[1:] if text[:1] in ("+", "-") else text
    base, alphabet = (16, "0123456789abcdefABCDEF") if text[:2] in ("0x", "0X") else (10, "0123456789")
    text = text[2:] if base == 16 else text
    digits = text[: len(text) - len(text.lstrip(alphabet))]
    if not digits or len(digits) > 20:
        return None
    port = sign * int(digits, base)
    return port if 1 <= port <= 65535 else None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to listen on) only reaches this computer."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    db: Database
    repos: Repositories
    identity: MsalIdentity
    graph: GraphClient
    calendar: GraphCalendar
    booking: BookingService
    links: LinkService
    connections: ConnectionService
    reconciler: Reconciler
    emulator: EmulatorState | None
    calendar_sync: CalendarSyncService | None = None  # None when SLOTWISE_CALENDAR_SYNC is off
    operations: SqlOperationsStore | None = None  # metrics' database figures and the readiness schema check
    teams: TeamLinkService | None = None  # team links (round-robin and collective, made in channels)
    remote_emulator: RemoteSandboxConnector | None = None  # the Graph emulator process (SLOTWISE_SANDBOX_EMULATOR_URL)


SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
BACKGROUND = web.AppKey("background", Background)
TEAMS_DELIVERY = web.AppKey("teams_delivery", DeliveryService)
EMULATOR = web.AppKey("emulator", EmulatorState)
SYNC_JOB = "calendar_sync.work"
RENEW_JOB = "calendar_sync.subscriptions"
REMINDER_JOB = "reminders"
WEBHOOK_WORKERS = 8  # webhook delivery passes per replica (each leases its own items)
WEBHOOK_BATCH = 4  # items a pass leases: small, so the passes share a burst instead of queueing it behind one
WEBHOOK_SPILL_SECONDS = 60.0  # how often the extra webhook passes look on their own (they are woken by a full batch)


def sandbox_secret(settings: Settings) -> str:
    """A per-machine secret for sandbox mode, kept under var/ so sessions survive restarts."""
    path = Path(settings.var_dir) / "sandbox-secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _database_url(settings: Settings) -> str:
    url = settings.database_url
    if url.startswith("sqlite") and ":///" in url and not url.endswith(":memory:"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    return url


async def build_services(
    settings: Settings, emulator: EmulatorState | None, metrics: Metrics | None = None
) -> Services:
    clock = SystemClock()
    secret = settings.secret_key or sandbox_secret(settings)
    url = _database_url(settings)
    await upgrade_when_reachable(url)  # a replica started while PostgreSQL restarts waits for it
    db = create_database(url)
    repos = repositories(db)
    external = settings.external_emulator  # the emulator as its own process, shared by the replicas
    if emulator is not None or external:
        client_id = settings.microsoft_app_id or SANDBOX_CLIENT_ID
        config = IdentityConfig(
            client_id=client_id,
            client_secret=settings.microsoft_app_password or "sandbox",
            redirect_uri=f"{settings.base_url}/auth/callback",
            admin_consent_redirect_uri=f"{settings.base_url}/auth/consent",
        )
        # the emulator process's login app for MSAL is at /msal (graph.sandbox.__main__), the mounted one here
        login_base = f"{external}/msal" if external else f"{settings.local_base_url}/sandbox/login"
        identity = sandbox_identity(config, repos.tokens, secret, login_base)
        graph_base = settings.graph_base_url or (
            f"{external}/v1.0" if external else f"{settings.local_base_url}/sandbox/graph/v1.0"
        )
    else:
        config = IdentityConfig(
            client_id=settings.microsoft_app_id,
            client_secret=settings.microsoft_app_password,
            redirect_uri=f"{settings.base_url}/auth/callback",
            admin_consent_redirect_uri=f"{settings.base_url}/auth/consent",
            tenant=settings.microsoft_app_tenant_id or "organizations",
        )
        identity = MsalIdentity(config, repos.tokens, secret)
        graph_base = settings.graph_base_url or "https://graph.microsoft.com/v1.0"
    graph = GraphClient(graph_base, token_provider=identity.token_provider(), observer=metrics)
    calendar = GraphCalendar(graph)
    connector: SandboxConnector | RemoteSandboxConnector | ProductionConnector
    remote: RemoteSandboxConnector | None = None
    if emulator is not None:
        connector = SandboxConnector(emulator, identity, config.client_id, clock.now)
    elif external:
        connector = remote = RemoteSandboxConnector(external, settings.emulator_token, identity, config.client_id)
    else:
        connector = ProductionConnector(identity)
    sign_in = MsalSignIn(identity, f"{settings.base_url}/auth/callback")
    connections = ConnectionService(
        users=repos.users,
        connector=connector,
        calendar=calendar,
        sign_in=sign_in,
        outbox=repos.outbox,
        clock=clock,
        state_secret=derive_key(secret, SIGN_IN_STATE),
    )
    policy = sync_policy(settings)
    booking = BookingService(
        calendar=calendar,
        bookings=repos.bookings,
        users=repos.users,
        event_types=repos.event_types,
        clock=clock,
        token_secret=derive_key(secret, MANAGE_TOKENS),
        connections=connections,
        pending_timeout=timedelta(seconds=settings.pending_seconds),
        busy_cache=repos.calendar_sync if settings.calendar_sync else None,
        cache_max_lag=policy.max_lag,
        events=metrics or NO_EVENTS,
    )
    links = LinkService(event_types=repos.event_types, calendar=calendar)
    teams = TeamLinkService(
        teams=repos.teams,
        event_types=repos.event_types,
        bookings=repos.bookings,
        users=repos.users,
        outbox=repos.outbox,
        calendar=calendar,
        booking=booking,
        links=links,
        clock=clock,
        connections=connections,
    )
    booking.teams = teams  # team links are shown, booked and moved by their own use cases (scheduling.teams)
    booking.fan_outs.append(teams.fan_out)  # a team booking's change tells every member and the channel
    calendar_sync = None
    if settings.calendar_sync:
        tracking = GraphChangeTracking(
            graph,
            notification_url=f"{settings.base_url}/graph/notifications",
            lifecycle_url=f"{settings.base_url}/graph/lifecycle",
        )
        store = repos.calendar_sync
        calendar_sync = CalendarSyncService(
            sync=tracking,
            calendar=calendar,
            subscriptions=store,
            cache=store,
            queue=store,
            index=store,
            users=repos.users,
            bookings=booking,
            clock=clock,
            policy=policy,
            endpoint=tracking.notification_url,
            connections=connections,  # a host who must sign in again is marked broken, as a live read does
            outbox=repos.outbox,  # the host is told of an Outlook move Slotwise could not apply
        )
        connections.sync = calendar_sync  # connect subscribes, disconnect unsubscribes
        links.sync = calendar_sync  # a first link after the subscription was dropped subscribes again
    return Services(
        settings,
        db,
        repos,
        identity,
        graph,
        calendar,
        booking,
        links,
        connections,
        Reconciler(booking, bookings=repos.bookings, users=repos.users, calendar=calendar),
        emulator,
        calendar_sync,
        SqlOperationsStore(db),
        teams=teams,
        remote_emulator=remote,
    )


def sync_policy(settings: Settings) -> SyncPolicy:
    return SyncPolicy(
        subscription_lifetime=timedelta(minutes=settings.subscription_minutes),
        renew_before=timedelta(minutes=settings.subscription_renew_minutes),
        horizon=timedelta(days=settings.sync_horizon_days),
        max_lag=timedelta(seconds=settings.sync_max_lag),
    )


def calendar_sync_pass(sync: CalendarSyncService) -> Callable[[], Awaitable[bool]]:
    """The sync worker's pass: queued work of due hosts; True (run again at once) after a full batch."""

    async def run() -> bool:
        report = await sync.run_due()
        for host_id, why in report.failed:
            log.warning("calendar sync of host %s failed (retried later): %s", host_id, why)
        return report.leased >= sync.policy.batch

    return run


def reminder_pass(reminders: ReminderService, jobs: Background) -> Callable[[], Awaitable[bool]]:
    """The reminder job's pass: enqueue the reminders that are due and wake the Teams delivery for them; True
    (run again at once) after a full batch."""

    async def run() -> bool:
        report = await reminders.run()
        if report.enqueued:
            log.info("reminders enqueued for %d booking(s)", len(report.enqueued))
            jobs.wake(delivery_job(TEAMS))
        return report.more

    return run


def subscription_pass(sync: CalendarSyncService) -> Callable[[], Awaitable[None]]:
    """The renewal job's pass: renew due subscriptions, subscribe hosts missing one, move windows along."""

    async def run() -> None:
        report = await sync.maintain()
        for host_id, why in report.failed:
            log.warning("subscription of host %s could not be renewed (retried later): %s", host_id, why)

    return run


class ProductionConnector:
    """Production: connected silently only when a token cache exists (SSO / sign-in card otherwise)."""

    def __init__(self, identity: MsalIdentity) -> None:
        self.identity = identity

    async def connect_without_prompt(self, user: User) -> bool:
        if user.connection_status is ConnectionStatus.BROKEN:
            return False  # a broken connection needs the person: a reconnect card, never a silent flip
        return await self.identity.is_connected(user.id)

    async def disconnect(self, user: User) -> None:
        await self.identity.disconnect(user.id)


def readiness(services: Services) -> Readiness:
    """/readyz (web.health): the database answers and is at the head revision; Graph's base URL answers
    (checked every few seconds at most: a balancer polls every second)."""
    checks = {"graph": Check(services.graph.unreachable, ttl=5.0, timeout=3.0)}
    if services.operations is not None:
        checks = {"database": Check(services.operations.schema_problem, ttl=1.0, timeout=2.0)} | checks
    return Readiness(checks)


@dataclass
class ApiWiring:
    service: ApiService
    webhooks: WebhookService
    sender: HttpWebhookSender
    limits: RateLimitService


API_WIRING = web.AppKey("api_wiring", ApiWiring)


def build_api(services: Services, secret: str, wake: Callable[[], None]) -> ApiWiring:
    """REST API v1 and webhooks (issue 13): API keys, the rate limit shared through the database, webhook
    subscriptions (their signing secrets encrypted under a key of their own) and the webhook channel's notifier;
    ``wake`` starts the webhook delivery at once."""
    settings, repos, clock = services.settings, services.repos, SystemClock()
    sender = HttpWebhookSender(sandbox=settings.sandbox)  # sandbox mode: http://127.0.0.1 receivers too
    webhooks = WebhookService(
        store=SqlWebhookStore(repos.db, secret_key=derive_key(secret, SECRET_KEY_PURPOSE)),
        event_types=repos.event_types,
        users=repos.users,
        expiries=repos.link_expiries,
        sender=sender,
        clock=clock,
        base_url=settings.base_url,
        team_links=services.teams.view if services.teams is not None else None,  # link.created, who manages
        sandbox=settings.sandbox,
        on_work=wake,
    )
    limits = RateLimitService(store=repos.counters, clock=clock)
    service = ApiService(
        keys=ApiKeyService(keys=repos.api_keys, users=repos.users, clock=clock),
        limits=limits,
        rate=RateLimit("api", settings.api_rate_limit),
        links=services.links,
        booking=services.booking,
        webhooks=webhooks,
        queries=repos.booking_queries,
        expiries=repos.link_expiries,
        event_types=repos.event_types,
        clock=clock,
        base_url=settings.base_url,
        teams=services.teams,  # team links the key's owner made: their settings, slots and bookings
    )
    return ApiWiring(service, webhooks, sender, limits)


def bot_deps(services: Services, jobs: Background) -> BotDeps:
    repos = services.repos
    # a host's first chat with Slotwise releases the messages held for them: deliver them now
    people = PeopleService(
        users=repos.users,
        outbox=repos.outbox,
        reachable=lambda: jobs.wake(delivery_job(TEAMS)),
        calendar=services.calendar,  # the profile card lists the host's calendars
    )
    return BotDeps(
        booking=services.booking,
        links=services.links,
        connections=services.connections,
        people=people,
        notices=NoticeService(outbox=repos.outbox),
        clock=SystemClock(),
        base_url=services.settings.base_url,
        sandbox=services.settings.sandbox,
        app_id=services.settings.microsoft_app_id,
        api_keys=ApiKeyService(keys=repos.api_keys, users=repos.users, clock=SystemClock()),
        teams=services.teams,
    )


async def close_services(services: Services) -> None:
    await services.graph.aclose()
    if services.remote_emulator is not None:
        await services.remote_emulator.aclose()
    services.identity.close()
    await services.db.dispose()


async def wait_until_serving(base_url: str, seconds: float = 30.0) -> bool:
    async with httpx.AsyncClient(timeout=2.0) as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base_url}/healthz")).status_code == 200:
                    return True
            await asyncio.sleep(0.1)
    return False


Demo = tuple[User, EventType] | None
DEMO_HOST_UPN = "adele@contoso.example"  # the first of the emulator's demo people


async def bootstrap_sandbox(services: Services) -> Demo:
    """Sandbox: the first demo person as a connected host with an 'Intro call' link (with an emulator process,
    only when SLOTWISE_SANDBOX_SEED is on and the emulator has the demo people)."""
    emulator, remote = services.emulator, services.remote_emulator
    person: EmUser | SandboxMailbox | None
    if emulator is not None:
        person = emulator.get_user(DEMO_HOST_UPN)
    elif remote is not None and services.settings.seed_demo:
        person = await remote.find_mailbox(DEMO_HOST_UPN)
    else:
        return None
    if person is None:
        return None
    users = services.repos.users
    host = await users.get_by_aad(person.tenant_id, person.id) or await users.upsert(
        User(
            id=f"sandbox-{person.id}",
            tenant_id=person.tenant_id,
            aad_object_id=person.id,
            display_name=person.display_name,
            email=person.upn,
            time_zone="UTC",
        )
    )
    if host.connection_status is not ConnectionStatus.CONNECTED:
        connected = await services.connections.ensure_connected(host)
        if connected is None:
            return None
        host = connected
    existing = await services.links.list(host)
    link = next((x for x in existing if x.slug == "intro-call"), None)
    if link is None:
        link = await services.links.create(host, NewLink(duration=30, title="Intro call"))
    return host, link


def build_app(settings: Settings) -> web.Application:
    problems = settings.problems()
    if problems:
        mode = "sandbox" if settings.sandbox else "production"
        raise SystemExit(f"Slotwise can't start in {mode} mode:\n  - " + "\n  - ".join(problems))
    metrics = Metrics()
    observe = request_middleware(metrics=metrics, trusted_proxies=parse_trusted_proxies(settings.trusted_proxies))
    app = web.Application(
        middlewares=[observe, security_middleware, escaped_errors],
        client_max_size=256 * 1024,
        handler_args=HANDLER_ARGS,
    )  # request ids, access log and metrics (web.observability) outermost; long request lines reach the 414;
    # innermost, a core error a handler let through is answered as what it is (web.pages.escaped_errors)
    app[SETTINGS] = settings
    setup_health(app)
    setup_observability(
        app, metrics=metrics, access=MetricsAccess(token=settings.metrics_token, loopback=settings.metrics_loopback)
    )
    emulator: EmulatorState | None = None
    if settings.in_process_emulator:  # (an emulator process, SLOTWISE_SANDBOX_EMULATOR_URL: nothing mounted here)
        emulator = EmulatorState(tenant_id=SANDBOX_TENANT_ID)
        state_file = StateFile(Path(settings.var_dir) / SANDBOX_STATE_FILE)
        state_file.load(emulator)  # yesterday's mailboxes, meetings, tokens and subscriptions, if any
        app.cleanup_ctx.append(state_file.keep(emulator))  # saved after changes and on shutdown (cleaned up last)
        if settings.emulator_latency_ms:
            emulator.faults.latency_ms = settings.emulator_latency_ms
        if settings.seed_demo:
            seed_demo(emulator, datetime.now(UTC))  # once: a restored world already has the demo people
        app[EMULATOR] = emulator
        client_id = settings.microsoft_app_id or SANDBOX_CLIENT_ID  # the SSO resource Teams would ask tokens for
        emulator.register_app(client_id, sso_resource(settings.base_url, client_id), f"api://botid-{client_id}")
        app.add_subapp("/sandbox/graph", create_graph_app(emulator))
        app.add_subapp("/sandbox/login", create_login_app(emulator, public_base_url=None))
        app.router.add_get("/sandbox", sandbox_page(emulator))  # a read-only look inside "Outlook"
    setup_pages(app)
    setup_api(app)  # REST API v1 and its OpenAPI document (/api/v1)
    setup_graph_notifications(app)
    setup_auth(app)
    setup_bot(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        services = await build_services(settings, emulator, metrics)
        app[SERVICES] = services
        app[READINESS] = readiness(services)
        if services.operations is not None:
            app[OPERATIONS] = OperationsService(
                store=services.operations, clock=SystemClock(), channels=(TEAMS, WEBHOOK)
            )
        secret = settings.secret_key or sandbox_secret(settings)
        app[WEB] = WebContext(
            service=services.booking,
            clock=SystemClock(),
            base_url=settings.base_url,
            csrf=Csrf(derive_key(secret, CSRF), secure_cookie=settings.base_url.startswith("https")),
            booking_limiter=RateLimitService(store=services.repos.counters, clock=SystemClock()).throttle(
                RateLimit("booking", settings.booking_rate_limit)  # per client address, shared by replicas
            ),
            templates=make_templates(),
            connections=services.connections,
            secret=derive_key(secret, SIGN_IN_FLOW),
            slot_limiter=RateLimitService(store=services.repos.counters, clock=SystemClock()).throttle(
                RateLimit("slots", settings.slot_read_rate_limit)
            ),
            trusted_proxies=parse_trusted_proxies(settings.trusted_proxies),
            teams=services.teams,
        )
        jobs = app[BACKGROUND] = Background(leases=services.repos.job_leases, clock=SystemClock())
        webhook_spill = [f"{delivery_job(WEBHOOK)}.{n}" for n in range(2, WEBHOOK_WORKERS + 1)]

        def wake_webhooks() -> None:
            jobs.wake(delivery_job(WEBHOOK))  # its pass wakes the others when it finds a full batch

        api = app[API_WIRING] = build_api(services, secret, wake=wake_webhooks)
        app[API] = ApiContext(api.service, wake=wake_webhooks)
        bot = create_runtime(
            bot_deps(services, jobs),
            app_id=settings.microsoft_app_id,
            app_password=settings.microsoft_app_password,
            app_tenant_id=settings.microsoft_app_tenant_id,
            app_type=settings.microsoft_app_type,
            wake=lambda: jobs.wake(delivery_job(TEAMS)),
        )
        app[BOT_RUNTIME] = bot
        teams = app[TEAMS_DELIVERY] = DeliveryService(
            outbox=services.repos.outbox, notifier=bot.notifier, channel=TEAMS, clock=SystemClock()
        )
        # The background jobs, one line each (background.py): outbox delivery per channel (row leases: every
        # replica), reconciliation (one replica at a time, under a job lease).
        if settings.outbox_interval > 0:
            jobs.add(delivery_job(TEAMS), settings.outbox_interval, delivery_pass(teams, jobs), at_once=True)
            hooks = DeliveryService(  # webhooks: fan-out, then one signed POST per subscription and event
                outbox=services.repos.outbox,
                notifier=api.webhooks,
                channel=WEBHOOK,
                clock=SystemClock(),
                send_timeout=15,
                batch=WEBHOOK_BATCH,
            )
            # A few passes side by side, so a slow receiver never holds up the others: the first polls the outbox,
            # the rest run when a pass finds a full batch (and poll rarely, in case a wake was lost).
            webhooks = delivery_pass(hooks, jobs, spill_to=webhook_spill)
            jobs.add(delivery_job(WEBHOOK), settings.webhook_interval, webhooks, at_once=True)
            for name in webhook_spill:
                jobs.add(name, max(settings.webhook_interval, WEBHOOK_SPILL_SECONDS), webhooks)
        jobs.add("api.rate_counters", 600.0, api.limits.purge, exclusive=True)  # forget old rate-limit windows
        jobs.add("links.expire", 15.0, api.service.expire_due, exclusive=True)  # links past their expiry: off
        if settings.reconcile_interval > 0:
            jobs.add("reconcile", settings.reconcile_interval, services.reconciler.run, exclusive=True)
        if settings.reminder_interval > 0:  # reminders before booked meetings (one replica at a time, job lease)
            reminders = ReminderService(
                reminders=services.repos.reminders,
                event_types=services.repos.event_types,
                users=services.repos.users,
                clock=SystemClock(),
            )
            jobs.add(REMINDER_JOB, settings.reminder_interval, reminder_pass(reminders, jobs), exclusive=True)
        sync = services.calendar_sync
        if sync is not None:  # calendar sync: queued work (row leases: every replica), renewal (one replica)
            app[GRAPH_SYNC] = sync
            jobs.add(SYNC_JOB, settings.sync_interval, calendar_sync_pass(sync), at_once=True)
            jobs.add(
                RENEW_JOB, settings.subscription_check_interval, subscription_pass(sync), exclusive=True, at_once=True
            )
            sync.on_work = lambda: jobs.wake(SYNC_JOB)
        jobs.start()
        bootstraps: list[asyncio.Task[Demo]] = []
        tasks: list[asyncio.Task[None]] = []
        if emulator is not None or services.remote_emulator is not None:
            tasks.append(asyncio.create_task(_announce_sandbox(services, bootstraps)))
        yield
        await jobs.stop()  # no new work; deliveries in flight finish (bounded); job leases released
        for bootstrap in bootstraps:  # it writes to the database: let it finish, never cut a write in half
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(bootstrap), timeout=10)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await close_services(services)
        await api.sender.aclose()

    app.cleanup_ctx.append(lifecycle)
    return app


async def _announce_sandbox(services: Services, bootstraps: list[asyncio.Task[Demo]]) -> None:
    """Once the app serves (MSAL reaches the emulator over HTTP), prepare the demo host, print the guide.
    The bootstrap runs as its own task (listed in ``bootstraps``) so shutdown can wait for it."""
    settings = services.settings
    if not await wait_until_serving(settings.local_base_url):
        log.error("the app did not come up on %s", settings.local_base_url)
        return
    bootstrap = asyncio.create_task(bootstrap_sandbox(services))
    bootstraps.append(bootstrap)
    try:
        demo = await asyncio.shield(bootstrap)
    except Exception:
        log.exception("could not prepare the sandbox demo host")
        demo = None
    print(guide(settings, demo), file=sys.stderr, flush=True)


def guide(settings: Settings, demo: tuple[User, EventType] | None = None) -> str:
    base = settings.base_url
    if not settings.sandbox:
        return f"Slotwise is running in production mode on {base} (health: {base}/healthz)"
    lines = [
        "",
        "Slotwise is running in sandbox mode (no Microsoft 365 tenant needed).",
        f"  app:                 {base}   (health: {base}/healthz)",
        f"  bot endpoint:        {base}/api/messages  (bot authentication is off)",
        f"  Graph emulator:      {base}/sandbox/graph/v1.0",
        f"  sandbox Outlook:     {base}/sandbox   (every mailbox and its coming meetings, read-only)",
        f"  Teams client:        {_playground_line(settings)}",
    ]
    if settings.external_emulator:  # the emulator is its own process: nothing of it is mounted here
        lines[4:6] = [f"  Graph emulator:      {settings.external_emulator}/v1.0   (its own process, shared)"]
    if demo is not None:
        host, link = demo
        lines += [
            f"  demo host:           {host.display_name} <{host.email}>",
            f"  example booking link: {base}/book/{host.handle}/{link.slug}",
        ]
    lines += ["  Try: say 'make a 30-min link' to the bot, then open the link it returns.", ""]
    return "\n".join(lines)


def _playground_line(settings: Settings) -> str:
    port = settings.playground_port
    if port is None:
        return (
            f"the Microsoft 365 Agents Playground is not started: TEAMSAPPTESTER_PORT="
            f"{settings.playground_port_setting!r} is not a port number"
        )
    return (
        f"the Microsoft 365 Agents Playground, http://127.0.0.1:{port} (started by 'make run' when Node.js is present)"
    )


def main() -> None:
    settings = Settings()
    # JSON lines or the human format (SLOTWISE_LOG_FORMAT), each line with its request id; no manage token,
    # sign-in code/state, bearer token or webhook secret in any log line (web.redaction, on the handler)
    configure_logging(settings.effective_log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        app = build_app(settings)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        raise
    app.on_startup.append(_freeze_what_startup_built)  # after the services are built (cleanup_ctx runs first)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)


async def _freeze_what_startup_built(_app: web.Application) -> None:
    """What start-up built (modules, services, SQLAlchemy's and pydantic's tables: some 200,000 objects) lives as
    long as the process: move it out of the garbage collector's sight (``gc.freeze``), so that a full collection
    scans only what requests made since. A full collection over everything took ~90 ms, a pause for every request
    in flight on the replica, every few hundred requests (found with ``python -m bench.fleet --latency``)."""
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    main()
