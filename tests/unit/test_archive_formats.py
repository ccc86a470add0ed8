from __future__ import annotations

from bridge.archive.formats import TEXT_FORMATS, render_srt, render_txt, render_vtt
from bridge.archive.records import TranscriptSegment

SEGMENTS = [
    TranscriptSegment(0, "caller", 0, 1850, "I'd like a refund"),
    TranscriptSegment(
        1, "agent", 2000, 6500, "Sure, I can do that. What is the order number?", heard_text="Sure, I can", cut=True
    ),
    TranscriptSegment(2, "caller", 3_723_004, 3_724_000, "It's <42> & counting -->"),
    TranscriptSegment(3, "agent", 3_724_100, 3_724_200, "Hello", heard_text="", cut=True),
    TranscriptSegment(4, "agent", 3_724_300, 3_724_900, "Line one\n\n\nLine two"),
]


def test_txt() -> None:
    assert render_txt(SEGMENTS) == (
        "[00:00:00.000] Caller: I'd like a refund\n"
        "[00:00:02.000] Agent: Sure, I can [cut]\n"
        "[01:02:03.004] Caller: It's <42> & counting -->\n"
        "[01:02:04.100] Agent: [cut]\n"
        "[01:02:04.300] Agent: Line one\nLine two\n"
    )


def test_srt() -> None:
    assert render_srt(SEGMENTS[:2]) == (
        "1\n00:00:00,000 --> 00:00:01,850\nCaller: I'd like a refund\n"
        "\n"
        "2\n00:00:02,000 --> 00:00:06,500\nAgent: Sure, I can [cut]\n"
    )
    # blank lines inside a segment would end the cue early
    assert "\n\n" not in render_srt(SEGMENTS[4:])


def test_vtt_escapes_cue_text() -> None:
    assert render_vtt(SEGMENTS[:3]) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.850\n<v Caller>I'd like a refund\n"
        "\n"
        "00:00:02.000 --> 00:00:06.500\n<v Agent>Sure, I can [cut]\n"
        "\n"
        "01:02:03.004 --> 01:02:04.000\n<v Caller>It's &lt;42&gt; &amp; counting --&gt;\n"
    )


def test_empty_transcripts() -> None:
    assert render_txt([]) == ""
    assert render_srt([]) == ""
    assert render_vtt([]) == "WEBVTT\n\n"


def test_uncut_agent_segment_shows_the_whole_text() -> None:
    whole = TranscriptSegment(0, "agent", 0, 10, "All of it", heard_text=None, cut=False)
    assert render_txt([whole]) == "[00:00:00.000] Agent: All of it\n"
    assert set(TEXT_FORMATS) == {"txt", "srt", "vtt"}
