"""The session's timed outbox and conversation items."""

from __future__ import annotations

import base64
from functools import partial

from bridge.engine.conversation import ROOT, Conversation, Item
from bridge.engine.formats import PCMU
from bridge.engine.outbox import Outbox


def test_entries_come_out_by_due_time_then_insertion() -> None:
    outbox = Outbox()
    for due, name in ((2.0, "c"), (1.0, "a"), (1.0, "b"), (3.0, "d")):
        outbox.add(due, partial(dict, type=name), tag="r" if name in "cd" else None)
    assert outbox.next_due() == 1.0 and len(outbox) == 4
    outbox.drop_after("r", 2.0)  # "c" is due by then and stays; "d" goes
    released = []
    while (entry := outbox.pop_due(5.0)) is not None:
        released.append(entry.build())
    assert released == [{"type": "a"}, {"type": "b"}, {"type": "c"}]
    assert outbox.pop_due(5.0) is None and outbox.next_due() is None


def test_items_render_in_both_dialects() -> None:
    item = Item("item_1", "message", role="assistant", content=[{"type": "output_audio", "transcript": "hi"}])
    item.audio += b"\xff" * 16
    item.audio_format = PCMU
    assert item.render("ga") == {
        "id": "item_1",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_audio", "transcript": "hi"}],
    }
    beta = item.render("beta", with_audio=True)
    assert beta["object"] == "realtime.item"
    assert beta["content"] == [{"type": "audio", "transcript": "hi", "audio": base64.b64encode(b"\xff" * 16).decode()}]
    assert item.audio_ms == 2
    call = Item("item_2", "function_call", call_id="call_1", name="f", arguments="{}")
    assert call.render("ga") == {
        "id": "item_2",
        "type": "function_call",
        "status": "completed",
        "name": "f",
        "call_id": "call_1",
        "arguments": "{}",
    }


def test_conversation_order() -> None:
    conversation = Conversation()
    assert conversation.insert(Item("a", "message", role="user")) is None
    assert conversation.insert(Item("b", "message")) == "a"
    assert conversation.insert(Item("z", "message"), ROOT) is None
    assert conversation.insert(Item("m", "message"), "a") == "a"
    assert [item.id for item in conversation] == ["z", "a", "m", "b"]
    assert conversation.previous_id("m") == "a" and conversation.previous_id("z") is None
    conversation.delete("a")
    assert conversation.previous_id("m") == "z" and conversation.last_id() == "b"
    assert not conversation.has_user_message() and len(conversation) == 3
