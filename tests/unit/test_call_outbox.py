from __future__ import annotations

from bridge.call.actions import EndCall, Note
from bridge.call.outbox import Outbox


def test_outbox_notes_call_relative_ms_and_keeps_the_first_end_reason() -> None:
    out = Outbox(started_at=1000.0)
    assert not out.ended
    out.note("turn", 1250.5, {"event": "x"})
    out.end("caller_hangup", 1300.0)
    out.end("upstream_lost", 1400.0)
    assert out.ended and out.end_reason == "caller_hangup"
    assert out.drain() == [
        Note("turn", 250, {"event": "x"}),
        Note("end", 300, {"reason": "caller_hangup"}),
        EndCall("caller_hangup"),
    ]
    assert out.drain() == []
