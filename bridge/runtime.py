"""Process-level runtime choices for the long-running commands: the event loop and the heap.

``run`` drives a coroutine on uvloop when it is installed (a dependency on Linux and macOS): the
relay's per-frame cost is mostly event-loop machinery (wake-ups, futures, transports), which
uvloop runs in C. ``BRIDGE_EVENT_LOOP=asyncio`` forces the standard loop, e.g. to rule uvloop out
while debugging.

``settle_heap`` is called once a server has finished importing and building its app. It moves
every object alive then (numpy, scipy, SQLAlchemy, Starlette: over 100,000 of them) into the
collector's permanent generation, so a full collection only walks what calls allocated since.
Without it, each generation-2 collection under load paused every live call for 80-134 ms
(docs/benchmarks.md, "Relay").
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from bridge.config import environment
from bridge.errors import ConfigError

__all__ = ["EventLoopKind", "event_loop_kind", "run", "settle_heap"]

T = TypeVar("T")

EventLoopKind = Literal["uvloop", "asyncio"]


def event_loop_kind() -> EventLoopKind:
    """``uvloop`` when it is importable and not switched off by ``BRIDGE_EVENT_LOOP=asyncio``."""
    wanted = environment().get("BRIDGE_EVENT_LOOP", "") or "auto"
    if wanted not in ("auto", "uvloop", "asyncio"):
        raise ConfigError(f"BRIDGE_EVENT_LOOP must be 'auto', 'uvloop' or 'asyncio', got {wanted!r}")
    if wanted == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if wanted == "uvloop":
            raise ConfigError("BRIDGE_EVENT_LOOP=uvloop but uvloop is not installed") from None
        return "asyncio"
    return "uvloop"


def _loop_factory(kind: EventLoopKind) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if kind == "asyncio":
        return None
    import uvloop

    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], *, kind: EventLoopKind | None = None) -> T:
    """``asyncio.run(main)`` on the chosen loop (default: :func:`event_loop_kind`)."""
    factory = _loop_factory(kind or event_loop_kind())
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def settle_heap() -> None:
    """Collect once, then exempt everything alive from later collections (see the module docstring)."""
    gc.collect()
    gc.freeze()
