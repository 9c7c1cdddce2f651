"""Typed values of the invokes the bot reads at its edge (the wire shapes of teams-facts §1):

* ``signin/tokenExchange`` -> :class:`TokenExchange` (Bot Framework's TokenExchangeInvokeRequest:
  ``id``, ``connectionName``, ``token``);
* ``composeExtension/queryLink`` (and the anonymous variant) -> :class:`LinkQuery` (AppBasedLinkQuery:
  ``url``, ``state``).

Each is validated once into its model; a malformed value (not an object, a number where text belongs, an
empty token, a URL longer than any browser sends) is :class:`BadInvoke`, and the caller answers it the
way the protocol expects (400 for a token exchange, an empty result for an unfurl), never with an
AttributeError. Properties Teams may add later are ignored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from scheduling.errors import SlotwiseError

MAX_TOKEN = 16 * 1024  # an Entra access token is a few KB
MAX_URL = 8 * 1024  # longer than any address a browser keeps

ExchangeId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=500)]
Token = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=MAX_TOKEN)]
Url = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=MAX_URL)]


class BadInvoke(SlotwiseError):
    """An invoke whose value does not have the shape its name promises."""

    code = "bad_invoke"


class InvokeValue(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


class TokenExchange(InvokeValue):
    """``signin/tokenExchange``: Teams' SSO token for the bot's resource, and the exchange's id (every
    signed-in client of the person sends one with the same id)."""

    id: ExchangeId
    connection_name: Annotated[str, StringConstraints(strict=True, max_length=500)] | None = None
    token: Token


class LinkQuery(InvokeValue):
    """``composeExtension/queryLink``: a URL pasted into the compose box."""

    url: Url
    state: Any = Field(None, exclude=True)


def token_exchange_of(value: object) -> TokenExchange:
    try:
        return TokenExchange.model_validate(value)
    except ValidationError:
        raise BadInvoke("The token exchange request is missing its id or token.") from None


def link_query_of(value: object) -> LinkQuery:
    try:
        return LinkQuery.model_validate(value)
    except ValidationError:
        raise BadInvoke("The link query has no URL.") from None
