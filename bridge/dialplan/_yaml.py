"""Reading a dialplan's YAML node graph: typed values, ``${VAR}`` expansion, and problems with lines.

The YAML is composed into nodes (not constructed into Python objects) so that every key and list item
keeps its line. A :class:`Reader` checks a node's shape and type, appending a :class:`Problem`
(``file:line: key.path: message``) for each mistake instead of stopping at the first, and describes
what it found and which known key was probably meant.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from bridge.dialplan.model import JsonValue

__all__ = ["Entry", "Problem", "Reader", "describe", "line_of", "node_kind", "suggest", "unknown_key"]

_T = TypeVar("_T")
_S = TypeVar("_S", bound=str)

_MAX_DEPTH = 64

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


def node_kind(node: Node) -> str:
    """What a node holds: str, int, float, bool, null, map, seq, or other (any other tag)."""
    kind = _KINDS.get(node.tag, "other")
    expected = MappingNode if kind == "map" else SequenceNode if kind == "seq" else ScalarNode
    return kind if isinstance(node, expected) else "other"


def line_of(node: Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def describe(node: Node) -> str:
    """A node as a problem message shows what was found (``a list``, ``'text'``, ``42``)."""
    kind = node_kind(node)
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


def suggest(word: str, candidates: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the candidate closest to ``word`` (case aside), or ""."""
    folded = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(word.lower(), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


def unknown_key(key: str, known: Sequence[str]) -> str:
    """The message for a key that is not one of ``known``."""
    suggestion = suggest(key, known)
    return f"unknown key{suggestion}" if suggestion else f"unknown key; expected one of {', '.join(known)}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake, shown as ``file:line: key.path: message``."""

    source: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Entry:
    """A value node with the line of the key or list item holding it, and its key path."""

    node: Node
    line: int
    path: str

    def key(self, name: str) -> str:
        return _join(self.path, name)


@dataclass(slots=True)
class Reader:
    """Reads values out of one file's nodes, appending every problem to ``problems``; ``env`` holds the
    variables ``${VAR}`` refers to."""

    source: str
    env: Mapping[str, str]
    problems: list[Problem]

    def report(self, line: int | None, path: str, message: str) -> None:
        self.problems.append(Problem(self.source, line, path, message))

    # -- YAML shapes -------------------------------------------------------------------------------

    def mapping(self, e: Entry, known: Sequence[str] | None) -> dict[str, Entry] | None:
        if node_kind(e.node) != "map":
            self.report(e.line, e.path, f"must be a mapping, got {describe(e.node)}")
            return None
        out: dict[str, Entry] = {}
        for key_node, value_node in e.node.value:
            line = line_of(key_node)
            if not isinstance(key_node, ScalarNode):
                self.report(line, e.path, f"keys must be plain text, got {describe(key_node)}")
                continue
            key = str(key_node.value)
            path = _join(e.path, key)
            if key_node.tag == f"{_TAG}merge":
                self.report(line, path, "merge keys (<<) are not supported; repeat the keys instead")
            elif key in out:
                self.report(line, path, f"duplicate key (first on line {out[key].line})")
            elif known is not None and key not in known:
                self.report(line, path, unknown_key(key, known))
            else:
                out[key] = Entry(value_node, line, path)
        return out

    def items(self, e: Entry) -> list[Entry] | None:
        if node_kind(e.node) != "seq":
            self.report(e.line, e.path, f"must be a list, got {describe(e.node)}")
            return None
        return [Entry(item, line_of(item), f"{e.path}[{i}]") for i, item in enumerate(e.node.value)]

    def locate(self, e: Entry, parts: Sequence[object]) -> tuple[int, str]:
        """The line and path of a value inside ``e`` (for errors found after conversion)."""
        node, line, path = e.node, e.line, e.path
        for part in parts:
            if isinstance(node, MappingNode):
                children = [(k.value, line_of(k), v, _join(path, str(k.value))) for k, v in node.value]
            elif isinstance(node, SequenceNode):
                children = [(i, line_of(v), v, f"{path}[{i}]") for i, v in enumerate(node.value)]
            else:
                break
            child = next((c for c in children if c[0] == part), None)
            if child is None:
                break
            _, line, node, path = child
        return line, path

    # -- scalars -----------------------------------------------------------------------------------

    def expand(self, text: str, e: Entry) -> str | None:
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

    def string(self, e: Entry, *, numbers_as_text: bool = False) -> str | None:
        kind = node_kind(e.node)
        if kind == "str":
            return self.expand(str(e.node.value), e)
        if numbers_as_text and kind == "int":
            # An unquoted +15551230000 is a YAML integer; the text is what the operator meant.
            return str(e.node.value)
        hint = f' (quote it: "{e.node.value}")' if kind in ("int", "float", "bool") else ""
        self.report(e.line, e.path, f"must be a string, got {describe(e.node)}{hint}")
        return None

    def text(self, e: Entry) -> str | None:
        """A non-empty string."""
        value = self.string(e)
        if value is not None and not value.strip():
            self.report(e.line, e.path, "must not be empty")
            return None
        return value

    def boolean(self, e: Entry) -> bool | None:
        if isinstance(e.node, ScalarNode) and node_kind(e.node) == "bool":
            return _SCALARS.construct_yaml_bool(e.node)
        self.report(e.line, e.path, f"must be true or false, got {describe(e.node)}")
        return None

    def number(self, e: Entry) -> float | int | None:
        kind = node_kind(e.node)
        if isinstance(e.node, ScalarNode) and kind == "int":
            return _SCALARS.construct_yaml_int(e.node)
        if isinstance(e.node, ScalarNode) and kind == "float":
            value = _SCALARS.construct_yaml_float(e.node)
            if math.isfinite(value):
                return value
        self.report(e.line, e.path, f"must be a number, got {describe(e.node)}")
        return None

    def positive(self, e: Entry) -> float | None:
        value = self.number(e)
        if value is not None and value <= 0:
            self.report(e.line, e.path, f"must be a positive number, got {describe(e.node)}")
            return None
        return None if value is None else float(value)

    def whole(self, e: Entry, minimum: int) -> int | None:
        if isinstance(e.node, ScalarNode) and node_kind(e.node) == "int":
            value = _SCALARS.construct_yaml_int(e.node)
            if value >= minimum:
                return value
        self.report(e.line, e.path, f"must be a whole number >= {minimum}, got {describe(e.node)}")
        return None

    def choice(self, e: Entry, choices: Sequence[_S], noun: str) -> _S | None:
        if node_kind(e.node) != "str":
            self.report(e.line, e.path, f"must be one of {', '.join(choices)}, got {describe(e.node)}")
            return None
        value = self.expand(str(e.node.value), e)
        if value is None:
            return None
        if value in choices:
            return choices[choices.index(value)]  # typed as the Literal choice, not a plain str
        self.report(
            e.line, e.path, f"unknown {noun} {value!r}{suggest(value, choices)}; expected one of {', '.join(choices)}"
        )
        return None

    def plain(self, e: Entry, outer: tuple[Node, ...] = ()) -> JsonValue:
        """Any JSON value (static results, JSON Schemas), strings expanded; ``outer`` holds the enclosing nodes."""
        if any(node is e.node for node in outer):
            self.report(e.line, e.path, "recursive alias: this value contains itself")
            return None
        if len(outer) >= _MAX_DEPTH:
            self.report(e.line, e.path, f"nested more than {_MAX_DEPTH} levels deep")
            return None
        inner = (*outer, e.node)
        kind = node_kind(e.node)
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
            self.report(e.line, e.path, f"unsupported YAML value: {describe(e.node)}")
        return None

    # -- documents and optional values ------------------------------------------------------------

    def compose(self, text: str) -> Node | None:
        """The document's root node (None for an empty document); a syntax error is reported."""
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

    def optional(self, e: Entry | None, read: Callable[[Entry], _T | None], default: _T) -> _T:
        value = None if e is None else read(e)
        return default if value is None else value

    def nullable(self, e: Entry | None, read: Callable[[Entry], _T | None]) -> _T | None:
        if e is None or node_kind(e.node) == "null":
            return None
        return read(e)
