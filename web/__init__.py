"""Web adapter: the invitee booking pages and manage pages (jinja2, no JavaScript required), their JSON
endpoints, problem-details errors, security headers, CSRF and rate limiting. Later: REST API v1,
sign-in callback, Graph notification endpoint.

Calls the core's use cases (scheduling.booking) and renders their results. Must not import: graph,
storage, bot (it meets them only through the core's ports, wired in app.py).
"""
