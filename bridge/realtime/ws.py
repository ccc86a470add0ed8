"""The Realtime session over a WebSocket (``websockets`` asyncio client).

Connection facts (shared PROTOCOLS.md A.1, B): ``GET {url}?model={model}`` with
``Authorization: Bearer {key}``; the beta dialect adds ``OpenAI-Beta: realtime=v1``. Compression
is off (it costs 15-30 % of a relay's capacity, PERFORMANCE.md) and frames have no size limit, as
in the official SDK.

Errors are translated here, once: a refused upgrade becomes ``UpstreamError(status=<HTTP status>,
code=<the body's error.code>)``, a connection that ends without our asking becomes
``UpstreamError(status=<close code>, code=<the close reason when it is an error code>)`` (the GA
server closes fatal sessions with reason ``type.code``, PROTOCOLS.md G.3), and anything that
keeps the socket from opening is ``UpstreamError`` with no status. A server event that does not
parse is logged (the first, then every 100th) and skipped: one bad frame never ends a call.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from bridge.errors import ConfigError, ProtocolError, UpstreamError
from bridge.realtime.events import ClientEvent, Dialect, ServerEvent, dump_client_event, parse_server_event

__all__ = [
    "WebSocketTransport",
    "closed_error",
    "handshake_headers",
    "refused_error",
    "session_url",
]

log = logging.getLogger(__name__)

_LOG_EVERY = 100
_CLOSE_TIMEOUT_S = 2.0
# A close reason that is an error code ("invalid_request_error.invalid_api_key"), not a sentence.
_CODE_REASON = re.compile(r"[A-Za-z0-9_.\-]{1,80}")


def session_url(url: str, model: str) -> str:
    """``url`` with the ``model`` query parameter added (after any query it already has)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}model={quote(model, safe='')}"


def handshake_headers(api_key: str | None, dialect: Dialect) -> dict[str, str]:
    """The upgrade request's headers: Bearer auth when there is a key, the beta opt-in for beta."""
    headers: dict[str, str] = {}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    if dialect == "beta":
        headers["OpenAI-Beta"] = "realtime=v1"
    return headers


def refused_error(status: int, body: bytes | bytearray) -> UpstreamError:
    """The error for an upgrade refused with HTTP ``status``; ``code`` from an OpenAI error body."""
    code: str | None = None
    message = ""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error["code"] if isinstance(error.get("code"), str) else None
        message = error["message"] if isinstance(error.get("message"), str) else ""
    detail = f": {message}" if message else ""
    return UpstreamError(f"the Realtime server refused the connection: HTTP {status}{detail}", status=status, code=code)


def closed_error(code: int | None, reason: str) -> UpstreamError:
    """The error for a session the server (or the network) closed; ``code`` None means no close frame."""
    status = 1006 if code is None else code
    error_code: str | None = None
    if _CODE_REASON.fullmatch(reason):
        error_code = reason.rsplit(".", 1)[-1] or None
    detail = f" ({reason})" if reason else ""
    return UpstreamError(f"the Realtime session closed: {status}{detail}", status=status, code=error_code)


def _closed(exc: ConnectionClosed) -> UpstreamError:
    close = exc.rcvd
    return closed_error(close.code if close is not None else None, close.reason if close is not None else "")


class WebSocketTransport:
    """A :class:`~bridge.realtime.transport.RealtimeTransport` over one WebSocket.

    Open it with :meth:`connect`. ``malformed`` counts server frames that did not parse.
    """

    def __init__(self, ws: ClientConnection, dialect: Dialect) -> None:
        self._ws = ws
        self._dialect: Dialect = dialect
        self._closing = False
        self.malformed = 0

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        api_key: str | None,
        dialect: Dialect,
        model: str,
        open_timeout: float = 5.0,
    ) -> WebSocketTransport:
        """Open a Realtime session at ``url`` (``wss://api.openai.com/v1/realtime`` or the engine's).

        Raises:
            ConfigError: ``url`` is not a WebSocket URL.
            UpstreamError: the server refused the upgrade (``status`` is the HTTP status), or it
                could not be reached within ``open_timeout`` seconds (no ``status``).
        """
        target = session_url(url, model)
        try:
            ws = await connect(
                target,
                additional_headers=handshake_headers(api_key, dialect),
                compression=None,
                max_size=None,
                open_timeout=open_timeout,
                close_timeout=_CLOSE_TIMEOUT_S,
            )
        except InvalidURI as exc:
            raise ConfigError(f"not a WebSocket URL: {url!r}") from exc
        except InvalidStatus as exc:
            raise refused_error(exc.response.status_code, exc.response.body) from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise UpstreamError(f"cannot connect to {url}: {exc or type(exc).__name__}") from exc
        return cls(ws, dialect)

    async def send(self, event: ClientEvent) -> None:
        """Send one event in this transport's dialect.

        Raises:
            UpstreamError: the session is closed.
        """
        try:
            await self._ws.send(dump_client_event(event, self._dialect))
        except ConnectionClosed as exc:
            raise _closed(exc) from exc

    def events(self) -> WebSocketTransport:
        """The server's events (this transport is its own iterator: nothing to finalise on cancel)."""
        return self

    def __aiter__(self) -> WebSocketTransport:
        return self

    async def __anext__(self) -> ServerEvent:
        while True:
            try:
                data = await self._ws.recv(decode=False)
            except ConnectionClosed as exc:
                if self._closing:
                    raise StopAsyncIteration from None
                raise _closed(exc) from exc
            try:
                return parse_server_event(data, self._dialect)
            except ProtocolError as exc:
                self.malformed += 1
                if self.malformed % _LOG_EVERY == 1:
                    log.warning("skipped a malformed Realtime event (%d so far): %s", self.malformed, exc)

    async def close(self) -> None:
        """Close the session: our close frame goes out at once, then the peer gets a moment to answer."""
        self._closing = True
        await self._ws.close()
