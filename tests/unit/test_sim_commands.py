from __future__ import annotations

import pytest

from bridge.errors import ProtocolError
from bridge.sim.commands import AppClear, AppMark, AppMedia, parse_app_message

SID = "MZ" + "0" * 32


def wire(text: str) -> str:
    return text.replace("$SID", SID)


def test_parses_the_three_messages_of_protocols_c2() -> None:
    media = '{"event":"media","streamSid":"$SID","media":{"payload":"AQL/"}}'
    assert parse_app_message(wire(media), SID) == AppMedia(b"\x01\x02\xff")
    mark = '{"event":"mark","streamSid":"$SID","mark":{"name":"responsePart"}}'
    assert parse_app_message(wire(mark).encode(), SID) == AppMark("responsePart")
    assert parse_app_message(wire('{"event":"clear","streamSid":"$SID"}'), SID) == AppClear()


def test_tolerates_extra_keys() -> None:
    media = '{"event":"media","streamSid":"$SID","media":{"payload":"","track":"outbound"},"x":1}'
    assert parse_app_message(wire(media), SID) == AppMedia(b"")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"event":"clear","streamSid":"MZother"}', "streamSid"),
        ('{"event":"clear"}', "streamSid"),
        ('{"streamSid":"$SID"}', "event"),
        ('{"event":7,"streamSid":"$SID"}', "event"),
        ('{"event":"stop","streamSid":"$SID"}', "event"),
        ('{"event":"media","streamSid":"$SID"}', "media"),
        ('{"event":"media","streamSid":"$SID","media":{"payload":"not base64!"}}', "media.payload"),
        ('{"event":"media","streamSid":"$SID","media":{"payload":5}}', "media.payload"),
        ('{"event":"mark","streamSid":"$SID","mark":{}}', "mark.name"),
        ('{"event":"mark","streamSid":"$SID","mark":"name"}', "mark"),
        ("[1, 2]", "message"),
    ],
)
def test_rejects_what_twilio_would_not_accept(text: str, field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_app_message(wire(text), SID)
    assert caught.value.field == field


def test_rejects_text_that_is_not_json() -> None:
    with pytest.raises(ProtocolError, match="not JSON") as caught:
        parse_app_message("clear please", SID)
    assert caught.value.field is None
