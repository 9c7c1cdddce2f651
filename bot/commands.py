"""Chat text -> a typed command. Pure, case- and phrasing-tolerant.

Examples it understands (see tests/bot/test_commands.py for the full table):
"help", "connect", "disconnect", "make a 30-min link", "new 45 minute interview link with 10 min buffer",
"create a 1h link called Demo for the next 60 days", "15 min link called Quick chat",
"half an hour link for interviews with at least 4 hours notice", "my links", "edit demo",
"preview demo", "delete demo", "upcoming", "cancel booking 2".
Anything else becomes ``Unknown`` with the closest command as a suggestion.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

CommandKind = Literal["help", "connect", "disconnect", "create_link", "list_links", "edit_link",
                      "preview_link", "delete_link", "upcoming", "cancel_booking", "unknown"]


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    target: str = ""  # link name/slug, or booking number


@dataclass(frozen=True)
class CreateLink(Command):
    duration: int = 30
    title: str = ""
    buffer_before: int | None = None
    buffer_after: int | None = None
    minimum_notice: int | None = None  # minutes
    window_days: int | None = None


@dataclass(frozen=True)
class Unknown(Command):
    suggestion: str = ""


_NUM_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
              "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
              "forty": 40, "forty-five": 45, "sixty": 60, "ninety": 90}
_NUM = r"(\d+(?:[.,]\d+)?|" + "|".join(sorted(_NUM_WORDS, key=len, reverse=True)) + ")"
_MIN = r"(?:m|min|mins|minute|minutes)"
_HOUR = r"(?:h|hr|hrs|hour|hours)"
_DAY = r"(?:d|day|days)"
_WEEK = r"(?:w|wk|wks|week|weeks)"
_MONTH = r"(?:month|months)"

_SEP = r"[\s-]*"


def _num(text: str) -> float:
    text = text.lower().replace(",", ".")
    return float(_NUM_WORDS[text]) if text in _NUM_WORDS else float(text)


_DURATION_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bhalf\s+an?\s+hour\b"), "half"),
    (re.compile(r"\bquarter\s+of\s+an?\s+hour\b|\bquarter[\s-]hour\b"), "quarter"),
    (re.compile(r"\b(\d+)\s*h\s*(\d{1,2})\s*(?:m|min|mins)?\b"), "hm"),
    (re.compile(r"\b" + _NUM + _SEP + _HOUR + r"\s+(?:and\s+)?(\d+)" + _SEP + _MIN + r"\b"), "hm"),
    (re.compile(r"\b" + _NUM + _SEP + _HOUR + r"\b"), "h"),
    (re.compile(r"\b" + _NUM + _SEP + _MIN + r"\b"), "m"),
]


def _duration_minutes(m: re.Match[str], kind: str) -> int:
    if kind == "half":
        return 30
    if kind == "quarter":
        return 15
    if kind == "hm":
        return int(_num(m.group(1)) * 60) + int(m.group(2))
    if kind == "h":
        return round(_num(m.group(1)) * 60)
    return round(_num(m.group(1)))


_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("notice", re.compile(r"\b(?:with\s+)?(?:at\s+least\s+)?" + _NUM + _SEP + r"(" + _MIN + "|" + _HOUR + "|" + _DAY
                          + r")(?:'?s)?\s+(?:of\s+)?(?:advance\s+)?notice\b")),
    ("notice", re.compile(r"\bnotice\s+(?:of\s+)?(?:at\s+least\s+)?" + _NUM + _SEP + r"(" + _MIN + "|" + _HOUR
                          + "|" + _DAY + r")\b")),
    ("window", re.compile(r"\b(?:for\s+|within\s+|over\s+)?(?:the\s+)?(?:next\s+)" + _NUM + _SEP + r"(" + _DAY + "|"
                          + _WEEK + "|" + _MONTH + r")\b")),
    ("window", re.compile(r"\b(?:for|within)\s+" + _NUM + _SEP + r"(" + _DAY + "|" + _WEEK + "|" + _MONTH
                          + r")\b")),
    ("buffer", re.compile(r"\b(?:with\s+(?:a\s+)?)?" + _NUM + _SEP + r"(" + _MIN + "|" + _HOUR
                          + r")\s+(buffers?|gap|break)(?:\s+(before|after)(?:\s+and\s+(?:before|after))?)?\b")),
    ("buffer", re.compile(r"\b(?:with\s+(?:a\s+)?)?(buffers?|gap|break)\s+(?:of\s+)?" + _NUM + _SEP + r"(" + _MIN + "|"
                          + _HOUR + r")(?:\s+(before|after))?\b")),
    ("buffer_side", re.compile(r"\b(?:with\s+)?" + _NUM + _SEP + r"(" + _MIN + "|" + _HOUR + r")\s+(before|after)\b")),
]


def _unit_minutes(value: float, unit: str) -> int:
    unit = unit.lower()
    if re.fullmatch(_DAY, unit):
        return int(value * 1440)
    if re.fullmatch(_HOUR, unit):
        return int(value * 60)
    return int(value)


def _window_days(value: float, unit: str) -> int:
    unit = unit.lower()
    if re.fullmatch(_WEEK, unit):
        return int(value * 7)
    if re.fullmatch(_MONTH, unit):
        return int(value * 30)
    return int(value)


_CREATE_VERB = re.compile(r"^\s*(?:please\s+)?(?:can\s+you\s+|could\s+you\s+)?"
                          r"(?:make|create|new|add|generate|give\s+me|set\s+up|setup|i\s+(?:want|need)|get\s+me)\b")
_TITLE_CALLED = re.compile(r"\b(?:called|named|titled|name(?:d)?\s+it)\s+[\"“']?(.+?)[\"”']?\s*$")
_FILLER = {"a", "an", "the", "new", "make", "create", "add", "generate", "give", "me", "set", "up", "setup",
           "link", "links", "booking", "scheduling", "meeting", "please", "can", "you", "could", "i", "want",
           "need", "get", "with", "and", "for", "one", "of", "min", "minute", "minutes", "hour", "hours"}

_SIMPLE: list[tuple[CommandKind, re.Pattern[str]]] = [
    ("help", re.compile(r"^(?:help|\?|what\s+can\s+you\s+do\??|commands|hi|hello|hey|start)$")),
    ("disconnect", re.compile(r"^(?:disconnect|sign\s*out|log\s*out|logout|signout)"
                              r"(?:\s+(?:my\s+)?(?:outlook|calendar))?$")),
    ("connect", re.compile(r"^(?:connect|reconnect|sign\s*in|log\s*in|login|signin)"
                           r"(?:\s+(?:my\s+)?(?:outlook|calendar))?$")),
    ("list_links", re.compile(r"^(?:(?:list|show|see)\s+)?(?:my\s+|all\s+)?links$|^list$")),
    ("upcoming", re.compile(r"^(?:(?:show|list|see)\s+)?(?:my\s+)?(?:upcoming(?:\s+bookings|\s+meetings)?|bookings|"
                            r"agenda|schedule|what'?s\s+booked\??)$")),
]
_TARGETED: list[tuple[CommandKind, re.Pattern[str]]] = [
    ("cancel_booking", re.compile(r"^cancel\s+(?:booking|meeting)\s*#?\s*(.+)$")),
    ("edit_link", re.compile(r"^(?:edit|change|update|settings(?:\s+for)?)\s+(?:(?:my|the)\s+)?(?:link\s+)?(.+?)"
                             r"(?:\s+link)?$")),
    ("preview_link", re.compile(r"^(?:preview|show)\s+(?:(?:my|the)\s+)?(?:link\s+)?(.+?)(?:\s+link)?$")),
    ("delete_link", re.compile(r"^(?:delete|remove)\s+(?:(?:my|the)\s+)?(?:link\s+)?(.+?)(?:\s+link)?$")),
]
KNOWN = ["help", "connect", "disconnect", "make a 30-min link", "my links", "edit", "preview", "delete",
         "upcoming", "cancel booking"]


def _normalise(text: str) -> str:
    text = re.sub(r"<at>.*?</at>", " ", text, flags=re.IGNORECASE)  # a mention Teams left in
    text = re.sub(r"<[^>]+>", " ", text)  # other HTML tags
    text = text.replace("\u00a0", " ").strip().strip(".!").strip()
    return re.sub(r"\s+", " ", text)


def _blank(text: str, m: re.Match[str]) -> str:
    return text[: m.start()] + " " * (m.end() - m.start()) + text[m.end():]


def _title_from(rest: str) -> str:
    """The link's name from what is left once rules and duration are removed."""
    m = _TITLE_CALLED.search(rest)
    if m:
        return re.sub(r"\s+", " ", m.group(1)).strip(" \"'“”.,")[:80]
    m = re.search(r"\bfor\s+([A-Za-z][\w' -]*?)\s*$", rest)
    if m:
        return re.sub(r"\s+", " ", m.group(1)).strip().capitalize()[:80]
    words = [w for w in re.findall(r"[A-Za-z][\w'-]*", rest) if w.lower() not in _FILLER]
    return " ".join(words).capitalize()[:80]


def _parse_create(text: str) -> CreateLink | None:
    low = text.lower()
    if not (_CREATE_VERB.search(low) or re.search(r"\blinks?\b", low)):
        return None
    found: dict[str, int] = {}
    for name, pattern in _RULES:
        for m in list(pattern.finditer(low)):
            groups = [g for g in m.groups() if g is not None]
            nums = [g for g in groups if re.fullmatch(_NUM, g)]
            units = [g for g in groups if not re.fullmatch(_NUM, g) and g not in ("before", "after")
                     and not re.fullmatch(r"buffers?|gap|break", g)]
            if not nums or not units:
                continue
            value = _num(nums[0])
            if name == "notice":
                found["notice"] = _unit_minutes(value, units[0])
            elif name == "window":
                found["window"] = _window_days(value, units[0])
            else:
                minutes = _unit_minutes(value, units[0])
                side = next((g for g in groups if g in ("before", "after")), None)
                if side in (None, "before"):
                    found["before"] = minutes
                if side in (None, "after"):
                    found["after"] = minutes
            low, text = _blank(low, m), _blank(text, m)
    duration = None
    for pattern, kind in _DURATION_PATTERNS:
        length = pattern.search(low)
        if length:
            duration = _duration_minutes(length, kind)
            low, text = _blank(low, length), _blank(text, length)
            break
    return CreateLink(kind="create_link", duration=duration or 30, title=_title_from(text.strip()),
                      buffer_before=found.get("before"), buffer_after=found.get("after"),
                      minimum_notice=found.get("notice"), window_days=found.get("window"))


def parse(text: str) -> Command:
    """Parse one chat message (mentions already removed)."""
    clean = _normalise(text)
    low = clean.lower()
    if not low:
        return Command("help")
    for kind, pattern in _SIMPLE:
        if pattern.match(low):
            return Command(kind)
    for kind, pattern in _TARGETED:
        m = pattern.match(low)
        if m:
            return Command(kind, target=m.group(1).strip())
    created = _parse_create(clean)
    if created is not None:
        return created
    closest = difflib.get_close_matches(low, KNOWN, n=1, cutoff=0.4)
    return Unknown("unknown", suggestion=closest[0] if closest else "help")
