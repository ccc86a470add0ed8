"""Tooling: one call's tool calls and what follows them, for its CallSession (sans-I/O).

The model's function calls are collected per response and run (``RunTools``) once the response is
done; their results go back to the model together, and their effects are carried out: DTMF tones,
holding the next response (wait), and ending the call. A hang-up or transfer waits until the caller has
heard the goodbye or transfer announcement and everything queued before it (or a grace deadline
passes); a barge-in during a transfer announcement cancels the transfer. Responses are paced here,
one at a time, because a tool answer, a goodbye and an announcement are all responses.

One at a time means from the ``response.create`` on, not only once ``response.created`` names it: the
server rejects a second create meanwhile (``conversation_already_has_active_response``). A create it
rejects anyway (its own turn response got in first) is sent again once the active response is done.
When the server cancels a response because the caller started a new turn (``turn_detected``) and it
answers turns by itself, no response is created until that turn's answer: the answer is created after
everything already in the conversation (tool outputs, key presses), so a reply wanted before it is
dropped, while an announcement waits for it to finish.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.audio.dtmf import dtmf_ulaw
from bridge.call.actions import RunTools, SendToCaller
from bridge.call.config import CallConfig
from bridge.call.outbox import Outbox
from bridge.call.playback import PlaybackLedger
from bridge.call.transcript import Transcript
from bridge.realtime.events import ConversationItemCreate, ResponseCreate, ResponseFunctionCallArgumentsDone
from bridge.telephony.events import HangUp, Transfer
from bridge.tools.base import HangupEffect, SendDtmfEffect, ToolCall, ToolResult, TransferEffect, WaitEffect

__all__ = ["ALREADY_ACTIVE", "Tooling", "say_exactly", "server_answers_turns"]

# The error code of a response.create sent while another response is active (PROTOCOLS.md G.3).
ALREADY_ACTIVE = "conversation_already_has_active_response"

_DTMF_ITEM = "~dtmf"  # playback that belongs to no model item: never truncated


def say_exactly(text: str) -> ResponseCreate:
    """A response that speaks ``text`` verbatim (greetings, goodbyes, transfer announcements)."""
    quoted = text.replace('"', "'")
    return ResponseCreate(response={"instructions": f'Say exactly the following, and nothing else: "{quoted}"'})


def server_answers_turns(config: CallConfig) -> bool:
    """Whether the server's turn detection answers the end of a caller turn with a response itself."""
    detection = config.session.turn_detection
    return detection is not None and detection.get("create_response", True) is not False


class Tooling:
    """Tool calls, response pacing and the call's ending; owned and fed by a CallSession.

    ``play(item_id, ulaw, now)`` is the session's way of sending audio to the caller. ``ready``
    arguments tell whether the upstream session is configured and can take a response now.
    """

    def __init__(
        self,
        config: CallConfig,
        out: Outbox,
        ledger: PlaybackLedger,
        transcript: Transcript,
        play: Callable[[str, bytes, float], None],
    ) -> None:
        self.config = config  # the session replaces it once the call's configuration is known
        self._out = out
        self._ledger = ledger
        self._transcript = transcript
        self._play = play
        # Responses: one at a time.
        self.active_response: str | None = None
        self._create_pending = False  # a response.create went out; its response.created has not come
        self._turn_reply_due = False  # the server answers the caller's new turn; nothing is created before
        self._response_wanted = False
        # Tool calls.
        self._calls_by_response: dict[str, dict[str, ToolCall]] = {}
        self._tools_running = 0
        self._dtmf_seq = 0
        self.hold_until: float | None = None  # a wait effect holds the next response until then
        # Ending the call after something is heard.
        self._hangup_after_item: str | None = None
        self._pending_end: HangUp | Transfer | None = None
        self.end_deadline: float | None = None
        self._end_requested = False
        self._say_text: str | None = None  # the announcement sent, until its response is done
        self._say_response: str | None = None  # the announcement's response, while it runs
        self._queued_say: str | None = None  # an announcement waiting for the active response
        self._polite_reason: str | None = None

    @property
    def busy(self) -> bool:
        """A response is running or on its way, or tools have not answered yet."""
        return not self._free or self._tools_running > 0

    @property
    def _free(self) -> bool:
        """No response runs or is on its way, so a response.create would be accepted."""
        return self.active_response is None and not self._create_pending and not self._turn_reply_due

    # -- responses -------------------------------------------------------------------------------

    def request_response(self, ready: bool) -> None:
        """Ask for a response now, or as soon as the active one is done (never two at once)."""
        if self._free and ready:
            self._create(ResponseCreate(), None)
        else:
            self._response_wanted = True

    def say(self, text: str) -> None:
        """Say ``text`` verbatim (the greeting) now, or once the active response is done."""
        self._queued_say = text
        self._send_next()

    def upstream_opened(self) -> None:
        """A new upstream session has no response running or on its way; an announcement lost with the
        old one is said again."""
        self.active_response = None
        self._create_pending = False
        self._turn_reply_due = False
        if self._say_text is not None:
            self._queued_say = self._say_text
            self._say_text = None
            self._say_response = None

    def upstream_ready(self) -> None:
        """The upstream session is (again) ready: send what waited for it."""
        self._send_next()

    def response_created(self, response_id: str) -> None:
        self.active_response = response_id
        if self._create_pending and self._say_text is not None:
            self._say_response = response_id
        self._create_pending = False
        if self._turn_reply_due:
            # The server's answer to the caller's turn: it answers whatever was wanted before it.
            self._turn_reply_due = False
            self._response_wanted = False

    def create_rejected(self) -> None:
        """The last response.create was rejected because a response was active (the server's own, created
        just before): send it again once that one is done."""
        self._create_pending = False
        if self._say_text is not None:
            # The response taken for the announcement was that other one.
            self._queued_say = self._say_text
            self._say_text = None
            self._say_response = None
        elif not self._end_requested:
            self._response_wanted = True

    def function_call_done(self, event: ResponseFunctionCallArgumentsDone) -> None:
        if event.response_id is not None:
            calls = self._calls_by_response.setdefault(event.response_id, {})
            calls[event.call_id] = ToolCall(event.call_id, event.name or "", event.arguments)

    def response_done(self, response_id: str, response: dict[str, Any], now: float) -> None:
        """Run the response's function calls, or send the response that waited for this one."""
        if response_id == self.active_response:
            self.active_response = None
        details = response.get("status_details")
        if (
            response.get("status") == "cancelled"
            and isinstance(details, dict)
            and details.get("reason") == "turn_detected"
            and server_answers_turns(self.config)
        ):
            self._turn_reply_due = True
        output = [item for item in response.get("output") or () if isinstance(item, dict)]
        for item in output:
            if item.get("type") == "function_call" and isinstance(item.get("call_id"), str):
                # The item is the whole truth (beta's arguments.done carries no name).
                call_id = item["call_id"]
                calls = self._calls_by_response.setdefault(response_id, {})
                known = calls.get(call_id)
                calls[call_id] = ToolCall(
                    call_id,
                    str(item.get("name") or (known.name if known else "")),
                    str(item.get("arguments") or (known.arguments if known else "")),
                )
        if response_id == self._say_response and self._say_response:
            self._say_response = None
            self._say_text = None
            if self._pending_end is not None:
                # Remember the announcement's item: a barge-in during it cancels a pending transfer.
                self._hangup_after_item = next(
                    (item["id"] for item in output if item.get("type") == "message"), self._last_agent_item()
                )
        calls = self._calls_by_response.pop(response_id, {})
        if calls and response.get("status") == "completed":
            self._tools_running += 1
            self._out.emit(RunTools(tuple(calls.values())))
        else:
            self._send_next()
        self.maybe_finish(now)

    def _send_next(self) -> None:
        """Once no response runs or is on its way, send what waited: an announcement first, else a reply."""
        if not self._free:
            return
        if self._queued_say is not None:
            say, self._queued_say = self._queued_say, None
            self._create(say_exactly(say), say)
        elif self._response_wanted:
            self._response_wanted = False
            self._create(ResponseCreate(), None)

    def _create(self, event: ResponseCreate, say: str | None) -> None:
        self._out.send(event)
        self._create_pending = True
        self._say_text = say

    # -- tools -----------------------------------------------------------------------------------

    def run_dtmf_tool(self, tool: str) -> None:
        """Run the tool a key press is mapped to (with no arguments)."""
        self._dtmf_seq += 1
        self._tools_running += 1
        self._out.emit(RunTools((ToolCall(f"dtmf_{self._dtmf_seq}", tool, "{}", source="dtmf"),)))

    def tool_results(self, results: list[ToolResult], now: float, ready: bool) -> None:
        """Results of one RunTools batch: answer the model together, then carry out the effects."""
        self._tools_running = max(0, self._tools_running - 1)
        if self._out.ended:
            return
        answered = False
        hold_s = 0.0
        for result in results:
            self._out.note(
                "tool_call",
                now,
                {
                    "call_id": result.call_id,
                    "name": result.name,
                    "arguments": result.arguments,
                    "output": result.output,
                    "status": result.status,
                    "started_at_ms": result.started_at_ms,
                    "duration_ms": result.duration_ms,
                    "source": result.source,
                },
            )
            if result.source == "model":
                item = {"type": "function_call_output", "call_id": result.call_id, "output": result.output}
                self._out.send(ConversationItemCreate(item=item))
                answered = True
        ending = False
        for result in results:
            for effect in result.effects:
                if isinstance(effect, HangupEffect):
                    ending = True
                    self._end_after_speech(HangUp("agent_hangup"), effect.say, now)
                elif isinstance(effect, TransferEffect):
                    ending = True
                    self._end_after_speech(Transfer(effect.to), effect.say, now)
                elif isinstance(effect, SendDtmfEffect):
                    self._play(_DTMF_ITEM, dtmf_ulaw(effect.digits), now)
                elif isinstance(effect, WaitEffect):
                    hold_s = max(hold_s, effect.seconds)
        if ending or not answered:
            return
        if hold_s > 0:
            self.hold_until = now + hold_s * 1000
            return
        self.request_response(ready)

    def release_hold(self, now: float, ready: bool) -> None:
        """Once a wait effect's hold is over, ask for the response it held back."""
        if self.hold_until is not None and now >= self.hold_until:
            self.hold_until = None
            self.request_response(ready)

    # -- ending ----------------------------------------------------------------------------------

    def polite_end(self, reason: str, goodbye: str, now: float, ready: bool) -> None:
        """End the call for ``reason`` after saying ``goodbye`` (unless an ending is already under way)."""
        if self._end_requested:
            return
        self._polite_reason = reason
        self._end_after_speech(HangUp(reason), goodbye if ready else None, now)

    def caller_interrupted(self, muted_items: set[str], now: float) -> None:
        """After a barge-in: the caller talked over the transfer announcement, so they did not agree to be moved."""
        if isinstance(self._pending_end, Transfer) and self._hangup_after_item in muted_items:
            self._out.note("tool_call", now, {"event": "transfer_cancelled", "to": self._pending_end.to})
            self._pending_end = None
            self._hangup_after_item = None
            self.end_deadline = None
            self._end_requested = False

    def maybe_finish(self, now: float) -> None:
        """Hang up or transfer if everything the caller should hear first has been heard."""
        if self._pending_end is None or self._out.ended:
            return
        if self._queued_say is not None:
            self._send_next()
            return
        if not self._free or self._say_text is not None:
            return
        if not self._ledger.all_played:
            return
        self._finish(self._pending_end, now)

    def expire(self, now: float) -> bool:
        """Past the ending's grace deadline, hang up or transfer regardless; True if the call ended."""
        if self.end_deadline is None or now < self.end_deadline:
            return False
        self._finish(self._pending_end or HangUp(self._polite_reason or "hangup"), now)
        return True

    def _end_after_speech(self, command: HangUp | Transfer, say: str | None, now: float) -> None:
        """Hang up or transfer once the caller has heard ``say`` (if any) and everything before it."""
        self._pending_end = command
        self._end_requested = True
        self.end_deadline = now + self.config.goodbye_grace_s * 1000
        if say:
            self._hangup_after_item = None
            # The current reply (if any) finishes first; the announcement follows it, instead of a reply.
            self._response_wanted = False
            self._queued_say = say
        self.maybe_finish(now)

    def _finish(self, command: HangUp | Transfer, now: float) -> None:
        self._pending_end = None
        self._out.emit(SendToCaller(command))
        self._out.end("transfer" if isinstance(command, Transfer) else command.reason, now)

    def _last_agent_item(self) -> str | None:
        for seg in reversed(self._transcript.segments):
            if seg.speaker == "agent":
                return seg.item_id
        return None
