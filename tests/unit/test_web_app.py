from __future__ import annotations

import pytest

from bridge.web.app import engine_rest_url


@pytest.mark.parametrize(
    ("realtime", "rest"),
    [
        ("ws://127.0.0.1:8765/v1/realtime", "http://127.0.0.1:8765/v1"),
        ("wss://engine.example/v1/realtime?model=x", "https://engine.example/v1"),
        ("ws://[::1]:9/v1/realtime", "http://[::1]:9/v1"),
    ],
)
def test_engine_rest_url_is_beside_the_realtime_socket(realtime: str, rest: str) -> None:
    assert engine_rest_url(realtime) == rest
