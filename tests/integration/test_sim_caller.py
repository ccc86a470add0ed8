from __future__ import annotations

import base64
import hashlib
import hmac
import socket
from http import HTTPStatus

import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from bridge.errors import UpstreamError
from bridge.sim.caller import Caller, EchoedMark
from tests.integration._sim_app import AppSide, serve_app

AGENT = bytes(range(0, 100)) * 8  # 100 ms of mu-law with no silence code in it
SILENCE = b"\xff"


def decoded(payload: str) -> bytes:
    return base64.b64decode(payload)


async def test_fast_call_echoes_marks_exactly_and_records_what_played() -> None:
    async def app(side: AppSide) -> None:
        await side.media(AGENT)
        await side.mark("greeting")
        await side.receive_event("mark")
        await side.media(b"\x11" * 1600)
        await side.mark("long")
        await side.clear()

    async with serve_app(app) as server:
        caller = Caller(server.url, audio=b"\x22" * 400, parameters={"From": "+15551230000"}, seconds=1.0, fast=True)
        result = await caller.run()
        side = await server.finished()

    assert (result.ended_by, result.duration_ms, result.frames_sent) == ("seconds", 1000.0, 50)
    assert result.close_code == 1000
    assert result.protocol_errors == ()
    assert [message.event for message in result.received] == ["media", "mark", "media", "mark", "clear"]
    greeting_at = result.received[0].at_ms
    long_at = result.received[2].at_ms
    clear_at = result.received[4].at_ms
    assert greeting_at % 20 == 0

    # Each echo lands exactly when its audio has played out (or at the clear).
    assert result.marks == (EchoedMark("greeting", greeting_at + 100.0), EchoedMark("long", clear_at))
    assert result.clears == (clear_at,)
    assert result.pending_marks == ()

    # The recording puts the app's audio where it played and silence everywhere else.
    played_long = int((clear_at - long_at) * 8)
    start = int(greeting_at * 8)
    expected = bytearray(SILENCE * 8000)
    expected[start : start + 800] = AGENT
    expected[int(long_at * 8) : int(clear_at * 8)] = b"\x11" * played_long
    assert result.heard == bytes(expected)
    assert (result.bytes_heard, result.bytes_dropped) == (800 + played_long, 1600 - played_long)

    # What the app received: Twilio's frames, numbered as Twilio numbers them.
    log = [frame.json for frame in side.log]
    assert log[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert [message["sequenceNumber"] for message in log[1:]] == [str(n) for n in range(1, len(log))]
    start_message = log[1]["start"]
    assert (start_message["accountSid"], start_message["callSid"], start_message["streamSid"]) == (
        result.ids.account_sid,
        result.ids.call_sid,
        result.ids.stream_sid,
    )
    assert start_message["customParameters"] == {"From": "+15551230000"}
    media = [message["media"] for message in log if message["event"] == "media"]
    assert [item["chunk"] for item in media] == [str(n) for n in range(1, 51)]
    assert [item["timestamp"] for item in media] == [str(20 * n) for n in range(50)]
    assert [decoded(item["payload"]) for item in media[:3]] == [
        b"\x22" * 160,
        b"\x22" * 160,
        b"\x22" * 80 + SILENCE * 80,
    ]
    assert all(decoded(item["payload"]) == SILENCE * 160 for item in media[3:])
    # At equal times the echo goes before the frame: frames sent before it are those due strictly earlier.
    echo_index = next(i for i, message in enumerate(log) if message["event"] == "mark")
    frames_before = sum(1 for message in log[:echo_index] if message["event"] == "media")
    assert frames_before == (greeting_at + 100) // 20 - 1
    assert log[echo_index]["mark"] == {"name": "greeting"}
    assert log[-1] == {
        "event": "stop",
        "sequenceNumber": str(len(log) - 1),
        "stop": {"accountSid": result.ids.account_sid, "callSid": result.ids.call_sid},
        "streamSid": result.ids.stream_sid,
    }


async def test_real_time_call_paces_frames_and_echoes_marks_on_time() -> None:
    async def app(side: AppSide) -> None:
        await side.media(b"\x01" * 800)
        await side.mark("m")

    async with serve_app(app) as server:
        result = await Caller(server.url, dtmf=[("5", 0.3)], seconds=1.0).run()
        side = await server.finished()

    media_at = result.received[0].at_ms
    (echo,) = result.marks
    assert echo.name == "m"
    assert 100.0 <= echo.at_ms - media_at < 120.0  # within one frame of the ideal time
    ((digit, pressed_at),) = result.dtmf
    assert digit == "5"
    assert 300.0 <= pressed_at < 320.0
    assert result.ended_by == "seconds"
    assert 1000.0 <= result.duration_ms < 1020.0
    assert result.frames_sent == 50

    # Frames are scheduled against the start time, so 50 of them take one second, not more.
    start_at = side.log[1].at
    media = side.events("media")
    assert len(media) == 50
    assert 0.98 <= media[-1].at - start_at < 1.02
    # The digit goes out right after the frame sent at the same time (the one stamped 280 ms).
    messages = [frame.json for frame in side.log]
    dtmf_index = next(i for i, message in enumerate(messages) if message["event"] == "dtmf")
    assert messages[dtmf_index - 1]["media"]["timestamp"] == "280"
    assert messages[dtmf_index]["dtmf"] == {"track": "inbound_track", "digit": "5"}
    assert messages[-1]["event"] == "stop"


async def test_fast_dtmf_goes_out_at_the_scheduled_simulated_times() -> None:
    async with serve_app() as server:
        result = await Caller(server.url, dtmf=[("#", 0.73), ("1", 0.5)], seconds=1.0, fast=True).run()
        side = await server.finished()

    assert result.dtmf == (("1", 500.0), ("#", 730.0))
    messages = [frame.json for frame in side.log]
    for digit, previous_timestamp in (("1", "480"), ("#", "700")):
        index = next(i for i, m in enumerate(messages) if m["event"] == "dtmf" and m["dtmf"]["digit"] == digit)
        assert messages[index - 1]["media"]["timestamp"] == previous_timestamp
        assert messages[index + 1]["media"]["timestamp"] == str(int(previous_timestamp) + 20)


async def test_hooks_follow_a_barge_in_and_hangup_sends_stop() -> None:
    async def app(side: AppSide) -> None:
        await side.receive_event("dtmf")
        await side.media(b"\x07" * 8000)  # one second
        await side.mark("answer")
        while int((await side.receive_event("media")).json["media"]["timestamp"]) < 600:
            pass
        await side.clear()

    async with serve_app(app) as server:
        async with Caller(server.url, dtmf=[("9", 0.2)], fast=True) as caller:
            clear_at = await caller.wait_for_clear()
            answer = await caller.wait_for_mark("answer")
            media = await caller.wait_for(lambda message: message.event == "media")
            assert caller.clears == [clear_at]
        result = caller.result
        side = await server.finished()

    assert result is not None
    assert result.ended_by == "hangup"
    assert answer == EchoedMark("answer", clear_at)
    assert result.bytes_heard == int((clear_at - media.at_ms) * 8)
    assert result.bytes_heard + result.bytes_dropped == 8000
    assert side.log[-1].json["event"] == "stop"
    assert side.log[-1].json["sequenceNumber"] == str(int(side.log[-2].json["sequenceNumber"]) + 1)
    assert result.close_code == 1000


async def test_server_hanging_up_ends_the_call_without_stop() -> None:
    async def app(side: AppSide) -> None:
        await side.receive_event("media")
        await side.close(1008, "invalid signature")

    async with serve_app(app) as server:
        caller = Caller(server.url, fast=True)
        await caller.start()
        with pytest.raises(UpstreamError, match="ended") as caught:
            await caller.wait_for(lambda message: False)
        result = await caller.wait_closed()
        side = await server.finished()

    assert caught.value.status == 1008
    assert (result.ended_by, result.close_code, result.close_reason) == ("server", 1008, "invalid signature")
    assert all(frame.json["event"] != "stop" for frame in side.log)
    assert result.duration_ms == caller.now_ms()
    assert len(result.heard) == int(result.duration_ms * 8)


async def test_mark_pending_at_the_end_is_reported_unechoed() -> None:
    async def app(side: AppSide) -> None:
        await side.media(b"\x01" * 8000)
        await side.mark("never")

    async with serve_app(app) as server:
        caller = Caller(server.url, seconds=0.5, fast=True)
        result = await caller.run()

    assert result.marks == ()
    assert result.pending_marks == ("never",)


async def test_app_protocol_errors_are_recorded_and_the_call_goes_on() -> None:
    async def app(side: AppSide) -> None:
        await side.ws.send(b"\x00\x01")
        await side.send({"event": "media", "streamSid": "MZwrong", "media": {"payload": "AAAA"}})
        await side.send({"event": "media", "streamSid": side.stream_sid, "media": {"payload": "%%%"}})
        await side.send({"event": "play", "streamSid": side.stream_sid})
        await side.mark("after")

    async with serve_app(app) as server:
        async with Caller(server.url, fast=True) as caller:
            await caller.wait_for_mark("after")
            errors = list(caller.protocol_errors)
        result = caller.result

    assert result is not None
    assert [message.event for message in result.received] == [None, None, None, None, "mark"]
    assert len(errors) == 4
    assert "binary frame" in errors[0]
    assert "streamSid" in errors[1]
    assert "base64" in errors[2]
    assert "'play'" in errors[3]
    assert result.received[1].json["streamSid"] == "MZwrong"


def by_hand(token: str, text: str) -> str:
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


async def test_upgrade_is_signed_over_the_signing_url() -> None:
    async with serve_app() as server:
        await Caller(
            server.url,
            seconds=0.02,
            fast=True,
            auth_token="s3cret",
            signed_url="wss://bridge.example.com/twilio/media?tenant=acme&lang=en",
        ).run()
        await Caller(server.url, seconds=0.02, fast=True, auth_token="s3cret").run()
        await Caller(server.url, seconds=0.02, fast=True).run()

    signed, signed_dial_url, unsigned = (request.headers.get("X-Twilio-Signature") for request in server.requests)
    expected = by_hand("s3cret", "wss://bridge.example.com/twilio/media" + "langen" + "tenantacme")
    assert signed == expected
    twilio_says = RequestValidator("s3cret").compute_signature(
        "wss://bridge.example.com/twilio/media", {"tenant": "acme", "lang": "en"}
    )
    assert signed == twilio_says
    assert signed_dial_url == by_hand("s3cret", server.url)
    assert unsigned is None


async def test_refused_connection_raises_upstream_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamError, match="cannot connect") as caught:
        await Caller(f"ws://127.0.0.1:{port}/twilio/media").start()
    assert caught.value.status is None


async def test_rejected_upgrade_raises_upstream_error_with_the_status() -> None:
    def forbid(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.FORBIDDEN, "bad signature\n")

    async with serve_app(reject=forbid) as server:
        with pytest.raises(UpstreamError, match="HTTP 403") as caught:
            await Caller(server.url).start()
    assert caught.value.status == 403


async def test_hangup_before_the_app_says_anything_still_records_the_line() -> None:
    async with serve_app() as server:
        caller = Caller(server.url, fast=True, seed=1)
        await caller.start()
        await caller.wait_until(lambda: caller.now_ms() >= 100.0)
        result = await caller.hangup()
        again = await caller.hangup()

    assert again is result
    assert result.ended_by == "hangup"
    assert result.heard == SILENCE * int(result.duration_ms * 8)
    assert result.bytes_heard == 0
    with pytest.raises(RuntimeError):
        await caller.start()


async def test_waiting_before_start_is_an_error() -> None:
    caller = Caller("ws://127.0.0.1:9/twilio/media")
    with pytest.raises(RuntimeError):
        await caller.wait_closed()
