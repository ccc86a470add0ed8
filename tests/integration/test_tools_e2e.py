"""Tools end to end, configured by a dialplan folder: caller sim <-> bridge (LiveDialplans) <-> engine scenario.

The engine's scenario makes the function calls (``calls`` puts several in one response, as a model's
parallel calls); the bridge answers them with the dialplan's static, HTTP (a loopback service),
python and builtin tools; builtins act on the call (DTMF tones, hang-up, transfer through a loopback
fake of Twilio's REST API).
"""

from __future__ import annotations

import asyncio
import base64
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.audio.dtmf import dtmf_ulaw
from bridge.config import Settings
from bridge.engine.config import EngineConfig
from bridge.engine.scenario import Call, Calls, Say, Scenario
from bridge.sim.caller import Caller
from bridge.web.asgi_server import serve_asgi
from bridge.web.dialplans import LiveDialplans
from tests.integration._bridge import Stack, bridge_stack, ulaw_audio

ACCOUNT = "AC" + "b" * 32
TOKEN = "twilio-secret"
SILENCE = b"\xff"
MS = 8  # mu-law bytes per millisecond
ORDER_ANSWER = b'{"order_id": "A-1", "status": "shipped"}'  # spaced: the model must get it as sent


def explode() -> str:
    """Fails like a buggy tool."""
    raise RuntimeError("the order database is down")


async def slow() -> str:
    """Never answers in time."""
    await asyncio.sleep(30)
    return "too late"


TOOLS = textwrap.dedent(
    """\
    name: default
    greeting: null
    turn_detection: null
    tools:
      - name: opening_hours
        static: "Monday to Friday, 9 to 5"
      - name: lookup_order
        parameters: {type: object, properties: {order_id: {type: string}}, required: [order_id]}
        http: {url: "${ORDERS_URL}", method: POST, timeout_s: 5}
      - name: free_slots
        python: "bridge.tools.examples:free_slots"
        parameters: {type: object, properties: {day: {type: string}}, required: [day]}
      - {name: explode, python: "tests.integration.test_tools_e2e:explode"}
      - {name: slow, python: "tests.integration.test_tools_e2e:slow", timeout_s: 0.2}
      - {name: press_keys, builtin: send_dtmf}
      - {name: end_call, builtin: hangup, say: "Goodbye, and thanks for calling."}
    """
)

TRANSFER = textwrap.dedent(
    """\
    name: default
    greeting: null
    turn_detection: {{type: server_vad}}
    dtmf: {{"0": transfer_to_human}}
    tools:
      - name: transfer_to_human
        builtin: transfer
        to: "+15557654321"
        say: "{say}"
    """
)


@dataclass
class Seen:
    """Requests a loopback fake received: (path, headers, body)."""

    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


@asynccontextmanager
async def loopback(path: str, answer: Response) -> AsyncIterator[tuple[str, Seen]]:
    """A loopback HTTP service answering POST ``path`` with ``answer``, recording each request."""
    seen = Seen()

    async def handle(request: Request) -> Response:
        seen.requests.append((request.url.path, dict(request.headers), await request.body()))
        return answer

    async with serve_asgi(Starlette(routes=[Route(path, handle, methods=["POST"])])) as server:
        yield server.http_url, seen


def fake_twilio() -> Any:
    """Twilio's call-update endpoint (``POST /2010-04-01/Accounts/{AC}/Calls/{CA}.json``)."""
    return loopback("/2010-04-01/Accounts/{account}/Calls/{call}.json", JSONResponse({"status": "completed"}))


def dialplans(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> LiveDialplans:
    (tmp_path / "default.yaml").write_text(text)
    return LiveDialplans(tmp_path, Settings(), env=env or {})


def audio_of(stack: Stack, transcript: str) -> bytes:
    """The agent audio the engine sent for the message whose transcript is ``transcript``."""
    log = stack.engine.sessions[-1].log
    (item,) = [e["item_id"] for e in log.sent("response.output_audio_transcript.done") if e["transcript"] == transcript]
    return b"".join(
        base64.b64decode(e["delta"]) for e in log.sent("response.output_audio.delta") if e["item_id"] == item
    )


async def test_one_response_calling_every_kind_of_tool_is_answered_together_and_the_call_goes_on(
    tmp_path: Path,
) -> None:
    turns = (
        (
            Calls(
                (
                    Call("opening_hours"),
                    Call("lookup_order", {"order_id": "A-1"}),
                    Call("free_slots", {"day": "monday"}),
                    Call("explode"),
                    Call("slow"),
                    Call("free_slots", {"day": 5}),
                    Call("press_keys", {"digits": "12#"}),
                )
            ),
            Say("All done."),
        ),
        (Call("end_call"),),
    )
    answer = Response(ORDER_ANSWER, media_type="application/json")
    async with loopback("/orders", answer) as (orders_url, orders):
        live = dialplans(tmp_path, TOOLS, {"ORDERS_URL": f"{orders_url}/orders"})
        engine = EngineConfig(pace=0, scenario=Scenario(turns=turns))
        async with bridge_stack(engine=engine, app_options={"dialplans": live}) as stack:
            async with asyncio.timeout(15):
                # Unmapped keys reach the model as text; each starts the scenario's next turn.
                result = await Caller(stack.media_url, dtmf=[("5", 0.1), ("6", 1.5)]).run()
                await stack.calls.wait_empty()
            session = stack.engine.sessions[-1]
            goodbye = audio_of(stack, "Goodbye, and thanks for calling.")

    received = session.log.received("conversation.item.create", "response.create")
    key_press = received[0]["item"]
    assert key_press["content"] == [{"type": "input_text", "text": "[caller pressed 5]"}]
    assert received[1]["type"] == "response.create"
    # Seven outputs, then one response.create: the batch is answered together.
    assert [e["type"] for e in received[2:10]] == ["conversation.item.create"] * 7 + ["response.create"]
    (batch,) = [e["response"]["output"] for e in session.log.sent("response.done") if len(e["response"]["output"]) == 7]
    names = {item["call_id"]: item["name"] for item in batch}
    outputs = [(names[e["item"]["call_id"]], e["item"]["output"]) for e in received[2:9]]
    assert outputs == [
        ("opening_hours", '"Monday to Friday, 9 to 5"'),
        ("lookup_order", ORDER_ANSWER.decode()),
        ("free_slots", '{"day":"Monday","slots":["09:00","10:30","14:00","15:30"]}'),
        ("explode", '{"error":"the tool failed: RuntimeError: the order database is down"}'),
        ("slow", '{"error":"the tool \'slow\' did not finish within 0.2 s"}'),
        ("free_slots", '{"error":"invalid arguments: $.day: 5 is not of type \'string\'"}'),
        ("press_keys", '{"ok":true,"status":"sent","digits":"12#"}'),
    ]
    ((path, headers, body),) = orders.requests
    assert (path, headers["content-type"], orjson.loads(body)) == ("/orders", "application/json", {"order_id": "A-1"})
    tool_notes = [(n.data["name"], n.data["status"]) for n in stack.notes if n.kind == "tool_call"]
    assert tool_notes[:7] == [
        ("opening_hours", "ok"),
        ("lookup_order", "ok"),
        ("free_slots", "ok"),
        ("explode", "error"),
        ("slow", "timeout"),
        ("free_slots", "error"),
        ("press_keys", "ok"),
    ]
    # The call went on: the model answered, and the next key press got the next turn (a hang-up).
    transcripts = [e["transcript"] for e in session.log.sent("response.output_audio_transcript.done")]
    assert transcripts == ["All done.", "Goodbye, and thanks for calling."]
    assert tool_notes[7:] == [("end_call", "ok")]
    assert dtmf_ulaw("12#") in result.heard, "the keys were played to the caller"
    # The bridge hung up once the caller had heard the whole goodbye.
    assert (result.ended_by, result.pending_marks) == ("server", ())
    assert result.heard.rstrip(SILENCE).endswith(goodbye.rstrip(SILENCE))
    assert stack.calls.end_reasons == {"agent_hangup": 1}


async def test_the_transfer_builtin_is_announced_then_done_through_twilios_rest_api(tmp_path: Path) -> None:
    live = dialplans(tmp_path, TRANSFER.format(say="Transferring you now."))
    scenario = Scenario(turns=((Call("transfer_to_human"),),))
    async with fake_twilio() as (api_url, twilio):
        settings = Settings(twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN, twilio_api_url=api_url)
        engine = EngineConfig(pace=0, scenario=scenario)
        async with bridge_stack(engine=engine, settings=settings, app_options={"dialplans": live}) as stack:
            async with asyncio.timeout(15):
                caller = Caller(stack.media_url, auth_token=TOKEN, dtmf=[("5", 0.1)])
                result = await caller.run()
                await stack.calls.wait_empty()
            session = stack.engine.sessions[-1]
            announcement = audio_of(stack, "Transferring you now.")

    key_press, output = [e["item"] for e in session.log.received("conversation.item.create")]
    assert key_press["content"] == [{"type": "input_text", "text": "[caller pressed 5]"}]
    assert output["output"] == '{"ok":true,"status":"transferring"}'
    ((path, headers, body),) = twilio.requests
    assert path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{result.ids.call_sid}.json"
    assert parse_qs(body.decode()) == {"Twiml": ["<Response><Dial>+15557654321</Dial></Response>"]}
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["authorization"] == "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert result.pending_marks == () and result.heard.rstrip(SILENCE).endswith(announcement.rstrip(SILENCE))
    assert stack.calls.end_reasons == {"transfer": 1}


async def test_talking_over_the_transfer_announcement_cancels_the_transfer(tmp_path: Path, shared_audio: Path) -> None:
    say = "Let me put you through to a person now, so please hold the line for a moment."  # about 5 s
    live = dialplans(tmp_path, TRANSFER.format(say=say))
    engine = EngineConfig(pace=0, scenario=Scenario(fallback=("Of course, what else can I do?",)))
    # Key 0 (mapped to the transfer) at 0.1 s; the caller talks over the announcement from 1.5 s.
    speech = SILENCE * 1500 * MS + ulaw_audio(shared_audio / "caller-interrupt.wav")[: 1500 * MS]
    async with fake_twilio() as (api_url, twilio):
        settings = Settings(twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN, twilio_api_url=api_url)
        async with bridge_stack(engine=engine, settings=settings, app_options={"dialplans": live}) as stack:
            async with asyncio.timeout(15):
                async with Caller(stack.media_url, audio=speech, auth_token=TOKEN, dtmf=[("0", 0.1)]) as caller:
                    await caller.wait_for_clear()

                    def answered() -> bool:
                        log = stack.engine.sessions[-1].log
                        done = [e["transcript"] for e in log.sent("response.output_audio_transcript.done")]
                        return "Of course, what else can I do?" in done

                    await stack.engine.wait_until(answered)
                result = await caller.wait_closed()
                await stack.calls.wait_empty()
            session = stack.engine.sessions[-1]

    assert twilio.requests == [], "no transfer"
    (announcement,) = [e["item"]["id"] for e in session.log.sent("response.output_item.added")][:1]
    (truncate,) = session.log.received("conversation.item.truncate")
    assert truncate["item_id"] == announcement and truncate["audio_end_ms"] < len(say) * 65
    tool_notes = [n.data for n in stack.notes if n.kind == "tool_call"]
    assert [(n.get("name"), n.get("source"), n.get("status")) for n in tool_notes[:1]] == [
        ("transfer_to_human", "dtmf", "ok")
    ]
    assert {"event": "transfer_cancelled", "to": "+15557654321"} in tool_notes
    assert result.ended_by == "hangup"
    assert stack.calls.end_reasons == {"caller_hangup": 1}
