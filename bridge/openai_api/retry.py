"""When to retry an OpenAI REST call and how long to wait first (pure: the time comes in as an argument)."""

from __future__ import annotations

import datetime
import email.utils
import random
from dataclasses import dataclass

__all__ = ["Backoff", "is_retryable_status", "parse_retry_after"]


def is_retryable_status(status: int) -> bool:
    """429 (rate limited) and every 5xx are worth another try; other errors will not change."""
    return status == 429 or status >= 500


def parse_retry_after(retry_after: str | None, retry_after_ms: str | None, *, now: float) -> float | None:
    """The wait the server asked for, in seconds, or None when it asked for none we can read.

    ``retry-after-ms`` (OpenAI's, milliseconds) wins over ``Retry-After`` (RFC 9110: delay-seconds or an
    HTTP date, measured against ``now``, Unix seconds). A date in the past means "now": 0.
    """
    if retry_after_ms is not None:
        try:
            return max(0.0, float(retry_after_ms) / 1000)
        except ValueError:
            pass
    if retry_after is None:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no stated zone (RFC 5322)
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter, capped; a server-requested wait wins (up to ``max_retry_after_s``).

    The n-th retry (0-based) waits ``min(initial_s * 2**n, max_s)`` scaled by a jitter factor drawn
    uniformly from ``[1 - jitter, 1]``, so that clients throttled together do not retry together.
    """

    initial_s: float = 0.5
    max_s: float = 8.0
    jitter: float = 0.25
    max_retry_after_s: float = 60.0

    def delay(self, retry: int, requested: float | None, rng: random.Random) -> float:
        if requested is not None:
            return min(requested, self.max_retry_after_s)
        base = min(self.initial_s * 2.0**retry, self.max_s)
        return base * (1.0 - self.jitter * rng.random())
