"""The Starlette application factory: Twilio routes, health, readiness and metrics.

Routes: ``POST /twilio/voice`` and ``WS /twilio/media`` (``twilio_routes.py``), ``GET /healthz``
(the process is up), ``GET /readyz`` (200 while taking calls, 503 while draining), ``GET /metrics``
(Prometheus text). The app's state holds ``settings``, ``calls`` (the live-call registry, whose
``drain`` is the graceful-shutdown hook) and ``metrics``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.call.config import CallConfig
from bridge.call.runner import NoteObserver, ToolExecutor
from bridge.config import Settings
from bridge.dialplan.model import DEFAULT_INSTRUCTIONS
from bridge.realtime.session import SessionSettings
from bridge.realtime.transport import RealtimeTransport
from bridge.realtime.ws import WebSocketTransport
from bridge.telephony.twilio.rest import TwilioRest
from bridge.web.calls import CallRegistry
from bridge.web.metrics import CONTENT_TYPE, BridgeMetrics
from bridge.web.twilio_routes import ChooseDialplan, TwilioRoutes

__all__ = ["DEFAULT_GREETING", "LOCAL_ENGINE_KEY", "create_app", "default_call_config"]

DEFAULT_GREETING = "Hello, thanks for calling. How can I help you today?"
LOCAL_ENGINE_KEY = "local-engine"
"""The Bearer token sent when OPENAI_API_KEY is not set: the bundled engine (in process, or a separate
``bridge engine`` at BRIDGE_REALTIME_URL) accepts any non-empty token unless given one."""


def default_call_config(settings: Settings) -> CallConfig:
    """The configuration of every call until dialplans choose one: the settings' model, dialect and audio mode."""
    session = SessionSettings(
        model=settings.realtime_model,
        instructions=DEFAULT_INSTRUCTIONS,
        audio_mode=settings.audio_mode,
    )
    return CallConfig(session=session, dialect=settings.realtime_dialect, greeting=DEFAULT_GREETING)


def create_app(
    settings: Settings,
    *,
    engine_url: str | None = None,
    tool_executor: ToolExecutor | None = None,
    call_config: CallConfig | None = None,
    choose_dialplan: ChooseDialplan | None = None,
    on_note: Sequence[NoteObserver] = (),
) -> Starlette:
    """Build the bridge's ASGI app.

    Args:
        settings: the process settings.
        engine_url: dial this Realtime URL (a bundled engine's) instead of ``settings``' upstream.
        tool_executor: runs tool calls; None answers every call with ``no tool named X``.
        call_config: the configuration of every call; None is :func:`default_call_config`.
        choose_dialplan: ``(to, from) -> dialplan name`` for the webhook's ``dialplan`` parameter.
        on_note: extra observers of every call's notes (metrics always observe).
    """
    calls = CallRegistry(settings.max_calls)
    metrics = BridgeMetrics(calls)
    url = engine_url or settings.effective_realtime_url
    api_key = settings.openai_api_key or LOCAL_ENGINE_KEY
    dialect = settings.realtime_dialect
    model = settings.realtime_model

    async def connect_upstream(open_timeout: float) -> RealtimeTransport:
        return await WebSocketTransport.connect(
            url, api_key=api_key, dialect=dialect, model=model, open_timeout=open_timeout
        )

    twilio: TwilioRest | None = None
    if settings.twilio_account_sid and settings.twilio_auth_token:
        twilio = TwilioRest(settings.twilio_account_sid, settings.twilio_auth_token, base_url=settings.twilio_api_url)

    twilio_routes = TwilioRoutes(
        settings=settings,
        calls=calls,
        call_config=call_config or default_call_config(settings),
        connect_upstream=connect_upstream,
        tools=tool_executor,
        twilio=twilio,
        on_note=(metrics.observe_note, *on_note),
    )
    if choose_dialplan is not None:
        twilio_routes.choose_dialplan = choose_dialplan

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        if calls.draining:
            return JSONResponse({"ready": False, "reason": "draining"}, status_code=503)
        return JSONResponse({"ready": True, "live_calls": len(calls.live)})

    async def metrics_route(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if twilio is not None:
                await twilio.aclose()

    app = Starlette(
        routes=[
            *twilio_routes.routes(),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_route),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.calls = calls
    app.state.metrics = metrics
    return app
