from __future__ import annotations

from bridge.realtime.ws import closed_error, handshake_headers, refused_error, session_url


def test_session_url_adds_the_model_after_any_query() -> None:
    assert session_url("wss://api.openai.com/v1/realtime", "gpt-realtime") == (
        "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    )
    assert session_url("wss://x.example/openai/realtime?api-version=2025-04-01", "my model/1") == (
        "wss://x.example/openai/realtime?api-version=2025-04-01&model=my%20model%2F1"
    )


def test_handshake_headers_per_dialect() -> None:
    assert handshake_headers("sk-1", "ga") == {"Authorization": "Bearer sk-1"}
    assert handshake_headers("sk-1", "beta") == {"Authorization": "Bearer sk-1", "OpenAI-Beta": "realtime=v1"}
    assert handshake_headers(None, "ga") == {}


def test_refused_upgrade_carries_the_http_status_and_openai_error_code() -> None:
    body = (
        b'{"error":{"message":"Incorrect API key provided: sk-1****.",'
        b'"type":"invalid_request_error","code":"invalid_api_key"}}'
    )
    error = refused_error(401, body)
    assert (error.status, error.code) == (401, "invalid_api_key")
    assert str(error) == "the Realtime server refused the connection: HTTP 401: Incorrect API key provided: sk-1****."
    for other in (b"", b"<html>bad gateway</html>", b'{"error": "flat"}', b"[1]"):
        error = refused_error(502, other)
        assert (error.status, error.code) == (502, None)
        assert str(error) == "the Realtime server refused the connection: HTTP 502"


def test_closed_session_carries_the_close_code_and_an_error_code_reason() -> None:
    fatal = closed_error(3000, "invalid_request_error.invalid_api_key")
    assert (fatal.status, fatal.code) == (3000, "invalid_api_key")
    expired = closed_error(1001, "Your session hit the maximum duration of 60 minutes.")
    assert (expired.status, expired.code) == (1001, None)
    assert str(expired) == "the Realtime session closed: 1001 (Your session hit the maximum duration of 60 minutes.)"
    dropped = closed_error(None, "")
    assert (dropped.status, dropped.code, str(dropped)) == (1006, None, "the Realtime session closed: 1006")
