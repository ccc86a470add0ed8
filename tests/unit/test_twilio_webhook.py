from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

import pytest
from starlette.datastructures import Headers
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from bridge.telephony.twilio.webhook import (
    compute_signature,
    twiml_connect_stream,
    twiml_dial,
    twiml_reject,
    twiml_say_hangup,
    validate_body_sha256,
    validate_signature,
    validate_websocket_upgrade,
    websocket_url,
)

TOKEN = "12345"
# Twilio's published example request (twilio-python's validator tests use the same one).
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
DOC_BODY = b'{"property": "value", "boolean": true}'
DOC_BODY_URL = DOC_URL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
DOC_BODY_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="

AWKWARD = "a&b <c> \"d\" 'e' \t tab \n newline \r cr é ✓ 東京"


class _MultiDict(dict[str, list[str]]):
    """What RequestValidator expects for repeated fields (Flask/Django style getlist)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def _hmac_b64(token: str, text: str) -> str:
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


# -- TwiML -----------------------------------------------------------------------------------


def test_connect_stream_matches_the_documented_twiml_exactly() -> None:
    twiml = twiml_connect_stream(
        "wss://bridge.example.com/media",
        {"tenant": "acme", "from_number": "+15551230000"},
        name="agent",
        status_callback="https://bridge.example.com/stream-status",
    )
    assert twiml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream name="agent" '
        'statusCallback="https://bridge.example.com/stream-status" url="wss://bridge.example.com/media">'
        '<Parameter name="tenant" value="acme" /><Parameter name="from_number" value="+15551230000" />'
        "</Stream></Connect></Response>"
    )


@pytest.mark.parametrize(
    ("url", "parameters", "name", "status_callback"),
    [
        ("wss://bridge.example.com/media", {"tenant": "acme", "From": "+15551230000"}, "agent", "https://x/cb"),
        ("wss://bridge.example.com/media", {}, None, None),
        ("wss://b.example.com/m?x=1&y=2", {AWKWARD: AWKWARD, "empty": ""}, AWKWARD, "https://x/cb?a=1&b=<2>"),
    ],
)
def test_connect_stream_is_byte_identical_to_the_twilio_package(
    url: str, parameters: Mapping[str, str], name: str | None, status_callback: str | None
) -> None:
    response = VoiceResponse()
    stream = response.connect().stream(url=url, name=name, status_callback=status_callback)
    for key, value in parameters.items():
        stream.parameter(name=key, value=value)
    assert twiml_connect_stream(url, parameters, name=name, status_callback=status_callback) == str(response)


@pytest.mark.parametrize("reason", ["busy", "rejected"])
def test_reject_is_byte_identical_to_the_twilio_package(reason: str) -> None:
    response = VoiceResponse()
    response.reject(reason=reason)
    assert twiml_reject(reason) == str(response)
    assert twiml_reject() == '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy" /></Response>'


@pytest.mark.parametrize("text", ["Sorry, all agents are busy. Goodbye.", AWKWARD, ""])
def test_say_hangup_is_byte_identical_to_the_twilio_package(text: str) -> None:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    assert twiml_say_hangup(text) == str(response)


@pytest.mark.parametrize(
    ("to", "caller_id"), [("+15557654321", None), ("+15557654321", "+15551230000"), (AWKWARD, AWKWARD)]
)
def test_dial_is_byte_identical_to_the_twilio_package(to: str, caller_id: str | None) -> None:
    response = VoiceResponse()
    response.dial(to, caller_id=caller_id)
    assert twiml_dial(to, caller_id) == response.to_xml(xml_declaration=False)
    assert twiml_dial("+15557654321") == "<Response><Dial>+15557654321</Dial></Response>"


# -- compute_signature -----------------------------------------------------------------------


def test_signature_reproduces_twilios_published_vectors() -> None:
    assert compute_signature(TOKEN, DOC_URL, DOC_PARAMS) == DOC_SIGNATURE
    assert compute_signature(TOKEN, DOC_BODY_URL) == DOC_BODY_SIGNATURE
    assert compute_signature(TOKEN, DOC_BODY_URL, {}) == DOC_BODY_SIGNATURE


def test_signature_follows_the_algorithm_step_by_step() -> None:
    params = {"To": "+15557654321", "AccountSid": "AC1", "CallSid": "CA1", "From": "+15551230000"}
    text = "https://b.example.com/voice" + "AccountSidAC1" + "CallSidCA1" + "From+15551230000" + "To+15557654321"
    assert compute_signature("secret", "https://b.example.com/voice", params) == _hmac_b64("secret", text)
    # Repeated fields: each name's values sorted; duplicates count once (as RequestValidator does).
    repeated = {"b": ["2", "1", "2"], "a": "x"}
    text = "https://b.example.com/voice" + "ax" + "b1" + "b2"
    assert compute_signature("secret", "https://b.example.com/voice", repeated) == _hmac_b64("secret", text)


@pytest.mark.parametrize(
    ("url", "params"),
    [
        (DOC_URL, DOC_PARAMS),
        ("https://b.example.com:8443/voice?x=1", {"Digits": "1#", "SpeechResult": AWKWARD}),
        ("wss://b.example.com/media", {}),
        ("https://b.example.com/status", {"Called": "", "Caller": "+1"}),
    ],
)
def test_signature_agrees_with_the_official_validator(url: str, params: dict[str, str]) -> None:
    validator = RequestValidator("tok")
    assert compute_signature("tok", url, params) == validator.compute_signature(url, params)


def test_signature_with_repeated_fields_agrees_with_the_official_validator() -> None:
    params = _MultiDict({"Tag": ["b", "a", "c", "a"], "To": ["+1555"], "Empty": [""]})
    assert compute_signature("tok", DOC_URL, params) == RequestValidator("tok").compute_signature(DOC_URL, params)


# -- validate_signature ----------------------------------------------------------------------


def test_valid_requests_pass() -> None:
    assert validate_signature(TOKEN, DOC_URL, DOC_PARAMS, DOC_SIGNATURE)
    assert validate_signature(TOKEN, DOC_BODY_URL, None, DOC_BODY_SIGNATURE)


@pytest.mark.parametrize(
    ("requested", "signed"),
    [
        ("https://b.example.com:443/voice", "https://b.example.com/voice"),
        ("https://b.example.com/voice", "https://b.example.com:443/voice"),
        ("http://b.example.com/voice", "http://b.example.com:80/voice"),
        ("http://b.example.com:80/voice?x=1", "http://b.example.com/voice?x=1"),
        ("https://b.example.com:8443/voice", "https://b.example.com/voice"),
        ("https://b.example.com:8443/voice", "https://b.example.com:8443/voice"),
        ("wss://b.example.com:443/media", "wss://b.example.com/media"),
    ],
)
def test_url_is_accepted_with_and_without_its_port_like_the_official_validator(requested: str, signed: str) -> None:
    signature = _hmac_b64(TOKEN, signed + "CallSidCA1")
    assert validate_signature(TOKEN, requested, {"CallSid": "CA1"}, signature)
    assert RequestValidator(TOKEN).validate(requested, {"CallSid": "CA1"}, signature)


def test_ipv6_host_keeps_its_brackets_when_the_port_is_removed() -> None:
    # RequestValidator splits the netloc at the first colon, so it cannot handle this case at all.
    signature = _hmac_b64(TOKEN, "http://[::1]/voice")
    assert validate_signature(TOKEN, "http://[::1]:8080/voice", {}, signature)


def test_wss_default_port_is_443_unlike_the_official_validator() -> None:
    # Documented difference: RequestValidator adds :80 to any scheme but https.
    signature = _hmac_b64(TOKEN, "wss://b.example.com:443/media")
    assert validate_signature(TOKEN, "wss://b.example.com/media", {}, signature)
    assert not RequestValidator(TOKEN).validate("wss://b.example.com/media", {}, signature)


def test_repeated_fields_validate_like_the_official_validator() -> None:
    params = _MultiDict({"Tag": ["b", "a"], "To": ["+1555"]})
    signature = RequestValidator(TOKEN).compute_signature(DOC_URL, params)
    assert validate_signature(TOKEN, DOC_URL, {"Tag": ["a", "b"], "To": "+1555"}, signature)
    assert not validate_signature(TOKEN, DOC_URL, {"Tag": ["a"], "To": "+1555"}, signature)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        ("54321", DOC_URL, DOC_PARAMS, DOC_SIGNATURE),
        (TOKEN, DOC_URL.replace("foo=1", "foo=2"), DOC_PARAMS, DOC_SIGNATURE),
        (TOKEN, DOC_URL.replace("myapp", "yourapp"), DOC_PARAMS, DOC_SIGNATURE),
        (TOKEN, DOC_URL.replace("https", "http"), DOC_PARAMS, DOC_SIGNATURE),
        (TOKEN, DOC_URL.replace("mycompany.com", "mycompany.org"), DOC_PARAMS, DOC_SIGNATURE),
        (TOKEN, DOC_URL, {**DOC_PARAMS, "Digits": "1235"}, DOC_SIGNATURE),
        (TOKEN, DOC_URL, {**DOC_PARAMS, "Extra": "1"}, DOC_SIGNATURE),
        (TOKEN, DOC_URL, {k: v for k, v in DOC_PARAMS.items() if k != "To"}, DOC_SIGNATURE),
        (TOKEN, DOC_URL, None, DOC_SIGNATURE),
        (TOKEN, DOC_URL, DOC_PARAMS, "1" + DOC_SIGNATURE[1:]),
        (TOKEN, DOC_URL, DOC_PARAMS, ""),
        (TOKEN, DOC_URL, DOC_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=\u00e9"),
        (TOKEN, DOC_URL, DOC_PARAMS, "\ud800"),
        (TOKEN, "https://mycompany.com:99999/myapp.php", DOC_PARAMS, DOC_SIGNATURE),
        (TOKEN, "https://[::1/myapp.php", DOC_PARAMS, DOC_SIGNATURE),
    ],
)
def test_tampered_requests_fail(token: str, url: str, params: Mapping[str, str] | None, signature: str) -> None:
    assert not validate_signature(token, url, params, signature)


# -- bodySHA256 ------------------------------------------------------------------------------


def test_json_body_hash_is_checked_separately() -> None:
    assert validate_body_sha256(DOC_BODY_URL, DOC_BODY)
    assert RequestValidator(TOKEN).validate(DOC_BODY_URL, DOC_BODY.decode(), DOC_BODY_SIGNATURE)
    assert not validate_body_sha256(DOC_BODY_URL, DOC_BODY + b" ")
    assert not validate_body_sha256(DOC_BODY_URL.upper(), DOC_BODY)
    assert not validate_body_sha256(DOC_URL, DOC_BODY)
    assert not validate_body_sha256("https://[::1/x?bodySHA256=00", DOC_BODY)


def test_body_hash_of_raw_bytes_agrees_with_the_official_validator() -> None:
    body = '{"Caller":"+12349013030","Name":"Zoë"}'.encode()
    url = "https://b.example.com/hook?bodySHA256=" + hashlib.sha256(body).hexdigest()
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    assert RequestValidator(TOKEN).validate(url, body.decode(), signature)
    assert validate_signature(TOKEN, url, None, signature) and validate_body_sha256(url, body)


# -- WebSocket upgrade -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "host", "headers", "expected"),
    [
        ("wss", "b.example.com", {}, "wss://b.example.com/media"),
        ("ws", "b.example.com", {}, "ws://b.example.com/media"),
        ("https", "b.example.com", {}, "wss://b.example.com/media"),
        ("ws", "10.0.0.5:8080", {"X-Forwarded-Proto": "https"}, "wss://10.0.0.5:8080/media"),
        ("ws", "10.0.0.5:8080", {"x-forwarded-proto": "http"}, "ws://10.0.0.5:8080/media"),
        (
            "ws",
            "10.0.0.5:8080",
            {"X-FORWARDED-PROTO": "WSS", "X-Forwarded-Host": "b.example.com"},
            "wss://b.example.com/media",
        ),
        (
            "ws",
            "10.0.0.5",
            {"x-forwarded-proto": "https, http", "x-forwarded-host": "b.example.com, lb"},
            "wss://b.example.com/media",
        ),
        ("ws", "10.0.0.5", {"x-forwarded-proto": "", "x-forwarded-host": ""}, "ws://10.0.0.5/media"),
    ],
)
def test_websocket_url_rebuilds_what_twilio_connected_to(
    scheme: str, host: str, headers: dict[str, str], expected: str
) -> None:
    assert websocket_url(scheme, host, "/media", headers) == expected
    assert websocket_url(scheme, host, "/media", Headers(headers)) == expected


def _upgrade_headers(signature: str, **extra: str) -> Headers:
    raw = [(b"host", b"10.0.0.5:8080"), (b"x-twilio-signature", signature.encode())]
    raw += [(key.replace("_", "-").encode(), value.encode()) for key, value in extra.items()]
    return Headers(raw=raw)


def test_websocket_upgrade_validates_behind_a_proxy() -> None:
    signature = RequestValidator(TOKEN).compute_signature("wss://b.example.com/media", {})
    headers = _upgrade_headers(signature, x_forwarded_proto="https", x_forwarded_host="b.example.com")
    assert validate_websocket_upgrade(TOKEN, "ws", "10.0.0.5:8080", "/media", {}, headers)
    assert not validate_websocket_upgrade("other", "ws", "10.0.0.5:8080", "/media", {}, headers)
    assert not validate_websocket_upgrade(TOKEN, "ws", "10.0.0.5:8080", "/other", {}, headers)
    # Without the proxy headers the server would see ws://10.0.0.5:8080, which Twilio did not sign.
    assert not validate_websocket_upgrade(TOKEN, "ws", "10.0.0.5:8080", "/media", {}, _upgrade_headers(signature))


def test_websocket_upgrade_signs_query_parameters_as_params() -> None:
    query = {"tenant": "acme", "token": "abc"}
    signature = RequestValidator(TOKEN).compute_signature("wss://b.example.com/media", query)
    headers = {"Host": "b.example.com", "X-Twilio-Signature": signature}
    assert validate_websocket_upgrade(TOKEN, "wss", "b.example.com", "/media", query, headers)
    assert not validate_websocket_upgrade(TOKEN, "wss", "b.example.com", "/media", {"tenant": "acme"}, headers)


def test_websocket_upgrade_without_a_signature_fails() -> None:
    assert not validate_websocket_upgrade(TOKEN, "wss", "b.example.com", "/media", {}, {"Host": "b.example.com"})
