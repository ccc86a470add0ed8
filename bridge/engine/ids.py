"""Realtime-style IDs: ``prefix_`` + 21 base62 characters.

The first 5 characters encode the Unix second of minting minus 1,576,800,000 (PROTOCOLS G.0: that
decoding matched four real traces), the other 16 are random. Seeded minters are deterministic, so
a test that pins the seed and the clock gets the same IDs every run.
"""

from __future__ import annotations

import random

__all__ = ["ALPHABET", "EPOCH", "IdMinter", "decode_seconds"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
EPOCH = 1_576_800_000
_HEAD = 5
_TAIL = 16


def _base62(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(ALPHABET[digit])
    if value:
        raise ValueError("timestamp does not fit in the ID's time field")
    return "".join(reversed(digits))


def decode_seconds(identifier: str) -> int:
    """The Unix second an ID was minted at (its first 5 characters after the prefix)."""
    _, _, body = identifier.rpartition("_")
    seconds = 0
    for char in body[:_HEAD]:
        seconds = seconds * 62 + ALPHABET.index(char)
    return seconds + EPOCH


class IdMinter:
    """Mints IDs and random tokens; ``seed`` makes the sequence reproducible."""

    def __init__(self, seed: int | str | None = None) -> None:
        # Random(None) seeds itself from os.urandom once; these are IDs, not secrets, and SystemRandom
        # would read the OS's entropy for every character.
        self._rng = random.Random(seed)

    def token(self, length: int) -> str:
        """``length`` random base62 characters."""
        return "".join(self._rng.choices(ALPHABET, k=length))

    def mint(self, prefix: str, now: float) -> str:
        """A new ``prefix_…`` ID stamped with ``now`` (Unix seconds)."""
        return f"{prefix}_{_base62(int(now) - EPOCH, _HEAD)}{self.token(_TAIL)}"
