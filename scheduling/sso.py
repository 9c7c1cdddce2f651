"""The name of Slotwise's API for Teams single sign-on: the Application ID URI that the Teams manifest's
``webApplicationInfo.resource`` declares, that the bot's sign-in card asks Teams for a token for, and
that the Entra app registration must expose.

Microsoft's documented form for an app with a bot plus other capabilities is
``api://{fully-qualified-domain-name}/botid-{app id}``, with the domain in lower case: a host name only,
never a scheme, port or path. Everyone who needs the string calls :func:`sso_resource`, so the manifest
and the bot can't drift apart (the manifest and the bot may not import each other; both may import
the core).
"""

from __future__ import annotations

from urllib.parse import urlsplit


def sso_resource(base_url: str, app_id: str) -> str:
    """``api://{host}/botid-{app id}`` for the public base URL ``base_url`` (``https://host[:port][/path]``).

    The host is lower-cased, IDNA-encoded and stripped of a trailing dot; port, path, query and user
    info are dropped. The app id (a GUID) is lower-cased. Raises ValueError when either is missing.
    """
    try:
        host = urlsplit(base_url.strip()).hostname or ""
    except ValueError as exc:
        raise ValueError(f"{base_url!r} is not a URL") from exc
    host = host.removesuffix(".")
    if not host:
        raise ValueError(f"{base_url!r} has no host name: give the public base URL, like https://slotwise.example.com")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"{base_url!r} has an invalid host name") from exc
    app = app_id.strip().lower()
    if not app:
        raise ValueError("the app id is missing")
    return f"api://{host}/botid-{app}"
