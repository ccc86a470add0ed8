"""The seam between a call and its Realtime session: any transport that moves typed events.

A call runner only ever holds a ``RealtimeTransport``; the WebSocket implementation is
``realtime/ws.py`` (a WebRTC one can sit beside it). Events are the typed, GA-shaped dataclasses
of ``realtime/events.py``: the dialect stays inside the transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from bridge.realtime.events import ClientEvent, ServerEvent

__all__ = ["RealtimeTransport"]


class RealtimeTransport(Protocol):
    """One open Realtime session.

    ``events()`` yields server events in arrival order. It ends quietly once :meth:`close` was
    called; when the session ends any other way (the server closed it, the network dropped) it
    raises :class:`~bridge.errors.UpstreamError` with ``status`` set to the close code.
    Server events that cannot be parsed are skipped by the transport, never raised.
    """

    async def send(self, event: ClientEvent) -> None:
        """Send one client event.

        Raises:
            UpstreamError: the session is closed.
        """
        ...

    def events(self) -> AsyncIterator[ServerEvent]:
        """The server's events, until the session ends (see the class docstring)."""
        ...

    async def close(self) -> None:
        """Close the session (idempotent); a pending ``events()`` iteration then ends."""
        ...
