"""The operations settings (issue 15): the log format (JSON in production, the human format in sandbox, either on
request) and the metrics token (long enough, or unset: no /metrics)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from app import Settings

PRODUCTION_ID = "11111111-2222-3333-4444-555555555555"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_logs_are_json_in_production_and_human_in_sandbox_unless_chosen() -> None:
    assert settings().effective_log_format == "text"
    assert settings(MicrosoftAppId=PRODUCTION_ID).effective_log_format == "json"
    assert settings(SLOTWISE_LOG_FORMAT="json").effective_log_format == "json"
    assert settings(MicrosoftAppId=PRODUCTION_ID, SLOTWISE_LOG_FORMAT="text").effective_log_format == "text"


def test_an_unknown_log_format_stops_the_start() -> None:
    with pytest.raises(pydantic.ValidationError, match="SLOTWISE_LOG_FORMAT"):
        settings(SLOTWISE_LOG_FORMAT="xml")


def test_metrics_are_off_unless_a_long_enough_token_or_loopback_is_set() -> None:
    default = settings()
    assert default.metrics_token == "" and default.metrics_loopback is False
    with pytest.raises(pydantic.ValidationError, match="at least 16 characters"):
        settings(SLOTWISE_METRICS_TOKEN="short")
    assert settings(SLOTWISE_METRICS_TOKEN="t" * 16, SLOTWISE_METRICS_LOOPBACK="true").metrics_loopback is True
