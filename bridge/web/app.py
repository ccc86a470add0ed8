"""The Starlette application factory."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge.config import Settings

__all__ = ["create_app"]


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    return JSONResponse({"ready": True})


def create_app(settings: Settings) -> Starlette:
    """Build the bridge's ASGI app from settings."""
    app = Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz)])
    app.state.settings = settings
    return app
