"""Load dialplans from YAML files and check everything before a call depends on it.

The YAML is composed into a node graph (not constructed into Python objects) so that every key and
list item keeps its line: each problem reads ``file:line: key.path: message`` (``tools[1].http.url``).
All problems in all files are collected, then raised together as one DialplanError.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from bridge.dialplan.model import (
    AUDIO_MODES,
    BUILTIN_KINDS,
    DEFAULT_INSTRUCTIONS,
    HTTP_METHODS,
    BuiltinKind,
    BuiltinTool,
    Dialplan,
    DialplanSet,
    HttpMethod,
    HttpTool,
    JsonValue,
    Limits,
    Match,
    PythonTool,
    StaticTool,
    ToolKind,
    ToolSpec,
    builtin_description,
    builtin_parameters,
    default_turn_detection,
    empty_parameters,
)
from bridge.dialplan.router import narrower, pattern_problem, patterns_overlap
from bridge.errors import DialplanError, ToolError

__all__ = ["load_dialplan_text", "load_dialplans", "resolve_python_target"]

_T = TypeVar("_T")
_S = TypeVar("_S", bound=str)

_DIALPLAN_KEYS = (
    "name",
    "match",
    "model",
    "voice",
    "audio",
    "instructions",
    "greeting",
    "turn_detection",
    "transcription",
    "barge_in",
    "limits",
    "record",
    "dtmf",
    "tools",
)
_TOOL_KINDS = ("static", "http", "python", "builtin")
_TOOL_KEYS = ("name", "description", "parameters", "timeout_s", *_TOOL_KINDS, "to", "say", "digits", "seconds")
# Builtin options live beside ``builtin:``; each belongs to some builtins only.
_BUILTIN_OPTIONS: dict[str, tuple[BuiltinKind, ...]] = {
    "to": ("transfer",),
    "say": ("hangup", "transfer"),
    "digits": ("send_dtmf",),
    "seconds": ("wait",),
}
_VAD_KEYS = {
    "server_vad": (
        "type",
        "threshold",
        "prefix_padding_ms",
        "silence_duration_ms",
        "idle_timeout_ms",
        "create_response",
        "interrupt_response",
    ),
    "semantic_vad": ("type", "eagerness", "create_response", "interrupt_response"),
}
_EAGERNESS = ("low", "medium", "high", "auto")
_DTMF_KEYS = "0123456789*#ABCD"
_DEFAULT_TIMEOUT_S = 10.0
_OBJECT = "'object' (the model passes arguments as a JSON object)"
_MAX_DEPTH = 64

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PYTHON_TARGET = re.compile(r"entry:\S+|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_TRANSFER_TARGET = re.compile(r"\+[1-9][0-9]{1,14}|sips?:\S+")
_DIGITS = re.compile(r"[0-9*#A-D]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_EXPANSION = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)

_TAG = "tag:yaml.org,2002:"
# What each standard tag holds; timestamps stay the text the operator wrote.
_KINDS = {
    f"{_TAG}str": "str",
    f"{_TAG}timestamp": "str",
    f"{_TAG}int": "int",
    f"{_TAG}float": "float",
    f"{_TAG}bool": "bool",
    f"{_TAG}null": "null",
    f"{_TAG}map": "map",
    f"{_TAG}seq": "seq",
}
# Stateless scalar converters (YAML 1.1 rules for 0o17, 1_000, yes/no, .inf).
_SCALARS = SafeConstructor()


def _kind(node: Node) -> str:
    kind = _KINDS.get(node.tag, "other")
    expected = MappingNode if kind == "map" else SequenceNode if kind == "seq" else ScalarNode
    return kind if isinstance(node, expected) else "other"


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(node: Node) -> str:
    kind = _kind(node)
    if kind == "map":
        return "a mapping"
    if kind == "seq":
        return "a list"
    if kind == "null":
        return "null"
    if kind == "str":
        text = str(node.value)
        return repr(text if len(text) <= 40 else text[:37] + "...")
    if kind in ("int", "float", "bool"):
        return str(node.value)
    return f"a value tagged {node.tag!r}"


def _suggest(word: str, candidates: Sequence[str]) -> str:
    folded = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(word.lower(), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


def _unknown_key(key: str, known: Sequence[str]) -> str:
    suggestion = _suggest(key, known)
    return f"unknown key{suggestion}" if suggestion else f"unknown key; expected one of {', '.join(known)}"


def resolve_python_target(target: str) -> Callable[..., Any]:
    """The callable named by a python tool target (``module:function`` or ``entry:NAME``).

    Raises:
        ToolError: the module or entry point cannot be loaded, or the object is not callable.
    """
    if target.startswith("entry:"):
        name = target.removeprefix("entry:")
        found = list(entry_points(group="bridge.tools", name=name))
        if not found:
            raise ToolError(f"no entry point named {name!r} in group 'bridge.tools'")
        try:
            obj = found[0].load()
        except Exception as exc:  # an entry point's import can raise anything; report it, don't crash
            raise ToolError(f"cannot load entry point {name!r} ({found[0].value}): {exc}") from exc
    else:
        module_name, _, attributes = target.partition(":")
        try:
            obj = importlib.import_module(module_name)
        except Exception as exc:  # as above: the operator's module may fail in any way on import
            raise ToolError(f"cannot import {module_name!r}: {exc}") from exc
        for attribute in attributes.split("."):
            try:
                obj = getattr(obj, attribute)
            except AttributeError:
                raise ToolError(f"module {module_name!r} has no attribute {attributes!r}") from None
    if not callable(obj):
        raise ToolError(f"{target!r} is not callable")
    return obj  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _Problem:
    source: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class _Entry:
    """A value node with the line of the key or list item holding it, and its key path."""

    node: Node
    line: int
    path: str

    def key(self, name: str) -> str:
        return _join(self.path, name)


@dataclass(frozen=True, slots=True)
class _Pattern:
    text: str
    entry: _Entry


@dataclass(frozen=True, slots=True)
class _Rules:
    to: tuple[_Pattern, ...]
    from_: tuple[_Pattern, ...]


@dataclass(slots=True)
class _Parsed:
    """What one file contributed; the set checks use it even when the file has other problems."""

    source: str
    line: int = 1
    plan: Dialplan | None = None
    name: str | None = None
    name_line: int = 1
    is_default: bool | None = None  # None: unknown (the file could not be read or parsed)
    rules: _Rules | None = None


@dataclass(slots=True)
class _Doc:
    """Checks one file's node graph, appending every problem to ``problems``."""

    source: str
    env: Mapping[str, str]
    problems: list[_Problem]
    tool_lines: dict[str, int] = field(default_factory=dict)

    def report(self, line: int | None, path: str, message: str) -> None:
        self.problems.append(_Problem(self.source, line, path, message))

    # -- YAML shapes -------------------------------------------------------------------------------

    def mapping(self, e: _Entry, known: Sequence[str] | None) -> dict[str, _Entry] | None:
        if _kind(e.node) != "map":
            self.report(e.line, e.path, f"must be a mapping, got {_describe(e.node)}")
            return None
        out: dict[str, _Entry] = {}
        for key_node, value_node in e.node.value:
            line = _line(key_node)
            if not isinstance(key_node, ScalarNode):
                self.report(line, e.path, f"keys must be plain text, got {_describe(key_node)}")
                continue
            key = str(key_node.value)
            path = _join(e.path, key)
            if key_node.tag == f"{_TAG}merge":
                self.report(line, path, "merge keys (<<) are not supported; repeat the keys instead")
            elif key in out:
                self.report(line, path, f"duplicate key (first on line {out[key].line})")
            elif known is not None and key not in known:
                self.report(line, path, _unknown_key(key, known))
            else:
                out[key] = _Entry(value_node, line, path)
        return out

    def items(self, e: _Entry) -> list[_Entry] | None:
        if _kind(e.node) != "seq":
            self.report(e.line, e.path, f"must be a list, got {_describe(e.node)}")
            return None
        return [_Entry(item, _line(item), f"{e.path}[{i}]") for i, item in enumerate(e.node.value)]

    def locate(self, e: _Entry, parts: Sequence[object]) -> tuple[int, str]:
        """The line and path of a value inside ``e`` (for errors found after conversion)."""
        node, line, path = e.node, e.line, e.path
        for part in parts:
            if isinstance(node, MappingNode):
                children = [(k.value, _line(k), v, _join(path, str(k.value))) for k, v in node.value]
            elif isinstance(node, SequenceNode):
                children = [(i, _line(v), v, f"{path}[{i}]") for i, v in enumerate(node.value)]
            else:
                break
            child = next((c for c in children if c[0] == part), None)
            if child is None:
                break
            _, line, node, path = child
        return line, path

    # -- scalars -----------------------------------------------------------------------------------

    def expand(self, text: str, e: _Entry) -> str | None:
        """``${VAR}``, ``${VAR:-default}`` (unset or empty) and ``$${`` (a literal ``${``).

        None when a reference was reported as a problem (so no second problem follows from it).
        """
        if "${" not in text:
            return text
        mark = len(self.problems)

        def replace(found: re.Match[str]) -> str:
            if found.group(0) == "$${":
                return "${"
            body = found.group(1)
            if body is None:
                self.report(e.line, e.path, "unterminated '${' (write '$${' for a literal '${')")
                return found.group(0)
            variable = _VARIABLE.fullmatch(body)
            if variable is None:
                self.report(e.line, e.path, f"bad reference '${{{body}}}': use ${{NAME}} or ${{NAME:-default}}")
                return found.group(0)
            name, default = variable.group(1), variable.group(2)
            value = self.env.get(name)
            if value:
                return value
            if default is not None:
                return default
            if value is None:
                self.report(e.line, e.path, f"environment variable {name} is not set (use ${{{name}:-default}})")
                return ""
            return value

        expanded = _EXPANSION.sub(replace, text)
        return expanded if len(self.problems) == mark else None

    def string(self, e: _Entry, *, numbers_as_text: bool = False) -> str | None:
        kind = _kind(e.node)
        if kind == "str":
            return self.expand(str(e.node.value), e)
        if numbers_as_text and kind == "int":
            # An unquoted +15551230000 is a YAML integer; the text is what the operator meant.
            return str(e.node.value)
        hint = f' (quote it: "{e.node.value}")' if kind in ("int", "float", "bool") else ""
        self.report(e.line, e.path, f"must be a string, got {_describe(e.node)}{hint}")
        return None

    def text(self, e: _Entry) -> str | None:
        """A non-empty string."""
        value = self.string(e)
        if value is not None and not value.strip():
            self.report(e.line, e.path, "must not be empty")
            return None
        return value

    def boolean(self, e: _Entry) -> bool | None:
        if isinstance(e.node, ScalarNode) and _kind(e.node) == "bool":
            return _SCALARS.construct_yaml_bool(e.node)
        self.report(e.line, e.path, f"must be true or false, got {_describe(e.node)}")
        return None

    def number(self, e: _Entry) -> float | int | None:
        kind = _kind(e.node)
        if isinstance(e.node, ScalarNode) and kind == "int":
            return _SCALARS.construct_yaml_int(e.node)
        if isinstance(e.node, ScalarNode) and kind == "float":
            value = _SCALARS.construct_yaml_float(e.node)
            if math.isfinite(value):
                return value
        self.report(e.line, e.path, f"must be a number, got {_describe(e.node)}")
        return None

    def positive(self, e: _Entry) -> float | None:
        value = self.number(e)
        if value is not None and value <= 0:
            self.report(e.line, e.path, f"must be a positive number, got {_describe(e.node)}")
            return None
        return None if value is None else float(value)

    def whole(self, e: _Entry, minimum: int) -> int | None:
        if isinstance(e.node, ScalarNode) and _kind(e.node) == "int":
            value = _SCALARS.construct_yaml_int(e.node)
            if value >= minimum:
                return value
        self.report(e.line, e.path, f"must be a whole number >= {minimum}, got {_describe(e.node)}")
        return None

    def choice(self, e: _Entry, choices: Sequence[_S], noun: str) -> _S | None:
        if _kind(e.node) != "str":
            self.report(e.line, e.path, f"must be one of {', '.join(choices)}, got {_describe(e.node)}")
            return None
        value = self.expand(str(e.node.value), e)
        if value is None:
            return None
        if value in choices:
            return choices[choices.index(value)]  # typed as the Literal choice, not a plain str
        self.report(
            e.line, e.path, f"unknown {noun} {value!r}{_suggest(value, choices)}; expected one of {', '.join(choices)}"
        )
        return None

    def plain(self, e: _Entry, outer: tuple[Node, ...] = ()) -> JsonValue:
        """Any JSON value (static results, JSON Schemas), strings expanded; ``outer`` holds the enclosing nodes."""
        if any(node is e.node for node in outer):
            self.report(e.line, e.path, "recursive alias: this value contains itself")
            return None
        if len(outer) >= _MAX_DEPTH:
            self.report(e.line, e.path, f"nested more than {_MAX_DEPTH} levels deep")
            return None
        inner = (*outer, e.node)
        kind = _kind(e.node)
        if kind == "map":
            entries = self.mapping(e, None)
            return None if entries is None else {k: self.plain(v, inner) for k, v in entries.items()}
        if kind == "seq":
            return [self.plain(item, inner) for item in self.items(e) or ()]
        if kind == "str":
            return self.expand(str(e.node.value), e)
        if kind == "bool":
            return self.boolean(e)
        if kind in ("int", "float"):
            return self.number(e)
        if kind != "null":
            self.report(e.line, e.path, f"unsupported YAML value: {_describe(e.node)}")
        return None

    # -- the dialplan ------------------------------------------------------------------------------

    def parse(self, text: str) -> _Parsed:
        parsed = _Parsed(self.source)
        mark = len(self.problems)
        root = self.compose(text)
        if len(self.problems) > mark:
            return parsed
        if root is None:
            self.report(1, "", "empty file: a dialplan needs at least a name")
            return parsed
        parsed.line = _line(root)
        if _kind(root) != "map":
            self.report(parsed.line, "", f"a dialplan file must be a mapping (name: ...), got {_describe(root)}")
            return parsed
        top = self.mapping(_Entry(root, parsed.line, ""), _DIALPLAN_KEYS)
        assert top is not None  # the root was checked to be a mapping just above
        parsed.is_default = "match" not in top
        self.dialplan(top, parsed)
        return parsed

    def compose(self, text: str) -> Node | None:
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = exc.problem or "invalid YAML"
            if exc.context:
                where = f" (line {exc.context_mark.line + 1})" if exc.context_mark else ""
                message = f"{exc.context}{where}: {message}"
            self.report(mark.line + 1 if mark else 1, "", f"YAML syntax error: {message}")
        except ReaderError as exc:
            line = text.count("\n", 0, exc.position) + 1
            self.report(line, "", f"YAML syntax error: {str(exc).splitlines()[0]}")
        except RecursionError:
            self.report(1, "", "YAML syntax error: nested too deeply")
        return None

    def dialplan(self, top: dict[str, _Entry], parsed: _Parsed) -> None:
        mark = len(self.problems)
        name = self.dialplan_name(top, parsed)
        rules = self.match(top["match"]) if "match" in top else None
        parsed.rules = rules
        tools: tuple[ToolSpec, ...] = self.optional(top.get("tools"), self.tools, ())
        get = top.get
        plan = Dialplan(
            name=name or "",
            match=None if rules is None else Match(tuple(p.text for p in rules.to), tuple(p.text for p in rules.from_)),
            model=self.optional(get("model"), self.text, "gpt-realtime"),
            voice=self.optional(get("voice"), self.text, "marin"),
            audio=self.optional(get("audio"), lambda x: self.choice(x, AUDIO_MODES, "audio mode"), "passthrough"),
            instructions=self.optional(get("instructions"), self.string, DEFAULT_INSTRUCTIONS),
            greeting=self.nullable(get("greeting"), self.text),
            turn_detection=self.turn_detection(top["turn_detection"])
            if "turn_detection" in top
            else default_turn_detection(),
            transcription=self.nullable(get("transcription"), self.transcription),
            barge_in=self.optional(get("barge_in"), self.boolean, True),
            limits=self.optional(get("limits"), self.limits, Limits()),
            record=self.optional(get("record"), self.boolean, True),
            tools=tools,
            dtmf=self.optional(get("dtmf"), lambda e: self.dtmf(e, tools), {}),
            source=self.source,
        )
        if len(self.problems) == mark:
            parsed.plan = plan

    def dialplan_name(self, top: dict[str, _Entry], parsed: _Parsed) -> str | None:
        if "name" not in top:
            self.report(parsed.line, "name", "required")
            return None
        entry = top["name"]
        parsed.name_line = entry.line
        name = self.string(entry)
        if name is not None and not _NAME.fullmatch(name):
            message = "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            self.report(entry.line, entry.path, f"{message}, got {name!r}")
            return None
        parsed.name = name
        return name

    def optional(self, e: _Entry | None, read: Callable[[_Entry], _T | None], default: _T) -> _T:
        value = None if e is None else read(e)
        return default if value is None else value

    def nullable(self, e: _Entry | None, read: Callable[[_Entry], _T | None]) -> _T | None:
        if e is None or _kind(e.node) == "null":
            return None
        return read(e)

    def match(self, e: _Entry) -> _Rules | None:
        if _kind(e.node) == "null":
            self.report(e.line, e.path, "must be a mapping, got null (leave match out for the default dialplan)")
            return None
        entries = self.mapping(e, ("to", "from"))
        if entries is None:
            return None
        if "to" not in entries:
            self.report(e.line, e.key("to"), "required: the called numbers this dialplan answers")
            return None
        to = self.patterns(entries["to"])
        from_ = self.patterns(entries["from"]) if "from" in entries else ()
        if to is None or from_ is None:
            return None
        return _Rules(to, from_)

    def patterns(self, e: _Entry) -> tuple[_Pattern, ...] | None:
        items = self.items(e)
        if items is None:
            return None
        if not items:
            self.report(e.line, e.path, "must list at least one number pattern")
            return None
        patterns = []
        for item in items:
            text = self.string(item, numbers_as_text=True)
            problem = None if text is None else pattern_problem(text)
            if problem is not None:
                self.report(item.line, item.path, problem)
            if text is None or problem is not None:
                return None
            patterns.append(_Pattern(text, item))
        return tuple(patterns)

    def turn_detection(self, e: _Entry) -> dict[str, Any] | None:
        if _kind(e.node) == "null":
            return None  # manual turns: the bridge commits audio and asks for responses itself
        entries = self.mapping(e, None)
        if entries is None:
            return None
        if "type" not in entries:
            self.report(e.line, e.key("type"), "required: server_vad or semantic_vad (or turn_detection: null)")
            return None
        vad = self.choice(entries["type"], tuple(_VAD_KEYS), "turn detection type")
        if vad is None:
            return None
        known = _VAD_KEYS[vad]
        values: dict[str, Any] = default_turn_detection() if vad == "server_vad" else {"type": vad}
        for key, entry in entries.items():
            if key not in known:
                other = next((t for t, keys in _VAD_KEYS.items() if t != vad and key in keys), None)
                self.report(entry.line, entry.path, f"applies only to {other}" if other else _unknown_key(key, known))
            elif key == "threshold":
                value = self.number(entry)
                if value is not None and not 0 <= value <= 1:
                    self.report(entry.line, entry.path, f"must be between 0 and 1, got {_describe(entry.node)}")
                values[key] = value
            elif key in ("prefix_padding_ms", "silence_duration_ms"):
                values[key] = self.whole(entry, 0)
            elif key == "idle_timeout_ms":
                values[key] = self.nullable(entry, lambda x: self.whole(x, 1))
            elif key == "eagerness":
                values[key] = self.choice(entry, _EAGERNESS, "eagerness")
            elif key != "type":
                values[key] = self.boolean(entry)
        return values

    def transcription(self, e: _Entry) -> dict[str, Any] | None:
        entries = self.mapping(e, ("model", "language", "prompt"))
        if entries is None:
            return None
        if "model" not in entries:
            self.report(e.line, e.key("model"), "required (for example gpt-4o-mini-transcribe)")
        return {key: self.text(entry) for key, entry in entries.items()}

    def limits(self, e: _Entry) -> Limits | None:
        entries = self.mapping(e, ("max_call_s", "idle_s"))
        if entries is None:
            return None
        defaults = Limits()
        return Limits(
            max_call_s=self.optional(entries.get("max_call_s"), self.positive, defaults.max_call_s),
            idle_s=self.optional(entries.get("idle_s"), self.positive, defaults.idle_s),
        )

    # -- tools -------------------------------------------------------------------------------------

    def tools(self, e: _Entry) -> tuple[ToolSpec, ...] | None:
        items = self.items(e)
        if items is None:
            return None
        specs = [self.tool(item) for item in items]
        return tuple(spec for spec in specs if spec is not None)

    def tool(self, e: _Entry) -> ToolSpec | None:
        entries = self.mapping(e, _TOOL_KEYS)
        if entries is None:
            return None
        mark = len(self.problems)
        name = self.tool_name(e, entries)
        kinds = [kind for kind in _TOOL_KINDS if kind in entries]
        if not kinds:
            self.report(e.line, e.path, "needs exactly one of static, http, python, builtin")
        elif len(kinds) > 1:
            self.report(
                entries[kinds[1]].line,
                e.path,
                f"has both {kinds[0]!r} and {kinds[1]!r}; a tool needs exactly one of static, http, python, builtin",
            )
        tool_timeout = self.positive(entries["timeout_s"]) if "timeout_s" in entries else None
        kind, description = self.tool_kind(e, kinds[0] if len(kinds) == 1 else "", entries, tool_timeout)
        if "description" in entries:
            description = self.string(entries["description"]) or ""
        parameters = self.parameters(entries, kind, is_builtin=kinds == ["builtin"])
        if len(self.problems) > mark or name is None or kind is None or parameters is None:
            return None
        if isinstance(kind, HttpTool) and tool_timeout is None:
            tool_timeout = kind.timeout_s
        return ToolSpec(name, kind, description, parameters, tool_timeout or _DEFAULT_TIMEOUT_S)

    def tool_name(self, e: _Entry, entries: dict[str, _Entry]) -> str | None:
        if "name" not in entries:
            self.report(e.line, e.key("name"), "required")
            return None
        entry = entries["name"]
        name = self.string(entry)
        if name is None:
            return None
        if not _TOOL_NAME.fullmatch(name):
            self.report(entry.line, entry.path, f"must be 1-64 letters, digits, '_' or '-', got {name!r}")
            return None
        if name in self.tool_lines:
            self.report(entry.line, entry.path, f"duplicate tool name {name!r} (first on line {self.tool_lines[name]})")
            return None
        self.tool_lines[name] = entry.line
        return name

    def tool_kind(
        self, e: _Entry, kind: str, entries: dict[str, _Entry], tool_timeout: float | None
    ) -> tuple[ToolKind | None, str]:
        """The tool's kind (``kind`` is "" when the tool has none or several) and its default description."""
        builtin = self.choice(entries["builtin"], BUILTIN_KINDS, "builtin") if kind == "builtin" else None
        for option, allowed in _BUILTIN_OPTIONS.items():
            if option in entries and (kind != "builtin" or (builtin is not None and builtin not in allowed)):
                entry = entries[option]
                self.report(entry.line, entry.path, f"applies only to builtin {' or '.join(allowed)}")
        if kind == "static":
            entry = entries["static"]
            result = self.plain(entry)
            if result is None:
                self.report(entry.line, entry.path, "must be a value, got null")
                return None, ""
            return StaticTool(result), ""
        if kind == "http":
            return self.http(entries["http"], tool_timeout), ""
        if kind == "python":
            return self.python(entries["python"])
        tool = None if builtin is None else self.builtin(e, builtin, entries)
        return tool, "" if tool is None else builtin_description(tool)

    def http(self, e: _Entry, tool_timeout: float | None) -> HttpTool | None:
        entries = self.mapping(e, ("url", "method", "timeout_s", "headers"))
        if entries is None:
            return None
        url = None
        if "url" not in entries:
            self.report(e.line, e.key("url"), "required")
        else:
            url = self.string(entries["url"])
            parts = urlsplit(url or "")
            if url is not None and (parts.scheme not in ("http", "https") or not parts.netloc):
                message = f"must be an http:// or https:// URL, got {url!r}"
                self.report(entries["url"].line, entries["url"].path, message)
        method: HttpMethod = self.optional(
            entries.get("method"), lambda x: self.choice(x, HTTP_METHODS, "HTTP method"), "POST"
        )
        timeout = self.positive(entries["timeout_s"]) if "timeout_s" in entries else None
        if timeout is not None and tool_timeout is not None and timeout > tool_timeout:
            entry = entries["timeout_s"]
            message = f"{timeout:g} s is longer than the tool's timeout_s ({tool_timeout:g} s)"
            self.report(entry.line, entry.path, message)
        headers = self.headers(entries["headers"]) if "headers" in entries else {}
        if url is None or headers is None:
            return None
        return HttpTool(url, method, timeout or tool_timeout or _DEFAULT_TIMEOUT_S, headers)

    def headers(self, e: _Entry) -> dict[str, str] | None:
        entries = self.mapping(e, None)
        if entries is None:
            return None
        headers = {}
        for key, entry in entries.items():
            if not _HEADER_NAME.fullmatch(key):
                self.report(entry.line, entry.path, "not a valid HTTP header name")
            value = self.string(entry)
            if value is not None:
                headers[key] = value
        return headers

    def python(self, e: _Entry) -> tuple[PythonTool | None, str]:
        target = self.string(e)
        if target is None:
            return None, ""
        if not _PYTHON_TARGET.fullmatch(target):
            self.report(e.line, e.path, f"must be 'module:function' or 'entry:NAME', got {target!r}")
            return None, ""
        try:
            handler = resolve_python_target(target)
        except ToolError as exc:
            self.report(e.line, e.path, str(exc))
            return None, ""
        # The handler's docstring, first paragraph, is a fine default description for the model.
        doc = (inspect.getdoc(handler) or "").split("\n\n")[0]
        return PythonTool(target), " ".join(doc.split())

    def builtin(self, e: _Entry, kind: BuiltinKind, entries: dict[str, _Entry]) -> BuiltinTool | None:
        to = say = digits = None
        seconds = None
        if kind == "transfer":
            if "to" not in entries:
                self.report(e.line, e.key("to"), "required for builtin transfer: an E.164 number or a sip: URI")
                return None
            to = self.string(entries["to"], numbers_as_text=True)
            if to is not None and not _TRANSFER_TARGET.fullmatch(to):
                self.report(
                    entries["to"].line,
                    entries["to"].path,
                    f"must be an E.164 number (like +15557654321) or a sip: URI, got {to!r}",
                )
                return None
        if "say" in entries:
            say = self.text(entries["say"])
        if "digits" in entries:
            digits = self.string(entries["digits"], numbers_as_text=True)
            if digits is not None and not _DIGITS.fullmatch(digits):
                entry = entries["digits"]
                self.report(entry.line, entry.path, f"must be DTMF keys (0-9, *, #, A-D), got {digits!r}")
        if "seconds" in entries:
            seconds = self.positive(entries["seconds"])
        return BuiltinTool(kind, to=to, say=say, digits=digits, seconds=seconds)

    def parameters(
        self, entries: dict[str, _Entry], kind: ToolKind | None, *, is_builtin: bool
    ) -> dict[str, Any] | None:
        if "parameters" not in entries:
            return builtin_parameters(kind) if isinstance(kind, BuiltinTool) else empty_parameters()
        entry = entries["parameters"]
        if is_builtin:
            self.report(entry.line, entry.path, "not allowed on builtin tools: they define their own")
            return None
        mark = len(self.problems)
        schema = self.plain(entry)
        if len(self.problems) > mark:
            return None
        if not isinstance(schema, dict):
            self.report(entry.line, entry.path, f"must be a JSON Schema mapping, got {_describe(entry.node)}")
            return None
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            line, path = self.locate(entry, list(exc.path))
            self.report(line, path, f"not a valid JSON Schema: {exc.message}")
            return None
        if "type" not in schema:
            self.report(entry.line, entry.key("type"), f"required: {_OBJECT}")
            return None
        if schema["type"] != "object":
            line, path = self.locate(entry, ["type"])
            self.report(line, path, f"must be {_OBJECT}, got {schema['type']!r}")
            return None
        return schema

    def dtmf(self, e: _Entry, tools: Sequence[ToolSpec]) -> dict[str, str] | None:
        entries = self.mapping(e, None)
        if entries is None:
            return None
        by_name = {tool.name: tool for tool in tools}
        mapping = {}
        for key, entry in entries.items():
            if len(key) != 1 or key not in _DTMF_KEYS:
                self.report(entry.line, entry.path, f"{key!r} is not a DTMF key; use 0-9, *, #, A-D")
            name = self.string(entry)
            if name is None:
                continue
            tool = by_name.get(name)
            if tool is None and name not in self.tool_lines:
                known = list(self.tool_lines)
                listed = f"; tools here: {', '.join(known)}" if known else "; this dialplan has no tools"
                self.report(entry.line, entry.path, f"unknown tool {name!r}{_suggest(name, known)}{listed}")
            elif tool is not None and tool.parameters.get("required"):
                needs = ", ".join(tool.parameters["required"])
                self.report(entry.line, entry.path, f"tool {name!r} needs arguments ({needs}); a key press gives none")
            mapping[key] = name
        return mapping


# -- the set of files --------------------------------------------------------------------------------


def _from_overlap(a: tuple[_Pattern, ...], b: tuple[_Pattern, ...]) -> str | None:
    """A description of callers both ``from`` filters accept (empty filter: every caller), or None."""
    if not a and not b:
        return "any caller"
    if not a or not b:
        return (a or b)[0].text
    for x in a:
        for y in b:
            if patterns_overlap(x.text, y.text):
                return narrower(x.text, y.text)
    return None


def _check_overlap(earlier: _Parsed, theirs: _Rules, later: _Parsed, mine: _Rules, problems: list[_Problem]) -> None:
    """Report (once) a call that both ``earlier`` and ``later`` would match."""
    callers = _from_overlap(theirs.from_, mine.from_)
    if callers is None:
        return
    for my_to in mine.to:
        for their_to in theirs.to:
            if not patterns_overlap(my_to.text, their_to.text):
                continue
            where = f"{earlier.source}:{their_to.entry.line}"
            message = (
                f"overlaps dialplan {earlier.name!r} ({where}): calls to {narrower(my_to.text, their_to.text)} "
                f"from {callers} would match both"
            )
            problems.append(_Problem(later.source, my_to.entry.line, my_to.entry.path, message))
            return


def _check_set(parsed: Sequence[_Parsed], directory: str, problems: list[_Problem]) -> None:
    """Checks across files: unique names, exactly one default, no call matched by two dialplans."""
    first_by_name: dict[str, _Parsed] = {}
    for item in parsed:
        if item.name is None:
            continue
        first = first_by_name.setdefault(item.name, item)
        if first is not item:
            message = f"{item.name!r} is already the name of {first.source}:{first.name_line}"
            problems.append(_Problem(item.source, item.name_line, "name", message))
    defaults = [item for item in parsed if item.is_default]
    for item in defaults[1:]:
        message = f"missing here and in {defaults[0].source}: only one dialplan may leave out match (the default)"
        problems.append(_Problem(item.source, item.line, "match", message))
    # Without knowing every file (one could not be parsed), "no default" might be false.
    if not defaults and all(item.is_default is not None for item in parsed):
        problems.append(_Problem(directory, None, "", "no default dialplan: exactly one file must leave out match"))
    ruled = [(item, item.rules) for item in parsed if item.rules is not None]
    for i, (later, mine) in enumerate(ruled):
        for earlier, theirs in ruled[:i]:
            _check_overlap(earlier, theirs, later, mine, problems)


def _raise(problems: list[_Problem]) -> None:
    if problems:
        ordered = sorted(problems, key=lambda p: (p.source, p.line or 0))
        raise DialplanError([str(problem) for problem in ordered])


def load_dialplan_text(text: str, source: str = "<text>", env: Mapping[str, str] | None = None) -> Dialplan:
    """Load one dialplan from YAML text (checks that need the other files are skipped).

    Args:
        text: the YAML document.
        source: the name problems are reported under.
        env: variables for ``${VAR}``; None reads the process environment.

    Raises:
        DialplanError: with every problem found.
    """
    problems: list[_Problem] = []
    parsed = _Doc(source, os.environ if env is None else env, problems).parse(text)
    _raise(problems)
    assert parsed.plan is not None  # every path that leaves the plan unset reports a problem
    return parsed.plan


def load_dialplans(directory: Path, env: Mapping[str, str] | None = None) -> DialplanSet:
    """Load every ``*.yaml``/``*.yml`` file in ``directory`` (not subfolders, not dotfiles).

    A folder without dialplan files gives a set holding only the built-in default dialplan.

    Args:
        directory: the dialplan folder.
        env: variables for ``${VAR}``; None reads the process environment (dialplans are operator
            configuration, like Settings, and ``${VAR}`` exists to keep secrets out of them).

    Raises:
        DialplanError: with every problem in every file, each as ``file:line: key.path: message``.
    """
    if not directory.is_dir():
        raise DialplanError([f"{directory}: not a directory"])
    env = os.environ if env is None else env
    files = sorted(
        path
        for path in directory.iterdir()
        if path.suffix in (".yaml", ".yml") and not path.name.startswith(".") and path.is_file()
    )
    if not files:
        return DialplanSet((Dialplan(name="default"),))
    problems: list[_Problem] = []
    parsed = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.append(_Problem(str(path), None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
            parsed.append(_Parsed(str(path)))
            continue
        except OSError as exc:
            problems.append(_Problem(str(path), None, "", f"cannot read: {exc.strerror}"))
            parsed.append(_Parsed(str(path)))
            continue
        parsed.append(_Doc(str(path), env, problems).parse(text))
    _check_set(parsed, str(directory), problems)
    _raise(problems)
    plans = [item.plan for item in parsed if item.plan is not None]
    # The default first, then the others in file order.
    return DialplanSet(tuple(sorted(plans, key=lambda plan: not plan.is_default)))
