"""Load dialplans from YAML files and check everything before a call depends on it.

The YAML is composed into a node graph (not constructed into Python objects) so that every key and
list item keeps its line: each problem reads ``file:line: key.path: message`` (``tools[1].http.url``).
All problems in all files are collected, then raised together as one DialplanError. Reading typed values
out of the nodes is :mod:`bridge.dialplan._yaml`'s; the ``tools`` are checked by :mod:`bridge.dialplan._tools`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.config import environment
from bridge.dialplan._tools import ToolReader, resolve_python_target
from bridge.dialplan._yaml import Entry, Problem, Reader, describe, line_of, node_kind, unknown_key
from bridge.dialplan.model import (
    AUDIO_MODES,
    DEFAULT_INSTRUCTIONS,
    Dialplan,
    DialplanSet,
    Limits,
    Match,
    ToolSpec,
    default_turn_detection,
)
from bridge.dialplan.router import narrower, pattern_problem, patterns_overlap
from bridge.errors import DialplanError

__all__ = ["load_dialplan_text", "load_dialplans", "resolve_python_target"]


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

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class _Pattern:
    text: str
    entry: Entry


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
class _Doc(Reader):
    """Checks one file's dialplan, appending every problem to ``problems``; its tools go to ``tools``."""

    tools: ToolReader = field(init=False)

    def __post_init__(self) -> None:
        self.tools = ToolReader(self.source, self.env, self.problems)

    def parse(self, text: str) -> _Parsed:
        parsed = _Parsed(self.source)
        mark = len(self.problems)
        root = self.compose(text)
        if len(self.problems) > mark:
            return parsed
        if root is None:
            self.report(1, "", "empty file: a dialplan needs at least a name")
            return parsed
        parsed.line = line_of(root)
        if node_kind(root) != "map":
            self.report(parsed.line, "", f"a dialplan file must be a mapping (name: ...), got {describe(root)}")
            return parsed
        top = self.mapping(Entry(root, parsed.line, ""), _DIALPLAN_KEYS)
        assert top is not None  # the root was checked to be a mapping just above
        parsed.is_default = "match" not in top
        self.dialplan(top, parsed)
        return parsed

    def dialplan(self, top: dict[str, Entry], parsed: _Parsed) -> None:
        mark = len(self.problems)
        name = self.dialplan_name(top, parsed)
        rules = self.match(top["match"]) if "match" in top else None
        parsed.rules = rules
        tools: tuple[ToolSpec, ...] = self.optional(top.get("tools"), self.tools.tools, ())
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
            dtmf=self.optional(get("dtmf"), lambda e: self.tools.dtmf(e, tools), {}),
            source=self.source,
        )
        if len(self.problems) == mark:
            parsed.plan = plan

    def dialplan_name(self, top: dict[str, Entry], parsed: _Parsed) -> str | None:
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

    def match(self, e: Entry) -> _Rules | None:
        if node_kind(e.node) == "null":
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

    def patterns(self, e: Entry) -> tuple[_Pattern, ...] | None:
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

    def turn_detection(self, e: Entry) -> dict[str, Any] | None:
        if node_kind(e.node) == "null":
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
                self.report(entry.line, entry.path, f"applies only to {other}" if other else unknown_key(key, known))
            elif key == "threshold":
                value = self.number(entry)
                if value is not None and not 0 <= value <= 1:
                    self.report(entry.line, entry.path, f"must be between 0 and 1, got {describe(entry.node)}")
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

    def transcription(self, e: Entry) -> dict[str, Any] | None:
        entries = self.mapping(e, ("model", "language", "prompt"))
        if entries is None:
            return None
        if "model" not in entries:
            self.report(e.line, e.key("model"), "required (for example gpt-4o-mini-transcribe)")
        return {key: self.text(entry) for key, entry in entries.items()}

    def limits(self, e: Entry) -> Limits | None:
        entries = self.mapping(e, ("max_call_s", "idle_s"))
        if entries is None:
            return None
        defaults = Limits()
        return Limits(
            max_call_s=self.optional(entries.get("max_call_s"), self.positive, defaults.max_call_s),
            idle_s=self.optional(entries.get("idle_s"), self.positive, defaults.idle_s),
        )


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


def _check_overlap(earlier: _Parsed, theirs: _Rules, later: _Parsed, mine: _Rules, problems: list[Problem]) -> None:
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
            problems.append(Problem(later.source, my_to.entry.line, my_to.entry.path, message))
            return


def _check_set(parsed: Sequence[_Parsed], directory: str, problems: list[Problem]) -> None:
    """Checks across files: unique names, exactly one default, no call matched by two dialplans."""
    first_by_name: dict[str, _Parsed] = {}
    for item in parsed:
        if item.name is None:
            continue
        first = first_by_name.setdefault(item.name, item)
        if first is not item:
            message = f"{item.name!r} is already the name of {first.source}:{first.name_line}"
            problems.append(Problem(item.source, item.name_line, "name", message))
    defaults = [item for item in parsed if item.is_default]
    for item in defaults[1:]:
        message = f"missing here and in {defaults[0].source}: only one dialplan may leave out match (the default)"
        problems.append(Problem(item.source, item.line, "match", message))
    # Without knowing every file (one could not be parsed), "no default" might be false.
    if not defaults and all(item.is_default is not None for item in parsed):
        problems.append(Problem(directory, None, "", "no default dialplan: exactly one file must leave out match"))
    ruled = [(item, item.rules) for item in parsed if item.rules is not None]
    for i, (later, mine) in enumerate(ruled):
        for earlier, theirs in ruled[:i]:
            _check_overlap(earlier, theirs, later, mine, problems)


def _raise(problems: list[Problem]) -> None:
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
    problems: list[Problem] = []
    parsed = _Doc(source, environment() if env is None else env, problems).parse(text)
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
    env = environment() if env is None else env
    files = sorted(
        path
        for path in directory.iterdir()
        if path.suffix in (".yaml", ".yml") and not path.name.startswith(".") and path.is_file()
    )
    if not files:
        return DialplanSet((Dialplan(name="default"),))
    problems: list[Problem] = []
    parsed = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(str(path), None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
            parsed.append(_Parsed(str(path)))
            continue
        except OSError as exc:
            problems.append(Problem(str(path), None, "", f"cannot read: {exc.strerror}"))
            parsed.append(_Parsed(str(path)))
            continue
        parsed.append(_Doc(str(path), env, problems).parse(text))
    _check_set(parsed, str(directory), problems)
    _raise(problems)
    plans = [item.plan for item in parsed if item.plan is not None]
    # The default first, then the others in file order.
    return DialplanSet(tuple(sorted(plans, key=lambda plan: not plan.is_default)))
