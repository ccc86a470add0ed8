from __future__ import annotations

from bridge.call.playback import Cut, PlaybackLedger


def test_nothing_sent_nothing_to_cut() -> None:
    ledger = PlaybackLedger()
    assert not ledger.has_unheard(0)
    assert ledger.cut(0) is None
    assert ledger.all_played


def test_mark_names_carry_item_and_offset() -> None:
    ledger = PlaybackLedger()
    assert ledger.sent("item_a", 800, now=0).startswith("item_a@800#")
    assert ledger.sent("item_a", 800, now=1).startswith("item_a@1600#")
    assert ledger.sent("item_b", 400, now=2).startswith("item_b@400#")


def test_estimate_advances_at_8_bytes_per_ms_and_is_capped_at_the_mark() -> None:
    ledger = PlaybackLedger()
    ledger.sent("item_a", 800, now=1000)  # 100 ms
    ledger.sent("item_a", 800, now=1000)
    assert ledger.heard_position(1000) == 0
    assert ledger.heard_position(1050) == 400
    # Without the first mark's echo the estimate stops at the first chunk's end.
    assert ledger.heard_position(1500) == 800
    assert ledger.has_unheard(1500)


def test_acknowledged_mark_restarts_the_estimate_from_its_arrival() -> None:
    ledger = PlaybackLedger()
    first = ledger.sent("item_a", 800, now=0)
    ledger.sent("item_a", 800, now=0)
    assert ledger.mark_played(first, now=130)  # the echo came 30 ms late
    assert ledger.heard_ms("item_a") == 100
    assert ledger.heard_position(130) == 800
    assert ledger.heard_position(180) == 1200


def test_chunk_sent_after_a_gap_starts_playing_when_it_arrives() -> None:
    ledger = PlaybackLedger()
    first = ledger.sent("item_a", 160, now=0)
    assert ledger.mark_played(first, now=20)
    ledger.sent("item_b", 800, now=500)
    assert ledger.heard_position(500) == 160
    assert ledger.heard_position(550) == 160 + 400


def test_cut_reports_item_being_heard_and_ms_heard() -> None:
    ledger = PlaybackLedger()
    marks = [ledger.sent("item_a", 800, now=0) for _ in range(3)]
    assert ledger.mark_played(marks[0], now=100)
    cut = ledger.cut(now=160)  # 60 ms into the second chunk
    assert cut == Cut("item_a", 160, ())
    assert ledger.heard_ms("item_a") == 160
    # The cleared marks come back from the provider, and are ignored.
    assert not ledger.mark_played(marks[1], now=161)
    assert not ledger.mark_played(marks[2], now=161)
    assert not ledger.has_unheard(200)
    assert ledger.all_played


def test_back_to_back_replies_are_attributed_to_the_right_item() -> None:
    ledger = PlaybackLedger()
    a = [ledger.sent("item_a", 800, now=0) for _ in range(2)]  # 200 ms
    b = [ledger.sent("item_b", 800, now=0) for _ in range(3)]  # 300 ms
    for i, mark in enumerate(a + b[:1]):
        assert ledger.mark_played(mark, now=100 * (i + 1))
    cut = ledger.cut(now=300 + 70)  # caller is 170 ms into item_b
    assert cut == Cut("item_b", 170, ())
    assert ledger.heard_ms("item_a") == 200
    assert ledger.sent_ms("item_b") == 170


def test_cut_at_item_boundary_names_next_item_with_zero_and_lists_unheard_items() -> None:
    ledger = PlaybackLedger()
    a = ledger.sent("item_a", 800, now=0)
    ledger.sent("item_b", 800, now=0)
    ledger.sent("item_c", 800, now=0)
    assert ledger.mark_played(a, now=100)
    cut = ledger.cut(now=100)
    assert cut == Cut("item_b", 0, ("item_c",))


def test_nothing_unheard_after_all_marks_echoed() -> None:
    ledger = PlaybackLedger()
    mark = ledger.sent("item_a", 800, now=0)
    assert ledger.mark_played(mark, now=100)
    assert ledger.cut(now=150) is None


def test_estimate_reaching_the_end_counts_as_heard() -> None:
    ledger = PlaybackLedger()
    ledger.sent("item_a", 800, now=0)
    assert not ledger.has_unheard(100)
    assert ledger.cut(now=100) is None
    assert not ledger.all_played  # the mark is still due


def test_late_echo_of_an_earlier_mark_acknowledges_all_before_it() -> None:
    ledger = PlaybackLedger()
    marks = [ledger.sent("item_a", 160, now=0) for _ in range(3)]
    assert ledger.mark_played(marks[1], now=40)
    assert ledger.heard_ms("item_a") == 40
    assert ledger.pending_marks == 1
    assert not ledger.mark_played(marks[0], now=41)


def test_audio_after_a_cut_starts_a_fresh_run() -> None:
    ledger = PlaybackLedger()
    ledger.sent("item_a", 800, now=0)
    assert ledger.cut(now=50) == Cut("item_a", 50, ())
    mark = ledger.sent("item_b", 400, now=60)
    assert ledger.heard_position(85) - ledger.heard_position(60) == 200
    assert ledger.cut(now=85) == Cut("item_b", 25, ())
    assert not ledger.mark_played(mark, now=86)


def test_unknown_mark_is_ignored() -> None:
    ledger = PlaybackLedger()
    assert not ledger.mark_played("someone-else", now=0)


def test_an_item_interleaved_with_other_audio_is_measured_in_its_own_bytes() -> None:
    ledger = PlaybackLedger()
    a1 = ledger.sent("item_a", 800, now=0)  # 100 ms of the reply
    ledger.sent("~dtmf", 1280, now=0)  # 160 ms of tones in the middle of it
    a2 = ledger.sent("item_a", 800, now=0)  # 100 ms more of the reply
    assert a1.startswith("item_a@800#") and a2.startswith("item_a@1600#")
    assert ledger.sent_ms("item_a") == 200
    assert ledger.mark_played(a1, now=100)
    assert ledger.heard_ms("item_a") == 100
    # The tones have played; without their mark's echo the estimate stops at the reply's second run.
    cut = ledger.cut(now=100 + 160 + 160)
    assert cut == Cut("item_a", 100, ())
    assert ledger.heard_ms("item_a") == 100


def test_cut_inside_the_second_run_of_an_interleaved_item() -> None:
    ledger = PlaybackLedger()
    a1 = ledger.sent("item_a", 800, now=0)
    tones = ledger.sent("~dtmf", 1280, now=0)
    ledger.sent("item_a", 800, now=0)
    assert ledger.mark_played(a1, now=100)
    assert ledger.mark_played(tones, now=260)
    cut = ledger.cut(now=260 + 50)
    assert cut == Cut("item_a", 150, ())  # 100 ms before the tones + 50 ms after: never more than sent
