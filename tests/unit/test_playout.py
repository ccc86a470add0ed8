from __future__ import annotations

from bridge.telephony.playout import EchoedMark, Playout, TwilioPlayback

SILENCE = b"\xff"


def test_mark_with_nothing_queued_is_echoed_at_once() -> None:
    playback = TwilioPlayback()
    playback.receive_mark("idle", 40.0)
    assert playback.next_echo_ms() == 40.0
    out = playback.advance(40.0)
    assert out.marks == (EchoedMark("idle", 40.0),)
    assert out.audio == SILENCE * 320
    assert playback.next_echo_ms() is None


def test_mark_after_100_ms_of_audio_is_echoed_100_ms_later() -> None:
    playback = TwilioPlayback()
    playback.receive_media(b"\x01" * 800, 60.0)
    playback.receive_mark("m", 60.0)
    assert playback.next_echo_ms() == 160.0
    assert playback.pending_marks == ("m",)
    assert playback.advance(159.875).marks == ()
    assert playback.queued_bytes == 1
    out = playback.advance(160.0)
    assert out.marks == (EchoedMark("m", 160.0),)
    assert playback.queued_bytes == 0
    assert playback.pending_marks == ()


def test_late_advance_reports_the_exact_echo_times() -> None:
    playback = TwilioPlayback()
    playback.receive_media(b"\x01" * 80, 0.0)
    playback.receive_mark("one", 0.0)
    playback.receive_media(b"\x02" * 160, 0.0)
    playback.receive_mark("two", 0.0)
    out = playback.advance(100.0)
    assert out.marks == (EchoedMark("one", 10.0), EchoedMark("two", 30.0))
    assert out.audio == b"\x01" * 80 + b"\x02" * 160 + SILENCE * 560
    assert playback.played_bytes == 240


def test_clear_drops_audio_and_echoes_pending_marks_at_once_in_order() -> None:
    playback = TwilioPlayback()
    playback.receive_media(b"\x0a" * 800, 0.0)
    playback.receive_mark("one", 0.0)
    playback.receive_media(b"\x0b" * 800, 0.0)
    playback.receive_mark("two", 0.0)
    first = playback.advance(50.0)
    assert first.audio == b"\x0a" * 400
    assert first.marks == ()

    assert playback.receive_clear(50.0) == 1200
    cleared = playback.advance(50.0)
    assert cleared.marks == (EchoedMark("one", 50.0), EchoedMark("two", 50.0))
    assert cleared.audio == b""
    assert playback.advance(100.0).audio == SILENCE * 400
    assert (playback.played_bytes, playback.dropped_bytes, playback.queued_bytes) == (400, 1200, 0)
    assert playback.pending_marks == ()


def test_clear_with_nothing_queued_drops_nothing() -> None:
    playback = TwilioPlayback()
    assert playback.receive_clear(10.0) == 0
    assert playback.advance(10.0) == Playout(SILENCE * 80, ())


def test_audio_arriving_after_a_gap_plays_when_it_arrives() -> None:
    playback = TwilioPlayback()
    playback.receive_media(b"\x01" * 80, 0.0)  # plays 0-10 ms
    playback.receive_media(b"\x02" * 80, 30.0)  # nothing plays 10-30 ms, then 30-40 ms
    assert playback.advance(50.0).audio == b"\x01" * 80 + SILENCE * 160 + b"\x02" * 80 + SILENCE * 80


def test_audio_arriving_while_playing_queues_behind_without_a_gap() -> None:
    playback = TwilioPlayback()
    playback.receive_media(b"\x01" * 160, 0.0)
    playback.receive_media(b"\x02" * 80, 10.0)
    playback.receive_mark("end", 10.0)
    assert playback.next_echo_ms() == 30.0
    out = playback.advance(40.0)
    assert out.audio == b"\x01" * 160 + b"\x02" * 80 + SILENCE * 80
    assert out.marks == (EchoedMark("end", 30.0),)


def test_heard_recording_is_sample_aligned_across_drains() -> None:
    playback = TwilioPlayback()
    heard = bytearray()
    heard += playback.advance(7.0).audio
    playback.receive_media(b"\x05" * 8, 12.3)  # starts on the next sample boundary: ceil(12.3 * 8) = 99
    heard += playback.advance(12.5).audio
    heard += playback.advance(20.0).audio
    assert len(heard) == 160
    assert heard == SILENCE * 99 + b"\x05" * 8 + SILENCE * 53


def test_mark_echo_is_never_earlier_than_its_audio_could_play() -> None:
    playback = TwilioPlayback()
    playback.receive_media(b"\x01" * 800, 0.849)
    playback.receive_mark("m", 0.849)
    due = playback.next_echo_ms()
    assert due == 100.875
    assert playback.advance(100.8).marks == ()
    assert playback.advance(100.9).marks == (EchoedMark("m", 100.875),)


def test_next_echo_is_in_the_past_until_drained() -> None:
    playback = TwilioPlayback()
    playback.receive_media(b"\x01" * 80, 0.0)
    playback.receive_mark("m", 0.0)
    playback.receive_media(b"\x01" * 8, 40.0)  # plays the first audio out while feeding this
    assert playback.next_echo_ms() == 10.0
    assert playback.advance(40.0).marks == (EchoedMark("m", 10.0),)
    assert playback.next_echo_ms() is None


def test_time_going_backwards_plays_nothing_more() -> None:
    playback = TwilioPlayback()
    playback.receive_media(b"\x01" * 800, 0.0)
    assert len(playback.advance(20.0).audio) == 160
    assert playback.advance(10.0).audio == b""
    assert playback.queued_bytes == 640
