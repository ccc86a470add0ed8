"""The Starlette application factory: Twilio routes, health, readiness and metrics.

Routes: ``POST /twilio/voice`` and ``WS /twilio/media`` (``twilio_routes.py``), ``GET /healthz``
(the process is up), ``GET /readyz`` (200 while taking calls, 503 while draining), ``GET /metrics``
(Prometheus text), ``GET /dialplans`` (the loaded dialplans and the last refused reload, when the app
serves a :class:`~bridge.web.dialplans.LiveDialplans`), and the archive's REST API under ``/api``
(``bridge.archive.api``). The app's state
holds ``settings``, ``calls`` (the live-call registry, whose ``drain`` is the graceful-shutdown hook),
``metrics`` and ``archive`` (the store and writer, open while the app runs).

The lifespan opens the archive (``BRIDGE_DATABASE_URL``; SQLite's folder is created), starts its writer,
the post-call job worker (``/api/jobs``; OpenAI REST at BRIDGE_OPENAI_BASE_URL) and, with
``BRIDGE_RETENTION_DAYS`` > 0, the retention task; every call gets a
:class:`~bridge.call.recorder.CallRecorder` (recordings under ``BRIDGE_DATA_DIR``). At shutdown the
writer drains what the calls left before the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.archive.api import create_api_app
from bridge.archive.jobs import JOB_SCHEMAS, JobWorker, jobs_endpoints
from bridge.archive.retention import run_retention
from bridge.archive.store import ArchiveStore
from bridge.archive.writer import ArchiveWriter
from bridge.call.config import CallConfig
from bridge.call.recorder import CallRecorder
from bridge.call.runner import NoteObserver, ToolExecutor
from bridge.config import Settings
from bridge.dialplan.model import DEFAULT_INSTRUCTIONS
from bridge.openai_api import OpenAIClient
from bridge.realtime.session import SessionSettings
from bridge.realtime.transport import RealtimeTransport
from bridge.realtime.ws import WebSocketTransport
from bridge.telephony.twilio.rest import TwilioRest
from bridge.web.calls import CallRegistry
from bridge.web.dialplans import LiveDialplans
from bridge.web.metrics import CONTENT_TYPE, BridgeMetrics
from bridge.web.twilio_routes import ChooseDialplan, TwilioRoutes

__all__ = [
    "DEFAULT_GREETING",
    "LOCAL_ENGINE_KEY",
    "ArchiveParts",
    "create_app",
    "default_call_config",
    "engine_rest_url",
]

DEFAULT_GREETING = "Hello, thanks for calling. How can I help you today?"
LOCAL_ENGINE_KEY = "local-engine"
"""The Bearer token sent when OPENAI_API_KEY is not set: the bundled engine (in process, or a separate
``bridge engine`` at BRIDGE_REALTIME_URL) accepts any non-empty token unless given one."""
_RETENTION_INTERVAL_S = 3600.0


class ArchiveParts:
    """The archive while the app runs: store and writer, and the API (an ASGI app, mounted at ``/api``).

    The lifespan opens them; before that and after shutdown the API answers 503.
    """

    def __init__(self) -> None:
        self.store: ArchiveStore | None = None
        self.writer: ArchiveWriter | None = None
        self.api: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.api is None:
            error = {"code": "archive_unavailable", "message": "the archive is not open"}
            await JSONResponse({"error": error}, status_code=503)(scope, receive, send)
            return
        await self.api(scope, receive, send)


def default_call_config(settings: Settings) -> CallConfig:
    """The configuration of every call until dialplans choose one: the settings' model, dialect and audio mode."""
    session = SessionSettings(
        model=settings.realtime_model,
        instructions=DEFAULT_INSTRUCTIONS,
        audio_mode=settings.audio_mode,
    )
    return CallConfig(session=session, dialect=settings.realtime_dialect, greeting=DEFAULT_GREETING)


def engine_rest_url(realtime_url: str) -> str:
    """The REST base (``http://host:port/v1``) of the engine whose Realtime socket is ``realtime_url``."""
    base = realtime_url.split("?", 1)[0].removesuffix("/realtime")
    return "http" + base.removeprefix("ws") if base.startswith("ws") else base


def create_app(
    settings: Settings,
    *,
    engine_url: str | None = None,
    tool_executor: ToolExecutor | None = None,
    call_config: CallConfig | None = None,
    choose_dialplan: ChooseDialplan | None = None,
    on_note: Sequence[NoteObserver] = (),
    dialplans: LiveDialplans | None = None,
) -> Starlette:
    """Build the bridge's ASGI app.

    Args:
        settings: the process settings.
        engine_url: dial this Realtime URL (a bundled engine's) instead of ``settings``' upstream.
        tool_executor: runs tool calls; None answers every call with ``no tool named X``.
        call_config: the configuration of every call; None is :func:`default_call_config`.
        choose_dialplan: ``(to, from) -> dialplan name`` for the webhook's ``dialplan`` parameter.
        on_note: extra observers of every call's notes (metrics always observe).
        dialplans: the dialplans that configure each call (and its tools) and route the webhook;
            when given, ``tool_executor`` and ``call_config`` are not used. The app starts watching
            the folder at startup and closes it at shutdown.
    """
    calls = CallRegistry(settings.max_calls)
    archive = ArchiveParts()
    metrics = BridgeMetrics(calls, archive_writer=lambda: archive.writer)
    url = engine_url or settings.effective_realtime_url
    api_key = settings.openai_api_key or LOCAL_ENGINE_KEY
    # Post-call jobs use the same peer as the calls: a bundled engine serves the REST API beside its
    # Realtime socket (ws://host:port/v1/realtime -> http://host:port/v1).
    rest_url = settings.openai_base_url if engine_url is None else engine_rest_url(engine_url)
    dialect = settings.realtime_dialect
    default_model = settings.realtime_model

    async def connect_upstream(open_timeout: float, model: str | None) -> RealtimeTransport:
        return await WebSocketTransport.connect(
            url, api_key=api_key, dialect=dialect, model=model or default_model, open_timeout=open_timeout
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
    if dialplans is not None:
        twilio_routes.plan_call = dialplans.plan
        twilio_routes.choose_dialplan = dialplans.choose
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

    optional_routes: list[Route] = []
    if dialplans is not None:
        status = dialplans.status

        async def dialplans_route(request: Request) -> JSONResponse:
            return JSONResponse(status())

        optional_routes.append(Route("/dialplans", dialplans_route))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if dialplans is not None:
                dialplans.start()
                stack.push_async_callback(dialplans.aclose)
            if twilio is not None:
                stack.push_async_callback(twilio.aclose)
            store = await ArchiveStore.open(settings.database_url)
            stack.push_async_callback(store.close)
            writer = ArchiveWriter(store)
            writer.start()
            stack.push_async_callback(writer.close)  # drains what the calls left, before the store closes
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            archive.store, archive.writer = store, writer
            jobs = JobWorker(store, lambda: OpenAIClient(api_key, rest_url))
            await jobs.start()
            stack.push_async_callback(jobs.close)  # hands running jobs back before the writer and store close
            archive.api = create_api_app(
                store,
                api_token=settings.api_token,
                recordings_dir=settings.data_dir,
                extra_routes=jobs_endpoints(notify=jobs.wake),
                extra_schemas=JOB_SCHEMAS,
            )
            twilio_routes.recorders = partial(CallRecorder, writer, recordings_dir=settings.data_dir)
            if settings.retention_days > 0:
                retention = asyncio.create_task(run_retention(store, settings.retention_days, _RETENTION_INTERVAL_S))
                stack.push_async_callback(_cancel, retention)
            try:
                yield
            finally:
                twilio_routes.recorders = None
                archive.api = None

    app = Starlette(
        routes=[
            *twilio_routes.routes(),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_route),
            *optional_routes,
            Mount("/api", app=archive),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.calls = calls
    app.state.metrics = metrics
    app.state.archive = archive
    return app


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
