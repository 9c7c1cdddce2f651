"""Web adapter: the invitee booking pages and manage pages (jinja2, no JavaScript required), their JSON
endpoints, problem-details errors, security headers, CSRF and rate limiting. Later: REST API v1,
sign-in callback, Graph notification endpoint.

Calls the core's use cases (scheduling.booking) and renders their results. Must not import: graph,
storage, bot (it meets them only through the core's ports, wired in app.py).
"""

from web.api import API, ApiContext, setup_api
from web.auth import setup_auth
from web.context import WEB, WebContext, make_templates
from web.graph_notifications import GRAPH_SYNC, setup_graph_notifications
from web.health import READINESS, Check, Readiness, setup_health
from web.observability import (
    OPERATIONS,
    LogFormat,
    Metrics,
    MetricsAccess,
    configure_logging,
    request_middleware,
    setup_observability,
)
from web.pages import escaped_errors, setup_pages
from web.security import HANDLER_ARGS, Csrf, parse_trusted_proxies, security_middleware
from web.webhooks import HttpWebhookSender

__all__ = [
    "API",
    "GRAPH_SYNC",
    "HANDLER_ARGS",
    "OPERATIONS",
    "READINESS",
    "WEB",
    "ApiContext",
    "Check",
    "Csrf",
    "HttpWebhookSender",
    "LogFormat",
    "Metrics",
    "MetricsAccess",
    "Readiness",
    "WebContext",
    "configure_logging",
    "escaped_errors",
    "make_templates",
    "parse_trusted_proxies",
    "request_middleware",
    "security_middleware",
    "setup_api",
    "setup_auth",
    "setup_graph_notifications",
    "setup_health",
    "setup_observability",
    "setup_pages",
]
