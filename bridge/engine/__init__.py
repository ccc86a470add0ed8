"""The bundled local Realtime-compatible engine: the offline default and the bridge's test peer.

It speaks OpenAI's Realtime WebSocket protocol (GA, or beta with ``OpenAI-Beta: realtime=v1``)
over real sockets, validates what it is sent, answers errors the way OpenAI does, hears speech with
an energy VAD, and talks with a synthetic voice following a scenario. See docs/engine.md.
"""

from __future__ import annotations

from bridge.engine.app import EngineState, create_engine_app
from bridge.engine.config import EngineConfig, Recognizer
from bridge.engine.log import EventLog, LogEntry
from bridge.engine.scenario import Call, Calls, End, Say, Scenario
from bridge.engine.server import EngineServer, serve_engine
from bridge.engine.session import EngineSession
from bridge.engine.voice import SpeechVoice, Voice, WordTiming

__all__ = [
    "Call",
    "Calls",
    "End",
    "EngineConfig",
    "EngineServer",
    "EngineSession",
    "EngineState",
    "EventLog",
    "LogEntry",
    "Recognizer",
    "Say",
    "Scenario",
    "SpeechVoice",
    "Voice",
    "WordTiming",
    "create_engine_app",
    "serve_engine",
]
