"""The sandbox connector gives each Teams person (tenant, object id) their own emulator mailbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from graph.sandbox import EmulatorState
from graph.sandbox.connector import SandboxConnector
from scheduling.domain import User
from scheduling.errors import IntegrationError

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)


def connector(state: EmulatorState) -> SandboxConnector:
    identity: Any = None  # mailbox_of never signs in
    return SandboxConnector(state, identity, "client", lambda: NOW)


def person(tenant: str, oid: str, email: str, name: str = "Dana") -> User:
    return User(id=f"{tenant}-{oid}", tenant_id=tenant, aad_object_id=oid, display_name=name, email=email)


def test_a_teams_persons_mailbox_has_their_object_id_in_their_own_tenant() -> None:
    state = EmulatorState(seed=1)
    mailbox = connector(state).mailbox_of(person("tenant-a", "0b5e-dana", "dana@a.example"))
    assert (mailbox.tenant_id, mailbox.id, mailbox.upn) == ("tenant-a", "0b5e-dana", "dana@a.example")
    assert connector(state).mailbox_of(person("tenant-a", "0b5e-dana", "dana@a.example")) is mailbox


def test_two_tenants_with_one_object_id_never_share_a_mailbox() -> None:
    state = EmulatorState(seed=1)
    dana = connector(state).mailbox_of(person("tenant-a", "same-oid", "dana@a.example"))
    eve = connector(state).mailbox_of(person("tenant-b", "same-oid", "eve@b.example", "Eve"))
    assert dana.id != eve.id and eve.tenant_id == "tenant-b"
    # each keeps their own mailbox afterwards, whatever order they come back in
    assert connector(state).mailbox_of(person("tenant-b", "same-oid", "eve@b.example", "Eve")) is eve
    assert connector(state).mailbox_of(person("tenant-a", "same-oid", "dana@a.example")) is dana


def test_an_address_already_linked_to_another_person_is_refused_not_shared() -> None:
    state = EmulatorState(seed=1)
    connector(state).mailbox_of(person("tenant-a", "oid-1", "shared@a.example"))
    with pytest.raises(IntegrationError, match="belongs to another Teams user"):
        connector(state).mailbox_of(person("tenant-b", "oid-2", "shared@a.example", "Eve"))
