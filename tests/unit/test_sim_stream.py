from __future__ import annotations

import base64
import json
import re
from typing import Any

import orjson

from bridge.sim.ids import CallIds, new_call_ids
from bridge.sim.stream import FRAME_BYTES, TwilioStream

# The literal examples of shared PROTOCOLS.md C.1, verbatim.
C1_CONNECTED = '{"event":"connected","protocol":"Call","version":"1.0.0"}'
C1_START = """{"event":"start","sequenceNumber":"1",
 "start":{"accountSid":"AC…","streamSid":"MZ…","callSid":"CA…",
          "tracks":["inbound"],
          "customParameters":{"FirstName":"Jane","LastName":"Doe","RemoteParty":"Bob"},
          "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},
 "streamSid":"MZ…"}"""
C1_MEDIA = """{"event":"media","sequenceNumber":"3",
 "media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"<base64 μ-law>"},
 "streamSid":"MZ…"}"""
C1_DTMF = '{"event":"dtmf","streamSid":"MZ…","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}'
C1_MARK = '{"event":"mark","sequenceNumber":"4","streamSid":"MZ…","mark":{"name":"my label"}}'
C1_STOP = '{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC…","callSid":"CA…"},"streamSid":"MZ…"}'

LITERAL_IDS = CallIds(account_sid="AC…", call_sid="CA…", stream_sid="MZ…")
LITERAL_PARAMETERS = {"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"}


def compact(literal: str) -> bytes:
    """The literal as it goes on the wire: same keys, same order, no whitespace."""
    return json.dumps(json.loads(literal), separators=(",", ":"), ensure_ascii=False).encode()


def shape(value: Any) -> Any:
    """Keys in order and leaf types, without the values."""
    if isinstance(value, dict):
        return [(key, shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def test_connected_start_mark_dtmf_and_stop_equal_the_literal_examples_byte_for_byte() -> None:
    stream = TwilioStream(LITERAL_IDS, LITERAL_PARAMETERS)
    assert stream.connected() == compact(C1_CONNECTED)
    assert stream.start() == compact(C1_START)
    stream.media(bytes(FRAME_BYTES))
    stream.media(bytes(FRAME_BYTES))
    assert stream.mark("my label") == compact(C1_MARK)
    assert stream.dtmf("1") == compact(C1_DTMF)

    ending = TwilioStream(LITERAL_IDS)
    ending.start()
    ending.media(b"\xff")
    ending.media(b"\xff")
    ending.mark("x")
    assert ending.stop() == compact(C1_STOP)


def test_media_has_the_literal_shape() -> None:
    stream = TwilioStream(LITERAL_IDS)
    stream.start()
    stream.dtmf("9")
    media = stream.media(bytes(range(FRAME_BYTES)))
    assert shape(orjson.loads(media)) == shape(json.loads(C1_MEDIA))
    assert orjson.loads(media)["sequenceNumber"] == "3"


def test_counters_are_strings_numbered_like_twilio() -> None:
    stream = TwilioStream(new_call_ids(seed=1))
    assert "sequenceNumber" not in orjson.loads(stream.connected())
    assert orjson.loads(stream.start())["sequenceNumber"] == "1"
    frames = [orjson.loads(stream.media(bytes([n]) * FRAME_BYTES)) for n in range(3)]
    dtmf = orjson.loads(stream.dtmf("#"))
    mark = orjson.loads(stream.mark("a"))
    fourth = orjson.loads(stream.media(b"\x00" * FRAME_BYTES))
    stop = orjson.loads(stream.stop())

    assert [frame["sequenceNumber"] for frame in frames] == ["2", "3", "4"]
    assert [frame["media"]["chunk"] for frame in frames] == ["1", "2", "3"]
    assert [frame["media"]["timestamp"] for frame in frames] == ["0", "20", "40"]
    assert (dtmf["sequenceNumber"], mark["sequenceNumber"]) == ("5", "6")
    assert (fourth["sequenceNumber"], fourth["media"]["chunk"], fourth["media"]["timestamp"]) == ("7", "4", "60")
    assert stop["sequenceNumber"] == "8"
    assert stream.sequence_number == 8
    assert stream.chunks == 4


def test_media_payload_is_base64_of_the_frame() -> None:
    stream = TwilioStream(new_call_ids(seed=2))
    frame = bytes(range(FRAME_BYTES))
    payload = orjson.loads(stream.media(frame))["media"]["payload"]
    assert len(payload) == 216
    assert base64.b64decode(payload) == frame


def test_timestamp_follows_the_audio_sent_for_odd_frame_sizes() -> None:
    stream = TwilioStream(new_call_ids(seed=3))
    stream.media(b"\xff" * 80)
    assert orjson.loads(stream.media(b"\xff" * 160))["media"]["timestamp"] == "10"
    assert orjson.loads(stream.media(b"\xff" * 160))["media"]["timestamp"] == "30"


def test_messages_round_trip_through_json() -> None:
    stream = TwilioStream(new_call_ids(seed=4), {"From": "+15551230000", "Ünïcode": "välue"})
    for message in (
        stream.connected(),
        stream.start(),
        stream.media(b"\x01" * FRAME_BYTES),
        stream.dtmf("*"),
        stream.mark("ünïcode mark"),
        stream.stop(),
    ):
        assert orjson.dumps(orjson.loads(message)) == message


def test_seeded_ids_are_deterministic_and_well_formed() -> None:
    first, again, other = new_call_ids(seed=7), new_call_ids(seed=7), new_call_ids(seed=8)
    assert first == again
    assert first != other
    assert re.fullmatch(r"AC[0-9a-f]{32}", first.account_sid)
    assert re.fullmatch(r"CA[0-9a-f]{32}", first.call_sid)
    assert re.fullmatch(r"MZ[0-9a-f]{32}", first.stream_sid)
    assert len({first.account_sid[2:], first.call_sid[2:], first.stream_sid[2:]}) == 3


def test_unseeded_ids_differ_each_call() -> None:
    first, second = new_call_ids(), new_call_ids()
    assert re.fullmatch(r"MZ[0-9a-f]{32}", first.stream_sid)
    assert first.stream_sid != second.stream_sid
    assert first.call_sid != second.call_sid
