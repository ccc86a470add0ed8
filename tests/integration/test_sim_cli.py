from __future__ import annotations

import asyncio
import base64
import re
import signal
import socket
import sys
import wave
from http import HTTPStatus
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from bridge.audio.g711 import ulaw_to_pcm16
from bridge.cli import main
from bridge.sim.wavfile import read_wav_as_ulaw
from tests.integration._sim_app import AppSide, serve_app

ROOT = Path(__file__).resolve().parents[2]
AGENT = bytes(range(0, 100)) * 8  # 100 ms of mu-law with no silence code in it


def recorded_pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        return wav.readframes(wav.getnframes())


def stereo_16k_tone(path: Path, seconds: float) -> Path:
    t = np.arange(int(16000 * seconds)) / 16000
    left = np.round(9000 * np.sin(2 * np.pi * 500 * t)).astype(np.int16)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(np.column_stack([left, left]).astype("<i2").tobytes())
    return path


async def test_bridge_call_plays_a_wav_and_records_what_the_app_played(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def app(side: AppSide) -> None:
        # In fast mode the caller's clock outruns a server in another thread, so the app drives the
        # call by events: answer the key press, hang up once the answer has played.
        await side.receive_event("dtmf")
        await side.media(AGENT)
        await side.mark("greeting")
        await side.receive_event("mark")
        await side.close()

    play = stereo_16k_tone(tmp_path / "in.wav", 0.3)
    record = tmp_path / "heard.wav"
    async with serve_app(app) as server:
        code = await asyncio.to_thread(
            main,
            [
                "call",
                "--url",
                server.url,
                "--play",
                str(play),
                "--record",
                str(record),
                "--from",
                "+15551230000",
                "--to",
                "+15557654321",
                "--param",
                "tenant=acme",
                "--dtmf",
                "7@0.5",
                "--fast",
                "--seed",
                "11",
            ],
        )
        side = await server.finished()

    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert re.fullmatch(
        r"call CA[0-9a-f]{32}: ended by server after (\d+\.\d{3}) s; heard 800 bytes \(0\.100 s\); "
        r"1 marks; 0 clears; close code 1000",
        out[0],
    )

    heard = recorded_pcm(record)
    assert ulaw_to_pcm16(AGENT) in heard

    start = side.log[1].json["start"]
    assert start["customParameters"] == {"From": "+15551230000", "To": "+15557654321", "tenant": "acme"}
    assert [frame.json["dtmf"]["digit"] for frame in side.events("dtmf")] == ["7"]
    spoken = b"".join(base64.b64decode(frame.json["media"]["payload"]) for frame in side.events("media"))
    assert spoken[:2400] == read_wav_as_ulaw(play)
    assert len(spoken) >= 4000
    assert spoken[2400:] == b"\xff" * (len(spoken) - 2400)


def test_bridge_call_exits_non_zero_when_the_connection_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["call", "--url", f"ws://127.0.0.1:{port}/twilio/media", "--seconds", "1"]) == 2
    assert f"bridge call: cannot connect to ws://127.0.0.1:{port}/twilio/media" in capsys.readouterr().err


async def test_bridge_call_exits_non_zero_when_the_upgrade_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    def forbid(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.FORBIDDEN, "bad signature\n")

    async with serve_app(reject=forbid) as server:
        code = await asyncio.to_thread(main, ["call", "--url", server.url, "--auth-token", "wrong"])
    assert code == 2
    assert "rejected the call: HTTP 403" in capsys.readouterr().err


async def test_bridge_call_exits_non_zero_when_the_bridge_closes_abnormally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def app(side: AppSide) -> None:
        await side.close(1008, "invalid signature")

    async with serve_app(app) as server:
        code = await asyncio.to_thread(main, ["call", "--url", server.url, "--fast"])
    assert code == 1
    captured = capsys.readouterr()
    assert "ended by server" in captured.out
    assert "closed abnormally with code 1008 (invalid signature)" in captured.err


async def test_bridge_call_exits_non_zero_when_the_bridge_breaks_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    async def app(side: AppSide) -> None:
        await side.send({"event": "clear"})  # no streamSid
        await side.mark("done")
        await side.receive_event("mark")
        await side.close()

    async with serve_app(app) as server:
        code = await asyncio.to_thread(main, ["call", "--url", server.url, "--fast"])
    assert code == 1
    assert "protocol error" in capsys.readouterr().err


async def test_ctrl_c_hangs_up_and_still_writes_the_recording(tmp_path: Path) -> None:
    echoed = asyncio.Event()

    async def app(side: AppSide) -> None:
        await side.media(AGENT)
        await side.mark("greeting")
        await side.receive_event("mark")
        echoed.set()

    record = tmp_path / "heard.wav"
    async with serve_app(app) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge",
            "call",
            "--url",
            server.url,
            "--record",
            str(record),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(20):
            await echoed.wait()
        process.send_signal(signal.SIGINT)
        stdout, stderr = await process.communicate()
        side = await server.finished()

    assert process.returncode == 0, stderr.decode()
    assert "ended by hangup" in stdout.decode()
    assert side.log[-1].json["event"] == "stop"
    assert ulaw_to_pcm16(AGENT) in recorded_pcm(record)


async def test_speak_at_leads_the_wav_with_silence(tmp_path: Path) -> None:
    async def app(side: AppSide) -> None:
        await side.media(AGENT)
        await side.mark("greeting")
        await side.receive_event("mark")
        for _ in range(30):  # 600 ms of caller audio: the lead-in and the whole WAV
            await side.receive_event("media")
        await side.close()

    play = stereo_16k_tone(tmp_path / "in.wav", 0.3)
    async with serve_app(app) as server:
        code = await asyncio.to_thread(
            main, ["call", "--url", server.url, "--play", str(play), "--speak-at", "0.2", "--fast"]
        )
        side = await server.finished()

    assert code == 0
    spoken = b"".join(base64.b64decode(frame.json["media"]["payload"]) for frame in side.events("media"))
    assert spoken[:1600] == b"\xff" * 1600
    assert spoken[1600:4000] == read_wav_as_ulaw(play)
