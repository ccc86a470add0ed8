from __future__ import annotations

import random

import pytest

from bridge.openai_api.retry import Backoff, is_retryable_status, parse_retry_after


@pytest.mark.parametrize(
    ("status", "retry"), [(429, True), (500, True), (503, True), (400, False), (404, False), (409, False), (413, False)]
)
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


def test_retry_after_seconds_and_fractions() -> None:
    assert parse_retry_after("2", None, now=0) == 2.0
    assert parse_retry_after("0.5", None, now=0) == 0.5


def test_retry_after_ms_wins() -> None:
    assert parse_retry_after("20", "1500", now=0) == 1.5


def test_unreadable_ms_falls_back_to_retry_after() -> None:
    assert parse_retry_after("4", "soon", now=0) == 4.0


def test_http_date_is_relative_to_now() -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:09 GMT", None, now=now) == 9.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", None, now=now) == 0.0  # in the past: now


def test_http_date_without_zone_is_utc() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:09 -0000", None, now=1445412480.0) == 9.0


def test_nothing_readable_means_no_request() -> None:
    assert parse_retry_after(None, None, now=0) is None
    assert parse_retry_after("whenever", None, now=0) is None
    assert parse_retry_after("-3", None, now=0) == 0.0


def test_backoff_doubles_up_to_the_cap_and_jitters_down() -> None:
    backoff = Backoff(initial_s=0.5, max_s=8.0, jitter=0.25)
    rng = random.Random(1)
    for retry, base in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0]):
        delay = backoff.delay(retry, None, rng)
        assert base * 0.75 <= delay <= base


def test_backoff_is_reproducible_with_a_seed() -> None:
    first = [Backoff().delay(n, None, random.Random(42)) for n in range(4)]
    second = [Backoff().delay(n, None, random.Random(42)) for n in range(4)]
    assert first == second


def test_requested_wait_wins_but_is_capped() -> None:
    backoff = Backoff(max_retry_after_s=60.0)
    assert backoff.delay(3, 2.0, random.Random(0)) == 2.0
    assert backoff.delay(0, 600.0, random.Random(0)) == 60.0
