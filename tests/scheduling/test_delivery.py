"""The channels' retry policies (pure): exponential back-off with jitter, bounded in attempts and age, never
sooner than a receiver's Retry-After; and the delivery use case's guard rails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduling.delivery import RETRY_POLICIES, TEAMS, TEAMS_RETRY, WEBHOOK, WEBHOOK_RETRY, DeliveryService, RetryPolicy

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def seconds(at: datetime | None) -> float | None:
    return None if at is None else (at - NOW).total_seconds()


def test_the_wait_doubles_up_to_the_cap_then_gives_up_after_the_last_attempt() -> None:
    policy = RetryPolicy(first_retry=timedelta(seconds=30), max_retry=timedelta(minutes=3), max_attempts=5, jitter=0)
    waits = [seconds(policy.next_attempt(n, now=NOW, enqueued_at=NOW)) for n in range(1, 7)]
    assert waits == [30, 60, 120, 180, None, None]


def test_teams_tries_eight_times_over_about_an_hour() -> None:
    now, enqueued, failures = NOW, NOW, 0
    while (at := TEAMS_RETRY.next_attempt(failures + 1, now=now, enqueued_at=enqueued, spread=0.0)) is not None:
        failures, now = failures + 1, at
    assert failures + 1 == TEAMS_RETRY.max_attempts == 8
    assert timedelta(minutes=60) < now - enqueued < timedelta(minutes=70)


def test_webhooks_are_tried_for_up_to_24_hours_the_last_attempt_at_the_deadline() -> None:
    now, attempts = NOW, [NOW]
    while (at := WEBHOOK_RETRY.next_attempt(len(attempts), now=now, enqueued_at=NOW)) is not None:
        assert at > now
        now = at
        attempts.append(at)
    assert attempts[-1] == NOW + timedelta(hours=24)  # the last try is at the deadline, not past it
    assert 10 < len(attempts) < WEBHOOK_RETRY.max_attempts  # the age ends it first
    assert WEBHOOK_RETRY.next_attempt(1, now=NOW + timedelta(hours=24), enqueued_at=NOW) is None
    assert RETRY_POLICIES == {TEAMS: TEAMS_RETRY, WEBHOOK: WEBHOOK_RETRY}


def test_jitter_only_shortens_a_wait_by_its_fraction() -> None:
    policy = RetryPolicy(first_retry=timedelta(seconds=100), max_retry=timedelta(hours=1), max_attempts=5, jitter=0.2)
    assert policy.wait(1, spread=0.0) == timedelta(seconds=100)
    assert policy.wait(1, spread=0.5) == timedelta(seconds=90)
    assert policy.wait(1, spread=0.999) > timedelta(seconds=80)
    assert policy.wait(2, spread=1.5) == timedelta(seconds=160)  # a spread out of range is clamped


def test_retry_after_is_respected_and_gives_up_when_it_is_past_the_deadline() -> None:
    policy = RetryPolicy(
        first_retry=timedelta(seconds=10),
        max_retry=timedelta(hours=1),
        max_attempts=9,
        max_age=timedelta(hours=1),
        jitter=0,
    )
    assert seconds(policy.next_attempt(1, now=NOW, enqueued_at=NOW, retry_after=timedelta(minutes=5))) == 300
    assert seconds(policy.next_attempt(1, now=NOW, enqueued_at=NOW, retry_after=timedelta(seconds=1))) == 10
    assert policy.next_attempt(1, now=NOW, enqueued_at=NOW, retry_after=timedelta(hours=2)) is None


@given(
    failures=st.integers(1, 200),
    spread=st.floats(0, 1, exclude_max=True),
    age=st.integers(0, 3 * 86400),
    retry_after=st.none() | st.integers(0, 86400),
)
def test_a_planned_attempt_is_after_now_within_the_cap_and_never_past_the_age_limit(
    failures: int, spread: float, age: int, retry_after: int | None
) -> None:
    after = None if retry_after is None else timedelta(seconds=retry_after)
    enqueued = NOW - timedelta(seconds=age)
    at = WEBHOOK_RETRY.next_attempt(failures, now=NOW, enqueued_at=enqueued, spread=spread, retry_after=after)
    if failures >= WEBHOOK_RETRY.max_attempts or age >= 86400:
        assert at is None
        return
    if at is None:  # only a Retry-After reaching past the deadline gives up early
        assert after is not None and NOW + after > enqueued + timedelta(hours=24)
        return
    assert NOW < at <= enqueued + timedelta(hours=24)
    assert at - NOW <= max(WEBHOOK_RETRY.max_retry, after or timedelta(0))
    if after is not None:
        assert at - NOW >= min(after, enqueued + timedelta(hours=24) - NOW)


@pytest.mark.parametrize(
    "bad",
    [
        {"first_retry": timedelta(0)},
        {"first_retry": timedelta(hours=3)},  # longer than max_retry
        {"max_attempts": 0},
        {"max_age": timedelta(0)},
        {"jitter": 1.0},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(bad: dict[str, object]) -> None:
    options: dict[str, object] = {
        "first_retry": timedelta(seconds=1),
        "max_retry": timedelta(hours=1),
        "max_attempts": 3,
        **bad,
    }
    with pytest.raises(ValueError):
        RetryPolicy(**options)  # type: ignore[arg-type]


def test_a_send_must_end_well_inside_its_lease_and_a_channel_needs_a_policy() -> None:
    class Clock:
        def now(self) -> datetime:
            return NOW

    def service(**options: object) -> DeliveryService:
        settings: dict[str, object] = {
            "outbox": object(),
            "notifier": object(),
            "channel": TEAMS,
            "clock": Clock(),
            **options,
        }
        return DeliveryService(**settings)  # type: ignore[arg-type]

    assert service().policy is TEAMS_RETRY and service(channel=WEBHOOK).policy is WEBHOOK_RETRY
    with pytest.raises(ValueError):
        service(send_timeout=31.0, lease_seconds=60)
    with pytest.raises(ValueError):
        service(batch=0)
    with pytest.raises(ValueError):
        service(channel="carrier-pigeon")
    assert service(channel="carrier-pigeon", policy=TEAMS_RETRY).policy is TEAMS_RETRY
