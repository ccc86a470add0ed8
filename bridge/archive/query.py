"""Call search filters and keyset cursors, with their string forms (query parameters, opaque cursors).

Both are plain values: the API parses them from the query string, the jobs module can keep a filter as
JSON (``CallFilter.to_params()``) and parse it back, and the store turns them into SQL.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

__all__ = ["FILTER_PARAMS", "CallFilter", "Cursor", "parse_timestamp"]


def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 date or date-time; a value without an offset is taken as UTC. ValueError when invalid."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# Query parameter name -> CallFilter attribute.
FILTER_PARAMS: Mapping[str, str] = {
    "from": "from_number",
    "to": "to_number",
    "dialplan": "dialplan",
    "since": "since",
    "until": "until",
    "end_reason": "end_reason",
    "q": "q",
}


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Which calls to list. Every set field must match; ``since`` is inclusive and ``until`` exclusive
    (both on ``started_at``); ``q`` matches calls whose transcript has a segment containing all its words."""

    from_number: str | None = None
    to_number: str | None = None
    dialplan: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    end_reason: str | None = None
    q: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> CallFilter:
        """Build from query parameters (names in :data:`FILTER_PARAMS`; empty values count as absent).

        Raises ValueError naming the bad parameter; names outside FILTER_PARAMS are the caller's business.
        """
        values: dict[str, str | datetime] = {}
        for name, attr in FILTER_PARAMS.items():
            raw = params.get(name, "")
            if raw == "":
                continue
            if attr in ("since", "until"):
                try:
                    values[attr] = parse_timestamp(raw)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
            else:
                values[attr] = raw
        return cls(**values)  # type: ignore[arg-type]

    def to_params(self) -> dict[str, str]:
        """The query-parameter form; ``CallFilter.parse(f.to_params()) == f``."""
        params: dict[str, str] = {}
        for name, attr in FILTER_PARAMS.items():
            value = getattr(self, attr)
            if value is None:
                continue
            params[name] = value.isoformat() if isinstance(value, datetime) else value
        return params


@dataclass(frozen=True, slots=True)
class Cursor:
    """A keyset position: the ``(started_at, id)`` (or ``(created_at, id)``) of the last row returned.

    Lists run newest first, so the next page holds rows strictly before this key.
    """

    at: datetime
    id: str

    def encode(self) -> str:
        """The opaque form handed to clients: URL-safe base64 of a small JSON array, unpadded."""
        raw = orjson.dumps([self.at.astimezone(UTC).isoformat(), self.id])
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Parse :meth:`encode`'s output; ValueError for anything else."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            at, ident = orjson.loads(raw)
            if not isinstance(at, str) or not isinstance(ident, str):
                raise ValueError
            moment = datetime.fromisoformat(at)
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise ValueError("invalid cursor") from None
        if moment.tzinfo is None:
            raise ValueError("invalid cursor")
        return cls(moment.astimezone(UTC), ident)
