"""The bridge's HTTP and WebSocket surface over real sockets: webhook, signatures, limits, health, drain."""

from __future__ import annotations

import asyncio

import httpx
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.twiml.voice_response import Connect, VoiceResponse  # type: ignore[import-untyped]

from bridge.call.config import CallConfig
from bridge.config import Settings
from bridge.sim.caller import Caller
from tests.integration._bridge import Stack, bridge_stack

TOKEN = "twilio-auth-token"
FORM = {"CallSid": "CA" + "1" * 32, "From": "+15551230000", "To": "+15557654321", "AccountSid": "AC" + "2" * 32}
QUIET = CallConfig(greeting="Hello.")


def connect_twiml(url: str, parameters: dict[str, str]) -> str:
    """What twilio's own TwiML builder writes for <Connect><Stream> with these parameters."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def busy_twiml() -> str:
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response)


async def post_voice(stack: Stack, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.bridge.http_url) as client:
        return await client.post("/twilio/voice", data=FORM, headers=headers or {})


async def get(stack: Stack, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.bridge.http_url) as client:
        return await client.get(path)


async def live_call(stack: Stack, **options: object) -> Caller:
    """A call that is up: the caller has heard the start of the greeting."""
    caller = Caller(stack.media_url, **options)  # type: ignore[arg-type]
    await caller.start()
    await caller.wait_for(lambda m: m.event == "media")
    return caller


async def test_webhook_answers_connect_stream_to_the_public_host() -> None:
    settings = Settings(public_url="https://bridge.example.com/")
    options = {"choose_dialplan": lambda to, from_: "sales" if to == FORM["To"] else None}
    async with bridge_stack(settings=settings, app_options=options) as stack:
        response = await post_voice(stack)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    parameters = {"From": FORM["From"], "To": FORM["To"], "CallSid": FORM["CallSid"], "dialplan": "sales"}
    assert response.text == connect_twiml("wss://bridge.example.com/twilio/media", parameters)


async def test_webhook_without_public_url_uses_the_forwarded_host() -> None:
    async with bridge_stack() as stack:
        response = await post_voice(stack, {"X-Forwarded-Host": "abc.ngrok.app", "X-Forwarded-Proto": "https"})
    parameters = {"From": FORM["From"], "To": FORM["To"], "CallSid": FORM["CallSid"]}
    assert response.text == connect_twiml("wss://abc.ngrok.app/twilio/media", parameters)


async def test_signatures_are_checked_on_webhook_and_media_socket_when_a_token_is_set() -> None:
    settings = Settings(twilio_auth_token=TOKEN)
    async with bridge_stack(settings=settings, call_config=QUIET) as stack:
        forged = await post_voice(stack, {"X-Twilio-Signature": "AAAA"})
        missing = await post_voice(stack)
        url = f"{stack.bridge.http_url}/twilio/voice"
        signed = await post_voice(stack, {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, FORM)})

        unsigned = await Caller(stack.media_url, seconds=1).run()
        wrong = await Caller(stack.media_url, auth_token="not-the-token", seconds=1).run()
        caller = await live_call(stack, auth_token=TOKEN)
        good = await caller.hangup()

    assert (forged.status_code, missing.status_code, signed.status_code) == (403, 403, 200)
    assert "<Connect><Stream" in signed.text
    assert (unsigned.close_code, unsigned.received) == (1008, ())
    assert (wrong.close_code, wrong.received) == (1008, ())
    assert good.close_code == 1000 and any(m.event == "media" for m in good.received)
    assert stack.calls.end_reasons == {"caller_hangup": 1}


async def test_max_calls_rejects_new_calls_on_the_webhook_and_the_socket() -> None:
    async with bridge_stack(settings=Settings(max_calls=1), call_config=QUIET) as stack:
        first = await live_call(stack)
        busy = await post_voice(stack)
        refused = await Caller(stack.media_url, seconds=1).run()
        await first.hangup()
        await stack.calls.wait_empty()
        free = await post_voice(stack)

    assert busy.text == busy_twiml()
    assert (refused.ended_by, refused.close_code, refused.close_reason) == ("server", 1013, "try again later")
    assert refused.received == ()
    assert "<Connect><Stream" in free.text
    assert stack.calls.end_reasons == {"caller_hangup": 1}


async def test_health_readiness_and_metrics() -> None:
    async with bridge_stack(call_config=QUIET) as stack:
        health = await get(stack, "/healthz")
        ready = await get(stack, "/readyz")
        caller = await live_call(stack)
        metrics = await get(stack, "/metrics")
        await caller.hangup()

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"ready": True, "live_calls": 0})
    assert metrics.status_code == 200
    assert metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE bridge_active_calls gauge\nbridge_active_calls 1\n" in metrics.text
    assert "# TYPE bridge_response_latency_seconds histogram\n" in metrics.text


async def test_drain_refuses_new_calls_and_lets_live_ones_finish() -> None:
    async with bridge_stack(call_config=QUIET) as stack:
        caller = await live_call(stack)
        # The drain's first step (before the request below gets anywhere) marks the registry draining.
        drain = asyncio.create_task(stack.calls.drain(30))
        ready = await get(stack, "/readyz")
        busy = await post_voice(stack)
        refused = await Caller(stack.media_url, seconds=1).run()
        result = await caller.hangup()
        async with asyncio.timeout(5):
            ended_by_shutdown = await drain

    assert (ready.status_code, ready.json()) == (503, {"ready": False, "reason": "draining"})
    assert busy.text == busy_twiml()
    assert refused.close_code == 1013
    assert (result.ended_by, result.close_code) == ("hangup", 1000)
    assert ended_by_shutdown == 0
    assert stack.calls.end_reasons == {"caller_hangup": 1}


async def test_drain_ends_calls_still_live_after_the_drain_time() -> None:
    async with bridge_stack(call_config=QUIET) as stack:
        caller = await live_call(stack)
        ended_by_shutdown = await stack.calls.drain(0.2)
        result = await caller.wait_closed()

    assert ended_by_shutdown == 1
    assert (result.ended_by, result.close_code) == ("server", 1000)
    assert stack.calls.end_reasons == {"shutdown": 1}
