"""Responses over real sockets: scenarios with function calls, verbatim instructions, one active
response, cancel, barge-in, truncate, conversation items, the idle timeout."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson

from bridge.engine import Scenario
from bridge.engine.formats import PCMU
from bridge.engine.voice import MS_PER_CHAR, SpeechVoice
from tests.integration.engine_support import Client, connect, decode_audio, ga_session, running_engine, silence, speech

ROOT = Path(__file__).resolve().parents[2]
ORDER_STATUS = ROOT / "scripts" / "scenarios" / "order-status.yaml"
LONG = (
    "Your order left our warehouse on Monday and is on its way with the courier. It should reach you "
    "by Thursday afternoon, and you will get a text message with a tracking link before it arrives."
)
VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 300}


def transcript_of(response: dict[str, Any], index: int = 0) -> str:
    text: str = response["output"][index]["content"][0]["transcript"]
    return text


async def say(client: Client, text: str) -> None:
    """The caller speaks (with silence after, so the turn ends)."""
    await client.append(speech(text, PCMU) + silence(600, PCMU), PCMU)


async def test_order_status_scenario_with_a_function_call() -> None:
    async with running_engine(scenario=Scenario.load(ORDER_STATUS)) as server, connect(server) as client:
        tool = {"type": "function", "name": "lookup_order", "parameters": {"type": "object"}}
        await client.update({**ga_session(PCMU, turn_detection=VAD), "tools": [tool]})
        # No user input yet: the greeting.
        await client.send({"type": "response.create"})
        greeting = (await client.until("response.done"))[-1]["response"]
        assert transcript_of(greeting) == "Thanks for calling Acme. How can I help you today?"

        await say(client, "I would like to check my order please")
        events = await client.until("response.done")
        response = events[-1]["response"]
        assert [item["type"] for item in response["output"]] == ["message", "function_call"]
        assert transcript_of(response) == "Let me look that up for you."
        call = response["output"][1]
        assert call["name"] == "lookup_order" and call["status"] == "completed"
        assert orjson.loads(call["arguments"]) == {"order_id": "A-1001"}
        assert call["call_id"].startswith("call_")
        call_events = [e for e in events if e.get("item_id") == call["id"] or e.get("item", {}).get("id") == call["id"]]
        assert [e["type"] for e in call_events if e["type"] != "response.function_call_arguments.delta"] == [
            "response.output_item.added",
            "conversation.item.added",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "conversation.item.done",
        ]
        assert call_events[0]["item"]["arguments"] == "" and call_events[0]["item"]["status"] == "in_progress"
        deltas = [e for e in call_events if e["type"] == "response.function_call_arguments.delta"]
        assert deltas and "".join(e["delta"] for e in deltas) == call["arguments"]
        done = next(e for e in call_events if e["type"] == "response.function_call_arguments.done")
        assert (done["name"], done["call_id"], done["arguments"]) == (
            "lookup_order",
            call["call_id"],
            call["arguments"],
        )

        output = {
            "type": "function_call_output",
            "call_id": call["call_id"],
            "output": '{"order_id": "A-1001", "status": "shipped"}',
        }
        await client.send({"type": "conversation.item.create", "item": output})
        added = await client.expect("conversation.item.added")
        echoed = await client.expect("conversation.item.done")
        assert (
            added["item"]
            == echoed["item"]
            == {
                "id": added["item"]["id"],
                "type": "function_call_output",
                "status": "completed",
                **{k: output[k] for k in ("call_id", "output")},
            }
        )
        assert added["previous_item_id"] == call["id"]
        await client.send({"type": "response.create"})
        assert transcript_of((await client.until("response.done"))[-1]["response"]) == "Your order A-1001 is shipped."

        await say(client, "No that is all")
        assert transcript_of((await client.until("response.done"))[-1]["response"]) == "Thanks for calling. Goodbye!"
        # `end: true`: the agent says nothing more.
        await client.send({"type": "response.create"})
        assert (await client.until("response.done"))[-1]["response"]["output"] == []


async def test_instructions_with_quoted_text_are_said_verbatim() -> None:
    async with running_engine(scenario=Scenario(greeting="Not this.")) as server, connect(server) as client:
        instructions = 'Greet the caller. Say exactly: "Thanks for calling, how can I help?"'
        await client.send(
            {"type": "response.create", "response": {"instructions": instructions, "metadata": {"k": "v"}}}
        )
        events = await client.until("response.done")
        assert transcript_of(events[-1]["response"]) == "Thanks for calling, how can I help?"
        assert events[0]["response"]["metadata"] == events[-1]["response"]["metadata"] == {"k": "v"}
        # The client chose the first words: the scenario's greeting is skipped for good.
        await client.send({"type": "response.create"})
        assert (await client.until("response.done"))[-1]["response"]["output"] == []


async def test_one_active_response_and_cancel() -> None:
    async with running_engine(pace=10.0, scenario=Scenario(greeting=LONG)) as server, connect(server) as client:
        await client.send({"type": "response.create"})
        created = await client.expect("response.created")
        await client.until("response.output_audio.delta")
        await client.send({"type": "response.create", "event_id": "evt_2"})
        error = (await client.until("error"))[-1]["error"]
        rid = created["response"]["id"]
        assert error == {
            "type": "invalid_request_error",
            "code": "conversation_already_has_active_response",
            "message": f"Conversation already has an active response in progress: {rid}. "
            "Wait until the response is finished before creating a new one.",
            "param": None,
            "event_id": "evt_2",
        }
        await client.send({"type": "response.cancel", "response_id": rid})
        events = await client.until("response.done")
        response = events[-1]["response"]
        assert response["status"] == "cancelled"
        assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        # The item is closed with what was really sent.
        sent = "".join(e["delta"] for e in client.received if e["type"] == "response.output_audio_transcript.delta")
        assert response["output"][0]["status"] == "incomplete" and transcript_of(response) == sent
        assert LONG.startswith(sent) and sent != LONG
        assert [e["type"] for e in events[-6:]] == [
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
        audio_ms = len(decode_audio(client.received)) // 48
        assert response["usage"]["output_token_details"]["audio_tokens"] == -(-audio_ms // 50)
        await client.send({"type": "response.cancel"})
        assert (await client.expect("error"))["error"]["code"] == "response_cancel_not_active"


async def test_barge_in_cancels_the_response_with_turn_detected() -> None:
    async with running_engine(pace=10.0, scenario=Scenario(greeting=LONG, fallback=("Go on.",))) as server:
        async with connect(server) as client:
            await client.update(ga_session(PCMU, turn_detection=VAD))
            await client.send({"type": "response.create"})
            await client.until("response.output_audio.delta")
            await say(client, "Wait, stop")
            events = await client.until("input_audio_buffer.speech_stopped")
            kinds = [e["type"] for e in events]
            started = kinds.index("input_audio_buffer.speech_started")
            cancelled = next(e for e in events if e["type"] == "response.done")["response"]
            assert kinds.index("response.done") > started
            assert cancelled["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
            # The caller's turn still gets its answer.
            answer = (await client.until("response.done"))[-1]["response"]
            assert answer["status"] == "completed" and transcript_of(answer) == "Go on."


async def test_interrupt_response_false_keeps_the_response_and_create_response_false_answers_nothing() -> None:
    async with running_engine(pace=10.0, scenario=Scenario(greeting=LONG)) as server, connect(server) as client:
        await client.update(ga_session(PCMU, turn_detection={**VAD, "interrupt_response": False}))
        await client.send({"type": "response.create"})
        await client.until("response.output_audio.delta")
        await say(client, "Hello")
        await client.until("conversation.item.done")  # the caller's item: no cancellation so far
        await client.send({"type": "response.cancel"})
        response = (await client.until("response.done"))[-1]["response"]
        assert response["status_details"]["reason"] == "client_cancelled"

        await client.update(ga_session(PCMU, turn_detection={**VAD, "create_response": False}))
        await say(client, "Hello again")
        await client.until("input_audio_buffer.committed")
        await client.send({"type": "input_audio_buffer.clear"})
        events = await client.until("input_audio_buffer.cleared")
        assert "response.created" not in [e["type"] for e in events]


async def test_truncate_cuts_audio_and_transcript() -> None:
    text = "Thanks for calling Acme. How can I help you today?"
    async with running_engine(scenario=Scenario(greeting=text)) as server, connect(server) as client:
        await client.update(ga_session(PCMU, turn_detection=None))
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        item_id = events[-1]["response"]["output"][0]["id"]
        sent_ms = len(decode_audio(events)) // 8
        assert sent_ms == len(text) * MS_PER_CHAR
        await client.send(
            {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": sent_ms + 85}
        )
        error = (await client.expect("error"))["error"]
        assert (error["code"], error["message"], error["param"]) == (
            "invalid_value",
            f"Audio content of {sent_ms}ms is already shorter than {sent_ms + 85}ms",
            None,
        )
        await client.send(
            {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 1500}
        )
        truncated = await client.expect("conversation.item.truncated")
        assert {k: truncated[k] for k in ("item_id", "content_index", "audio_end_ms")} == {
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 1500,
        }
        await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        item = (await client.expect("conversation.item.retrieved"))["item"]
        _, words = SpeechVoice().synthesize(text, 8000)
        heard = " ".join(word for word, _, end in words if end <= 1500)
        assert heard == "Thanks for calling"
        assert item["content"][0]["transcript"] == heard
        assert base64.b64decode(item["content"][0]["audio"]) == decode_audio(events)[: 1500 * 8]

        await client.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            }
        )
        user_id = (await client.expect("conversation.item.added"))["item"]["id"]
        await client.expect("conversation.item.done")
        await client.send(
            {"type": "conversation.item.truncate", "item_id": user_id, "content_index": 0, "audio_end_ms": 0}
        )
        error = (await client.expect("error"))["error"]
        assert (error["code"], error["message"]) == (
            "unsupported_content_type",
            "Only model output audio messages can be truncated",
        )


async def test_conversation_items_create_insert_delete_retrieve() -> None:
    def message(text: str, **extra: Any) -> dict[str, Any]:
        return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}], **extra}

    async def create(client: Client, item: dict[str, Any], previous: str | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {"type": "conversation.item.create", "item": item}
        if previous is not None:
            event["previous_item_id"] = previous
        await client.send(event)
        added = await client.expect("conversation.item.added")
        assert (await client.expect("conversation.item.done"))["item"] == added["item"]
        return added

    async with running_engine() as server, connect(server) as client:
        first = await create(client, message("A"), previous="")
        assert first["previous_item_id"] is None
        assert first["item"] == {**message("A"), "id": first["item"]["id"], "status": "completed"}
        second = await create(client, message("B", id="item_mine"))
        assert second["item"]["id"] == "item_mine" and second["previous_item_id"] == first["item"]["id"]
        root = await create(client, message("Z"), previous="root")
        assert root["previous_item_id"] is None
        middle = await create(client, message("M"), previous=first["item"]["id"])
        assert middle["previous_item_id"] == first["item"]["id"]
        assert [item.content[0]["text"] for item in server.sessions[-1].conversation] == ["Z", "A", "M", "B"]

        await client.send({"type": "conversation.item.create", "item": message("dup", id="item_mine")})
        assert (await client.expect("error"))["error"]["param"] == "item.id"
        await client.send({"type": "conversation.item.create", "item": message("x"), "previous_item_id": "item_none"})
        assert (await client.expect("error"))["error"]["param"] == "previous_item_id"

        await client.send({"type": "conversation.item.retrieve", "item_id": "item_mine"})
        assert (await client.expect("conversation.item.retrieved"))["item"] == second["item"]
        await client.send({"type": "conversation.item.delete", "item_id": "item_mine"})
        assert (await client.expect("conversation.item.deleted"))["item_id"] == "item_mine"
        await client.send({"type": "conversation.item.retrieve", "item_id": "item_mine"})
        assert (await client.expect("error"))["error"]["code"] == "item_retrieve_invalid_item_id"


async def test_idle_timeout_in_audio_time() -> None:
    greeting = "Hello there."
    scenario = Scenario(greeting=greeting, idle="Are you still with me?")
    async with running_engine(scenario=scenario) as server, connect(server) as client:
        await client.update(ga_session(PCMU, turn_detection={**VAD, "idle_timeout_ms": 1000}))
        await client.send({"type": "response.create"})
        await client.until("response.done")
        playback_ms = len(greeting) * MS_PER_CHAR
        # The agent's audio plays for playback_ms, then 1000 ms of silence trip the timeout.
        await client.append(silence(playback_ms + 990, PCMU), PCMU)
        await client.send({"type": "input_audio_buffer.clear"})
        await client.expect("input_audio_buffer.cleared")
        await client.append(silence(20, PCMU), PCMU)
        timeout = await client.expect("input_audio_buffer.timeout_triggered")
        assert (timeout["audio_start_ms"], timeout["audio_end_ms"]) == (playback_ms, playback_ms + 1000)
        committed = await client.expect("input_audio_buffer.committed")
        assert committed["item_id"] == timeout["item_id"]
        events = await client.until("response.done")
        assert transcript_of(events[-1]["response"]) == "Are you still with me?"
        assert "input_audio_buffer.speech_started" not in server.sessions[-1].log.types()
