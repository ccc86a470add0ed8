from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bridge.archive.query import FILTER_PARAMS, CallFilter, Cursor, parse_timestamp


def test_parse_timestamp_forms() -> None:
    assert parse_timestamp("2024-05-01T12:00:00Z") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_timestamp("2024-05-01T14:00:00+02:00") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_timestamp("2024-05-01T12:00:00").tzinfo == UTC  # no offset: UTC
    assert parse_timestamp("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    for bad in ("yesterday", "2024-13-01", "", "12:00"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_filter_parse_and_back() -> None:
    params = {
        "from": "+15550001",
        "to": "+15550002",
        "dialplan": "support",
        "since": "2024-05-01T00:00:00+00:00",
        "until": "2024-05-02T00:00:00+00:00",
        "end_reason": "caller_hangup",
        "q": "refund please",
    }
    parsed = CallFilter.parse(params)
    assert parsed == CallFilter(
        from_number="+15550001",
        to_number="+15550002",
        dialplan="support",
        since=datetime(2024, 5, 1, tzinfo=UTC),
        until=datetime(2024, 5, 2, tzinfo=UTC),
        end_reason="caller_hangup",
        q="refund please",
    )
    assert parsed.to_params() == params
    assert CallFilter.parse(parsed.to_params()) == parsed
    assert set(params) == set(FILTER_PARAMS)


def test_filter_empty_values_are_absent_and_bad_dates_name_the_parameter() -> None:
    assert CallFilter.parse({"from": "", "since": "", "q": ""}) == CallFilter()
    assert CallFilter().to_params() == {}
    with pytest.raises(ValueError, match="^until: "):
        CallFilter.parse({"until": "soon"})


def test_cursor_round_trip() -> None:
    cursor = Cursor(datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC), "01HX")
    token = cursor.encode()
    assert "=" not in token and "/" not in token and "+" not in token
    assert Cursor.decode(token) == cursor
    shifted = Cursor(datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2))), "x")
    assert Cursor.decode(shifted.encode()).at == datetime(2024, 5, 1, 12, tzinfo=UTC)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64!",
        "%%%%",
        _b64(b"not json"),
        _b64(b'{"at": "2024-05-01T12:00:00+00:00", "id": "x"}'),
        _b64(b'["2024-05-01T12:00:00+00:00"]'),
        _b64(b'["2024-05-01T12:00:00+00:00", 5]'),
        _b64(b'["yesterday", "x"]'),
        _b64(b'["2024-05-01T12:00:00", "x"]'),  # naive: never produced by encode
        _b64(b"[1, 2, 3]"),
        "é",
    ],
)
def test_bad_cursors_are_value_errors(token: str) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        Cursor.decode(token)
