"""Provider-neutral telephony events (provider -> bridge) and commands (bridge -> provider).

Every provider adapter translates its own wire format to and from these; nothing under
``call/`` knows which provider carries the call. Audio is always G.711 mu-law at 8 kHz here:
adapters for providers that carry PCM transcode at their edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "AudioReceived",
    "CallStarted",
    "CallStopped",
    "ClearPlayback",
    "DtmfReceived",
    "HangUp",
    "MarkPlayed",
    "PlayAudio",
    "SetMark",
    "TelephonyCommand",
    "TelephonyEvent",
    "Transfer",
]


# -- events: provider -> bridge ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    """The media stream is up. ``parameters`` are the custom parameters set in the provider's call setup."""

    call_id: str
    stream_id: str
    account_id: str = ""
    from_number: str = ""
    to_number: str = ""
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AudioReceived:
    """One chunk of caller audio (mu-law, 8 kHz); ``timestamp_ms`` is the provider's stream clock."""

    payload: bytes
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """The caller pressed a key (0-9, *, #, A-D)."""

    digit: str


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """The provider played all audio queued before the mark of this name (or cleared it)."""

    name: str


@dataclass(frozen=True, slots=True)
class CallStopped:
    """The media stream ended (hang-up, transfer, or the provider stopped it)."""

    reason: str = "stopped"


TelephonyEvent = CallStarted | AudioReceived | DtmfReceived | MarkPlayed | CallStopped


# -- commands: bridge -> provider ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """Queue mu-law audio for playback to the caller."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class SetMark:
    """Ask the provider to report (MarkPlayed) when the audio queued so far has been played."""

    name: str


@dataclass(frozen=True, slots=True)
class ClearPlayback:
    """Drop all queued audio at once (barge-in); pending marks come back as MarkPlayed."""


@dataclass(frozen=True, slots=True)
class HangUp:
    """End the call."""

    reason: str = "hangup"


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move the caller to another number (the media stream then ends)."""

    to: str


TelephonyCommand = PlayAudio | SetMark | ClearPlayback | HangUp | Transfer
