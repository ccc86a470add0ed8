from __future__ import annotations

import pytest

from bridge.archive.ranges import Unsatisfiable, parse_byte_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=10-", 100, (10, 99)),  # open-ended
        ("bytes=-10", 100, (90, 99)),  # suffix
        ("bytes=-500", 100, (0, 99)),  # suffix longer than the body: all of it
        ("bytes=90-500", 100, (90, 99)),  # last clipped to the end
        ("bytes=99-99", 100, (99, 99)),
        ("BYTES=0-0", 100, (0, 0)),
        (" bytes=1-2 ", 100, (1, 2)),
        # ignored (whole body): other units, several ranges, malformed, backwards
        ("items=0-9", 100, None),
        ("bytes=0-1,5-6", 100, None),
        ("bytes=-", 100, None),
        ("bytes=a-b", 100, None),
        ("bytes=5-1", 100, None),
        ("bytes 0-9", 100, None),
        ("bytes=5-1", 0, None),
    ],
)
def test_ranges(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_byte_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=-0", 100), ("bytes=0-", 0), ("bytes=-5", 0)],
)
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_byte_range(header, size)
