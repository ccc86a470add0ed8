"""Transcript renderings: plain text, SubRip (SRT) and WebVTT.

Agent segments cut by barge-in show what the caller actually heard followed by ``[cut]``; the JSON form
(``TranscriptSegment.to_json``) keeps both ``text`` and ``heard_text``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bridge.archive.records import TranscriptSegment

__all__ = ["CUT_MARKER", "TEXT_FORMATS", "render_srt", "render_txt", "render_vtt"]

CUT_MARKER = "[cut]"
_LABEL = {"caller": "Caller", "agent": "Agent"}
_BLANK_LINES = re.compile(r"\n\s*\n")


def _spoken(segment: TranscriptSegment) -> str:
    """What reached the caller, one paragraph: blank lines would end an SRT/VTT cue early."""
    text = segment.heard_text if segment.cut and segment.heard_text is not None else segment.text
    text = _BLANK_LINES.sub("\n", text.strip())
    if segment.cut:
        return f"{text} {CUT_MARKER}" if text else CUT_MARKER
    return text


def _clock(ms: int, separator: str) -> str:
    hours, rest = divmod(max(ms, 0), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def render_txt(segments: Sequence[TranscriptSegment]) -> str:
    """``[00:00:01.250] Caller: text`` lines."""
    return "".join(f"[{_clock(s.start_ms, '.')}] {_LABEL[s.speaker]}: {_spoken(s)}\n" for s in segments)


def render_srt(segments: Sequence[TranscriptSegment]) -> str:
    """Numbered SubRip cues, ``Speaker: text``."""
    cues = [
        f"{n}\n{_clock(s.start_ms, ',')} --> {_clock(s.end_ms, ',')}\n{_LABEL[s.speaker]}: {_spoken(s)}\n"
        for n, s in enumerate(segments, start=1)
    ]
    return "\n".join(cues)


def _vtt_escape(text: str) -> str:
    # Cue text is markup; escaping ">" also keeps "-->", which may not appear in a cue, out of it.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_vtt(segments: Sequence[TranscriptSegment]) -> str:
    """A WebVTT file with one voice-tagged cue (``<v Caller>``) per segment."""
    cues = [
        f"{_clock(s.start_ms, '.')} --> {_clock(s.end_ms, '.')}\n<v {_LABEL[s.speaker]}>{_vtt_escape(_spoken(s))}\n"
        for s in segments
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


# format name -> (renderer, media type)
TEXT_FORMATS = {
    "txt": (render_txt, "text/plain; charset=utf-8"),
    "srt": (render_srt, "application/x-subrip; charset=utf-8"),
    "vtt": (render_vtt, "text/vtt; charset=utf-8"),
}
