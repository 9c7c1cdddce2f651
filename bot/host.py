"""What a host does in chat or from a card: connect / disconnect Outlook (by sign-in link or Teams single
sign-on), create, list, view, edit, save and delete links, see upcoming bookings, pick one to cancel,
adjust their profile (zone, hours, and which calendars count and which one bookings go into).

Every function acts for the turn's own user and only ever loads links through ``LinkService.get`` /
``find`` (owner and tenant checked), so a link id from someone else's card is "No such link".

Sign-in, consent and MFA cards, the connected host's settings, upcoming bookings and the booking picked to
cancel are private replies (``Reply.private``): asked for in a group chat or channel, they go to the
person's personal chat (bot.private).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot.context import Turn
from bot.deps import BotDeps
from bot.reply import Json, Private, Reply, SignIn, sign_in_private, sso_oauth_card
from cards import (
    CALENDAR_INPUTS,
    FORM_ERROR,
    PROFILE_CONFLICTS,
    PROFILE_HOURS,
    PROFILE_TIME_ZONE,
    PROFILE_WRITE,
    booking_url,
    connect_prompt,
    consent_blocked,
    first_run,
    link_created,
    links_list,
    parse_calendar_choice,
    parse_profile,
    parse_settings,
    reconnect_required,
    settings_editor,
    upcoming_bookings,
)
from scheduling.domain import Booking, ConnectionStatus, EventType, LinkKind, User
from scheduling.errors import Conflict, HostUnavailable, NotFound, SignInRequired
from scheduling.links import NewLink, availability_from_mailbox
from scheduling.people import CalendarOptions, calendar_options, calendar_problems

UPCOMING_LIMIT = 200
SETTINGS_NOTICE = "You're connected. I've sent you your calendar settings in a private message."
UPCOMING_NOTICE = "I've sent you your upcoming bookings in a private message."
CANCEL_NOTICE = "I've sent you that booking in a private message, with its Cancel button."
STALE_FORM = (
    "This link was changed somewhere else after you opened this form, so nothing was saved. Your "
    "entries are kept below: select Save again to apply them to the current version."
)


def link_url(turn: Turn, host: User, link: EventType) -> str:
    return booking_url(turn.deps.base_url, host.handle, link.slug)


def sign_in_reply(deps: BotDeps, user: User, claims: str = "", *, reconnect: bool = False) -> Reply:
    """``user``'s sign-in card (private): "reconnect" when the connection broke (or ``reconnect``), "connect"
    when there never was one, with the OAuthCard that lets Teams try single sign-on first. ``claims``: an
    MFA / Conditional Access challenge the sign-in must pass on (SSO can't, so no OAuthCard then)."""
    url = deps.url(deps.connections.sign_in_path(user, claims or None))
    resource = deps.sso_resource
    oauth = sso_oauth_card(resource, url, uuid.uuid4().hex) if resource and not claims else None
    private = sign_in_private(SignIn(claims=claims, reconnect=reconnect))
    if reconnect or user.connection_status is ConnectionStatus.BROKEN:
        return Reply(card=reconnect_required(url, host_is_viewer=True), oauth=oauth, private=private)
    return Reply(card=connect_prompt(url), oauth=oauth, private=private)


def connect_reply(turn: Turn, user: User, claims: str | None = None) -> Reply:
    return sign_in_reply(turn.deps, user, claims or "")


async def connected_host(turn: Turn) -> User | Reply:
    """The acting user with a working Outlook connection (connected silently when possible, which is
    always the case in sandbox mode), or the card asking them to sign in."""
    user = await turn.actor()
    connected = await turn.deps.connections.ensure_connected(user)
    if connected is None:
        return connect_reply(turn, await turn.deps.people.current(user))
    return turn.refresh_actor(connected)


async def connect(turn: Turn) -> Reply:
    host = await connected_host(turn)
    if isinstance(host, Reply):
        return host
    defaults = await turn.deps.links.mailbox_defaults(host)
    calendars = await host_calendars(turn, host)
    return Reply(
        card=first_run(
            defaults.time_zone,
            availability_from_mailbox(defaults),
            calendars=calendars,
            calendars_unreadable=calendars is None,
        ),
        private=Private(notice=SETTINGS_NOTICE, again="connect"),
    )


async def host_calendars(turn: Turn, host: User) -> CalendarOptions | None:
    """The host's calendars (own and shared with them) and current choice, for the profile card; None when
    Graph can't list them just now (the card then leaves the calendars out and says so)."""
    try:
        return await turn.deps.people.calendar_options(host)
    except HostUnavailable:
        return None


async def connect_with_sso(turn: Turn, token: str, exchange_id: str) -> User:
    """Teams SSO (``signin/tokenExchange``): exchange the Teams token on-behalf-of and connect the acting
    user. The "you're connected" message goes through the outbox, keyed by the exchange id, so the copies
    Teams sends of one exchange (one per signed-in client) make one message. Raises SignInRequired."""
    user = await turn.actor()
    connected = turn.refresh_actor(await turn.deps.connections.connect_with_sso(user, token))
    await turn.deps.notices.host_connected(connected, f"sso:{exchange_id}")
    return connected


async def sso_failure_reply(turn: Turn, exc: SignInRequired) -> Reply | None:
    """What to tell the user in chat when SSO could not connect them (Teams also shows its sign-in card):
    the admin-consent card, or for MFA a sign-in link carrying the claims challenge; None otherwise."""
    user = turn.known_actor
    if user is None:
        return None
    if exc.kind == "consent" and exc.admin_consent_url:
        return Reply(
            card=consent_blocked(exc.admin_consent_url),
            private=sign_in_private(SignIn(admin_consent_url=exc.admin_consent_url)),
        )
    if exc.kind == "mfa":
        return connect_reply(turn, await turn.deps.people.current(user), exc.claims)
    return None


async def disconnect(turn: Turn) -> Reply:
    user = await turn.actor()
    await turn.deps.connections.disconnect(user)
    return Reply(
        text="Disconnected: Slotwise no longer has access to your Outlook calendar, so your links show "
        "no free times until you connect again. Type **connect** to reconnect."
    )


async def create_link(turn: Turn, request: NewLink) -> Reply:
    host = await connected_host(turn)
    if isinstance(host, Reply):
        return host
    link = await turn.deps.links.create(host, request)
    return Reply(card=link_created(link, link_url(turn, host, link), host.display_name))


async def list_links(turn: Turn, page: int = 0) -> Reply:
    user = await turn.actor()
    links = await turn.deps.links.list(user)
    return Reply(card=links_list(links, turn.deps.base_url, user.handle, page=page))


async def own_link(turn: Turn, link_id: str) -> tuple[User, EventType]:
    user = await turn.actor()
    link = await turn.deps.links.get(user, link_id)
    turn.scope.link = link
    return user, link


async def find_link(turn: Turn, name: str) -> tuple[User, EventType]:
    user = await turn.actor()
    link = await turn.deps.links.find(user, name)
    turn.scope.link = link
    return user, link


async def show_link(turn: Turn, link_id: str) -> Reply:
    user, link = await own_link(turn, link_id)
    return Reply(card=link_created(link, link_url(turn, user, link), user.display_name, heading="Your link"))


def edit_reply(link: EventType) -> Reply:
    return Reply(card=settings_editor(link))


async def save_link(turn: Turn, link_id: str, version: int, values: Mapping[str, object]) -> Reply:
    """Every problem shown at once, nothing saved until all of them are fixed (cards.settings)."""
    user, link = await own_link(turn, link_id)
    if link.version != version:
        return Reply(card=settings_editor(link, {FORM_ERROR: STALE_FORM}, values))
    edited, errors = parse_settings(values, link)
    if edited is None:
        return Reply(card=settings_editor(link, errors, values))
    try:
        saved = await turn.deps.links.update(user, edited)
    except Conflict:
        latest = await turn.deps.links.get(user, link_id)
        return Reply(card=settings_editor(latest, {FORM_ERROR: STALE_FORM}, values))
    return Reply(card=link_created(saved, link_url(turn, user, saved), user.display_name, heading="Saved"))


async def delete_link(turn: Turn, user: User, link: EventType) -> Reply:
    await turn.deps.links.delete(user, link.id)
    remaining = await turn.deps.links.list(user)
    return Reply(
        text=f"Deleted “{link.title}”. People who already booked keep their meetings.",
        card=links_list(remaining, turn.deps.base_url, user.handle),
    )


async def upcoming(turn: Turn, page: int = 0) -> Reply:
    user = await turn.actor()
    bookings, links = await turn.deps.booking.upcoming(user, limit=UPCOMING_LIMIT)
    return Reply(
        card=upcoming_bookings(bookings, links, await turn.viewer_zone(), page=page),
        private=Private(notice=UPCOMING_NOTICE, again="upcoming"),
    )


async def pick_booking_to_cancel(turn: Turn, target: str) -> Reply:
    """ "cancel booking 2" (number in the upcoming list, or a booking id): show that booking with its Cancel
    button, so the host confirms (and can give a reason) instead of cancelling on a typo."""
    user = await turn.actor()
    bookings, links = await turn.deps.booking.upcoming(user, limit=UPCOMING_LIMIT)
    chosen = _choose(bookings, target.strip().lstrip("#"))
    if chosen is None:
        raise NotFound(f"You have no upcoming booking '{target}'. Type **upcoming** to see them with their numbers.")
    return Reply(
        text="Is this the one? Select **Cancel** on it to cancel the meeting (you can add a reason).",
        card=upcoming_bookings([chosen], links, await turn.viewer_zone()),
        private=Private(notice=CANCEL_NOTICE, again=f"cancel booking {target.strip()[:40]}"),
    )


def _choose(bookings: Sequence[Booking], target: str) -> Booking | None:
    ordered = sorted(bookings, key=lambda b: (b.start, b.id))
    if target.isdigit() and 1 <= int(target) <= len(ordered):
        return ordered[int(target) - 1]
    return next((b for b in ordered if b.id == target), None)


#: The core's problem keys (scheduling.people.save_profile) -> the profile card's inputs.
PROFILE_PROBLEM_INPUTS = {"timeZone": PROFILE_TIME_ZONE, **CALENDAR_INPUTS}


async def save_profile(turn: Turn, values: Mapping[str, object]) -> Reply:
    """The profile card's Adjust form: the host's zone, those hours on every one of their links, and (when the
    card listed them) the calendars that count for conflicts and the one bookings go into. Every problem is
    shown at once (the zone and hours as parsed here, the calendars as the core judges them against the list
    Graph gives now) and nothing is saved until all are fixed."""
    user = await turn.actor()
    availability, errors = parse_profile(values)
    calendars: CalendarOptions | None = None
    choice = None
    if PROFILE_CONFLICTS in values or PROFILE_WRITE in values:
        try:
            calendars = await turn.deps.people.calendar_options(user)
        except HostUnavailable as exc:
            errors.setdefault(PROFILE_CONFLICTS, exc.message)
        else:
            choice, choice_errors = parse_calendar_choice(values, calendars)
            errors |= choice_errors
            if choice is not None:
                for key, message in calendar_problems(calendars.calendars, choice).items():
                    errors.setdefault(CALENDAR_INPUTS[key], message)

    def form(found: Mapping[str, str]) -> Json:
        zone_value, hours_value = values.get(PROFILE_TIME_ZONE), values.get(PROFILE_HOURS)
        return first_run(
            zone_value if isinstance(zone_value, str) else "",
            hours_value if isinstance(hours_value, str) else "",
            errors=found,
            calendars=calendars,
            values=values,
        )

    if availability is None or errors:
        return Reply(card=form(errors))
    # A calendar that stopped being shared between the check above and the save: the same form, with the
    # core's words (scheduling.people.save_profile checks again and saves nothing).
    turn.scope.form = lambda found: form(
        {PROFILE_PROBLEM_INPUTS.get(k, PROFILE_CONFLICTS): v for k, v in found.items()}
    )
    user = turn.refresh_actor(
        await turn.deps.people.save_profile(user, time_zone=availability.time_zone, calendars=choice)
    )
    updated = 0
    for link in await turn.deps.links.list(user):
        if link.kind is not LinkKind.SINGLE_HOST:
            continue
        hours = replace(link.rules.availability, time_zone=availability.time_zone, weekly=availability.weekly)
        try:
            await turn.deps.links.update(user, replace(link, rules=replace(link.rules, availability=hours)))
        except Conflict:
            continue  # edited at the same moment: that edit wins
        updated += 1
    shown = calendar_options(calendars.calendars, user) if calendars is not None else await host_calendars(turn, user)
    return Reply(card=first_run(availability.time_zone, availability, saved_links=updated, calendars=shown))
