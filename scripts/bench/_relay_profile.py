"""The relay benchmark's load profile: what each simulated call says, and what the agent answers.

Every call follows one script, in 20 ms frames of mu-law sent in real time:

* The bridge greets (its ``CallConfig.greeting``); the caller is silent for ``LEAD_MS`` meanwhile.
* Then the caller repeats a pattern of three turns, starting at turn ``index % 3`` so a third of
  the calls is at each point of the pattern:

  - ``normal`` (8 s): the caller asks a question (2.6 s of speech). The engine's VAD ends the turn
    500 ms after the speech, and the agent answers with a 4 s line, then about 1 s of quiet.
  - ``normal`` again.
  - ``barge`` (11 s): the same question, but 1.5 s into the answer the caller talks over it (1.4 s).
    The engine cancels the answer (``interrupt_response``), the bridge clears Twilio's queue and
    truncates the item, and the engine answers the interruption with a 4 s line.

  The agent talks 4 + 4 + (1.5 + 4) = 13.5 s of every 27 s: half the time, in 100 ms deltas (the
  benchmark measures 44 % over its windows, greeting included). The caller's frames flow all the
  time (speech or silence), as Twilio's do.

All speech is the engine's own synthetic voice (deterministic, -6 dBFS peaks), so the benchmark
needs no audio files.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from bridge.audio.g711 import pcm16_to_ulaw
from bridge.call.config import CallConfig
from bridge.engine.scenario import Scenario
from bridge.engine.voice import SpeechVoice
from bridge.realtime.session import SessionSettings

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "GREETING",
    "Mode",
    "call_config",
    "caller_audio",
    "describe",
    "engine_scenario",
]

Mode = Literal["passthrough", "pcm16"]

FRAME_MS = 20
FRAME_BYTES = 160  # mu-law at 8 kHz
_BYTES_PER_MS = 8
_SILENCE = b"\xff"

# 55 characters: 3.6 s of the engine's voice (65 ms per character).
GREETING = "Thanks for calling the relay benchmark. How can I help?"
QUESTION = "What are your opening hours on Saturday?"  # 2.6 s
INTERRUPTION = "Sorry, one more thing."  # 1.4 s
# Answers of 61-63 characters (about 4 s); the engine says them in turn, whatever the caller said.
REPLIES = (
    "We open at nine on Saturday and close at five in the evening.",
    "Yes, of course. The store on the main street is open too, yes.",
    "I have noted that for you. Is there anything else I can do now?",
)

LEAD_MS = 4400  # the greeting (3.6 s) plus the time to reach the engine and a margin
_NORMAL_MS = 8000
_BARGE_MS = 11000
_BARGE_AT_MS = 4600  # the answer starts about 3.1 s into the turn: 1.5 s of it is heard
_PATTERN = ("normal", "normal", "barge")


@functools.cache
def _speech(text: str) -> bytes:
    pcm, _ = SpeechVoice().synthesize(text, 8000)
    return pcm16_to_ulaw(pcm)


def _silence(ms: int) -> bytes:
    return _SILENCE * (ms * _BYTES_PER_MS)


def _turn(kind: str) -> bytes:
    question = _speech(QUESTION)
    if kind == "normal":
        return question + _silence(_NORMAL_MS - len(question) // _BYTES_PER_MS)
    interruption = _speech(INTERRUPTION)
    gap = _BARGE_AT_MS - len(question) // _BYTES_PER_MS
    tail = _BARGE_MS - _BARGE_AT_MS - len(interruption) // _BYTES_PER_MS
    return question + _silence(gap) + interruption + _silence(tail)


def caller_audio(index: int, seconds: float) -> bytes:
    """The mu-law audio caller ``index`` sends, at least ``seconds`` long (whole 20 ms frames)."""
    audio = bytearray(_silence(LEAD_MS))
    turn = index % len(_PATTERN)
    while len(audio) < seconds * 1000 * _BYTES_PER_MS:
        audio += _turn(_PATTERN[turn % len(_PATTERN)])
        turn += 1
    return bytes(audio[: len(audio) - len(audio) % FRAME_BYTES])


def engine_scenario() -> Scenario:
    """The engine's agent: every caller turn gets the next of ``REPLIES`` (the greeting is the bridge's)."""
    return Scenario(fallback=REPLIES)


def call_config(mode: Mode, *, record: bool) -> CallConfig:
    """Every call's configuration: ``mode`` audio, the benchmark's greeting, server VAD with barge-in."""
    session = SessionSettings(instructions="You are the relay benchmark's agent.", audio_mode=mode)
    return CallConfig(session=session, greeting=GREETING, record=record)


def describe() -> dict[str, Any]:
    """The profile's parameters, for the benchmark's JSON line."""
    return {
        "lead_ms": LEAD_MS,
        "pattern": list(_PATTERN),
        "normal_turn_ms": _NORMAL_MS,
        "barge_turn_ms": _BARGE_MS,
        "barge_in_at_ms": _BARGE_AT_MS,
        "question_ms": len(_speech(QUESTION)) // _BYTES_PER_MS,
        "interruption_ms": len(_speech(INTERRUPTION)) // _BYTES_PER_MS,
        "reply_ms": [len(line) * SpeechVoice().ms_per_char for line in REPLIES],
        "greeting_ms": len(GREETING) * SpeechVoice().ms_per_char,
    }
