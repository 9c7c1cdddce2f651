"""Chat phrasing classes, generated: a length said any way gives that length, a length out of bounds gets
the core's rule, an unclear length gets a question, and a title is the name the user gave or the default.

The generators are the oracle: they turn a number into words and spellings (``twenty-five``, ``an hour and
a half``, ``1h05``, ``mintues``...) independently of the parser, which must read the number back.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.commands import CreateLink, parse
from scheduling.errors import InvalidRule
from scheduling.links import MAX_TITLE, title_problem
from scheduling.rules import DURATION_RULE, MAX_DURATION, MIN_DURATION
from tests.scheduling.strategies import props

# --------------------------------------------------------------------------- the oracle: numbers -> words

ONES = [
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
TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}


@st.composite
def in_words(draw: st.DrawFn, n: int) -> str:
    """``n`` (0-999) in English words: ``forty five``, ``forty-five``, ``a hundred and five``..."""
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, units = divmod(n, 10)
        return TENS[tens] if not units else TENS[tens] + draw(st.sampled_from(["-", " "])) + ONES[units]
    hundreds, rest = divmod(n, 100)
    head = (draw(st.sampled_from(["one", "a"])) if hundreds == 1 else ONES[hundreds]) + " hundred"
    return head if not rest else head + draw(st.sampled_from([" and ", " "])) + draw(in_words(rest))


@st.composite
def said(draw: st.DrawFn, n: int) -> str:
    """A whole number as digits or (below 1000) words."""
    return draw(st.sampled_from([str(n), draw(in_words(n))])) if n < 1000 else str(n)


@st.composite
def misspelt(draw: st.DrawFn, word: str) -> str:
    """``word`` with one typing slip that keeps its first letter: a dropped, doubled or swapped letter."""
    slip = draw(st.sampled_from(["drop", "double", "swap"]))
    if slip == "drop":
        i = draw(st.integers(1, len(word) - 1))
        return word[:i] + word[i + 1 :]
    if slip == "double":
        i = draw(st.integers(0, len(word) - 1))
        return word[: i + 1] + word[i:]
    i = draw(st.integers(1, len(word) - 2))
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _cased(word: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(word, st.sampled_from([str.lower, str.upper, str.title])).map(lambda p: p[1](p[0]))


MINUTE_WORDS = _cased(
    st.one_of(
        st.sampled_from(["m", "min", "mins", "min.", "mn", "mnt", "mnts", "minute", "minutes"]),
        st.sampled_from(["minute", "minutes"]).flatmap(misspelt),
    )
)
HOUR_WORDS = _cased(
    st.one_of(
        st.sampled_from(["h", "hr", "hrs", "hour", "hours"]), st.sampled_from(["hour", "hours"]).flatmap(misspelt)
    )
)


@st.composite
def spoken_length(draw: st.DrawFn, n: int) -> str:
    """``n`` minutes (1-1440) the way people type a meeting length."""
    hours, minutes = divmod(n, 60)
    forms = ["minutes"]
    if minutes == 0:
        forms.append("hours")
    if minutes == 30:
        forms.append("half")
    if minutes in (15, 45):
        forms.append("quarter")
    if hours and minutes:
        forms.append("hours and minutes")
    form = draw(st.sampled_from(forms))
    mu, hu = draw(MINUTE_WORDS), draw(HOUR_WORDS)
    if form == "minutes":
        number = draw(said(n))
        gap = draw(st.sampled_from(["", " ", "-"] if number.isdigit() else [" ", "-"]))
        return f"{number}{gap}{mu}"
    if form == "hours":
        number = draw(said(hours))
        if hours == 1:
            number = draw(st.sampled_from([number, "an", "a"]))
        gap = draw(st.sampled_from(["", " "] if number.isdigit() else [" ", "-"]))
        return f"{number}{gap}{hu}"
    if form == "half":
        if hours == 0:
            return draw(
                st.sampled_from(
                    ["half an hour", "half hour", "half-hour", "a half hour", "half a hour", f"0.5 {hu}", f"0,5{hu}"]
                )
            )
        number = draw(said(hours))
        options = [
            f"{hours}.5 {hu}",
            f"{hours},5{hu}",
            f"{hours}\u00bd {hu}",
            f"{number} and a half {hu}",
            f"{number} {hu} and a half",
        ]
        if hours == 1:
            options += ["an hour and a half", "hour and a half", "one and a half hours", "a hour and a half"]
        return draw(st.sampled_from(options))
    if form == "quarter":
        three = minutes == 45
        if hours == 0:
            return draw(
                st.sampled_from(
                    ["three quarters of an hour", "three-quarters of an hour", f"0.75 {hu}"]
                    if three
                    else ["a quarter of an hour", "quarter of an hour", "a quarter hour", "quarter-hour", f"0.25 {hu}"]
                )
            )
        number = draw(said(hours))
        part = "three quarters" if three else "a quarter"
        return draw(
            st.sampled_from(
                [f"{hours}.{minutes * 100 // 60} {hu}", f"{number} and {part} {hu}", f"{number} {hu} and {part}"]
            )
        )
    glue = draw(st.sampled_from([" ", " and ", ", "]))
    spelled = f"{draw(said(hours))} {hu}{glue}{draw(said(minutes))} {mu}"
    return draw(st.sampled_from([f"{hours}h{minutes:02d}", spelled]))


LEADS = [
    "make",
    "create",
    "new",
    "please make",
    "pls make",
    "Pls",
    "can you create",
    "could you please make",
    "gimme",
    "Gimme",
    "give me",
    "I'd like",
    "i need",
    "set up",
    "Hey, make",
    "I want",
    "plz create",
]
TRAILERS = ["", "!", ".", " please", " pls", " thanks", "?"]


def _article(phrase: str) -> st.SearchStrategy[str]:
    starts_with_article = phrase.split()[0].lower() in ("a", "an", "half")
    return st.just("") if starts_with_article else st.sampled_from(["a ", "an ", ""])


@st.composite
def length_sentence(draw: st.DrawFn, n: int) -> str:
    phrase = draw(spoken_length(n))
    lead, trailer = draw(st.sampled_from(LEADS)), draw(st.sampled_from(TRAILERS))
    template = draw(
        st.sampled_from(
            [
                "{lead} {art}{p} link{t}",
                "{lead} a link for {p}{t}",
                "{lead} {art}{p} meeting link{t}",
                "{lead} a link of {p}{t}",
            ]
        )
    )
    return template.format(lead=lead, art=draw(_article(phrase)), p=phrase, t=trailer)


# --------------------------------------------------------------------------- lengths


@props(600)
@given(st.integers(MIN_DURATION, MAX_DURATION).flatmap(lambda n: st.tuples(st.just(n), length_sentence(n))))
@example((25, "make a twenty-five minute link"))
@example((45, "make a forty five minute link"))
@example((90, "make an hour and a half link"))
@example((90, "make a one and a half hours link"))
@example((90, "make a 1.5 h link"))
@example((90, "make a 90 mins link"))
@example((30, "make a 30 minuts link"))
@example((30, "make a 30 mintues link"))
@example((30, "make a 30 min. link"))
@example((30, "make a 30m link"))
def test_a_length_said_any_way_gives_that_length_and_the_default_title(case: tuple[int, str]) -> None:
    n, sentence = case
    command = parse(sentence)
    assert isinstance(command, CreateLink), (sentence, command)
    assert (command.duration, command.title) == (n, ""), sentence


def _out_of_bounds() -> st.SearchStrategy[str]:
    too_long = st.integers(MAX_DURATION + 1, 10**9).map(str)
    absurd = st.integers(20, 600).map(lambda digits: "9" * digits)
    too_short = st.integers(-(10**6), MIN_DURATION - 1).map(str)
    spelled = st.sampled_from(
        [
            "zero minutes",
            "minus thirty minutes",
            "0 min",
            "-30 minute",
            "0.5 minutes",
            "25 hours",
            "1441 min",
            "24.5 hours",
            "twenty-five hours",
            "negative 5 mins",
        ]
    )
    minutes = st.tuples(st.one_of(too_long, absurd, too_short), MINUTE_WORDS).map(" ".join)
    hours = st.tuples(st.one_of(st.integers(MAX_DURATION // 60 + 1, 10**6).map(str), absurd), HOUR_WORDS).map(" ".join)
    return st.one_of(minutes, hours, spelled)


@props(300)
@given(_out_of_bounds(), st.sampled_from(["make a {} link", "new {} link called Demo", "create a link for {}"]))
@example("9" * 400 + " minute", "make a {} link")
@example("0", "make a {} minute link")
@example("-30", "make a {} minute link")
def test_a_length_out_of_bounds_gets_the_rule_not_a_link(length: str, template: str) -> None:
    with pytest.raises(InvalidRule) as raised:
        parse(template.format(length))
    assert (raised.value.field, raised.value.message) == ("durations", DURATION_RULE)


def test_the_rule_names_the_bounds() -> None:
    assert f"{MIN_DURATION} minute" in DURATION_RULE and f"{MAX_DURATION // 60} hours" in DURATION_RULE


@props(200)
@given(
    st.integers(1, 1439),
    st.integers(1, 1440),
    st.sampled_from(
        [
            "{a}-{b} min",
            "{a} to {b} minutes",
            "{a} or {b} mins",
            "{a} min or {b} min",
            "{a} minutes {b} minutes",
            "{a}/{b} min",
        ]
    ),
)
def test_two_lengths_get_a_question(a: int, b: int, shape: str) -> None:
    b = b if b != a else a + 1
    command = parse("make a " + shape.format(a=a, b=b) + " link")
    assert command.kind == "clarify", command


@props(200)
@given(st.integers(1, 1438), st.sampled_from([Fraction(1, 2), Fraction(1, 3), Fraction(1, 4), Fraction(7, 10)]))
def test_a_length_that_is_not_whole_minutes_gets_a_question(n: int, part: Fraction) -> None:
    decimal = f"{float(n + part):.2f}".rstrip("0")
    command = parse(f"make a {decimal} minute link")
    assert command.kind == "clarify", (decimal, command)


@pytest.mark.parametrize(
    "sentence",
    [
        "make a few minutes link",
        "make a 30 link",
        "make a thirty link",
        "make a 1e400 minute link",
        "make a couple of hours link",
        "make a 15 30 min link",
        "make a 30 min link 45",
    ],
)
def test_an_unreadable_length_gets_a_question(sentence: str) -> None:
    command = parse(sentence)
    assert command.kind == "clarify", command
    assert "How long" in getattr(command, "question", "") or "Which" in getattr(command, "question", "")


@pytest.mark.parametrize(
    ("sentence", "field"),
    [
        ("make a link for the next " + "9" * 400 + " days", "window_days"),
        ("make a 30 min link with " + "9" * 400 + " min buffer", "buffer_before"),
        ("make a 30 min link with " + "9" * 400 + " days notice", "minimum_notice"),
    ],
)
def test_absurd_rule_numbers_never_crash_the_parser(sentence: str, field: str) -> None:
    command = parse(sentence)
    assert isinstance(command, CreateLink)
    assert getattr(command, field) > 10**6  # bounded, and far outside the core's rules (which refuse it)


# --------------------------------------------------------------------------- titles

NAMES = [
    "interview",
    "Intro call",
    "Q&A",
    "<b>Q&A</b>",
    "1:1",
    "Customer demo",
    "Café chat",
    "QBR review",
    "office hours",
    "Sales sync",
    "O'Brien onboarding",
    "R&D review",
    "Board prep",
    "support triage",
    "Dana's office hours",
    "Q3 planning",
    "team meeting",
]


def _first_upper(name: str) -> str:
    return name[:1].upper() + name[1:]


@st.composite
def named_sentence(draw: st.DrawFn) -> tuple[str, str]:
    """(sentence, expected title): the name in one of the ways people give it, or none at all."""
    lead, phrase = draw(st.sampled_from(LEADS)), draw(st.integers(5, 120).flatmap(spoken_length))
    art = draw(_article(phrase))
    name = draw(st.sampled_from(NAMES))
    way = draw(st.sampled_from(["X link", "for X", "called X", "quoted", "none"]))
    if way == "X link":
        return f"{lead} {art}{phrase} {name} link{draw(st.sampled_from(TRAILERS))}", _first_upper(name)
    if way == "for X":
        return f"{lead} {art}{phrase} link for {name}{draw(st.sampled_from(TRAILERS))}", _first_upper(name)
    if way == "called X":
        return f"{lead} {art}{phrase} link called {name}{draw(st.sampled_from(['', '!', '.']))}", name
    if way == "quoted":
        typed = draw(
            st.text(
                st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters='"\u201c\u201d'),
                min_size=1,
                max_size=MAX_TITLE,
            ).filter(lambda t: t.strip())
        )
        verb = draw(st.sampled_from(["called", "named", "titled"]))
        return f'{lead} {art}{phrase} link {verb} "{typed}"', " ".join(typed.split())
    return f"{lead} {art}{phrase} link{draw(st.sampled_from(TRAILERS))}", ""


@props(600)
@given(named_sentence())
@example(("Pls make a 30 min link", ""))
@example(("Gimme a 30 min link", ""))
@example(("I'd like a 30 min link", ""))
@example(("make a twenty-five minute link", ""))
@example(("make a 30 min link called <b>Q&A</b>", "<b>Q&A</b>"))
@example(("make a 30 min <b>Q&A</b> link", "<b>Q&A</b>"))
@example(('make a 30 min link called "  <b>Q&A</b> "', "<b>Q&A</b>"))
def test_the_title_is_the_name_given_or_the_default(case: tuple[str, str]) -> None:
    sentence, title = case
    command = parse(sentence)
    assert isinstance(command, CreateLink), (sentence, command)
    assert command.title == title, sentence


@props(100)
@given(
    st.integers(MAX_TITLE - 10, MAX_TITLE),
    st.sampled_from(['make a 30 min link called "{}"', "make a 30 min link called {}"]),
)
@example(95, "make a 30 min link called {}")  # was cut to 80 characters without a word
def test_a_long_title_within_the_limit_is_kept_whole(length: int, template: str) -> None:
    name = ("Quarterly planning sync " * 10)[: length - 1] + "x"
    command = parse(template.format(name))
    assert isinstance(command, CreateLink) and command.title == name


@props(100)
@given(
    st.integers(MAX_TITLE + 1, 2000),
    st.sampled_from(['make a 30 min link called "{}"', "make a 30 min link called {}", "make a 30 min {} link"]),
)
def test_a_title_over_the_limit_gets_the_rule(length: int, template: str) -> None:
    name = "Q" * length
    with pytest.raises(InvalidRule) as raised:
        parse(template.format(name))
    assert (raised.value.field, raised.value.message) == ("title", title_problem(name))


# --------------------------------------------------------------------------- anything at all

_PIECES = [
    "make",
    "a",
    "an",
    "link",
    "for",
    "the",
    "next",
    "called",
    "named",
    '"',
    "'",
    "\u201c",
    "\u201d",
    "with",
    "buffer",
    "before",
    "after",
    "notice",
    "at",
    "least",
    "half",
    "quarter",
    "three",
    "quarters",
    "and",
    "hour",
    "hours",
    "h",
    "min",
    "m",
    "minus",
    "-",
    "1h30",
    "1.5",
    "1,500",
    "\u00bd",
    "twenty",
    "five",
    "hundred",
    "of",
    "or",
    "to",
    "days",
    "weeks",
    "months",
    "9" * 60,
    "0",
    "-30",
    ",",
    ".",
    "!",
    "?",
    "<b>",
    "Q&A",
    "pls",
    "gimme",
    "1:1",
    "days'",
    "day's",
    "one",
    "<at>Slotwise</at>",
]


@props(1500)
@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(st.sampled_from(_PIECES), max_size=30).map(" ".join),
        st.lists(st.sampled_from(_PIECES), max_size=30).map("".join),
    )
)
@example("make a 99999 minute link")
@example("make a " + "9" * 400 + " minute link")
@example("make a 30 min link called " + "x" * 500)
def test_any_message_gets_a_command_or_the_rule_never_a_crash(text: str) -> None:
    try:
        command = parse(text)
    except InvalidRule as refused:
        assert refused.field in ("durations", "title")
        return
    if isinstance(command, CreateLink):
        assert MIN_DURATION <= command.duration <= MAX_DURATION
        assert title_problem(command.title) is None or command.title == ""
