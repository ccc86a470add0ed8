"""Scenarios: what the engine's agent says and does, turn by turn.

A scenario is data (YAML or JSON, or built in Python)::

    greeting: Thanks for calling Acme. How can I help?
    turns:
      - - say: Let me look that up.
        - call: {name: lookup_order, arguments: {order_id: A-1001}}
        - say: "Your order is {output.status}."
      - - calls: [{name: opening_hours}, {name: next_holiday}]
        - say: Those are our hours.
      - - say: Goodbye!
        - end: true
    fallback: [Sorry, I did not catch that.]
    idle: Are you still there?

Each response the engine makes takes the next steps of the current turn: every ``say`` becomes a
spoken message, a ``call`` becomes a function call and ends the response (the turn resumes at the
next response, after the client has sent the function output; ``{output}`` in a later ``say`` is
that output, ``{output.key}`` a field of it when it is a JSON object), ``calls`` makes several
function calls in one response and ends it the same way (``{output}`` is then the last call's
output), and ``end`` means the agent
says nothing more, ever. The ``greeting`` is spoken if the very first response comes before any
user input. When the turns run out, each response says the next ``fallback`` line (cycling), or
nothing. ``idle`` is what the agent says when the VAD idle timeout fires.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import yaml

from bridge.errors import ConfigError

__all__ = [
    "Call",
    "CallTool",
    "Calls",
    "End",
    "Output",
    "Say",
    "Scenario",
    "ScenarioRunner",
    "Speak",
    "Step",
]


@dataclass(frozen=True, slots=True)
class Say:
    """Speak ``text`` (may contain ``{output}`` / ``{output.key}``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Call:
    """Call function ``name`` with ``arguments``; the turn resumes after its output."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Calls:
    """Call several functions in one response (a model's parallel calls); the turn resumes after their outputs."""

    calls: tuple[Call, ...]


@dataclass(frozen=True, slots=True)
class End:
    """The agent says nothing more."""


Step = Say | Call | Calls | End

_TOP_KEYS = ("greeting", "turns", "fallback", "idle")
DEFAULT_IDLE = "Are you still there?"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A scripted agent: see the module docstring for the format."""

    turns: tuple[tuple[Step, ...], ...] = ()
    greeting: str | None = None
    fallback: tuple[str, ...] = ()
    idle: str = DEFAULT_IDLE

    @classmethod
    def from_dict(cls, data: object, *, source: str = "scenario") -> Scenario:
        """Build from parsed YAML/JSON; raises ConfigError naming ``source`` and the bad path."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping with keys {', '.join(_TOP_KEYS)}")
        for key in data:
            if key not in _TOP_KEYS:
                raise ConfigError(f"{source}: unknown key {key!r} (expected one of: {', '.join(_TOP_KEYS)})")
        turns_data = data.get("turns", [])
        if not isinstance(turns_data, list):
            raise ConfigError(f"{source}: turns: expected a list of turns (each a list of steps)")
        turns = tuple(_turn(turn, f"{source}: turns[{i}]") for i, turn in enumerate(turns_data))
        fallback = data.get("fallback", [])
        if isinstance(fallback, str):
            fallback = [fallback]
        if not isinstance(fallback, list):
            raise ConfigError(f"{source}: fallback: expected a list of lines to say")
        greeting = data.get("greeting")
        return cls(
            turns=turns,
            greeting=None if greeting is None else _text(greeting, f"{source}: greeting"),
            fallback=tuple(_text(line, f"{source}: fallback[{i}]") for i, line in enumerate(fallback)),
            idle=_text(data.get("idle", DEFAULT_IDLE), f"{source}: idle"),
        )

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Read a YAML or JSON scenario file (JSON is YAML too)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read scenario: {exc.strerror}") from exc
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: str, *, source: str = "scenario") -> Scenario:
        """Parse scenario text (YAML or JSON)."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML/JSON: {exc}") from exc
        return cls.from_dict(data, source=source)

    @classmethod
    def default(cls) -> Scenario:
        """The demo agent used when no scenario is given (``default_scenario.yaml``)."""
        text = resources.files("bridge.engine").joinpath("default_scenario.yaml").read_text(encoding="utf-8")
        return cls.parse(text, source="default_scenario.yaml")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected non-empty text")
    return " ".join(value.split())


def _turn(data: object, where: str) -> tuple[Step, ...]:
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{where}: expected a non-empty list of steps (say / call / calls / end)")
    return tuple(_step(step, f"{where}[{i}]") for i, step in enumerate(data))


def _step(data: object, where: str) -> Step:
    if not isinstance(data, Mapping) or len(data) != 1:
        raise ConfigError(
            f"{where}: expected one of `say: text`, `call: {{name, arguments}}`, `calls: [...]` or `end: true`"
        )
    ((kind, value),) = data.items()
    if kind == "say":
        return Say(_text(value, f"{where}.say"))
    if kind == "end":
        if value is not True:
            raise ConfigError(f"{where}.end: expected true")
        return End()
    if kind == "call":
        return _call(value, f"{where}.call")
    if kind == "calls":
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{where}.calls: expected a non-empty list of {{name, arguments}}")
        return Calls(tuple(_call(item, f"{where}.calls[{i}]") for i, item in enumerate(value)))
    raise ConfigError(f"{where}: unknown step {kind!r} (expected say, call, calls or end)")


def _call(value: object, where: str) -> Call:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping with name and arguments")
    for key in value:
        if key not in ("name", "arguments"):
            raise ConfigError(f"{where}: unknown key {key!r} (expected name, arguments)")
    name = value.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ConfigError(f"{where}.name: expected a function name (letters, digits, _ or -)")
    arguments = value.get("arguments", {})
    if not isinstance(arguments, Mapping):
        raise ConfigError(f"{where}.arguments: expected a mapping")
    return Call(name, dict(arguments))


@dataclass(frozen=True, slots=True)
class Speak:
    """Part of a response: a spoken message."""

    text: str


@dataclass(frozen=True, slots=True)
class CallTool:
    """Part of a response: a function call (``arguments`` is a JSON string)."""

    name: str
    arguments: str


Output = Speak | CallTool

_PLACEHOLDER = re.compile(r"\{output(?:\.([A-Za-z0-9_.]+))?\}")


def _render(text: str, output: str) -> str:
    def field_of(match: re.Match[str]) -> str:
        path = match.group(1)
        if path is None:
            return output
        try:
            value: Any = orjson.loads(output)
            for key in path.split("."):
                value = value[key]
        except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
            return output  # not a JSON object with that field: say the whole output
        return value if isinstance(value, str) else orjson.dumps(value).decode()

    return _PLACEHOLDER.sub(field_of, text)


class ScenarioRunner:
    """One session's position in a scenario."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._turn = 0
        self._step = 0
        self._first = True
        self._ended = False
        self._fallback = 0

    @property
    def ended(self) -> bool:
        """True once an ``end`` step was reached."""
        return self._ended

    def skip_greeting(self) -> None:
        """The first response was dictated by the client: no greeting any more."""
        self._first = False

    def idle_response(self) -> list[Output]:
        """What to say when the caller has been silent too long."""
        return [] if self._ended else [Speak(self.scenario.idle)]

    def next_response(self, *, user_input: bool, tool_output: str = "") -> list[Output]:
        """The outputs of the next response.

        Args:
            user_input: whether the conversation holds any user message yet (greeting rule).
            tool_output: the output the client sent for the scenario's last call, if any.
        """
        first, self._first = self._first, False
        if self._ended:
            return []
        if first and not user_input and self.scenario.greeting is not None:
            return [Speak(self.scenario.greeting)]
        turns = self.scenario.turns
        if self._turn >= len(turns):
            return self._next_fallback()
        outputs: list[Output] = []
        steps = turns[self._turn]
        while self._step < len(steps):
            step = steps[self._step]
            self._step += 1
            if isinstance(step, Say):
                outputs.append(Speak(" ".join(_render(step.text, tool_output).split())))
            elif isinstance(step, Call | Calls):
                # The turn resumes after the client sends the output(s); if the call was its last
                # step, that follow-up response is empty and the next one starts the next turn.
                calls = step.calls if isinstance(step, Calls) else (step,)
                outputs.extend(CallTool(call.name, orjson.dumps(call.arguments).decode()) for call in calls)
                return outputs
            else:
                self._ended = True
                return outputs
        self._turn += 1
        self._step = 0
        return outputs

    def _next_fallback(self) -> list[Output]:
        lines = self.scenario.fallback
        if not lines:
            return []
        line = lines[self._fallback % len(lines)]
        self._fallback += 1
        return [Speak(line)]
