"""TwilioRest against a fake Twilio REST server on a real loopback socket."""

from __future__ import annotations

import base64
import socket
from dataclasses import dataclass
from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge.errors import UpstreamError
from bridge.telephony.twilio.rest import TwilioRest
from bridge.web.asgi_server import serve_asgi

AC = "AC9af211329b2fc82e5efe906062c73008"
CA = "CA7edb360f06acaef2cc80dba16cf563f1"
CA_GONE = "CA00000000000000000000000000000000"
CA_BROKEN = "CAffffffffffffffffffffffffffffffff"
TOKEN = "f3b1c0ffee"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str
    content_type: str
    form: dict[str, list[str]]


def fake_twilio(seen: list[Seen]) -> Starlette:
    """Answers call updates the way api.twilio.com does, including its error bodies."""

    async def update_call(request: Request) -> JSONResponse:
        # Parsed by hand: Starlette's form parser needs python-multipart, which the project does not use.
        form = parse_qs((await request.body()).decode(), keep_blank_values=True, strict_parsing=True)
        seen.append(
            Seen(
                method=request.method,
                path=request.url.path,
                authorization=request.headers.get("authorization", ""),
                content_type=request.headers.get("content-type", ""),
                form=form,
            )
        )
        expected = "Basic " + base64.b64encode(f"{AC}:{TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        call_sid = request.path_params["call_sid"]
        if call_sid == CA_BROKEN:
            return JSONResponse({"message": "internal"}, status_code=500)
        if call_sid != CA:
            body = {
                "code": 20404,
                "message": f"The requested resource {request.url.path} was not found",
                "more_info": "https://www.twilio.com/docs/errors/20404",
                "status": 404,
            }
            return JSONResponse(body, status_code=404)
        status = form.get("Status", ["in-progress"])[0]
        return JSONResponse({"sid": CA, "account_sid": AC, "status": status})

    return Starlette(
        routes=[Route("/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json", update_call, methods=["POST"])]
    )


async def test_hang_up_and_transfer_reach_a_real_server() -> None:
    seen: list[Seen] = []
    async with serve_asgi(fake_twilio(seen)) as running, TwilioRest(AC, TOKEN, base_url=running.http_url) as rest:
        await rest.hang_up(CA)
        await rest.transfer(CA, "+15557654321", caller_id="+15551230000")
        assert (await rest.update(CA, Status="completed"))["status"] == "completed"
    auth = "Basic " + base64.b64encode(f"{AC}:{TOKEN}".encode()).decode()
    path = f"/2010-04-01/Accounts/{AC}/Calls/{CA}.json"
    form = "application/x-www-form-urlencoded"
    assert seen == [
        Seen("POST", path, auth, form, {"Status": ["completed"]}),
        Seen(
            "POST",
            path,
            auth,
            form,
            {"Twiml": ['<Response><Dial callerId="+15551230000">+15557654321</Dial></Response>']},
        ),
        Seen("POST", path, auth, form, {"Status": ["completed"]}),
    ]


@pytest.mark.parametrize(
    ("token", "call_sid", "status", "code"),
    [
        (TOKEN, CA_GONE, 404, "20404"),
        (TOKEN, CA_BROKEN, 500, None),
        ("wrong", CA, 401, "20003"),
    ],
)
async def test_server_refusals_map_to_upstream_errors(token: str, call_sid: str, status: int, code: str | None) -> None:
    async with serve_asgi(fake_twilio([])) as running, TwilioRest(AC, token, base_url=running.http_url) as rest:
        with pytest.raises(UpstreamError) as caught:
            await rest.hang_up(call_sid)
    assert (caught.value.status, caught.value.code) == (status, code)


async def test_connection_refused_maps_to_upstream_error() -> None:
    # A bound socket that never listens: the kernel refuses connections to its port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with TwilioRest(AC, TOKEN, base_url=f"http://127.0.0.1:{port}") as rest:
            with pytest.raises(UpstreamError) as caught:
                await rest.hang_up(CA)
    assert caught.value.status is None
    assert "ConnectError" in str(caught.value)
