"""Graph JSON for the directory and mailbox resources: user, mailboxSettings, workingHours, calendar."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graph.sandbox.model import Calendar, EmUser
from graph.sandbox.timefmt import fmt_time_of_day

if TYPE_CHECKING:
    from graph.sandbox.state import EmulatorState

ONLINE_PROVIDERS = ("teamsForBusiness",)


def render_user(user: EmUser) -> dict[str, Any]:
    return {
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": user.given_name,
        "jobTitle": user.job_title,
        "mail": user.mail,
        "mobilePhone": None,
        "officeLocation": user.office_location,
        "preferredLanguage": user.preferred_language,
        "surname": user.surname,
        "userPrincipalName": user.upn,
        "id": user.id,
    }


def render_working_time_zone(user: EmUser) -> dict[str, Any]:
    custom = user.working_time_zone
    if isinstance(custom, dict):
        data: dict[str, Any] = {"@odata.type": "#microsoft.graph.customTimeZone"}
        data.update({k: v for k, v in custom.items() if k != "@odata.type"})
        data.setdefault("name", "Customized Time Zone")
        return data
    return {"name": custom if isinstance(custom, str) else user.time_zone}


def render_working_hours(user: EmUser) -> dict[str, Any]:
    return {
        "daysOfWeek": list(user.working_days),
        "startTime": fmt_time_of_day(user.working_start),
        "endTime": fmt_time_of_day(user.working_end),
        "timeZone": render_working_time_zone(user),
    }


def render_mailbox_settings(user: EmUser, archive_folder: str) -> dict[str, Any]:
    return {
        "archiveFolder": archive_folder,
        "timeZone": user.time_zone,
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
        "dateFormat": "M/d/yyyy",
        "timeFormat": "h:mm tt",
        "userPurpose": "user",
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "all",
            "internalReplyMessage": "",
            "externalReplyMessage": "",
            "scheduledStartDateTime": {"dateTime": "2026-01-01T00:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2026-01-02T00:00:00.0000000", "timeZone": "UTC"},
        },
        "language": {"locale": user.preferred_language, "displayName": "English (United States)"},
        "workingHours": render_working_hours(user),
    }


def render_calendar(state: EmulatorState, cal: Calendar, viewer: EmUser) -> dict[str, Any]:
    """The calendar as ``viewer`` sees it (a sharee sees the sharer as owner and its own rights)."""
    owner = state.users[cal.owner_id]
    own = viewer.id == cal.owner_id
    return {
        "id": cal.id,
        "name": cal.name,
        "color": cal.color,
        "hexColor": cal.hex_color,
        "isDefaultCalendar": cal.is_default and own,
        "changeKey": cal.change_key,
        "canShare": own,
        "canViewPrivateItems": own,
        "canEdit": cal.can_edit(viewer.id),
        "allowedOnlineMeetingProviders": list(ONLINE_PROVIDERS),
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "isTallyingResponses": own,
        "isRemovable": not (cal.is_default and own),
        "owner": owner.email_address(),
    }
