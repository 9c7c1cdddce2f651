"""Chat text -> a typed command. Pure, case- and phrasing-tolerant.

Examples it understands (see tests/bot/test_commands.py for the table and tests/bot/test_command_phrasing.py
for the generated classes):
"help", "connect", "disconnect", "make a 30-min link", "new 45 minute interview link with 10 min buffer",
"create a 1h link called Demo for the next 60 days", "15 min link called Quick chat",
"half an hour link for interviews with at least 4 hours notice", "my links", "edit demo",
"preview demo", "delete demo", "upcoming", "cancel booking 2".
Anything else becomes ``Unknown`` with the closest command as a suggestion.

How "make a link" is read:

* **Numbers** are digits (``90``, ``1.5``, ``1,5``, ``1½``) or words (``twenty-five``, ``forty five``,
  ``a hundred and twenty``, ``one and a half``, ``half an hour``, ``three quarters of an hour``), read
  exactly (fractions, never floats) and bounded: digits past the twelfth are not read, so a 400-digit
  "length" is simply far outside every rule. Units tolerate one or two typing slips (``mintues``,
  ``minuts``, ``hrs``, ``huors``) and abbreviations (``m``, ``min.``, ``h``).
* **A length** outside the core's bounds (:func:`scheduling.rules.duration_problem`) raises
  :class:`~scheduling.errors.InvalidRule` with the rule; so does a title over
  :data:`scheduling.links.MAX_TITLE`. Nothing is made.
* **An unclear length** (two lengths, a range, a fraction of a minute, a number or unit left over that
  belongs to nothing) becomes :class:`Clarify`, a question; never a guessed link.
* **The title** is the name the user gave: in quotes or after "called"/"named" (kept exactly as typed,
  spaces aside), after "for" at the end ("... link for interviews"), or the words right before "link"
  ("interview link"); filler ("pls", "gimme", "I'd like") is never a title. With no name the core names
  the link after its length ("30-minute meeting").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import ceil, floor
from typing import Literal

from scheduling.errors import InvalidRule
from scheduling.links import title_problem
from scheduling.rules import duration_problem

CommandKind = Literal[
    "help",
    "connect",
    "disconnect",
    "create_link",
    "list_links",
    "edit_link",
    "preview_link",
    "delete_link",
    "upcoming",
    "cancel_booking",
    "create_team_link",
    "team_links",
    "api_key",
    "api_keys",
    "clarify",
    "unknown",
]


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
class CreateTeamLink(CreateLink):
    """A team link (said in a channel or group chat): round-robin unless "collective" was said."""

    collective: bool = False


@dataclass(frozen=True)
class Clarify(Command):
    """The message asked for a link but its length can't be read for sure: ask instead of guessing."""

    question: str = ""


@dataclass(frozen=True)
class Unknown(Command):
    suggestion: str = ""


DEFAULT_DURATION = 30
ASK_LENGTH = (
    "How long should the meeting be? Say it with a unit, like “make a 45-minute link” or “make a "
    "1 h 30 min link”. A name with numbers in it goes in quotes: called “Top 10 tips”."
)

# --------------------------------------------------------------------------- numbers and units

#: Digits past these are not read: a longer number is far outside every rule anyway.
_MAX_WHOLE_DIGITS = 12
_MAX_FRACTION_DIGITS = 12
_HUGE = Fraction(10**_MAX_WHOLE_DIGITS)

_SMALL = {
    w: n
    for n, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "ninty": 90,
}
_FRACTION_SIGNS = {"\u00bd": Fraction(1, 2), "\u00bc": Fraction(1, 4), "\u00be": Fraction(3, 4)}
_NUMBER_WORDS = (set(_SMALL) | set(_TENS) | {"hundred"}) - {"one"}
_VAGUE = {"few", "couple", "several", "some", "many", "lots", "bunch", "multiple", "x", "n", "half", "quarter"}

_UNIT_WORDS = {
    "min": {"m", "mn", "mns", "mnt", "mnts", "min", "mins", "minute", "minutes"},
    "h": {"h", "hr", "hrs", "hour", "hours"},
    "d": {"d", "dy", "dys", "day", "days"},
    "wk": {"w", "wk", "wks", "week", "weeks"},
    "mo": {"mo", "mos", "mth", "mths", "month", "months"},
}
#: (unit, spellings, typing slips allowed, shortest word considered) for misspelt units.
_FUZZY_UNITS = (
    ("min", ("minute", "minutes"), 2, 4),
    ("h", ("hour", "hours"), 1, 3),
    ("d", ("day", "days"), 1, 4),
    ("wk", ("week", "weeks"), 1, 4),
    ("mo", ("month", "months"), 1, 5),
)
_SIGN_WORDS = {"minus", "negative"}
_UNIT_MINUTES = {"min": 1, "h": 60, "d": 1440}
_UNIT_DAYS = {"d": 1, "wk": 7, "mo": 30}


def _slips(a: str, b: str) -> int:
    """Optimal-string-alignment distance: letters dropped, added, changed or two neighbours swapped."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], previous2[j - 2] + 1)
        previous2, previous = previous, row
    return previous[-1]


def unit_of(word: str) -> str | None:
    """The canonical unit (``min``, ``h``, ``d``, ``wk``, ``mo``) a word spells, typing slips allowed."""
    w = re.sub(r"['\u2019]s?$", "", word.lower().rstrip("."))
    if not w or w in _SIGN_WORDS:
        return None
    for unit, words in _UNIT_WORDS.items():
        if w in words:
            return unit
    for unit, spellings, slips, shortest in _FUZZY_UNITS:
        if (
            len(w) >= shortest
            and w[0] == spellings[0][0]
            and any(abs(len(w) - len(s)) <= slips and _slips(w, s) <= slips for s in spellings)
        ):
            return unit
    return None


def _digits(text: str) -> Fraction:
    """``"1.5"``, ``"1,5"`` (decimal comma), ``"1,500"`` (thousands) -> an exact, bounded number."""
    whole, comma, part = re.split(r"([.,])", text, maxsplit=1) if re.search(r"[.,]", text) else (text, "", "")
    if comma == "," and len(part) == 3 and len(whole) <= 3:
        whole, part = whole + part, ""
    whole = whole.lstrip("0") or "0"
    if len(whole) > _MAX_WHOLE_DIGITS:
        return _HUGE
    part = part[:_MAX_FRACTION_DIGITS]
    return Fraction(int(whole)) + (Fraction(int(part), 10 ** len(part)) if part else 0)


def _text(value: Fraction) -> str:
    """An exact decimal for the canonical text (values are bounded, so this is short)."""
    if value.denominator == 1:
        return str(value.numerator)
    return format(Decimal(value.numerator) / Decimal(value.denominator), "f")


# --------------------------------------------------------------------------- canonical text
#
# The message is rewritten into a canonical form the rule patterns read: every number as decimal digits,
# every unit as ``min``/``h``/``d``/``wk``/``mo`` ("an hour and a half" -> "1.5 h", "twenty-five mins" ->
# "25 min"). Each canonical character remembers the span of the message it came from, so what a pattern
# consumes is blanked in the message too and the title is cut from the user's own words.

_TOKEN = re.compile(r"[^\W_]+(?:(?<=\d)[.,](?=\d)[^\W_]+|['\u2019][^\W_]+)*")
_NUMBER = re.compile(r"[0-9]+(?:[.,][0-9]+)?")
_NUMBER_FRACTION = re.compile(r"([0-9]+)([\u00bd\u00bc\u00be])")
_NUMBER_UNIT = re.compile(r"([0-9]+(?:[.,][0-9]+)?)([\u00bd\u00bc\u00be]?)([^\W\d_]+)")
_CLOCK = re.compile(r"([0-9]+)(?:h|hr|hrs)([0-9]{1,2})(?:m|min|mins)?")
_JOIN = re.compile(r"\s*-?\s*")


@dataclass(frozen=True, slots=True)
class _Token:
    word: str  # lower case
    start: int
    end: int
    value: Fraction | None = None  # a number (with ``unit``: "30min")
    unit: str | None = None
    canon: str = ""

    @property
    def number(self) -> bool:
        return self.value is not None and self.unit is None

    @property
    def bare_unit(self) -> bool:
        return self.value is None and self.unit is not None


def _token(m: re.Match[str]) -> _Token:
    word, start, end = m.group().lower(), m.start(), m.end()
    if _NUMBER.fullmatch(word):
        value = _digits(word)
        return _Token(word, start, end, value, canon=_text(value))
    if (f := _NUMBER_FRACTION.fullmatch(word)) is not None:
        value = _digits(f.group(1)) + _FRACTION_SIGNS[f.group(2)]
        return _Token(word, start, end, value, canon=_text(value))
    if word in _FRACTION_SIGNS:
        return _Token(word, start, end, _FRACTION_SIGNS[word], canon=_text(_FRACTION_SIGNS[word]))
    if (c := _CLOCK.fullmatch(word)) is not None:
        return _Token(word, start, end, canon=f"{_text(_digits(c.group(1)))} h {int(c.group(2))} min")
    if (u := _NUMBER_UNIT.fullmatch(word)) is not None and (unit := unit_of(u.group(3))) is not None:
        value = _digits(u.group(1)) + _FRACTION_SIGNS.get(u.group(2), Fraction(0))
        return _Token(word, start, end, value, unit, canon=f"{_text(value)} {unit}")
    unit = unit_of(word)
    return _Token(word, start, end, unit=unit, canon=unit or word)


class _Reader:
    """Reads number phrases off the token list (``twenty five``, ``an hour and a half``, ``1 and a half``)."""

    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens

    def joined(self, k: int) -> bool:
        """Token ``k`` exists and follows token ``k - 1`` after nothing but spaces and at most one hyphen."""
        return (
            0 < k < len(self.tokens)
            and _JOIN.fullmatch(self.text[self.tokens[k - 1].end : self.tokens[k].start]) is not None
        )

    def word(self, k: int) -> str:
        return self.tokens[k].word if self.joined(k) else ""

    def fraction_after(self, k: int) -> tuple[Fraction, int] | None:
        """``and a half`` / ``and a quarter`` / ``and three quarters`` / ``½`` starting at token ``k``."""
        if self.joined(k) and self.tokens[k].word in _FRACTION_SIGNS:
            return _FRACTION_SIGNS[self.tokens[k].word], k + 1
        if self.word(k) != "and":
            return None
        count, what = self.word(k + 1), self.word(k + 2)
        if count in ("a", "an", "one") and what == "half":
            return Fraction(1, 2), k + 3
        if count in ("a", "an", "one") and what == "quarter":
            return Fraction(1, 4), k + 3
        if count == "three" and what in ("quarter", "quarters"):
            return Fraction(3, 4), k + 3
        return None

    def _fraction_word(self, value: Fraction, k: int) -> tuple[Fraction, int, bool]:
        """After "half"/"quarter": "of", and "a"/"an" when a unit follows ("half an hour")."""
        if self.word(k) == "of":
            k += 1
        if self.word(k) in ("a", "an") and self.joined(k + 1) and self.tokens[k + 1].bare_unit:
            k += 1
        return value, k, False

    def _whole_words(self, k: int) -> tuple[int, int] | None:
        """``forty five``, ``twenty-five``, ``a hundred and twenty``... from token ``k``; (value, next)."""
        w = self.tokens[k].word
        if w in ("a", "an") and self.word(k + 1) == "hundred":
            value, k = 100, k + 2
        elif w in _SMALL:
            value, k = _SMALL[w], k + 1
        elif w in _TENS:
            value, k = _TENS[w], k + 1
            if 0 < _SMALL.get(self.word(k), 0) < 10:
                value, k = value + _SMALL[self.tokens[k].word], k + 1
        else:
            return None
        if value < 10 and self.word(k) == "hundred":
            value, k = value * 100, k + 1
        if value >= 100 and value % 100 == 0:
            rest_at = k + 1 if self.word(k) == "and" else k
            if self.joined(rest_at) and (rest := self._whole_words(rest_at)) is not None and rest[0] < 100:
                value, k = value + rest[0], rest[1]
        return value, k

    def number(self, k: int) -> tuple[Fraction, int, bool] | None:
        """A number phrase at token ``k``: (value, next token, weak). Weak: a lone "a"/"an"/"one", which is
        a number only when a unit follows ("an hour")."""
        t = self.tokens[k]
        if t.number:
            assert t.value is not None
            value, k = t.value, k + 1
            extra = self.fraction_after(k)
            return (value + extra[0], extra[1], False) if extra else (value, k, False)
        w = t.word
        if w in ("a", "an", "one") and self.word(k + 1) == "half":
            return self._fraction_word(Fraction(1, 2), k + 2)
        if w in ("a", "an", "one") and self.word(k + 1) == "quarter":
            return self._fraction_word(Fraction(1, 4), k + 2)
        if w == "half":
            return self._fraction_word(Fraction(1, 2), k + 1)
        if w == "quarter":
            return self._fraction_word(Fraction(1, 4), k + 1)
        if w == "three" and self.word(k + 1) in ("quarter", "quarters"):
            return self._fraction_word(Fraction(3, 4), k + 2)
        if w in ("a", "an") and self.word(k + 1) != "hundred":
            return Fraction(1), k + 1, True
        whole = self._whole_words(k)
        if whole is None:
            return None
        value, k = Fraction(whole[0]), whole[1]
        extra = self.fraction_after(k)
        if extra:
            return value + extra[0], extra[1], False
        return value, k, w == "one" and value == 1

    def quantity(self, i: int) -> tuple[str, int] | None:
        """A number phrase with its unit, or a number alone, at token ``i``: (canonical text, next token)."""
        k, sign = i, 1
        if self.tokens[k].word in _SIGN_WORDS and self.joined(k + 1):
            k, sign = k + 1, -1
            t = self.tokens[k]
            if t.value is not None and t.unit is not None:  # "minus 30min"
                return f"{_text(-t.value)} {t.unit}", k + 1
        read = self.number(k)
        if read is None:
            t = self.tokens[i]
            if sign == 1 and t.bare_unit and (extra := self.fraction_after(i + 1)):  # "hour and a half"
                return f"{_text(1 + extra[0])} {t.unit}", extra[1]
            return None
        value, k, weak = read
        if self.joined(k) and self.tokens[k].bare_unit:
            unit, k = self.tokens[k].unit, k + 1
            extra = self.fraction_after(k)  # "an hour and a half", "2 hours and a quarter"
            if extra:
                value, k = value + extra[0], extra[1]
            return f"{_text(sign * value)} {unit}", k
        if weak:
            return None
        return _text(sign * value), k


class _Canonical:
    """The canonical text of a message, and for each of its characters the message span it stands for."""

    def __init__(self, text: str) -> None:
        tokens = [_token(m) for m in _TOKEN.finditer(text)]
        reader = _Reader(text, tokens)
        parts: list[str] = []
        self.spans: list[tuple[int, int]] = []
        at, i = 0, 0
        while i < len(tokens):
            read = reader.quantity(i)
            canon, end = read if read else (tokens[i].canon, i + 1)
            start, stop = tokens[i].start, tokens[end - 1].end
            for c in range(at, start):  # the gap before: kept as it is
                parts.append(text[c].lower())
                self.spans.append((c, c + 1))
            parts.append(canon)
            self.spans.extend([(start, stop)] * len(canon))
            at, i = stop, end
        for c in range(at, len(text)):
            parts.append(text[c].lower())
            self.spans.append((c, c + 1))
        self.text = "".join(parts)

    def consume(self, start: int, end: int) -> tuple[int, int]:
        """Blank canonical ``[start, end)`` (widened to whole tokens); returns the message span it covered."""
        while start > 0 and self.spans[start - 1] == self.spans[start]:
            start -= 1
        while end < len(self.spans) and self.spans[end] == self.spans[end - 1]:
            end += 1
        self.text = self.text[:start] + " " * (end - start) + self.text[end:]
        return self.spans[start][0], self.spans[end - 1][1]


# --------------------------------------------------------------------------- rules, lengths

_N = r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w|\.\d)"
_SEP = r"[\s-]*"

_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "notice",
        re.compile(
            rf"(?:\bwith\s+)?(?:\bat\s+least\s+)?(?P<n>{_N}){_SEP}(?P<u>min|h|d)\b(?:['\u2019]s?)?\s+"
            r"(?:of\s+)?(?:advance\s+)?notice\b"
        ),
    ),
    ("notice", re.compile(rf"\bnotice\s+(?:of\s+)?(?:at\s+least\s+)?(?P<n>{_N}){_SEP}(?P<u>min|h|d)\b")),
    ("window", re.compile(rf"(?:\b(?:for|within|over)\s+)?(?:\bthe\s+)?\bnext\s+(?P<n>{_N}){_SEP}(?P<u>d|wk|mo)\b")),
    ("window", re.compile(rf"\b(?:for|within)\s+(?P<n>{_N}){_SEP}(?P<u>d|wk|mo)\b")),
    (
        "buffer",
        re.compile(
            rf"(?:\bwith\s+(?:a\s+)?)?(?P<n>{_N}){_SEP}(?P<u>min|h)\s+(?:buffers?|gap|break)"
            r"(?:\s+(?:before|after)(?:\s+and\s+(?:before|after))?)?\b"
        ),
    ),
    (
        "buffer",
        re.compile(
            rf"(?:\bwith\s+(?:a\s+)?)?\b(?:buffers?|gap|break)\s+(?:of\s+)?(?P<n>{_N}){_SEP}"
            r"(?P<u>min|h)\b(?:\s+(?:before|after)\b)?"
        ),
    ),
    ("buffer", re.compile(rf"(?:\bwith\s+)?(?P<n>{_N}){_SEP}(?P<u>min|h)\s+(?:before|after)\b")),
]
_RANGE = re.compile(rf"(?P<a>{_N})\s*(?:-|\u2013|\u2014|/|\bto\b|\bor\b)\s*(?P<b>{_N}){_SEP}(?P<u>min|h)\b")
_LENGTH = re.compile(
    rf"(?P<n>{_N}){_SEP}(?P<u>min|h)\b"
    rf"(?:(?<=h)\s*,?\s*(?:and\s+)?(?P<m>{_N})(?!:)(?:{_SEP}min\b|(?!{_SEP}(?:h|d|wk|mo|min)\b)))?"
)


def _whole(value: Fraction) -> int:
    """The nearest whole number (rule values such as a buffer of 7.5 minutes)."""
    return floor(value + Fraction(1, 2))


def _minutes_said(value: Fraction) -> str:
    return f"{_text(value)} minute" + ("" if value == 1 else "s")


def _length(m: re.Match[str]) -> Fraction:
    minutes = Fraction(m["n"]) * _UNIT_MINUTES[m["u"]]
    return minutes + Fraction(m["m"]) if m["m"] is not None else minutes


def _checked_length(minutes: Fraction) -> int | Clarify:
    """A length the core accepts; InvalidRule (the core's rule) when outside it; a question when it is not
    whole minutes."""
    problem = duration_problem(floor(minutes)) or duration_problem(ceil(minutes))
    if problem:
        raise InvalidRule("durations", problem)
    if minutes.denominator != 1:
        nearest = max(_whole(minutes), 1)
        return Clarify(
            "clarify",
            question=f"Meetings last whole minutes, and that is {_minutes_said(minutes)}. "
            f"Did you mean {nearest} minutes? Say “make a {nearest}-minute link”.",
        )
    return int(minutes)


# --------------------------------------------------------------------------- titles

#: Words that are never a title: politeness, verbs of asking, articles, pronouns.
_FILLER = {
    "please",
    "pls",
    "plz",
    "pleas",
    "kindly",
    "hey",
    "hi",
    "hello",
    "yo",
    "ok",
    "okay",
    "so",
    "um",
    "uh",
    "hmm",
    "can",
    "could",
    "would",
    "will",
    "you",
    "u",
    "ya",
    "make",
    "create",
    "new",
    "add",
    "generate",
    "build",
    "give",
    "gimme",
    "get",
    "set",
    "setup",
    "set-up",
    "up",
    "me",
    "us",
    "i",
    "i'd",
    "id",
    "i'm",
    "im",
    "i'll",
    "like",
    "love",
    "want",
    "wanna",
    "need",
    "needs",
    "a",
    "an",
    "the",
    "another",
    "one",
    "my",
    "our",
    "some",
    "to",
    "have",
    "let's",
    "lets",
    "let",
    "lemme",
    "just",
    "also",
    "now",
    "really",
    "maybe",
    "for",
    "of",
    "with",
    "and",
    "thanks",
    "thank",
    "thx",
    "ty",
    "there",
    "bot",
    "slotwise",
    "sure",
    "do",
    "go",
    "ahead",
    "send",
    "quickly",
    "actually",
    "possibly",
    "link",
    "links",
    "yourself",
    "myself",
    "them",
    "it",
    "this",
    "that",
}
#: Words that say nothing about the meeting on their own ("a meeting link" is a "30-minute meeting").
_GENERIC = {
    "meeting",
    "meetings",
    "call",
    "calls",
    "slot",
    "slots",
    "appointment",
    "appointments",
    "session",
    "sessions",
    "time",
    "booking",
    "scheduling",
    "calendar",
    "invite",
    "invitation",
}
_POLITE_END = {"please", "pls", "plz", "thanks", "thx", "ty", "asap", "now", "today", "thank", "you"}
_NAMING = re.compile(r"\b(?:called|named|titled|entitled|name\s+it|call\s+it)\b\s*:?\s*", re.IGNORECASE)
_QUOTE_PAIRS = {
    '"': '"',
    "\u201c": "\u201d",
    "\u201d": "\u201d",
    "\u201e": "\u201c",
    "\u00ab": "\u00bb",
    "'": "'",
    "\u2018": "\u2019",
    "\u2019": "\u2019",
}
_DOUBLE_QUOTED = re.compile(r'"(?P<a>[^"]+)"|\u201c(?P<b>[^\u201d]+)\u201d')
_CALLED_REST = re.compile(
    r"\b(?:called|named|titled|entitled|name\s+it|call\s+it)\b\s*:?\s*(?P<t>\S(?:.*\S)?)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_FOR_REST = re.compile(r"\bfor\s+(?P<t>\S(?:.*\S)?)\s*$", re.IGNORECASE | re.DOTALL)
_LINK_WORD = re.compile(r"\blinks?\b", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*")


def _plain(chunk: str) -> str:
    """A chunk of the message for comparing with word lists: lower case, outer punctuation removed."""
    return re.sub(r"^[^\w']+|[^\w']+$", "", chunk.lower().replace("\u2019", "'"))


def _spaced(text: str) -> str:
    return " ".join(text.split())


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _chunks(text: str, start: int = 0, end: int | None = None) -> list[re.Match[str]]:
    return list(re.compile(r"\S+").finditer(text, start, len(text) if end is None else end))


def _quoted(text: str) -> tuple[str, int, int] | None:
    """A title in quotes: after "called"/"named" (any quotes) or anywhere in double quotes."""
    for m in _NAMING.finditer(text):
        opening = m.end()
        if opening < len(text) and text[opening] in _QUOTE_PAIRS:
            closing = _QUOTE_PAIRS[text[opening]]
            for j in range(opening + 1, len(text)):  # an apostrophe inside a word closes nothing
                if text[j] == closing and j > opening + 1 and (j + 1 == len(text) or not text[j + 1].isalnum()):
                    return text[opening + 1 : j], m.start(), j + 1
    if (double := _DOUBLE_QUOTED.search(text)) is not None:
        return double["a"] or double["b"], double.start(), double.end()
    return None


def _trim_end(chunks: list[re.Match[str]], drop: Callable[[str], bool]) -> list[re.Match[str]]:
    while chunks and drop(_plain(chunks[-1].group())):
        chunks = chunks[:-1]
    return chunks


def _numberish(chunk: str) -> bool:
    """A chunk that reads as an amount: digits, a vague amount ("few"), or a number word ("thirty-ish")."""
    head = re.split(r"[-\u2013]", chunk)[0]
    return bool(re.search(r"\d", chunk)) or chunk in _VAGUE or head in _NUMBER_WORDS or head == "one"


def _named(rest: str) -> tuple[str, int] | None:
    """A title after "called"/"named" or after "for" (from the end of "link" on): (title, where it starts)."""
    if (m := _CALLED_REST.search(rest)) is not None:
        return (_spaced(m["t"]).rstrip(",;:?") if m["t"] else ""), m.start()
    link = _LINK_WORD.search(rest)
    if (m := _FOR_REST.search(rest, link.end() if link else 0)) is not None:
        chunks = _trim_end(_chunks(rest, m.start("t"), m.end("t")), lambda c: c in _POLITE_END or not c)
        while chunks and _plain(chunks[0].group()) in ("a", "an", "the"):
            chunks = chunks[1:]
        words = [_plain(c.group()) for c in chunks]
        if (
            chunks
            and not (_BARE_NUMBER.fullmatch(words[0]) or words[0] in _NUMBER_WORDS)
            and any(w not in _FILLER for w in words)
        ):
            title = rest[chunks[0].start() : chunks[-1].end()].rstrip(",;:?")
            return _first_upper(_spaced(title)), m.start()
    return None


def _guessed(rest: str) -> str:
    """The words right before "link" (or at the end) that are not filler: "... a 45 minute interview link"."""
    link = _LINK_WORD.search(rest)
    chunks = _chunks(rest, 0, link.start() if link else None)
    if link is None:
        chunks = _trim_end(chunks, lambda c: c in _POLITE_END or not c)
    run: list[re.Match[str]] = []
    for chunk in reversed(chunks):
        if _plain(chunk.group()) in _FILLER or not _plain(chunk.group()):
            break
        run.insert(0, chunk)
    if not run or all(_plain(c.group()) in _GENERIC for c in run):
        return ""
    return _first_upper(_spaced(rest[run[0].start() : run[-1].end()]))


def _unclear(rest: str) -> bool:
    """A number, or a unit after a vague amount, left over: the length can't be read for sure."""
    words = [_plain(c.group()) for c in _chunks(rest)]
    for i, w in enumerate(words):
        if _BARE_NUMBER.fullmatch(w) or w in _NUMBER_WORDS:
            return True
        before = words[i - 1] if i else ""
        if unit_of(w) and (_numberish(before) or (before == "of" and i > 1 and _numberish(words[i - 2]))):
            return True
    return False


# --------------------------------------------------------------------------- create

_CREATE_VERB = re.compile(
    r"^\s*(?:(?:please|pls|plz|hey|hi|ok|okay|so|yo)\b[\s,!]*)*"
    r"(?:(?:can|could|would|will)\s+(?:you|u)\s+)?(?:please\s+|pls\s+)?"
    r"(?:make|create|new|add|generate|give\s+me|gimme|set\s+up|setup|get\s+me|i\s+(?:want|need|would\s+like)|"
    r"i['\u2019]?d\s+like|i\s+wanna)\b"
)


def _spans_blanked(text: str, spans: Iterator[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _parse_create(text: str) -> Command | None:
    low = text.lower()
    if not (_CREATE_VERB.search(low) or _LINK_WORD.search(low)):
        return None
    quoted = _quoted(text)
    work = text if quoted is None else _spans_blanked(text, iter([quoted[1:]]))
    canon = _Canonical(work)
    used: list[tuple[int, int]] = []
    if quoted is not None:
        used.append(quoted[1:])

    found: dict[str, int] = {}
    for name, pattern in _RULES:
        for m in list(pattern.finditer(canon.text)):
            value = Fraction(m["n"])
            if name == "notice":
                found["notice"] = _whole(value * _UNIT_MINUTES[m["u"]])
            elif name == "window":
                found["window"] = _whole(value * _UNIT_DAYS[m["u"]])
            else:
                sides = set(re.findall(r"\b(?:before|after)\b", m.group())) or {"before", "after"}
                for side in sides:
                    found[side] = _whole(value * _UNIT_MINUTES[m["u"]])
            used.append(canon.consume(m.start(), m.end()))

    if _RANGE.search(canon.text) is not None:
        return Clarify(
            "clarify",
            question="Which length did you mean? A link has one length; say just one, like “make a 30-minute link”.",
        )
    lengths = list(_LENGTH.finditer(canon.text))
    if len(lengths) > 1:
        said = " or ".join(_minutes_said(_length(m)) for m in lengths[:3])
        return Clarify(
            "clarify",
            question=f"Which length did you mean: {said}? A link has one length; say just "
            "one (a name with numbers in it goes in quotes: called “Top 10 tips”).",
        )
    for m in lengths:
        used.append(canon.consume(m.start(), m.end()))

    rest = _spans_blanked(text, iter(used))
    title, named_from, named = "", len(rest), None
    if quoted is not None:
        title = _spaced(quoted[0])
    elif (named := _named(rest)) is not None:
        title, named_from = named
    if _unclear(rest[:named_from]):
        return Clarify("clarify", question=ASK_LENGTH)
    duration = DEFAULT_DURATION
    if lengths:
        checked = _checked_length(_length(lengths[0]))
        if isinstance(checked, Clarify):
            return checked
        duration = checked
    if quoted is None and named is None:
        title = _guessed(rest)
    if title and (problem := title_problem(title)):
        raise InvalidRule("title", problem)
    return CreateLink(
        kind="create_link",
        duration=duration,
        title=title,
        buffer_before=found.get("before"),
        buffer_after=found.get("after"),
        minimum_notice=found.get("notice"),
        window_days=found.get("window"),
    )


# --------------------------------------------------------------------------- the other commands

_SIMPLE: list[tuple[CommandKind, re.Pattern[str]]] = [
    # personal API keys (REST API v1): "api keys" lists them, "api key" / "create an api key" makes one
    ("api_keys", re.compile(r"^(?:(?:list|show|see)\s+)?(?:my\s+|all\s+)?api[\s-]*keys$")),
    (
        "api_key",
        re.compile(r"^(?:(?:create|make|new|get|generate|give\s+me)\s+)?(?:an?\s+|my\s+)?(?:new\s+)?api[\s-]*key$"),
    ),
    ("help", re.compile(r"^(?:help|\?|what\s+can\s+you\s+do\??|commands|hi|hello|hey|start)$")),
    (
        "disconnect",
        re.compile(
            r"^(?:disconnect|sign\s*out|log\s*out|logout|signout)"
            r"(?:\s+(?:my\s+)?(?:outlook|calendar))?$"
        ),
    ),
    (
        "connect",
        re.compile(
            r"^(?:connect|reconnect|sign\s*in|log\s*in|login|signin)"
            r"(?:\s+(?:my\s+)?(?:outlook|calendar))?$"
        ),
    ),
    ("list_links", re.compile(r"^(?:(?:list|show|see)\s+)?(?:my\s+|all\s+)?links$|^list$")),
    (
        "upcoming",
        re.compile(
            r"^(?:(?:show|list|see)\s+)?(?:my\s+)?(?:upcoming(?:\s+bookings|\s+meetings)?|bookings|"
            r"agenda|schedule|what'?s\s+booked\??)$"
        ),
    ),
]
_TARGETED: list[tuple[CommandKind, re.Pattern[str]]] = [
    ("cancel_booking", re.compile(r"^cancel\s+(?:booking|meeting)\s*#?\s*(.+)$")),
    (
        "edit_link",
        re.compile(
            r"^(?:edit|change|update|settings(?:\s+for)?)\s+(?:(?:my|the)\s+)?(?:link\s+)?(.+?)"
            r"(?:\s+link)?$"
        ),
    ),
    ("preview_link", re.compile(r"^(?:preview|show)\s+(?:(?:my|the)\s+)?(?:link\s+)?(.+?)(?:\s+link)?$")),
    ("delete_link", re.compile(r"^(?:delete|remove)\s+(?:(?:my|the)\s+)?(?:link\s+)?(.+?)(?:\s+link)?$")),
]
KNOWN = [
    "help",
    "connect",
    "disconnect",
    "make a 30-min link",
    "my links",
    "edit",
    "preview",
    "delete",
    "upcoming",
    "cancel booking",
    "api key",
    "api keys",
    "make a 30-min round-robin link",
    "team links",
]


def _normalise(text: str) -> str:
    """Mentions Teams left in removed, spaces tidied. Other text, tags included, is the user's own: a title
    like ``<b>Q&A</b>`` is kept as typed (cards escape it)."""
    text = re.sub(r"<at>.*?</at>", " ", text, flags=re.IGNORECASE | re.DOTALL)
    text = text.replace("\u00a0", " ").strip()
    if (wrapped := re.fullmatch(r"<(p|div)>(.*)</\1>", text, flags=re.IGNORECASE | re.DOTALL)) is not None:
        text = wrapped.group(2)  # a whole message in one paragraph tag
    text = text.strip().strip(".!").strip()
    return re.sub(r"\s+", " ", text)


# "round-robin", "round robin", "team link", "collective": a team link, read like a personal one once the words
# naming the kind are taken out ("round robin 45 minutes for sales demos" -> a 45-minute link "Sales demos").
_TEAM_WORDS = re.compile(r"\b(?:round[\s-]*robin|collective)\b|\bteam(?=\s+links?\b)", re.IGNORECASE)
_TEAM_LIST = re.compile(r"^(?:(?:list|show|see)\s+)?(?:our\s+|the\s+|all\s+)?team\s+links$")


def _parse_team(text: str) -> Command | None:
    quoted = _quoted(text)  # a name in quotes is the user's own words ("called 'Round robin review'")
    outside = [m for m in _TEAM_WORDS.finditer(text) if quoted is None or not quoted[1] <= m.start() < quoted[2]]
    if not outside:
        return None
    found = [m.group().lower() for m in outside]
    rest = _spans_blanked(text, iter((m.start(), m.end()) for m in outside))
    rest = " ".join(rest.split()) if quoted is None else rest.strip()
    if not _CREATE_VERB.search(rest.lower()):
        rest = f"make {rest}"  # "round robin 45 minutes ..." asks for a link too
    created = _parse_create(rest)
    if not isinstance(created, CreateLink):
        return created
    return CreateTeamLink(
        kind="create_team_link",
        duration=created.duration,
        title=created.title,
        buffer_before=created.buffer_before,
        buffer_after=created.buffer_after,
        minimum_notice=created.minimum_notice,
        window_days=created.window_days,
        collective="collective" in found,
    )


def parse(text: str) -> Command:
    """Parse one chat message (mentions already removed).

    Raises :class:`~scheduling.errors.InvalidRule` for a link the core would refuse (a length out of
    bounds, a title too long), with the core's rule as the message.
    """
    clean = _normalise(text)
    low = clean.lower()
    if not low:
        return Command("help")
    for kind, pattern in _SIMPLE:
        if pattern.match(low):
            return Command(kind)
    if _TEAM_LIST.match(low):
        return Command("team_links")
    for kind, pattern in _TARGETED:
        m = pattern.match(low)
        if m:
            return Command(kind, target=m.group(1).strip())
    team = _parse_team(clean)
    if team is not None:
        return team
    created = _parse_create(clean)
    if created is not None:
        return created
    closest = difflib.get_close_matches(low, KNOWN, n=1, cutoff=0.4)
    return Unknown("unknown", suggestion=closest[0] if closest else "help")
