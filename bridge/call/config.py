"""CallConfig: everything one call needs to know, resolved from the dialplan and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.config import Settings
from bridge.dialplan.model import Dialplan
from bridge.realtime.session import SessionSettings

__all__ = ["CallConfig", "call_config_from_dialplan"]


@dataclass(frozen=True, slots=True)
class CallConfig:
    """Per-call behaviour. Durations are in seconds."""

    session: SessionSettings = field(default_factory=SessionSettings)
    dialect: Literal["ga", "beta"] = "ga"
    dialplan: str = "default"
    greeting: str | None = None
    barge_in: bool = True
    max_call_s: float = 3600.0
    idle_s: float = 60.0
    dtmf_tools: dict[str, str] = field(default_factory=dict)
    record: bool = True
    # The Realtime API closes a session after 60 minutes; renew a little before, at a quiet moment.
    upstream_session_s: float = 3600.0
    renew_margin_s: float = 120.0
    # A dropped upstream is retried this many times, each within retry_window_s, before the call ends.
    # A session.update not answered (session.updated) within this long ends the call: the upstream
    # rejected or ignored the configuration, and the caller would otherwise sit in silence.
    upstream_ready_timeout_s: float = 10.0
    upstream_retries: int = 1
    retry_window_s: float = 2.0
    # Caller audio held while the upstream (re)connects, so a renewal loses none of it.
    max_buffered_input_ms: int = 5000
    # Below this RMS a caller frame counts as silence for the idle timer (about -45 dBFS).
    caller_energy_rms: int = 180
    idle_goodbye: str = "It seems you are no longer there, so I will end the call now. Goodbye."
    limit_goodbye: str = "We have reached the time limit for this call. Thank you for calling, goodbye."
    # After asking for a goodbye, end the call regardless once this much longer has passed.
    goodbye_grace_s: float = 15.0


def _turn_detection(dialplan: Dialplan) -> dict[str, Any] | None:
    if dialplan.turn_detection is None:
        return None
    turn_detection = dict(dialplan.turn_detection)
    # The bridge answers at the end of every turn unless the dialplan says otherwise.
    turn_detection.setdefault("create_response", True)
    if dialplan.barge_in:
        turn_detection.setdefault("interrupt_response", True)
    else:
        # Without barge-in the agent finishes its sentence: the server must not cancel it either.
        turn_detection["interrupt_response"] = False
    return turn_detection


def call_config_from_dialplan(dialplan: Dialplan, settings: Settings) -> CallConfig:
    """The CallConfig for a call answered by ``dialplan``.

    The session (model, voice, audio mode, instructions, turn detection, transcription, tools) comes
    from the dialplan; the Realtime dialect from ``settings``. ``turn_detection`` gets
    ``create_response: true`` unless the dialplan sets it, and ``interrupt_response`` follows
    ``barge_in`` (forced false when barge-in is off; true unless set when it is on).
    """
    session = SessionSettings(
        model=dialplan.model,
        instructions=dialplan.instructions,
        voice=dialplan.voice,
        audio_mode=dialplan.audio,
        turn_detection=_turn_detection(dialplan),
        transcription=None if dialplan.transcription is None else dict(dialplan.transcription),
        tools=tuple(dialplan.function_tools()),
    )
    return CallConfig(
        session=session,
        dialect=settings.realtime_dialect,
        dialplan=dialplan.name,
        greeting=dialplan.greeting,
        barge_in=dialplan.barge_in,
        max_call_s=dialplan.limits.max_call_s,
        idle_s=dialplan.limits.idle_s,
        dtmf_tools=dict(dialplan.dtmf),
        record=dialplan.record,
    )
