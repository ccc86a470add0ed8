"""Twilio's two entry points: the voice webhook (TwiML) and the media stream WebSocket.

``POST /twilio/voice`` answers an incoming call with ``<Connect><Stream>`` pointing at
``/twilio/media`` on the public host, carrying From, To and CallSid (and the chosen dialplan) as
``<Parameter>``s; it answers ``<Reject reason="busy"/>`` while the bridge is full or draining.
``WS /twilio/media`` runs one call per connection; its configuration and tools come from ``plan_call``
when set (the media stream's ``start`` names the dialplan), else they are the fixed ``call_config``
and ``tools``. With ``TWILIO_AUTH_TOKEN`` set both check
X-Twilio-Signature (shared PROTOCOLS.md C.4): the webhook answers 403 to a bad one, the socket
is closed with 1008. A socket that arrives while the bridge is full or draining is closed with
1013 (try again later) before any audio.

Public URLs: ``BRIDGE_PUBLIC_URL`` when set (the base at which these routes are reachable, e.g.
``https://bridge.example.com``); otherwise the request's own host, with X-Forwarded-Proto and
X-Forwarded-Host from a reverse proxy taking precedence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bridge.call.config import CallConfig
from bridge.call.recorder import CallRecorder
from bridge.call.runner import CallPlanner, CallRunner, NoteObserver, ToolExecutor, UpstreamConnector
from bridge.config import Settings
from bridge.telephony.twilio.rest import TwilioRest
from bridge.telephony.twilio.webhook import (
    twiml_connect_stream,
    twiml_reject,
    validate_signature,
    validate_websocket_upgrade,
)
from bridge.web.calls import CallRegistry

__all__ = ["MEDIA_PATH", "VOICE_PATH", "ChooseDialplan", "RecorderFactory", "StarletteMediaSocket", "TwilioRoutes"]

log = logging.getLogger(__name__)

VOICE_PATH = "/twilio/voice"
MEDIA_PATH = "/twilio/media"

ChooseDialplan = Callable[[str, str], str | None]
"""``(to, from) -> dialplan name`` for the call, or None to leave the choice to the media side."""

RecorderFactory = Callable[[], CallRecorder]
"""A new call's archive recorder."""

_WS_SCHEMES = {"https": "wss", "http": "ws"}
_CLOSE_POLICY = 1008
_CLOSE_TRY_AGAIN = 1013


def _no_dialplan(to: str, from_: str) -> str | None:
    return None


class StarletteMediaSocket:
    """A Starlette WebSocket as the runner's :class:`~bridge.call.runner.MediaSocket`."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket
        self._closed = False

    async def receive(self) -> str | bytes | None:
        if self._closed:
            return None
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            self._closed = True
            return None
        text: str | None = message.get("text")
        if text is not None:
            return text
        data: bytes = message.get("bytes") or b""
        return data

    async def send(self, text: str) -> None:
        if self._closed:
            return
        try:
            await self._ws.send_text(text)
        except (WebSocketDisconnect, OSError, RuntimeError):
            self._closed = True  # the receive side reports the disconnect

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._ws.close(code, reason)
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass


def _first(headers: Mapping[str, str], name: str) -> str | None:
    # A chain of proxies appends ("https, http"): the first entry is what the client used.
    value = headers.get(name)
    if not value:
        return None
    return value.split(",", 1)[0].strip() or None


@dataclass
class TwilioRoutes:
    """The Twilio routes and what they need; ``routes()`` gives them to the app."""

    settings: Settings
    calls: CallRegistry
    call_config: CallConfig
    connect_upstream: UpstreamConnector
    tools: ToolExecutor | None = None
    twilio: TwilioRest | None = None
    on_note: Sequence[NoteObserver] = ()
    choose_dialplan: ChooseDialplan = _no_dialplan
    recorders: RecorderFactory | None = None
    plan_call: CallPlanner | None = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route(VOICE_PATH, self.voice, methods=["POST"]),
            WebSocketRoute(MEDIA_PATH, self.media),
        ]

    # -- URLs ------------------------------------------------------------------------------------

    def _public_base(self, scheme: str, headers: Mapping[str, str]) -> str:
        """``scheme://host[/prefix]`` under which Twilio reaches this app."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        proto = (_first(headers, "x-forwarded-proto") or scheme).lower()
        host = _first(headers, "x-forwarded-host") or headers.get("host", "")
        return f"{proto}://{host}"

    def _stream_url(self, request: Request) -> str:
        base = self._public_base(request.url.scheme, request.headers)
        parts = urlsplit(base)
        # Twilio dials media streams over TLS only; a plain-http public URL maps to ws for local use.
        scheme = "ws" if self.settings.public_url and parts.scheme == "http" else "wss"
        return f"{scheme}://{parts.netloc}{parts.path}{MEDIA_PATH}"

    # -- POST /twilio/voice ------------------------------------------------------------------------

    async def voice(self, request: Request) -> Response:
        body = await request.body()
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        token = self.settings.twilio_auth_token
        if token:
            query = f"?{request.url.query}" if request.url.query else ""
            url = self._public_base(request.url.scheme, request.headers) + request.url.path + query
            signature = request.headers.get("x-twilio-signature", "")
            if not validate_signature(token, url, form, signature):
                log.warning("webhook: bad X-Twilio-Signature for %s", url)
                return Response("invalid signature", status_code=403, media_type="text/plain")
        if not self.calls.accepting:
            return Response(twiml_reject("busy"), media_type="text/xml")

        def field(name: str) -> str:
            return form.get(name, [""])[0]

        parameters = {"From": field("From"), "To": field("To"), "CallSid": field("CallSid")}
        dialplan = self.choose_dialplan(parameters["To"], parameters["From"])
        if dialplan is not None:
            parameters["dialplan"] = dialplan
        return Response(twiml_connect_stream(self._stream_url(request), parameters), media_type="text/xml")

    # -- WS /twilio/media --------------------------------------------------------------------------

    def _upgrade_signed(self, websocket: WebSocket, token: str) -> bool:
        query = dict(parse_qsl(websocket.url.query, keep_blank_values=True))
        headers = {key: value for key, value in websocket.headers.items()}
        if self.settings.public_url:
            parts = urlsplit(self.settings.public_url.rstrip("/"))
            url = f"{_WS_SCHEMES.get(parts.scheme, parts.scheme)}://{parts.netloc}{parts.path}{websocket.url.path}"
            return validate_signature(token, url, query, headers.get("x-twilio-signature", ""))
        host = headers.get("host", "")
        return validate_websocket_upgrade(token, websocket.url.scheme, host, websocket.url.path, query, headers)

    async def media(self, websocket: WebSocket) -> None:
        token = self.settings.twilio_auth_token
        if token and not self._upgrade_signed(websocket, token):
            log.warning("media stream: bad X-Twilio-Signature")
            await websocket.accept()
            await websocket.close(_CLOSE_POLICY, "invalid signature")
            return
        socket = StarletteMediaSocket(websocket)
        runner = CallRunner(
            socket,
            self.plan_call or self.call_config,
            self.connect_upstream,
            tools=None if self.plan_call else self.tools,
            twilio=self.twilio,
            on_note=self.on_note,
            recorder=self.recorders() if self.recorders is not None else None,
        )
        if not self.calls.admit(runner):
            await websocket.accept()
            await websocket.close(_CLOSE_TRY_AGAIN, "try again later")
            return
        try:
            await websocket.accept()
            reason = await runner.run()
            log.info("call %s ended: %s", runner.call_id, reason)
        finally:
            self.calls.release(runner)
