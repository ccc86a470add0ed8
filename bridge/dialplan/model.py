"""The typed form of a dialplan: who the agent is on a phone number and what it can do.

Everything here is plain frozen data. ``bridge.dialplan.loader`` builds it from YAML (and checks it);
``bridge.dialplan.router`` picks one per call.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from bridge.errors import DialplanError

__all__ = [
    "AUDIO_MODES",
    "BUILTIN_KINDS",
    "BUILT_IN_SOURCE",
    "DEFAULT_INSTRUCTIONS",
    "HTTP_METHODS",
    "AudioMode",
    "BuiltinKind",
    "BuiltinTool",
    "Dialplan",
    "DialplanSet",
    "HttpMethod",
    "HttpTool",
    "JsonValue",
    "Limits",
    "Match",
    "PythonTool",
    "StaticTool",
    "ToolKind",
    "ToolSpec",
    "builtin_description",
    "builtin_parameters",
    "default_turn_detection",
    "empty_parameters",
]

AudioMode = Literal["passthrough", "pcm16"]
BuiltinKind = Literal["hangup", "transfer", "send_dtmf", "wait"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
JsonValue: TypeAlias = "str | int | float | bool | None | list[JsonValue] | dict[str, JsonValue]"

AUDIO_MODES: tuple[AudioMode, ...] = ("passthrough", "pcm16")
BUILTIN_KINDS: tuple[BuiltinKind, ...] = ("hangup", "transfer", "send_dtmf", "wait")
HTTP_METHODS: tuple[HttpMethod, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")

# The ``source`` of the default dialplan used when the dialplan folder holds no files.
BUILT_IN_SOURCE = "<built-in>"

DEFAULT_INSTRUCTIONS = (
    "You are a friendly, helpful voice assistant answering a phone call. "
    "The caller hears you and cannot see anything, so keep every reply short and conversational: "
    "one or two sentences, no lists, no links, no markup. "
    "Speak the caller's language. If you did not catch something, ask them to repeat it. "
    "Never invent facts; when a tool can answer, use it, and say so briefly while it runs. "
    "When the caller is done, say goodbye and end the call if you have a tool for that."
)


def default_turn_detection() -> dict[str, Any]:
    """Server VAD with the bridge's defaults (a longer silence than the API's 200 ms suits phone audio)."""
    return {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}


def empty_parameters() -> dict[str, Any]:
    """The JSON Schema of a tool that takes no arguments."""
    return {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class Match:
    """Which calls a dialplan answers.

    ``to`` holds called-number patterns, ``from_`` caller patterns (empty: any caller). A pattern is an
    E.164 number (``+15551230000``) or a prefix ending in ``*`` (``+1555123*``, ``+*``).
    """

    to: tuple[str, ...]
    from_: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Limits:
    """Call limits in seconds: the whole call, and caller silence before the agent says goodbye."""

    max_call_s: float = 3600.0
    idle_s: float = 60.0


@dataclass(frozen=True, slots=True)
class StaticTool:
    """A tool that always returns ``result`` (any JSON value)."""

    result: JsonValue


@dataclass(frozen=True, slots=True)
class HttpTool:
    """A tool answered by an HTTP endpoint; ``timeout_s`` bounds the request."""

    url: str
    method: HttpMethod = "POST"
    timeout_s: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PythonTool:
    """A tool answered by a Python callable: ``module:function`` or ``entry:NAME`` (group ``bridge.tools``).

    ``bridge.dialplan.loader.resolve_python_target`` turns ``target`` into the callable.
    """

    target: str


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    """A tool the bridge itself carries out on the call.

    ``to`` is the transfer target (E.164 or ``sip:``), ``say`` what the agent says first (hangup,
    transfer), ``digits`` fixed DTMF digits (send_dtmf) and ``seconds`` a fixed wait (wait); when
    ``digits``/``seconds`` are None the model supplies them as arguments.
    """

    kind: BuiltinKind
    to: str | None = None
    say: str | None = None
    digits: str | None = None
    seconds: float | None = None


ToolKind: TypeAlias = StaticTool | HttpTool | PythonTool | BuiltinTool


def builtin_parameters(tool: BuiltinTool) -> dict[str, Any]:
    """The JSON Schema the model sees for a builtin (only the arguments the dialplan left open)."""
    if tool.kind == "send_dtmf" and tool.digits is None:
        return {
            "type": "object",
            "properties": {"digits": {"type": "string", "description": "Keys to press: 0-9, *, # and A-D."}},
            "required": ["digits"],
        }
    if tool.kind == "wait" and tool.seconds is None:
        return {
            "type": "object",
            "properties": {"seconds": {"type": "number", "minimum": 0, "description": "How long to wait, in seconds."}},
            "required": ["seconds"],
        }
    return empty_parameters()


_BUILTIN_DESCRIPTIONS: dict[BuiltinKind, str] = {
    "hangup": "End the call. Say goodbye before you use it.",
    "transfer": "Transfer the caller to a person who can help further. Tell the caller before you use it.",
    "send_dtmf": "Press keys on the phone line (DTMF tones), for example to get through a phone menu.",
    "wait": "Stay silent for a while, for example while the caller looks something up.",
}
# With ``say`` set the bridge speaks for the model, which must not announce it a second time.
_SAYING_DESCRIPTIONS: dict[BuiltinKind, str] = {
    "hangup": "Say goodbye to the caller and end the call (the goodbye is spoken for you).",
    "transfer": "Transfer the caller to a person who can help further (the caller is told for you).",
}


def builtin_description(tool: BuiltinTool) -> str:
    """The model-facing description a builtin gets when the dialplan gives none."""
    if tool.say is not None and tool.kind in _SAYING_DESCRIPTIONS:
        return _SAYING_DESCRIPTIONS[tool.kind]
    return _BUILTIN_DESCRIPTIONS[tool.kind]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool the model (or a DTMF key) can call; ``timeout_s`` bounds a whole run."""

    name: str
    kind: ToolKind
    description: str
    parameters: dict[str, Any]
    timeout_s: float = 10.0

    def function_tool(self) -> dict[str, Any]:
        """The Realtime ``session.tools`` entry for this tool (a fresh copy each time)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": copy.deepcopy(self.parameters),
        }


@dataclass(frozen=True, slots=True)
class Dialplan:
    """Everything the bridge needs to know about calls to some numbers.

    ``match`` is None for the default dialplan. ``turn_detection`` is the Realtime
    ``audio.input.turn_detection`` object (None: manual turns); ``transcription`` the
    ``audio.input.transcription`` object (None: off). ``dtmf`` maps a key (``0``-``9``, ``*``, ``#``,
    ``A``-``D``) to the name of one of ``tools``; other keys reach the model as text. ``source`` is
    the file the dialplan came from.
    """

    name: str
    match: Match | None = None
    model: str = "gpt-realtime"
    voice: str = "marin"
    audio: AudioMode = "passthrough"
    instructions: str = DEFAULT_INSTRUCTIONS
    greeting: str | None = None
    turn_detection: dict[str, Any] | None = field(default_factory=default_turn_detection)
    transcription: dict[str, Any] | None = None
    barge_in: bool = True
    limits: Limits = Limits()
    record: bool = True
    tools: tuple[ToolSpec, ...] = ()
    dtmf: dict[str, str] = field(default_factory=dict)
    source: str = BUILT_IN_SOURCE

    @property
    def is_default(self) -> bool:
        """True for the dialplan that answers every call no other dialplan matches."""
        return self.match is None

    def tool(self, name: str) -> ToolSpec | None:
        """The tool called ``name``, or None."""
        return next((tool for tool in self.tools if tool.name == name), None)

    def function_tools(self) -> list[dict[str, Any]]:
        """The model-facing function definitions, in dialplan order."""
        return [tool.function_tool() for tool in self.tools]


@dataclass(frozen=True, slots=True)
class DialplanSet:
    """All loaded dialplans: unique names and exactly one default (raises DialplanError otherwise)."""

    dialplans: tuple[Dialplan, ...]

    def __post_init__(self) -> None:
        names = [plan.name for plan in self.dialplans]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise DialplanError([f"duplicate dialplan name {name!r}" for name in duplicates])
        defaults = [plan.name for plan in self.dialplans if plan.is_default]
        if len(defaults) != 1:
            raise DialplanError([f"a dialplan set needs exactly one default dialplan, got {len(defaults)}"])

    @property
    def default(self) -> Dialplan:
        """The dialplan without ``match``: it answers every call no other dialplan matches."""
        return next(plan for plan in self.dialplans if plan.is_default)

    def by_name(self, name: str) -> Dialplan | None:
        """The dialplan called ``name``, or None."""
        return next((plan for plan in self.dialplans if plan.name == name), None)

    def __iter__(self) -> Iterator[Dialplan]:
        return iter(self.dialplans)

    def __len__(self) -> int:
        return len(self.dialplans)
