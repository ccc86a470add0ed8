"""Checking a dialplan's ``tools`` (and the ``dtmf`` keys that run them), and loading python tool targets."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from bridge.dialplan._yaml import Entry, Reader, describe, suggest
from bridge.dialplan.model import (
    BUILTIN_KINDS,
    HTTP_METHODS,
    BuiltinKind,
    BuiltinTool,
    HttpMethod,
    HttpTool,
    PythonTool,
    StaticTool,
    ToolKind,
    ToolSpec,
    builtin_description,
    builtin_parameters,
    empty_parameters,
)
from bridge.errors import ToolError

__all__ = ["ToolReader", "resolve_python_target"]

_TOOL_KINDS = ("static", "http", "python", "builtin")
_TOOL_KEYS = ("name", "description", "parameters", "timeout_s", *_TOOL_KINDS, "to", "say", "digits", "seconds")
# Builtin options live beside ``builtin:``; each belongs to some builtins only.
_BUILTIN_OPTIONS: dict[str, tuple[BuiltinKind, ...]] = {
    "to": ("transfer",),
    "say": ("hangup", "transfer"),
    "digits": ("send_dtmf",),
    "seconds": ("wait",),
}
_DTMF_KEYS = "0123456789*#ABCD"
_DEFAULT_TIMEOUT_S = 10.0
_OBJECT = "'object' (the model passes arguments as a JSON object)"

_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PYTHON_TARGET = re.compile(r"entry:\S+|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_TRANSFER_TARGET = re.compile(r"\+[1-9][0-9]{1,14}|sips?:\S+")
_DIGITS = re.compile(r"[0-9*#A-D]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


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


@dataclass(slots=True)
class ToolReader(Reader):
    """Reads one dialplan's tools; ``tool_lines`` remembers where each tool name was first given."""

    tool_lines: dict[str, int] = field(default_factory=dict)

    def tools(self, e: Entry) -> tuple[ToolSpec, ...] | None:
        items = self.items(e)
        if items is None:
            return None
        specs = [self.tool(item) for item in items]
        return tuple(spec for spec in specs if spec is not None)

    def tool(self, e: Entry) -> ToolSpec | None:
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

    def tool_name(self, e: Entry, entries: dict[str, Entry]) -> str | None:
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
        self, e: Entry, kind: str, entries: dict[str, Entry], tool_timeout: float | None
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

    def http(self, e: Entry, tool_timeout: float | None) -> HttpTool | None:
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

    def headers(self, e: Entry) -> dict[str, str] | None:
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

    def python(self, e: Entry) -> tuple[PythonTool | None, str]:
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

    def builtin(self, e: Entry, kind: BuiltinKind, entries: dict[str, Entry]) -> BuiltinTool | None:
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
        self, entries: dict[str, Entry], kind: ToolKind | None, *, is_builtin: bool
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
            self.report(entry.line, entry.path, f"must be a JSON Schema mapping, got {describe(entry.node)}")
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

    def dtmf(self, e: Entry, tools: Sequence[ToolSpec]) -> dict[str, str] | None:
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
                self.report(entry.line, entry.path, f"unknown tool {name!r}{suggest(name, known)}{listed}")
            elif tool is not None and tool.parameters.get("required"):
                needs = ", ".join(tool.parameters["required"])
                self.report(entry.line, entry.path, f"tool {name!r} needs arguments ({needs}); a key press gives none")
            mapping[key] = name
        return mapping
