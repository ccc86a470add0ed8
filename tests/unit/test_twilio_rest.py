from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from bridge.errors import UpstreamError
from bridge.telephony.twilio.rest import TwilioRest

AC = "AC9af211329b2fc82e5efe906062c73008"
CA = "CA7edb360f06acaef2cc80dba16cf563f1"
TOKEN = "f3b1c0ffee"
CALL_PATH = f"/2010-04-01/Accounts/{AC}/Calls/{CA}.json"
NOT_FOUND = {
    "code": 20404,
    "message": f"The requested resource {CALL_PATH} was not found",
    "more_info": "https://www.twilio.com/docs/errors/20404",
    "status": 404,
}


class FakeTwilio:
    """Records every request and answers with the configured response."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._respond = respond or (lambda request: httpx.Response(200, json={"sid": CA, "status": "completed"}))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._respond(request)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def _form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode(), keep_blank_values=True, strict_parsing=True)


def _check_envelope(request: httpx.Request, host: str = "api.twilio.com") -> None:
    assert request.method == "POST"
    assert request.url.scheme == "https"
    assert request.url.host == host
    assert request.url.raw_path.decode() == CALL_PATH
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{AC}:{TOKEN}".encode()).decode()
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


async def test_hang_up_posts_status_completed() -> None:
    fake = FakeTwilio()
    async with fake.client() as client:
        await TwilioRest(AC, TOKEN, client=client).hang_up(CA)
    [request] = fake.requests
    _check_envelope(request)
    assert _form(request) == {"Status": ["completed"]}


async def test_transfer_posts_dial_twiml_with_the_number_escaped() -> None:
    fake = FakeTwilio()
    async with fake.client() as client:
        rest = TwilioRest(AC, TOKEN, client=client)
        await rest.transfer(CA, "+15557654321")
        await rest.transfer(CA, "sip:a&b@example.com", caller_id="+15551230000")
    first, second = fake.requests
    _check_envelope(first)
    assert _form(first) == {"Twiml": ["<Response><Dial>+15557654321</Dial></Response>"]}
    assert _form(second) == {
        "Twiml": ['<Response><Dial callerId="+15551230000">sip:a&amp;b@example.com</Dial></Response>']
    }


async def test_update_returns_the_call_resource() -> None:
    call = {"sid": CA, "status": "in-progress", "account_sid": AC}
    fake = FakeTwilio(lambda request: httpx.Response(200, json=call))
    async with fake.client() as client:
        result = await TwilioRest(AC, TOKEN, client=client).update(CA, Url="https://b.example.com/x.xml", Method="POST")
    assert result == call
    assert _form(fake.requests[0]) == {"Url": ["https://b.example.com/x.xml"], "Method": ["POST"]}


async def test_regional_base_url_and_sids_are_confined_to_the_call_path() -> None:
    fake = FakeTwilio()
    async with fake.client() as client:
        rest = TwilioRest(AC, TOKEN, base_url="https://api.dublin.ie1.twilio.com/", client=client)
        await rest.hang_up(CA)
        await rest.hang_up("../../Messages/x?y=1#z")
    first, second = fake.requests
    _check_envelope(first, host="api.dublin.ie1.twilio.com")
    assert second.url.raw_path.decode() == f"/2010-04-01/Accounts/{AC}/Calls/..%2F..%2FMessages%2Fx%3Fy%3D1%23z.json"


@pytest.mark.parametrize(
    ("response", "status", "code", "text"),
    [
        (httpx.Response(404, json=NOT_FOUND), 404, "20404", "was not found"),
        (httpx.Response(400, json={"code": 21220, "message": "Call is not in-progress"}), 400, "21220", "in-progress"),
        (httpx.Response(401, json={"message": "Authenticate"}), 401, None, "Authenticate"),
        (httpx.Response(500, text="<html>oops</html>"), 500, None, "Internal Server Error"),
        (httpx.Response(503, content=b"\xff\xfe"), 503, None, "Service Unavailable"),
        (httpx.Response(502, json=["code", 1]), 502, None, "Bad Gateway"),
        (httpx.Response(200, text="not json"), 200, None, "not a JSON object"),
        (httpx.Response(200, json=[{"sid": CA}]), 200, None, "not a JSON object"),
    ],
)
async def test_refusals_become_upstream_errors(
    response: httpx.Response, status: int, code: str | None, text: str
) -> None:
    async with FakeTwilio(lambda request: response).client() as client:
        with pytest.raises(UpstreamError) as caught:
            await TwilioRest(AC, TOKEN, client=client).hang_up(CA)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert text in str(caught.value)
    assert str(status) in str(caught.value)


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")]
)
async def test_transport_failures_become_upstream_errors(error: httpx.HTTPError) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    async with FakeTwilio(fail).client() as client:
        with pytest.raises(UpstreamError) as caught:
            await TwilioRest(AC, TOKEN, client=client).transfer(CA, "+15557654321")
    assert caught.value.status is None and caught.value.code is None
    assert caught.value.__cause__ is error
    assert type(error).__name__ in str(caught.value)


async def test_timeout_is_applied_per_request() -> None:
    seen: list[dict[str, float | None]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, content=orjson.dumps({"sid": CA}))

    async with FakeTwilio(record).client() as client:
        await TwilioRest(AC, TOKEN, client=client, timeout_s=1.5).hang_up(CA)
    assert seen == [{"connect": 1.5, "read": 1.5, "write": 1.5, "pool": 1.5}]


async def test_owns_and_closes_its_client_but_not_an_injected_one() -> None:
    owned = TwilioRest(AC, TOKEN)
    inner = owned._client
    states = [inner.is_closed]
    async with owned:
        states.append(inner.is_closed)
    states.append(inner.is_closed)
    assert states == [False, False, True]

    async with FakeTwilio().client() as client:
        async with TwilioRest(AC, TOKEN, client=client) as shared:
            await shared.hang_up(CA)
        assert not client.is_closed
