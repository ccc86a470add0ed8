from __future__ import annotations

import base64
import random
import re
from pathlib import Path

import orjson
import pytest

from bridge.errors import ProtocolError
from bridge.telephony.events import (
    AudioReceived,
    CallStarted,
    CallStopped,
    ClearPlayback,
    DtmfReceived,
    HangUp,
    MarkPlayed,
    PlayAudio,
    SetMark,
    Transfer,
)
from bridge.telephony.twilio.protocol import (
    MAX_INBOUND_FRAME,
    MAX_INBOUND_PAYLOAD,
    MAX_OUTBOUND_PAYLOAD,
    Clear,
    Connected,
    Dtmf,
    Mark,
    Media,
    MediaFormat,
    OutboundMark,
    OutboundMedia,
    Start,
    Stop,
    TwilioMediaStream,
    TwilioMessage,
    dump,
    parse_inbound,
    parse_outbound,
)

FRAMES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio_frames.jsonl"
MZ = "MZdca83e717b1f64eb141057a7415a330a"
CA = "CA7edb360f06acaef2cc80dba16cf563f1"
AC = "AC9af211329b2fc82e5efe906062c73008"


def _lines() -> list[str]:
    return FRAMES.read_text(encoding="utf-8").splitlines()


def _is_inbound(line: str) -> bool:
    # Twilio numbers every message it sends except `connected`; the app's messages carry no sequenceNumber.
    obj = orjson.loads(line)
    return "sequenceNumber" in obj or obj["event"] == "connected"


def _parse(line: str | bytes, inbound: bool) -> TwilioMessage:
    return parse_inbound(line) if inbound else parse_outbound(line)


def _start_frame(**start_overrides: object) -> str:
    start: dict[str, object] = {
        "accountSid": AC,
        "streamSid": MZ,
        "callSid": CA,
        "tracks": ["inbound"],
        "customParameters": {"From": "+15551230000", "To": "+15557654321", "tenant": "acme"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    start.update(start_overrides)
    return orjson.dumps({"event": "start", "sequenceNumber": "1", "start": start, "streamSid": MZ}).decode()


def _media_frame(payload: bytes = b"\xff" * 160, track: str = "inbound", stream_sid: str = MZ) -> str:
    media = {"track": track, "chunk": "1", "timestamp": "20", "payload": base64.b64encode(payload).decode()}
    return orjson.dumps({"event": "media", "sequenceNumber": "2", "media": media, "streamSid": stream_sid}).decode()


# -- round trip ------------------------------------------------------------------------------


def test_every_fixture_frame_round_trips_as_text_and_bytes() -> None:
    for line in _lines():
        inbound = _is_inbound(line)
        assert dump(_parse(line, inbound)) == line
        assert dump(_parse(line.encode(), inbound)) == line


def test_fixture_covers_every_message_kind_with_real_shaped_ids_and_frames() -> None:
    kinds: set[type] = set()
    for line in _lines():
        msg = _parse(line, _is_inbound(line))
        kinds.add(type(msg))
        if not isinstance(msg, Connected):
            assert re.fullmatch(r"MZ[0-9a-f]{32}", msg.stream_sid)
        if isinstance(msg, Start | Stop):
            assert re.fullmatch(r"CA[0-9a-f]{32}", msg.call_sid)
            assert re.fullmatch(r"AC[0-9a-f]{32}", msg.account_sid)
        if isinstance(msg, Media):
            assert len(msg.payload) == 160
    assert kinds == {Connected, Start, Media, Dtmf, Mark, Stop, OutboundMedia, OutboundMark, Clear}


def test_start_decodes_every_field_including_unicode_parameters() -> None:
    start = parse_inbound(_lines()[1])
    assert start == Start(
        sequence_number=1,
        stream_sid=MZ,
        account_sid=AC,
        call_sid=CA,
        tracks=("inbound",),
        custom_parameters={
            "From": "+15551230000",
            "To": "+15557654321",
            "tenant": "acme",
            "caller_name": "Zoë Ångström",
            "greeting": 'こんにちは "quoted" <b>&amp;</b> \\ 👋',
            "empty": "",
        },
        media_format=MediaFormat("audio/x-mulaw", 8000, 1),
    )


def test_media_payload_is_decoded_bytes_and_counters_are_ints() -> None:
    line = next(x for x in _lines() if '"timestamp":"85"' in x)
    assert parse_inbound(line) == Media(
        sequence_number=6, stream_sid=MZ, track="inbound", chunk=5, timestamp=85, payload=b"\xff" * 160
    )


def test_dump_writes_the_documented_shapes() -> None:
    assert dump(Connected()) == '{"event":"connected","protocol":"Call","version":"1.0.0"}'
    assert dump(Dtmf(5, "MZ1", "inbound_track", "1")) == (
        '{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}'
    )
    assert dump(Mark(4, "MZ1", "my label")) == (
        '{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"my label"}}'
    )
    assert dump(Stop(5, "MZ1", "AC1", "CA1")) == (
        '{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"}'
    )
    assert dump(OutboundMedia("MZ1", b"\x00\xff")) == '{"event":"media","streamSid":"MZ1","media":{"payload":"AP8="}}'
    assert dump(OutboundMark("MZ1", "responsePart")) == (
        '{"event":"mark","streamSid":"MZ1","mark":{"name":"responsePart"}}'
    )
    assert dump(Clear("MZ1")) == '{"event":"clear","streamSid":"MZ1"}'


def test_extra_fields_are_dropped_and_key_order_is_free() -> None:
    line = (
        '{"streamSid":"MZ1","future":{"x":1},"media":{"payload":"AP8=","timestamp":"20","chunk":"1",'
        '"track":"inbound","extra":true},"sequenceNumber":"2","event":"media"}'
    )
    assert dump(parse_inbound(line)) == (
        '{"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"20",'
        '"payload":"AP8="},"streamSid":"MZ1"}'
    )


def test_payload_caps_are_inclusive() -> None:
    media = parse_inbound(_media_frame(b"\x7f" * MAX_INBOUND_PAYLOAD))
    assert isinstance(media, Media)
    assert media.payload == b"\x7f" * MAX_INBOUND_PAYLOAD
    big = OutboundMedia("MZ1", b"\x7f" * MAX_OUTBOUND_PAYLOAD)
    assert parse_outbound(dump(big)) == big


# -- malformed input -------------------------------------------------------------------------

START_OK = _start_frame()

INBOUND_BAD: list[tuple[str | bytes, str | None]] = [
    ("not json", None),
    (b'{"event":"media"\xff}', None),
    ("[1,2]", None),
    ('"media"', None),
    ("null", None),
    ("", None),
    (" " * (MAX_INBOUND_FRAME + 1), None),
    ("{}", "event"),
    ('{"event":7}', "event"),
    ('{"event":"clear","streamSid":"MZ1"}', "event"),
    ('{"event":"connected","version":"1.0.0"}', "protocol"),
    ('{"event":"connected","protocol":"Call","version":1}', "version"),
    ('{"event":"mark","streamSid":"MZ1","mark":{"name":"x"}}', "sequenceNumber"),
    ('{"event":"mark","sequenceNumber":4,"streamSid":"MZ1","mark":{"name":"x"}}', "sequenceNumber"),
    ('{"event":"mark","sequenceNumber":"04","streamSid":"MZ1","mark":{"name":"x"}}', "sequenceNumber"),
    ('{"event":"mark","sequenceNumber":"-4","streamSid":"MZ1","mark":{"name":"x"}}', "sequenceNumber"),
    ('{"event":"mark","sequenceNumber":" 4","streamSid":"MZ1","mark":{"name":"x"}}', "sequenceNumber"),
    ('{"event":"mark","sequenceNumber":"4.0","streamSid":"MZ1","mark":{"name":"x"}}', "sequenceNumber"),
    ('{"event":"mark","sequenceNumber":"","streamSid":"MZ1","mark":{"name":"x"}}', "sequenceNumber"),
    ('{"event":"mark","sequenceNumber":"\u0664","streamSid":"MZ1","mark":{"name":"x"}}', "sequenceNumber"),
    (
        '{"event":"mark","sequenceNumber":"12345678901234567890","streamSid":"MZ1","mark":{"name":"x"}}',
        "sequenceNumber",
    ),
    ('{"event":"mark","sequenceNumber":"4","mark":{"name":"x"}}', "streamSid"),
    ('{"event":"mark","sequenceNumber":"4","streamSid":null,"mark":{"name":"x"}}', "streamSid"),
    ('{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":"x"}', "mark"),
    ('{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":null}}', "mark.name"),
    ('{"event":"media","sequenceNumber":"2","streamSid":"MZ1"}', "media"),
    ('{"event":"media","sequenceNumber":"2","media":[],"streamSid":"MZ1"}', "media"),
    (_media_frame().replace('"track":"inbound",', ""), "media.track"),
    (_media_frame().replace('"chunk":"1"', '"chunk":1'), "media.chunk"),
    (_media_frame().replace('"timestamp":"20"', '"timestamp":true'), "media.timestamp"),
    (_media_frame().replace('"timestamp":"20"', '"timestamp":"2e1"'), "media.timestamp"),
    (_media_frame().replace("/////", "/!///"), "media.payload"),
    (_media_frame().replace("=", ""), "media.payload"),
    (_media_frame(b"\xff\xff").replace('"//8="', '"//8=//8="'), "media.payload"),
    (_media_frame(b"\xff\xff").replace('"//8="', '"//8\u00e9"'), "media.payload"),
    (_media_frame(b"\xff\xff").replace('"//8="', "7"), "media.payload"),
    (_media_frame(b"\x7f" * (MAX_INBOUND_PAYLOAD + 1)), "media.payload"),
    (
        '{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"x"}}',
        "dtmf.digit",
    ),
    (
        '{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"11"}}',
        "dtmf.digit",
    ),
    ('{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"digit":"1"}}', "dtmf.track"),
    ('{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5"}', "dtmf"),
    ('{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1"},"streamSid":"MZ1"}', "stop.callSid"),
    (
        '{"event":"stop","sequenceNumber":"5","stop":{"callSid":"CA1","accountSid":[]},"streamSid":"MZ1"}',
        "stop.accountSid",
    ),
    ('{"event":"start","sequenceNumber":"1","streamSid":"MZ1"}', "start"),
    (START_OK.replace('"callSid"', '"callSID"'), "start.callSid"),
    (START_OK.replace('"accountSid"', '"account"'), "start.accountSid"),
    (START_OK.replace('"tracks":["inbound"]', '"tracks":"inbound"'), "start.tracks"),
    (START_OK.replace('"tracks":["inbound"]', '"tracks":["inbound",2]'), "start.tracks.1"),
    (START_OK.replace('"tenant":"acme"', '"tenant":5'), "start.customParameters.tenant"),
    (_start_frame(customParameters=None), "start.customParameters"),
    (_start_frame(mediaFormat="audio/x-mulaw"), "start.mediaFormat"),
    (START_OK.replace('"sampleRate":8000', '"sampleRate":"8000"'), "start.mediaFormat.sampleRate"),
    (START_OK.replace('"channels":1', '"channels":true'), "start.mediaFormat.channels"),
    (START_OK.replace('"encoding":"audio/x-mulaw",', ""), "start.mediaFormat.encoding"),
]


@pytest.mark.parametrize(("data", "field"), INBOUND_BAD)
def test_malformed_inbound_raises_protocol_error_naming_the_field(data: str | bytes, field: str | None) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_inbound(data)
    assert caught.value.field == field
    if field is not None:
        assert field in str(caught.value)


OUTBOUND_BAD: list[tuple[str, str | None]] = [
    ("{", None),
    ('{"event":"stop","streamSid":"MZ1"}', "event"),
    ('{"event":"connected","protocol":"Call","version":"1.0.0"}', "event"),
    ('{"event":"clear"}', "streamSid"),
    ('{"event":"media","streamSid":"MZ1","media":{}}', "media.payload"),
    ('{"event":"media","streamSid":"MZ1","media":{"payload":"A"}}', "media.payload"),
    ('{"event":"media","streamSid":"MZ1"}', "media"),
    ('{"event":"mark","streamSid":"MZ1","mark":{"label":"x"}}', "mark.name"),
    (dump(OutboundMedia("MZ1", b"\x7f" * MAX_OUTBOUND_PAYLOAD)).replace('"}}', 'AAAA"}}'), "media.payload"),
]


@pytest.mark.parametrize(("data", "field"), OUTBOUND_BAD)
def test_malformed_outbound_raises_protocol_error_naming_the_field(data: str, field: str | None) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_outbound(data)
    assert caught.value.field == field


def test_dump_refuses_oversized_payloads_and_unencodable_text() -> None:
    with pytest.raises(ProtocolError) as caught:
        dump(OutboundMedia("MZ1", bytes(MAX_OUTBOUND_PAYLOAD + 1)))
    assert caught.value.field == "media.payload"
    with pytest.raises(ProtocolError) as caught:
        dump(Media(1, "MZ1", "inbound", 1, 0, bytes(MAX_INBOUND_PAYLOAD + 1)))
    assert caught.value.field == "media.payload"
    with pytest.raises(ProtocolError, match="OutboundMark"):
        dump(OutboundMark("MZ1", "\ud800"))


def _mutations(line: bytes, rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        data = bytearray(line)
        kind = rng.randrange(4)
        if kind == 0:  # flip a few bits
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # overwrite a byte with something JSON-significant
            data[rng.randrange(len(data))] = rng.choice(b'"{}[],:0123456789\\ \x00\xff')
        elif kind == 2:  # truncate
            del data[rng.randrange(len(data)) :]
        else:  # delete a span
            start = rng.randrange(len(data))
            del data[start : start + rng.randint(1, 12)]
        out.append(bytes(data))
    return out


def test_mutated_frames_only_ever_raise_protocol_error() -> None:
    rng = random.Random(20240611)
    accepted = rejected = 0
    for line in _lines():
        inbound = _is_inbound(line)
        for data in _mutations(line.encode(), rng, 400):
            try:
                msg = _parse(data, inbound)
            except ProtocolError:
                rejected += 1
                continue
            accepted += 1
            # Whatever is accepted must dump to a frame that parses back to the same message.
            assert _parse(dump(msg), inbound) == msg
    # Both outcomes must occur, or the mutations exercised nothing.
    assert accepted > 100 and rejected > 1000


def test_mutated_frames_through_the_adapter_only_ever_raise_protocol_error() -> None:
    rng = random.Random(7)
    inbound_lines = [x for x in _lines() if _is_inbound(x) and '"event":"start"' not in x]
    for line in inbound_lines:
        for data in _mutations(line.encode(), rng, 200):
            stream = TwilioMediaStream()
            stream.receive(START_OK)
            try:
                stream.receive(data)
            except ProtocolError:
                pass


# -- adapter ---------------------------------------------------------------------------------


def test_adapter_translates_a_whole_stream() -> None:
    stream = TwilioMediaStream()
    events = []
    for line in _lines():
        if (_is_inbound(line) and MZ in line) or '"event":"connected"' in line:
            events.extend(stream.receive(line))
    assert stream.stream_sid == MZ
    started = events[0]
    assert isinstance(started, CallStarted)
    assert (started.call_id, started.stream_id, started.account_id) == (CA, MZ, AC)
    assert (started.from_number, started.to_number) == ("+15551230000", "+15557654321")
    assert started.parameters["caller_name"] == "Zoë Ångström"
    audio = [e for e in events if isinstance(e, AudioReceived)]
    assert [a.timestamp_ms for a in audio] == [5, 25, 45, 65, 85]  # the outbound-track frame is ignored
    assert all(len(a.payload) == 160 for a in audio)
    assert audio[-1].payload == b"\xff" * 160
    assert events[len(audio) + 1 :] == [
        DtmfReceived("1"),
        DtmfReceived("#"),
        MarkPlayed("item_CAbc123:8000"),
        MarkPlayed("réponse ✓"),
        CallStopped("stopped"),
    ]


def test_connected_yields_nothing_and_start_without_from_to_leaves_them_empty() -> None:
    stream = TwilioMediaStream()
    assert stream.receive('{"event":"connected","protocol":"Call","version":"1.0.0"}') == []
    [started] = stream.receive(_start_frame(customParameters={"tenant": "acme"}))
    assert started == CallStarted(call_id=CA, stream_id=MZ, account_id=AC, parameters={"tenant": "acme"})


def test_adapter_copies_parameters() -> None:
    start = parse_inbound(START_OK)
    assert isinstance(start, Start)
    [started] = TwilioMediaStream().receive(START_OK)
    assert isinstance(started, CallStarted)
    started.parameters["tenant"] = "changed"
    assert start.custom_parameters["tenant"] == "acme"


def test_adapter_ignores_non_inbound_tracks() -> None:
    stream = TwilioMediaStream()
    stream.receive(START_OK)
    assert stream.receive(_media_frame(track="outbound")) == []
    assert stream.receive(_media_frame(b"\x01\x02")) == [AudioReceived(b"\x01\x02", 20)]


@pytest.mark.parametrize(
    ("frames", "field"),
    [
        ([_media_frame()], "event"),
        (
            ['{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"}'],
            "event",
        ),
        ([START_OK, START_OK], "event"),
        ([START_OK, _media_frame(stream_sid="MZ00000000000000000000000000000000")], "streamSid"),
        (
            [_start_frame(mediaFormat={"encoding": "audio/x-alaw", "sampleRate": 8000, "channels": 1})],
            "start.mediaFormat.encoding",
        ),
        (
            [_start_frame(mediaFormat={"encoding": "audio/x-mulaw", "sampleRate": 16000, "channels": 1})],
            "start.mediaFormat.sampleRate",
        ),
        (
            [_start_frame(mediaFormat={"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 2})],
            "start.mediaFormat.channels",
        ),
    ],
)
def test_adapter_rejects_out_of_order_foreign_or_unsupported_streams(frames: list[str], field: str) -> None:
    stream = TwilioMediaStream()
    with pytest.raises(ProtocolError) as caught:
        for frame in frames:
            stream.receive(frame)
    assert caught.value.field == field


def test_adapter_sends_media_marks_and_clear_with_the_stream_sid() -> None:
    stream = TwilioMediaStream()
    with pytest.raises(ProtocolError) as caught:
        stream.send(PlayAudio(b"\xff"))
    assert caught.value.field == "streamSid"
    stream.receive(START_OK)
    assert stream.send(PlayAudio(b"\x00\xff")) == f'{{"event":"media","streamSid":"{MZ}","media":{{"payload":"AP8="}}}}'
    assert stream.send(SetMark("item_1:960")) == f'{{"event":"mark","streamSid":"{MZ}","mark":{{"name":"item_1:960"}}}}'
    assert stream.send(ClearPlayback()) == f'{{"event":"clear","streamSid":"{MZ}"}}'


def test_rest_only_commands_produce_no_frame_even_before_start() -> None:
    stream = TwilioMediaStream()
    assert stream.send(HangUp()) is None
    assert stream.send(Transfer("+15557654321")) is None
    stream.receive(START_OK)
    assert stream.send(HangUp("done")) is None


def test_adapter_refuses_audio_over_the_outbound_cap() -> None:
    stream = TwilioMediaStream()
    stream.receive(START_OK)
    with pytest.raises(ProtocolError) as caught:
        stream.send(PlayAudio(bytes(MAX_OUTBOUND_PAYLOAD + 1)))
    assert caught.value.field == "media.payload"
