"""Observability of the running app: a request id per request, one structured log line per request, and
Prometheus metrics at ``/metrics``.

Request ids
    :func:`request_middleware` (the outermost middleware) serves each request under an id
    (``scheduling.correlation``): the incoming ``X-Request-Id`` when it is a sane token (1-64 letters, digits,
    ``.``, ``_``, ``-``), else a fresh GUID. Every response carries it back in ``X-Request-Id``, every log line
    written meanwhile carries it, Graph receives it as ``client-request-id``, and the 500 page, problem details
    (``requestId``) and the Teams error card show it as the reference to quote.

Logs
    :func:`configure_logging` sets up the root logger once: JSON lines (:class:`JsonFormatter`, the production
    default) or the human format (:class:`TextFormatter`, the sandbox default), chosen by
    ``SLOTWISE_LOG_FORMAT``, with the secret redaction of ``web.redaction`` on the handler, so no line in
    either format carries a token or a manage link. The access line of each request (logger
    ``slotwise.access``) has ``method``, ``route`` (the route *pattern*, ``/manage/{token}``, never the path),
    ``status``, ``duration_ms``, ``client_ip`` (``web.security.client_ip``: ``X-Forwarded-For`` only from
    trusted proxies) and ``request_id``; probes of ``/healthz``, ``/readyz`` and ``/metrics`` that succeed are
    logged at DEBUG so a load balancer's polling does not fill the log.

Metrics
    :class:`Metrics` holds one registry per app: HTTP requests by method, route pattern and status (a counter
    and a latency histogram), booking outcomes (``scheduling.observe``), Graph attempts by status and the
    waits before retries (``graph.client.GraphObserver``), and, read at scrape time through
    ``scheduling.operations``, outbox lag per channel and the number of Graph subscriptions; plus the process
    figures of ``prometheus_client`` (resident memory, CPU, open files). ``/metrics`` is not public:
    :class:`MetricsAccess` answers 404 unless ``SLOTWISE_METRICS_TOKEN`` is set (then a matching
    ``Authorization: Bearer`` is required, else 401) or ``SLOTWISE_METRICS_LOOPBACK`` allows scrapes from this
    machine (a request whose socket peer is a loopback address and that carries no forwarding header, so a
    reverse proxy on the same machine does not open it to everybody).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Literal

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from scheduling.correlation import current_request_id, new_request_id, request_scope, sane_request_id
from scheduling.observe import Action
from scheduling.operations import OperationsService, OperationsSnapshot
from web.redaction import install_log_redaction, redact
from web.security import Network, client_ip

log = logging.getLogger("slotwise.web")
ACCESS_LOG = logging.getLogger("slotwise.access")

REQUEST_ID_HEADER = "X-Request-Id"
UNMATCHED = "(unmatched)"  # the route label of a request no route matched (404, 405)
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
SCRAPE_TIMEOUT = 5.0  # seconds the database figures of a scrape may take

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LogFormat = Literal["json", "text"]


# ------------------------------------------------------------------ metrics


class _OperationsCollector(Collector):
    """The figures read from the database at scrape time (the last snapshot; none when it could not be read)."""

    def __init__(self) -> None:
        self.snapshot: OperationsSnapshot | None = None

    def collect(self) -> Iterable[Metric]:
        snapshot = self.snapshot
        if snapshot is None:
            return
        pending = GaugeMetricFamily(
            "slotwise_outbox_pending", "Undelivered outbox items (not held, not dead)", labels=["channel"]
        )
        age = GaugeMetricFamily(
            "slotwise_outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox item (0 when none waits)",
            labels=["channel"],
        )
        for channel, lag in sorted(snapshot.outbox.items()):
            pending.add_metric([channel], lag.pending)
            age.add_metric([channel], lag.oldest_age.total_seconds())
        yield pending
        yield age
        yield GaugeMetricFamily(
            "slotwise_calendar_subscriptions", "Graph subscriptions kept (one per synced host)", snapshot.subscriptions
        )


class Metrics:
    """The app's Prometheus metrics (one registry per app, so several apps in one process never collide).

    Also the booking observer (``scheduling.observe.BookingEvents``) and the Graph observer
    (``graph.client.GraphObserver``) that ``app.py`` hands to the core and the Graph client."""

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "slotwise_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "slotwise_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route", "status"],
            registry=r,
        )
        self.bookings = Counter(
            "slotwise_bookings", "Booking use cases by action and outcome", ["action", "outcome"], registry=r
        )
        self.graph_requests = Counter(
            "slotwise_graph_requests",
            "Microsoft Graph HTTP attempts by status (error: no answer)",
            ["method", "status"],
            registry=r,
        )
        self.graph_waits = Histogram(
            "slotwise_graph_retry_wait_seconds",
            "Waits before retrying a Graph request (Retry-After or back-off), by reason",
            ["reason"],
            buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0),
            registry=r,
        )
        self.scrape_errors = Counter(
            "slotwise_metrics_scrape_errors", "Scrapes whose database figures could not be read", registry=r
        )
        self._operations = _OperationsCollector()
        r.register(self._operations)
        if process:
            ProcessCollector(registry=r)

    # the observers
    def booking_outcome(self, action: Action, outcome: str) -> None:
        self.bookings.labels(action, outcome).inc()

    def graph_response(self, method: str, status: int | None) -> None:
        self.graph_requests.labels(method.upper(), "error" if status is None else str(status)).inc()

    def graph_retry_wait(self, reason: str, seconds: float) -> None:
        self.graph_waits.labels(reason).observe(seconds)

    def request_done(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    async def refresh(self, operations: OperationsService | None) -> None:
        """Read the database figures for this scrape (left out of it when the database does not answer)."""
        self._operations.snapshot = None
        if operations is None:
            return
        try:
            self._operations.snapshot = await asyncio.wait_for(operations.snapshot(), SCRAPE_TIMEOUT)
        except Exception as exc:
            self.scrape_errors.inc()
            log.warning("metrics: the outbox and subscription figures could not be read: %s", type(exc).__name__)

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True, slots=True)
class MetricsAccess:
    """Who may read ``/metrics`` (see the module docstring): nobody by default."""

    token: str = ""
    loopback: bool = False

    def refusal(self, request: web.Request) -> int | None:
        """None when ``request`` may read the metrics, else the status to answer (404 when they are off or the
        request is not from this machine, 401 when a token is required and missing or wrong)."""
        if self.token:
            scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self.token.encode()):
                return None
        if self.loopback and _from_this_machine(request):
            return None
        return 401 if self.token else 404


def _from_this_machine(request: web.Request) -> bool:
    if any(name in request.headers for name in _FORWARDING_HEADERS):
        return False  # relayed by a proxy: the client may be anywhere
    try:
        peer = ipaddress.ip_address((request.remote or "").strip("[]"))
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return peer.is_loopback


OBSERVABILITY_METRICS = web.AppKey("observability_metrics", Metrics)
METRICS_ACCESS = web.AppKey("metrics_access", MetricsAccess)
OPERATIONS = web.AppKey("operations", OperationsService)  # set once the services are built


async def metrics_endpoint(request: web.Request) -> web.StreamResponse:
    refusal = request.app[METRICS_ACCESS].refusal(request)
    if refusal == 404:
        raise web.HTTPNotFound()
    if refusal is not None:
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    metrics = request.app[OBSERVABILITY_METRICS]
    await metrics.refresh(request.app.get(OPERATIONS))
    return web.Response(
        body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
    )


# ------------------------------------------------------------------ request ids and the access log


def route_of(request: web.Request) -> str:
    """The pattern of the route that matched (``/manage/{token}``): what logs and metrics name a request by, so
    no token or other path data reaches them and the metric labels stay few."""
    resource = request.match_info.route.resource
    if resource is None:
        return UNMATCHED
    return resource.canonical


def request_middleware(*, metrics: Metrics | None = None, trusted_proxies: Sequence[Network] = ()) -> Middleware:
    """The outermost middleware: serve the request under its request id, answer with it, log one access line and
    count the request (see the module docstring)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
        started = time.perf_counter()
        status = 500
        with request_scope(rid):
            try:
                response = await handler(request)
                status = response.status
                if not response.prepared:
                    response.headers[REQUEST_ID_HEADER] = rid
                return response
            except web.HTTPException as exc:
                status = exc.status
                exc.headers[REQUEST_ID_HEADER] = rid
                raise
            except asyncio.CancelledError:
                status = 499  # the client went away before the answer
                raise
            finally:
                _done(request, status, time.perf_counter() - started, metrics, trusted_proxies)

    return middleware


def _done(
    request: web.Request, status: int, seconds: float, metrics: Metrics | None, trusted_proxies: Sequence[Network]
) -> None:
    route = route_of(request)
    method = request.method if request.method in _METHODS else "OTHER"
    if metrics is not None:
        metrics.request_done(method, route, status, seconds)
    quiet = request.path in PROBE_PATHS and status < 400
    duration_ms = round(seconds * 1000, 1)
    ip = client_ip(request, trusted_proxies)
    ACCESS_LOG.log(
        logging.DEBUG if quiet else logging.INFO,
        "%s %s %d %.1f ms from %s",
        method,
        route,
        status,
        duration_ms,
        ip,
        extra={"method": method, "route": route, "status": status, "duration_ms": duration_ms, "client_ip": ip},
    )


async def stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: a response a handler sends itself (streamed) carries the request id too."""
    rid = current_request_id()
    if rid is not None and REQUEST_ID_HEADER not in response.headers:
        response.headers[REQUEST_ID_HEADER] = rid


def setup_observability(
    app: web.Application, *, metrics: Metrics, access: MetricsAccess, path: str = "/metrics"
) -> None:
    """Mount ``/metrics`` and the request-id stamp; the middleware itself goes first in ``web.Application``'s
    list (:func:`request_middleware`)."""
    app[OBSERVABILITY_METRICS] = metrics
    app[METRICS_ACCESS] = access
    app.on_response_prepare.append(stamp_request_id)
    app.router.add_get(path, metrics_endpoint)


# ------------------------------------------------------------------ log lines

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request (or job pass) it was written in, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


def _request_id(record: logging.LogRecord) -> str | None:
    rid = getattr(record, "request_id", None)
    return rid if isinstance(rid, str) else current_request_id()


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ms), ``level``, ``logger``, ``message``, ``request_id`` (when
    there is one), the record's extra fields, and ``exception`` with the traceback. Every string is redacted
    (``web.redaction``) here too, so a handler without the filter still prints no secret."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        rid = _request_id(record)
        if rid:
            doc["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in doc:
                doc[key] = _redacted(value)
        exception = record.exc_text or (self.formatException(record.exc_info) if record.exc_info else "")
        if exception:
            doc["exception"] = redact(exception)
        if record.stack_info:
            doc["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    """The human format (``time LEVEL logger: message``), with ``[request <id>]`` after the message when the line
    was written while serving a request or a job pass."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        rid = _request_id(record)
        return f"{line} [request {rid}]" if rid else line


def configure_logging(
    fmt: LogFormat, *, level: int = logging.INFO, stream: IO[str] | None = None, logger: logging.Logger | None = None
) -> logging.Handler:
    """Log to ``stream`` (stderr) in ``fmt`` from ``logger`` (the root logger) down, request ids stamped and
    secrets redacted on the handler; returns the handler (to remove it again in a test)."""
    target = logger or logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    target.addHandler(handler)
    target.setLevel(level)
    install_log_redaction(target)
    return handler
