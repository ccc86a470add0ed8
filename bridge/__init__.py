"""bridge: puts a realtime voice agent on a phone line."""

from __future__ import annotations

__version__ = "0.1.0"
