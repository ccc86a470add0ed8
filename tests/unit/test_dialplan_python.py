"""Python tool targets: ``module:function`` and ``entry:NAME`` resolve at load time, with clear problems."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.dialplan.loader import load_dialplan_text, resolve_python_target
from bridge.dialplan.model import PythonTool
from bridge.errors import DialplanError, ToolError
from bridge.tools import examples


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for throwaway modules; whatever they import is forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write_module(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def python_problems(target: str) -> list[str]:
    with pytest.raises(DialplanError) as info:
        load_dialplan_text(f"name: t\ntools:\n  - {{name: x, python: '{target}'}}\n", "t.yaml", {})
    return info.value.problems


def test_module_function_resolves_and_its_docstring_describes_the_tool(modules: Path) -> None:
    write_module(
        modules,
        "dp_stock",
        '''
        async def check_stock(sku: str) -> dict[str, int]:
            """Tell how many of an item
            are in stock.

            Longer notes for developers stay out of the description.
            """
            return {"count": 3}

        class Shelf:
            @staticmethod
            def count() -> int:
                return 1
        ''',
    )
    plan = load_dialplan_text(
        "name: t\ntools:\n"
        "  - {name: stock, python: 'dp_stock:check_stock'}\n"
        "  - {name: shelf, python: 'dp_stock:Shelf.count'}\n",
        "t.yaml",
        {},
    )
    stock, shelf = plan.tools
    assert stock.kind == PythonTool("dp_stock:check_stock")
    assert stock.description == "Tell how many of an item are in stock."
    assert shelf.kind == PythonTool("dp_stock:Shelf.count")
    assert shelf.description == ""
    assert resolve_python_target("dp_stock:Shelf.count")() == 1


def test_a_module_that_fails_on_import_reports_its_error(modules: Path) -> None:
    write_module(modules, "dp_boom", "raise RuntimeError('database unreachable')\n")
    assert python_problems("dp_boom:f") == ["t.yaml:3: tools[0].python: cannot import 'dp_boom': database unreachable"]


def test_a_module_with_a_syntax_error_reports_it(modules: Path) -> None:
    write_module(modules, "dp_syntax", "def f(:\n")
    [problem] = python_problems("dp_syntax:f")
    assert problem.startswith("t.yaml:3: tools[0].python: cannot import 'dp_syntax': ")
    assert "dp_syntax.py, line 1" in problem


def test_an_attribute_that_is_not_callable(modules: Path) -> None:
    write_module(modules, "dp_values", "LIMIT = 5\n")
    assert python_problems("dp_values:LIMIT") == ["t.yaml:3: tools[0].python: 'dp_values:LIMIT' is not callable"]
    assert python_problems("dp_values:missing.deeper") == [
        "t.yaml:3: tools[0].python: module 'dp_values' has no attribute 'missing.deeper'"
    ]


def write_distribution(folder: Path, entry_points: str) -> None:
    info = folder / "dp_demo_tools-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dp-demo-tools\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_entry_points_resolve(modules: Path) -> None:
    write_module(
        modules, "dp_plugin", 'def greet(name: str) -> str:\n    """Greet someone."""\n    return "hi " + name\n'
    )
    write_module(modules, "dp_broken_plugin", "raise ImportError('needs libfoo')\n")
    write_distribution(
        modules,
        """\
        [bridge.tools]
        greet = dp_plugin:greet
        broken = dp_broken_plugin:run
        [other.group]
        elsewhere = dp_plugin:greet
        """,
    )
    plan = load_dialplan_text("name: t\ntools:\n  - {name: greet, python: 'entry:greet'}\n", "t.yaml", {})
    assert plan.tools[0].kind == PythonTool("entry:greet")
    assert plan.tools[0].description == "Greet someone."
    assert resolve_python_target("entry:greet")("Ann") == "hi Ann"
    assert python_problems("entry:broken") == [
        "t.yaml:3: tools[0].python: cannot load entry point 'broken' (dp_broken_plugin:run): needs libfoo"
    ]
    assert python_problems("entry:elsewhere") == [
        "t.yaml:3: tools[0].python: no entry point named 'elsewhere' in group 'bridge.tools'"
    ]


def test_resolve_raises_tool_error_for_the_runtime_too() -> None:
    assert resolve_python_target("bridge.tools.examples:free_slots") is examples.free_slots
    with pytest.raises(ToolError, match="has no attribute 'nope'"):
        resolve_python_target("bridge.tools.examples:nope")


def test_the_documented_complete_example_loads(modules: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "dialplans.md").read_text()
    example = docs.split("## A complete example\n\n```yaml\n", 1)[1].split("```", 1)[0]
    write_module(modules, "acme_tools", "def check_stock(sku: str) -> int:\n    return 4\n")
    plan = load_dialplan_text(example, "docs", {"ORDERS_TOKEN": "t"})
    assert [tool.name for tool in plan.tools] == [
        "opening_hours",
        "lookup_order",
        "check_stock",
        "transfer_to_human",
        "end_call",
    ]
    assert plan.tools[2].kind == PythonTool("acme_tools:check_stock")
