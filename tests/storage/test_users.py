"""SqlUserStore: upsert by (tenant, Entra id), unique handles, connection state, tenant-scoped lookups."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from scheduling.domain import ConnectionStatus, User
from scheduling.errors import Conflict, NotFound, ValidationFailed
from storage.models import UserRow
from storage.repositories import Repositories
from storage.users import HANDLE_MAX, handle_base, slugify
from tests.storage.helpers import OTHER_TENANT, TENANT, make_user


def person(
    aad: str,
    email: str = "adele.vance@contoso.com",
    *,
    tenant: str = TENANT,
    handle: str = "",
    name: str = "Adele Vance",
    user_id: str = "",
) -> User:
    return User(
        id=user_id,
        tenant_id=tenant,
        aad_object_id=aad,
        display_name=name,
        email=email,
        time_zone="Europe/Berlin",
        handle=handle,
    )


@pytest.mark.parametrize(
    ("email", "name", "expected"),
    [
        ("adele.vance@contoso.com", "", "adele-vance"),
        ("Adele_Vance+cal@contoso.com", "", "adele-vance-cal"),
        ("zoë.ångström@contoso.com", "", "zoe-angstrom"),
        ("", "Alex Wilber", "alex-wilber"),
        ("...@contoso.com", "李", "user"),
    ],
)
def test_handle_base(email: str, name: str, expected: str) -> None:
    assert handle_base(email, name) == expected


@given(st.text(max_size=80))
def test_slugify_always_gives_a_clean_handle(text: str) -> None:
    slug = slugify(text)
    assert len(slug) <= HANDLE_MAX
    assert slug == "" or re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug)


async def test_new_users_get_unique_handles_from_their_email(repos: Repositories) -> None:
    first = await repos.users.upsert(person("aad-1"))
    second = await repos.users.upsert(person("aad-2", tenant=OTHER_TENANT))  # handles are global
    third = await repos.users.upsert(person("aad-3", "Adele.Vance@fabrikam.com"))
    assert [first.handle, second.handle, third.handle] == ["adele-vance", "adele-vance-2", "adele-vance-3"]
    assert first.id and first.id != second.id
    assert first.connection_status is ConnectionStatus.NOT_CONNECTED
    assert await repos.users.get(first.id) == first


async def test_a_free_requested_handle_is_used_and_a_taken_one_replaced(repos: Repositories) -> None:
    chosen = await repos.users.upsert(person("aad-1", handle="Adele"))
    assert chosen.handle == "adele"
    fallback = await repos.users.upsert(person("aad-2", handle="adele"))
    assert fallback.handle == "adele-vance"


async def test_no_one_gets_the_team_pages_segment_as_their_handle(repos: Repositories) -> None:
    """/book/team/{slug}/slots of a person called "team" would be read as a team page: the handle is reserved,
    whether it comes from the email, is asked for, or is renamed to."""
    from_email = await repos.users.upsert(person("aad-1", "team@contoso.com", name="Team"))
    asked = await repos.users.upsert(person("aad-2", "sales@contoso.com", handle="Team"))
    assert from_email.handle == "team-2" and asked.handle == "sales"
    with pytest.raises(Conflict):
        await repos.users.upsert(replace(asked, handle="team"))


async def test_upsert_updates_the_profile_of_the_same_person(repos: Repositories) -> None:
    stored = await repos.users.upsert(person("aad-1", user_id="u-1"))
    await repos.users.set_connection(stored.id, ConnectionStatus.CONNECTED)
    await repos.users.set_conversation_reference(stored.id, {"conversation": {"id": "a:1"}})
    changed = replace(
        person("aad-1", "adele@contoso.com", name="Adele V.", user_id="ignored"),
        time_zone="Asia/Tokyo",
        conflict_calendar_ids=("cal-1", "cal-2"),
        write_calendar_id="cal-1",
        connection_status=ConnectionStatus.NOT_CONNECTED,
    )
    updated = await repos.users.upsert(changed)
    assert updated.id == "u-1" and updated.handle == "adele-vance"  # identity and handle kept
    assert (updated.display_name, updated.email, updated.time_zone) == ("Adele V.", "adele@contoso.com", "Asia/Tokyo")
    assert updated.conflict_calendar_ids == ("cal-1", "cal-2") and updated.write_calendar_id == "cal-1"
    assert updated.connection_status is ConnectionStatus.CONNECTED  # owned by set_connection
    assert updated.conversation_reference == {"conversation": {"id": "a:1"}}  # None does not erase it
    assert await repos.users.get("u-1") == updated
    async with repos.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(UserRow)) == 1


async def test_renaming_the_handle(repos: Repositories) -> None:
    adele = await repos.users.upsert(person("aad-1"))
    alex = await repos.users.upsert(person("aad-2", "alex@contoso.com", name="Alex"))
    renamed = await repos.users.upsert(replace(adele, handle="adele-v"))
    assert renamed.handle == "adele-v"
    assert await repos.users.get_by_handle("adele-vance") is None
    with pytest.raises(Conflict):
        await repos.users.upsert(replace(alex, handle="adele-v"))


async def test_lookups_and_tenant_scoping(repos: Repositories) -> None:
    adele = await make_user(repos)
    assert await repos.users.get_by_aad(TENANT, adele.aad_object_id) == adele
    assert await repos.users.get_by_aad(OTHER_TENANT, adele.aad_object_id) is None
    assert await repos.users.get_by_handle("adele-vance") == adele
    assert await repos.users.get_by_handle("Adele-Vance ") == adele
    assert await repos.users.get_by_handle("nobody") is None
    assert await repos.users.get("nobody") is None
    same_aad_other_tenant = await repos.users.upsert(person(adele.aad_object_id, tenant=OTHER_TENANT))
    assert same_aad_other_tenant.id != adele.id


async def test_connection_status_and_conversation_reference(repos: Repositories) -> None:
    user = await make_user(repos)
    await repos.users.set_connection(user.id, ConnectionStatus.BROKEN, "invalid_grant: token revoked")
    got = await repos.users.get(user.id)
    assert got is not None
    assert (got.connection_status, got.connection_error) == (ConnectionStatus.BROKEN, "invalid_grant: token revoked")
    reference = {"serviceUrl": "https://smba.example/", "conversation": {"id": "19:x"}, "user": {"id": "29:y"}}
    await repos.users.set_conversation_reference(user.id, reference)
    assert (await repos.users.get(user.id)).conversation_reference == reference  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await repos.users.set_connection("nobody", ConnectionStatus.CONNECTED)
    with pytest.raises(NotFound):
        await repos.users.set_conversation_reference("nobody", {})


async def test_invalid_and_colliding_ids(repos: Repositories) -> None:
    with pytest.raises(ValidationFailed):
        await repos.users.upsert(person(""))
    await repos.users.upsert(person("aad-1", user_id="u-1"))
    with pytest.raises(Conflict):
        await repos.users.upsert(person("aad-2", user_id="u-1"))


async def test_concurrent_first_contacts_make_one_user(repos: Repositories) -> None:
    results = await asyncio.gather(*(repos.users.upsert(person("aad-same")) for _ in range(5)))
    assert len({u.id for u in results}) == 1 and len({u.handle for u in results}) == 1
    twins = await asyncio.gather(*(repos.users.upsert(person(f"aad-{i}")) for i in range(5)))
    assert len({u.handle for u in twins}) == 5
    same_id = await asyncio.gather(*(repos.users.upsert(person("aad-fixed", user_id="u-fixed")) for _ in range(4)))
    assert {u.id for u in same_id} == {"u-fixed"}
