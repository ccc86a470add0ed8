"""HTTP ``Range: bytes=...`` for one byte range (RFC 9110 section 14), as a pure function."""

from __future__ import annotations

import re

__all__ = ["Unsatisfiable", "parse_byte_range"]

_SINGLE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


class Unsatisfiable(Exception):
    """The range lies wholly outside the representation: answer 416 with ``Content-Range: bytes */size``."""


def parse_byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte positions ``header`` asks for in a ``size``-byte body.

    None means "send the whole body with 200": no header, another unit, several ranges, or a malformed
    one (RFC 9110 lets a server ignore those). Raises :class:`Unsatisfiable` for a well-formed range that
    selects nothing: a first position at or past the end, a zero-length suffix, any range of an empty body.
    """
    if header is None:
        return None
    match = _SINGLE.fullmatch(header.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None  # "bytes=-" is malformed
        suffix = int(last_text)  # "bytes=-N": the last N bytes
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # an invalid range-spec is ignored
    if first >= size:
        raise Unsatisfiable
    return first, min(int(last_text), size - 1) if last_text else size - 1
