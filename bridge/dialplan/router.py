"""Pick the dialplan for a call, and the number patterns ``match`` rules are written in.

A pattern is an exact E.164 number (``+15551230000``) or a prefix followed by ``*`` (``+1555123*``;
``+*`` is any E.164 number); ``*`` matches zero or more characters. The loader rejects two dialplans
whose rules could both match one call, so for loaded sets at most one non-default dialplan matches;
the ranking below makes ``route`` deterministic for any set, including ones built in code.
"""

from __future__ import annotations

import re

from bridge.dialplan.model import Dialplan, DialplanSet, Match

__all__ = ["narrower", "normalize_number", "pattern_matches", "pattern_problem", "patterns_overlap", "route"]

_EXACT = re.compile(r"\+[1-9][0-9]{1,14}")
_PREFIX = re.compile(r"\+(?:[1-9][0-9]{0,14})?\*")
_PUNCTUATION = str.maketrans("", "", " \t-()")

# (exact?, prefix length): an exact number beats any wildcard, a longer prefix beats a shorter one.
_Specificity = tuple[int, int]
# A rule with a ``from`` filter beats one without; among filters, the same order as for ``to``.
_NO_FILTER: _Specificity = (-1, -1)


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid number pattern, or None when it is."""
    if _EXACT.fullmatch(pattern) or _PREFIX.fullmatch(pattern):
        return None
    return f"{pattern!r} is not an E.164 number (+ then 2-15 digits) or a prefix ending in '*' (like '+1555*')"


def normalize_number(number: str) -> str:
    """Drop the spaces, tabs, dashes and parentheses people and carriers put in numbers (``+`` stays)."""
    return number.translate(_PUNCTUATION)


def _is_prefix(pattern: str) -> bool:
    return pattern.endswith("*")


def pattern_matches(pattern: str, number: str) -> bool:
    """Whether a valid ``pattern`` matches an already normalised ``number``."""
    if _is_prefix(pattern):
        return number.startswith(pattern[:-1])
    return number == pattern


def patterns_overlap(a: str, b: str) -> bool:
    """Whether some number matches both valid patterns."""
    if _is_prefix(a) and _is_prefix(b):
        return a[:-1].startswith(b[:-1]) or b[:-1].startswith(a[:-1])
    if _is_prefix(a):
        return pattern_matches(a, b)
    return pattern_matches(b, a)


def _specificity(pattern: str) -> _Specificity:
    if _is_prefix(pattern):
        return (0, len(pattern) - 1)
    return (1, len(pattern))


def narrower(a: str, b: str) -> str:
    """Of two overlapping patterns, the one matching fewer numbers (the other matches all of them)."""
    return max(a, b, key=_specificity)


def _best(patterns: tuple[str, ...], number: str) -> _Specificity | None:
    scores = [_specificity(p) for p in patterns if pattern_matches(p, number)]
    return max(scores, default=None)


def _score(match: Match, to_number: str, from_number: str) -> tuple[_Specificity, _Specificity] | None:
    to_score = _best(match.to, to_number)
    if to_score is None:
        return None
    if not match.from_:
        return (to_score, _NO_FILTER)
    from_score = _best(match.from_, from_number)
    if from_score is None:
        return None
    return (to_score, from_score)


def route(dialplans: DialplanSet, to_number: str, from_number: str) -> Dialplan:
    """The dialplan for a call to ``to_number`` from ``from_number``.

    The most specific matching rule wins: the called number decides first (an exact number beats a
    wildcard, a longer prefix a shorter one), then the caller (any ``from`` filter beats none, then the
    same order). On a tie the dialplan listed first wins. No match: the default dialplan.
    """
    to_number = normalize_number(to_number)
    from_number = normalize_number(from_number)
    best: tuple[tuple[_Specificity, _Specificity], Dialplan] | None = None
    for plan in dialplans:
        if plan.match is None:
            continue
        score = _score(plan.match, to_number, from_number)
        if score is not None and (best is None or score > best[0]):
            best = (score, plan)
    return dialplans.default if best is None else best[1]
