"""A running engine REST peer for integration tests: fake clock, fault plan, recorded client sleeps."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bridge.engine.config import Recognizer
from bridge.engine.rest import FaultPlan, RestLimits, create_rest_app
from bridge.openai_api import OpenAIClient
from bridge.web.asgi_server import serve_asgi

KEY = "sk-engine-test-0123456789"
START = 1_700_000_000.0


class Clock:
    """Unix time that moves only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Peer:
    url: str
    data_dir: Path
    clock: Clock
    faults: FaultPlan
    sleeps: list[float] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, key: str = KEY, **kwargs: Any) -> OpenAIClient:
        """A client whose waits between retries are recorded, not slept."""
        return OpenAIClient(key, self.base_url, sleep=self._sleep, **kwargs)

    def http(self, key: str | None = KEY) -> httpx.AsyncClient:
        """A raw HTTP client, to see exact statuses and bodies."""
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers)


@contextlib.asynccontextmanager
async def running_peer(
    data_dir: Path,
    *,
    batch_pace_s: float = 10.0,
    recognizer: Recognizer | None = None,
    limits: RestLimits | None = None,
) -> AsyncIterator[Peer]:
    clock = Clock()
    faults = FaultPlan()
    options: dict[str, Any] = {} if recognizer is None else {"recognizer": recognizer}
    app = create_rest_app(
        data_dir, api_key=KEY, batch_pace_s=batch_pace_s, clock=clock, faults=faults, limits=limits, **options
    )
    async with serve_asgi(app) as running:
        yield Peer(running.http_url, data_dir, clock, faults)
