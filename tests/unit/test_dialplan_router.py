"""Routing a call to a dialplan, and the number patterns match rules use."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.dialplan.loader import load_dialplans
from bridge.dialplan.model import Dialplan, DialplanSet, Match
from bridge.dialplan.router import narrower, normalize_number, pattern_matches, pattern_problem, patterns_overlap, route

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dialplans"


def plans(**matches: Match) -> DialplanSet:
    return DialplanSet((Dialplan(name="default"), *(Dialplan(name=n, match=m) for n, m in matches.items())))


@pytest.mark.parametrize(
    ("pattern", "valid"),
    [
        ("+15551230000", True),
        ("+44", True),
        ("+123456789012345", True),  # 15 digits, the E.164 maximum
        ("+1234567890123456", False),
        ("+1", False),
        ("+05551230000", False),
        ("15551230000", False),
        ("+1 555 123", False),
        ("+1555*", True),
        ("+*", True),
        ("+123456789012345*", True),
        ("*", False),
        ("+1*5", False),
        ("+1555**", False),
        ("+0*", False),
        ("", False),
    ],
)
def test_pattern_syntax(pattern: str, valid: bool) -> None:
    problem = pattern_problem(pattern)
    if valid:
        assert problem is None
    else:
        assert problem == (
            f"{pattern!r} is not an E.164 number (+ then 2-15 digits) or a prefix ending in '*' (like '+1555*')"
        )


@pytest.mark.parametrize(
    ("pattern", "number", "matches"),
    [
        ("+15551230000", "+15551230000", True),
        ("+15551230000", "+155512300001", False),
        ("+1555123*", "+15551230000", True),
        ("+1555123*", "+1555123", True),  # '*' matches zero or more digits
        ("+1555123*", "+1555124000", False),
        ("+*", "+442079460000", True),
        ("+*", "anonymous", False),
    ],
)
def test_pattern_matches(pattern: str, number: str, matches: bool) -> None:
    assert pattern_matches(pattern, number) is matches


@pytest.mark.parametrize(
    ("a", "b", "overlap", "narrow"),
    [
        ("+15551230000", "+15551230000", True, "+15551230000"),
        ("+15551230000", "+15551230001", False, None),
        ("+15551230000", "+1555*", True, "+15551230000"),
        ("+1555*", "+15551230000", True, "+15551230000"),
        ("+1555*", "+15561230000", False, None),
        ("+1555*", "+15551*", True, "+15551*"),
        ("+15551*", "+1555*", True, "+15551*"),
        ("+1555*", "+1556*", False, None),
        ("+*", "+44*", True, "+44*"),
    ],
)
def test_patterns_overlap(a: str, b: str, overlap: bool, narrow: str | None) -> None:
    assert patterns_overlap(a, b) is overlap
    assert patterns_overlap(b, a) is overlap
    if narrow is not None:
        assert narrower(a, b) == narrower(b, a) == narrow


def test_normalize_number_strips_punctuation_but_keeps_plus() -> None:
    assert normalize_number("+1 (555) 123-0000") == "+15551230000"
    assert normalize_number("\t+44 20-7946 0000 ") == "+442079460000"
    assert normalize_number("anonymous") == "anonymous"


def test_no_match_falls_back_to_the_default() -> None:
    dialplans = plans(sales=Match(to=("+1555*",)))
    assert route(dialplans, "+14155550100", "+15550001111").name == "default"
    assert route(dialplans, "", "").name == "default"


def test_exact_beats_wildcard() -> None:
    dialplans = plans(wide=Match(to=("+1555*",)), exact=Match(to=("+15551230000",)))
    assert route(dialplans, "+15551230000", "+1").name == "exact"
    assert route(dialplans, "+15551230001", "+1").name == "wide"


def test_longer_prefix_beats_shorter() -> None:
    dialplans = plans(narrow=Match(to=("+15551*",)), wide=Match(to=("+1555*",)), widest=Match(to=("+1*",)))
    assert route(dialplans, "+15551230000", "+1").name == "narrow"
    assert route(dialplans, "+15552230000", "+1").name == "wide"
    assert route(dialplans, "+14152230000", "+1").name == "widest"


def test_a_from_filter_beats_none_for_the_same_called_number() -> None:
    dialplans = plans(
        anyone=Match(to=("+15551230000",)),
        uk=Match(to=("+15551230000",), from_=("+44*",)),
        london=Match(to=("+15551230000",), from_=("+4420*",)),
        vip=Match(to=("+15551230000",), from_=("+442079460000",)),
    )
    assert route(dialplans, "+15551230000", "+15550001111").name == "anyone"
    assert route(dialplans, "+15551230000", "+441612345678").name == "uk"
    assert route(dialplans, "+15551230000", "+442071234567").name == "london"
    assert route(dialplans, "+15551230000", "+44 20 7946 0000").name == "vip"
    assert route(dialplans, "+15551230000", "anonymous").name == "anyone"


def test_the_called_number_decides_before_the_caller() -> None:
    dialplans = plans(uk=Match(to=("+1555*",), from_=("+44*",)), exact=Match(to=("+15551230000",)))
    assert route(dialplans, "+15551230000", "+441612345678").name == "exact"
    assert route(dialplans, "+15559990000", "+441612345678").name == "uk"


def test_a_rule_with_a_from_filter_needs_the_caller_to_match() -> None:
    dialplans = plans(uk=Match(to=("+1555*",), from_=("+44*", "+353*")))
    assert route(dialplans, "+15551230000", "+353861234567").name == "uk"
    assert route(dialplans, "+15551230000", "+15550001111").name == "default"


def test_ties_go_to_the_dialplan_listed_first() -> None:
    dialplans = plans(first=Match(to=("+1555*",)), second=Match(to=("+1555*",)))
    assert route(dialplans, "+15551230000", "").name == "first"


def test_routing_a_loaded_folder() -> None:
    dialplans = load_dialplans(FIXTURES / "valid", {})
    assert route(dialplans, "+1 (555) 123-0000", "+4420").name == "sales"
    assert route(dialplans, "+15551249999", "").name == "sales"
    assert route(dialplans, "+15551259999", "").name == "front-desk"
    assert route(dialplans, "+15559990000", "+447700900123").name == "uk-callers"
    assert route(dialplans, "+15559990000", "+12025550100").name == "us-callers"
    assert route(dialplans, "+15559990000", "+33123456789").name == "front-desk"
    assert route(dialplans, "+15559990000", "anonymous").name == "front-desk"
