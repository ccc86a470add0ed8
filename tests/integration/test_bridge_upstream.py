"""The upstream leg going away mid-call: a dropped connection, a failed retry, a session renewal."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

from bridge.call.config import CallConfig
from bridge.engine.config import EngineConfig
from bridge.engine.scenario import Say, Scenario
from bridge.engine.session import EngineSession
from bridge.sim.caller import Caller
from tests.integration._bridge import Stack, UpstreamProxy, bridge_stack, ulaw_audio

GREETING = "Hello."
REPLY = "Nine to five."
SILENCE = b"\xff"
MS = 8


def engine_config(**options: Any) -> EngineConfig:
    return EngineConfig(pace=0, scenario=Scenario(turns=((Say(REPLY),),)), **options)


def session_update(session: EngineSession) -> dict[str, Any]:
    (update,) = session.log.received("session.update")
    settings: dict[str, Any] = update["session"]
    return settings


def spoke(session: EngineSession) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in session.log.sent("response.output_audio.delta"))


def heard(caller: Caller) -> bytes:
    return b"".join(base64.b64decode(m.json["media"]["payload"]) for m in caller.received if m.event == "media")


async def greeting_heard(stack: Stack, caller: Caller) -> None:
    def done() -> bool:
        sessions = stack.engine.sessions
        return (
            bool(sessions and sessions[0].log.sent("response.done"))
            and len(caller.marks) > 0
            and (len(caller.marks) == sum(1 for m in caller.received if m.event == "mark"))
        )

    await caller.wait_until(done)


async def test_dropped_upstream_is_retried_within_the_window_and_the_call_goes_on(shared_audio: Path) -> None:
    proxy = UpstreamProxy()
    speech = SILENCE * 1200 * MS + ulaw_audio(shared_audio / "caller-yes.wav")
    async with bridge_stack(engine=engine_config(), call_config=CallConfig(greeting=GREETING), proxy=proxy) as stack:
        async with asyncio.timeout(15):
            async with Caller(stack.media_url, audio=speech) as caller:
                await greeting_heard(stack, caller)
                cut_at = time.time()
                proxy.cut()
                await stack.engine.wait_until(lambda: len(stack.engine.sessions) == 2)
                second = stack.engine.sessions[1]
                await stack.engine.wait_until(lambda: bool(second.log.sent("response.done")))
                await caller.wait_until(lambda: heard(caller).endswith(spoke(second)))
            await stack.calls.wait_empty()
        first = stack.engine.sessions[0]

    assert second.started_at - cut_at < 2.0
    assert [e["transcript"] for e in second.log.sent("response.output_audio_transcript.done")] == [REPLY]
    assert heard(caller) == spoke(first) + spoke(second)
    instructions = session_update(second)["instructions"]
    assert "already in progress" in instructions and f"Agent: {GREETING}" in instructions
    assert stack.calls.end_reasons == {"caller_hangup": 1}
    assert 'bridge_upstream_errors_total{code="1006"} 1\n' in stack.app.state.metrics.render()


async def test_upstream_lost_twice_ends_the_call_cleanly() -> None:
    proxy = UpstreamProxy()
    async with bridge_stack(engine=engine_config(), call_config=CallConfig(greeting=GREETING), proxy=proxy) as stack:
        async with asyncio.timeout(10):
            caller = Caller(stack.media_url)
            await caller.start()
            await greeting_heard(stack, caller)
            await proxy.refuse()
            cut_at = asyncio.get_running_loop().time()
            proxy.cut()
            result = await caller.wait_closed()
            ended_after = asyncio.get_running_loop().time() - cut_at
            await stack.calls.wait_empty()

    assert (result.ended_by, result.close_code) == ("server", 1000)
    assert ended_after < 2.0
    assert stack.calls.end_reasons == {"upstream_unavailable": 1}
    metrics = stack.app.state.metrics.render()
    assert 'bridge_upstream_errors_total{code="1006"} 1\n' in metrics
    assert 'bridge_upstream_errors_total{code="unreachable"} 1\n' in metrics
    errors = [n.data for n in stack.notes if n.kind == "error"]
    assert [e["source"] for e in errors] == ["upstream", "upstream"]


async def test_call_survives_a_session_renewal_with_the_same_configuration(shared_audio: Path) -> None:
    # Renewal is due 6.5 s before the 8 s limit (whole-second expires_at: 0.5-1.5 s into a session) and
    # waits for a quiet moment; only the last 5 s would force it.
    engine = engine_config(session_limit_s=8.0)
    config = CallConfig(greeting=GREETING, upstream_session_s=8.0, renew_margin_s=6.5)
    speech = SILENCE * 2000 * MS + ulaw_audio(shared_audio / "caller-yes.wav")
    async with bridge_stack(engine=engine, call_config=config) as stack:
        async with asyncio.timeout(15):
            async with Caller(stack.media_url, audio=speech) as caller:

                def renewed_reply() -> EngineSession | None:
                    # Quiet sessions renew about once a second here: whichever renewed session heard the caller.
                    return next((s for s in list(stack.engine.sessions)[1:] if s.log.sent("response.done")), None)

                await stack.engine.wait_until(lambda: renewed_reply() is not None)
                second = renewed_reply()
                assert second is not None
                await caller.wait_until(lambda: heard(caller).endswith(spoke(second)))
            await stack.calls.wait_empty()
        first = stack.engine.sessions[0]

    # The bridge moved before the engine's limit: the first session never expired, it was closed by us.
    assert not [e for e in first.log.sent("error") if e["error"]["code"] == "session_expired"]
    assert first.closed
    before, after = session_update(first), session_update(second)
    carried = after.pop("instructions")
    assert carried.startswith(before.pop("instructions"))
    assert after == before, "the new session has the same configuration"
    assert "already in progress" in carried and f"Agent: {GREETING}" in carried
    assert not second.log.received("response.create"), "no second greeting"
    assert [e["transcript"] for e in second.log.sent("response.output_audio_transcript.done")] == [REPLY]
    assert stack.calls.end_reasons == {"caller_hangup": 1}
    assert "bridge_upstream_errors_total{" not in stack.app.state.metrics.render()
