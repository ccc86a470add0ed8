from __future__ import annotations

import argparse

import pytest

from bridge.errors import ConfigError
from bridge.sim.caller import Caller, CallResult
from bridge.sim.cli import add_arguments, summarize
from bridge.sim.ids import new_call_ids
from bridge.telephony.playout import EchoedMark


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bridge call")
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_parses_every_option() -> None:
    args = parse(
        "--url=ws://127.0.0.1:8080/twilio/media",
        "--play=in.wav",
        "--record=heard.wav",
        "--from=+15551230000",
        "--to=+15557654321",
        "--param=tenant=acme",
        "--param=note=a=b",
        "--dtmf=1@2.5, #@4",
        "--seconds=10",
        "--fast",
        "--auth-token=t",
        "--signed-url=wss://bridge.example.com/twilio/media",
        "--seed=3",
        "--speak-at=2.5",
    )
    assert args.dtmf == [("1", 2.5), ("#", 4.0)]
    assert args.param == [("tenant", "acme"), ("note", "a=b")]
    assert (args.from_number, args.to_number, args.seconds, args.fast, args.seed) == (
        "+15551230000",
        "+15557654321",
        10.0,
        True,
        3,
    )
    assert str(args.play) == "in.wav"
    assert args.signed_url == "wss://bridge.example.com/twilio/media"
    assert args.speak_at == 2.5


def test_defaults() -> None:
    args = parse("--url", "ws://h/p")
    assert (args.play, args.record, args.dtmf, args.param, args.seconds, args.fast) == (None, None, [], [], None, False)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("--dtmf=1", "expected DIGIT@SECONDS"),
        ("--dtmf=X@1", "expected DIGIT@SECONDS"),
        ("--dtmf=12@1", "expected DIGIT@SECONDS"),
        ("--dtmf=1@soon", "'soon' is not a number of seconds"),
        ("--param=novalue", "expected NAME=VALUE"),
        ("--param==v", "expected NAME=VALUE"),
    ],
)
def test_bad_values_are_usage_errors(bad: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("--url=ws://h/p", bad)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_summary_is_one_line_with_the_figures() -> None:
    ids = new_call_ids(seed=1)
    result = CallResult(
        ids=ids,
        ended_by="seconds",
        duration_ms=2500.0,
        heard=b"\xff" * 20000,
        bytes_heard=12800,
        bytes_dropped=0,
        marks=(EchoedMark("a", 100.0), EchoedMark("b", 200.0)),
        pending_marks=(),
        clears=(150.0,),
        dtmf=(),
        frames_sent=125,
        received=(),
        protocol_errors=(),
        close_code=1000,
        close_reason="",
    )
    assert summarize(result) == (
        f"call {ids.call_sid}: ended by seconds after 2.500 s; heard 12800 bytes (1.600 s); "
        "2 marks; 1 clears; close code 1000"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dtmf": [("x", 1.0)]}, "DTMF digit"),
        ({"dtmf": [("1", -1.0)]}, "negative"),
        ({"seconds": 0.0}, "positive"),
        ({"signed_url": "wss://h/p"}, "auth_token"),
    ],
)
def test_caller_refuses_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Caller("ws://127.0.0.1:9/p", **options)  # type: ignore[arg-type]
