"""Twilio identifiers for one simulated call: ``AC``/``CA``/``MZ`` + 32 lowercase hex digits."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

__all__ = ["CallIds", "new_call_ids"]


@dataclass(frozen=True, slots=True)
class CallIds:
    """The account, call and stream SIDs Twilio puts in ``start`` and ``stop``."""

    account_sid: str
    call_sid: str
    stream_sid: str


def new_call_ids(seed: int | None = None) -> CallIds:
    """Mint a fresh set of SIDs; the same ``seed`` always gives the same SIDs, ``None`` gives random ones."""
    if seed is None:
        return CallIds(
            account_sid="AC" + secrets.token_hex(16),
            call_sid="CA" + secrets.token_hex(16),
            stream_sid="MZ" + secrets.token_hex(16),
        )
    rng = random.Random(seed)
    return CallIds(
        account_sid=f"AC{rng.getrandbits(128):032x}",
        call_sid=f"CA{rng.getrandbits(128):032x}",
        stream_sid=f"MZ{rng.getrandbits(128):032x}",
    )
