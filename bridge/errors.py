"""One exception hierarchy for the whole bridge.

    BridgeError
    ├── ConfigError        bad settings or command-line input
    ├── ProtocolError      a malformed wire message (pure layer: telephony/, realtime/)
    ├── DialplanError      an invalid dialplan (pure layer: dialplan/)
    ├── ToolError          a tool handler failed, timed out or got bad arguments
    ├── UpstreamError      a remote peer (Realtime, OpenAI REST, Twilio REST) refused or failed
    └── ArchiveError       the call archive could not read or write

Third-party exceptions are translated once, where they enter (``raise X(...) from exc``).
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "BridgeError",
    "ConfigError",
    "DialplanError",
    "ProtocolError",
    "ToolError",
    "UpstreamError",
]


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """Settings or command-line input that cannot be used."""


class ProtocolError(BridgeError):
    """A wire message that does not follow its protocol.

    ``field`` names the offending field (dotted path) when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DialplanError(BridgeError):
    """One or more problems in a set of dialplans.

    ``problems`` holds every problem as ``file:line: key.path: message``.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems) if problems else "invalid dialplan")
        self.problems = problems


class ToolError(BridgeError):
    """A tool could not produce a result; the message goes back to the model."""


class UpstreamError(BridgeError):
    """A remote API refused or failed.

    ``status`` is the HTTP status or WebSocket close code when known; ``code`` the remote error code.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ArchiveError(BridgeError):
    """The call archive failed to read or write."""
