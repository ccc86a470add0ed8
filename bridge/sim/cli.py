"""``bridge call``: place a simulated Twilio call against a bridge and record what the caller heard.

Example::

    bridge call --url ws://127.0.0.1:8080/twilio/media --play in.wav --record heard.wav \\
        --from +15551230000 --to +15557654321 --dtmf 1@2.5,#@4 --seconds 10

Without ``--seconds`` the call lasts until the bridge hangs up; Ctrl-C hangs up from the caller's
side and still writes the recording.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bridge import runtime
from bridge.errors import ConfigError
from bridge.sim.caller import DTMF_DIGITS, Caller, CallResult
from bridge.sim.stream import MULAW_SILENCE
from bridge.sim.wavfile import read_wav_as_ulaw, write_ulaw_as_wav
from bridge.telephony.playout import BYTES_PER_MS

__all__ = ["add_arguments", "run", "summarize"]

# Close codes of a call that ended as calls do; anything else (1008 bad signature, 1011 server error,
# 1006 dropped connection) means the bridge rejected or broke the call.
_NORMAL_CLOSE_CODES = frozenset({1000, 1001})


def _dtmf_schedule(text: str) -> list[tuple[str, float]]:
    schedule = []
    for item in text.split(","):
        digit, at, seconds = item.strip().partition("@")
        if not at or digit not in DTMF_DIGITS:
            raise argparse.ArgumentTypeError(f"{item!r}: expected DIGIT@SECONDS with a digit in 0-9 * # A-D")
        try:
            schedule.append((digit, float(seconds)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: {seconds!r} is not a number of seconds") from None
    return schedule


def _parameter(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return name, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bridge call`` options to ``parser``."""
    parser.add_argument("--url", required=True, help="the bridge's media stream WebSocket URL (ws:// or wss://)")
    parser.add_argument(
        "--play", type=Path, metavar="WAV", help="WAV to speak (8/16-bit PCM or G.711, any rate, mono or stereo)"
    )
    parser.add_argument(
        "--speak-at",
        type=float,
        default=0.0,
        metavar="S",
        help="start speaking --play after S seconds of silence, e.g. to let the greeting finish (default 0)",
    )
    parser.add_argument(
        "--record", type=Path, metavar="WAV", help="write what the caller heard here (8 kHz 16-bit mono WAV)"
    )
    parser.add_argument(
        "--from", dest="from_number", metavar="NUMBER", help="caller number, sent as custom parameter From"
    )
    parser.add_argument("--to", dest="to_number", metavar="NUMBER", help="called number, sent as custom parameter To")
    parser.add_argument(
        "--param",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another custom parameter (repeatable)",
    )
    parser.add_argument(
        "--dtmf", type=_dtmf_schedule, default=[], metavar="D@S,...", help="key presses, e.g. 1@2.5,#@4 (seconds)"
    )
    parser.add_argument(
        "--seconds", type=float, metavar="S", help="hang up after this many seconds (default: when the bridge does)"
    )
    parser.add_argument("--fast", action="store_true", help="simulate time as fast as possible instead of real time")
    parser.add_argument(
        "--auth-token", metavar="TOKEN", help="Twilio auth token: sign the upgrade with X-Twilio-Signature"
    )
    parser.add_argument(
        "--signed-url",
        metavar="URL",
        help="the URL the signature covers, as Twilio dials it (wss://public-host/path); default --url",
    )
    parser.add_argument("--seed", type=int, metavar="N", help="make the call's SIDs deterministic")


def summarize(result: CallResult) -> str:
    """The one-line summary ``bridge call`` prints."""
    return (
        f"call {result.ids.call_sid}: ended by {result.ended_by} after {result.duration_ms / 1000:.3f} s; "
        f"heard {result.bytes_heard} bytes ({result.bytes_heard / BYTES_PER_MS / 1000:.3f} s); "
        f"{len(result.marks)} marks; {len(result.clears)} clears; close code {result.close_code}"
    )


async def _place(caller: Caller) -> CallResult:
    await caller.start()
    try:
        return await caller.wait_closed()
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run cancels this task. Hang up like a caller putting the phone down, and keep
        # the result; uncancel so the hang-up's own awaits are not cancelled too.
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return await caller.hangup()


def run(args: argparse.Namespace) -> int:
    """Place the call; 0 if it ended normally, 1 if the bridge broke protocol or closed abnormally."""
    parameters: dict[str, str] = {}
    if args.from_number is not None:
        parameters["From"] = args.from_number
    if args.to_number is not None:
        parameters["To"] = args.to_number
    parameters.update(args.param)
    if args.speak_at < 0:
        raise ConfigError(f"--speak-at must be >= 0, not {args.speak_at}")
    speech = read_wav_as_ulaw(args.play) if args.play is not None else b""
    lead_in = bytes([MULAW_SILENCE]) * int(args.speak_at * 1000 * BYTES_PER_MS) if speech else b""
    caller = Caller(
        args.url,
        audio=lead_in + speech,
        parameters=parameters,
        dtmf=args.dtmf,
        seconds=args.seconds,
        fast=args.fast,
        auth_token=args.auth_token,
        signed_url=args.signed_url,
        seed=args.seed,
    )
    result = runtime.run(_place(caller))
    if args.record is not None:
        write_ulaw_as_wav(args.record, result.heard)
    print(summarize(result))
    for problem in result.protocol_errors:
        print(f"bridge call: protocol error: {problem}", file=sys.stderr)
    if result.close_code not in _NORMAL_CLOSE_CODES:
        reason = f" ({result.close_reason})" if result.close_reason else ""
        print(f"bridge call: the call closed abnormally with code {result.close_code}{reason}", file=sys.stderr)
        return 1
    return 1 if result.protocol_errors else 0
