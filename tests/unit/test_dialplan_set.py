"""Loading a folder of dialplans: checks across files, the shipped dialplans, and robustness."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bridge.dialplan.loader import load_dialplan_text, load_dialplans
from bridge.dialplan.model import BUILT_IN_SOURCE, BuiltinTool, Dialplan, HttpTool, PythonTool, StaticTool
from bridge.errors import DialplanError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "dialplans"
FIXTURES = ROOT / "tests" / "fixtures" / "dialplans"


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def set_problems(folder: Path, files: dict[str, str]) -> list[str]:
    write(folder, files)
    with pytest.raises(DialplanError) as info:
        load_dialplans(folder, {})
    return info.value.problems


# -- the folder -------------------------------------------------------------------------------------


def test_valid_fixture_folder_loads_default_first() -> None:
    dialplans = load_dialplans(FIXTURES / "valid", {})
    assert [plan.name for plan in dialplans] == ["front-desk", "sales", "uk-callers", "us-callers"]
    assert dialplans.default.name == "front-desk"
    assert dialplans.default.source == str(FIXTURES / "valid" / "default.yaml")
    uk = dialplans.by_name("uk-callers")
    assert uk is not None and uk.voice == "cedar"
    assert dialplans.by_name("nobody") is None


def test_every_problem_in_every_file_is_reported(tmp_path: Path) -> None:
    folder = FIXTURES / "broken"
    assert not (folder / "nested").joinpath("ignored.yaml").read_text().startswith("name")
    with pytest.raises(DialplanError) as info:
        load_dialplans(folder, {})
    a, b, c, d, e, f = (
        str(folder / name)
        for name in ("a-main.yaml", "b-main.yaml", "c-sales.yaml", "d-support.yaml", "e-uk.yml", "f-syntax.yaml")
    )
    assert info.value.problems == [
        f"{b}:2: name: 'main' is already the name of {a}:1",
        f"{b}:2: match: missing here and in {a}: only one dialplan may leave out match (the default)",
        f"{d}:5: match.to[1]: overlaps dialplan 'sales' ({c}:3):"
        " calls to +15551230000 from any caller would match both",
        f"{e}:3: match.to[0]: overlaps dialplan 'sales' ({c}:3): calls to +15557* from +44* would match both",
        f"{f}:4: YAML syntax error: while parsing a block collection (line 3):"
        " expected <block end>, but found '<block mapping start>'",
    ]
    assert str(info.value) == "\n".join(info.value.problems)


def test_a_folder_without_dialplan_files_gets_the_built_in_default(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("no dialplans here")
    dialplans = load_dialplans(tmp_path, {})
    assert dialplans.dialplans == (Dialplan(name="default"),)
    assert dialplans.default.source == BUILT_IN_SOURCE


def test_a_missing_folder_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(DialplanError) as info:
        load_dialplans(tmp_path / "nowhere", {})
    assert info.value.problems == [f"{tmp_path / 'nowhere'}: not a directory"]


def test_no_default(tmp_path: Path) -> None:
    problems = set_problems(tmp_path, {"a.yaml": "name: a\nmatch: {to: ['+1555*']}\n"})
    assert problems == [f"{tmp_path}: no default dialplan: exactly one file must leave out match"]


def test_an_unparsable_file_suppresses_the_no_default_check(tmp_path: Path) -> None:
    # The broken file might be the default; saying "no default" could be wrong.
    problems = set_problems(tmp_path, {"a.yaml": "name: a\nmatch: {to: ['+1555*']}\n", "b.yaml": "name: [b\n"})
    assert problems == [
        f"{tmp_path / 'b.yaml'}:2: YAML syntax error: while parsing a flow sequence (line 1):"
        " expected ',' or ']', but got '<stream end>'"
    ]


def test_a_file_that_is_not_utf8_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    problems = set_problems(tmp_path, {"default.yaml": "name: default\n"})
    assert problems == [f"{tmp_path / 'latin1.yaml'}: not UTF-8 text (invalid continuation byte at byte 9)"]


@pytest.mark.skipif(not Path("/proc/self/mem").is_file(), reason="needs Linux /proc")
def test_a_file_that_cannot_be_read_is_a_problem(tmp_path: Path) -> None:
    # /proc/self/mem is a regular file whose first page cannot be read: a Linux way to get an
    # OSError that even root cannot avoid (unlike permission bits).
    (tmp_path / "unreadable.yaml").symlink_to("/proc/self/mem")
    problems = set_problems(tmp_path, {"default.yaml": "name: default\n"})
    assert problems == [f"{tmp_path / 'unreadable.yaml'}: cannot read: Input/output error"]


def test_other_files_still_count_when_one_has_problems(tmp_path: Path) -> None:
    # b's bad voice does not hide that its name clashes with a's.
    problems = set_problems(tmp_path, {"a.yaml": "name: x\n", "b.yaml": "name: x\nvoice: 1\nmatch: {to: ['+1*']}\n"})
    b = tmp_path / "b.yaml"
    assert problems == [
        f"{b}:1: name: 'x' is already the name of {tmp_path / 'a.yaml'}:1",
        f'{b}:2: voice: must be a string, got 1 (quote it: "1")',
    ]


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ("{to: ['+15551230000']}", "{to: ['+15551230000']}", "calls to +15551230000 from any caller"),
        ("{to: ['+1555*']}", "{to: ['+15551230000']}", "calls to +15551230000 from any caller"),
        ("{to: ['+15551230000']}", "{to: ['+1555*']}", "calls to +15551230000 from any caller"),
        ("{to: ['+1555*']}", "{to: ['+15551*']}", "calls to +15551* from any caller"),
        ("{to: ['+15551*']}", "{to: ['+1*']}", "calls to +15551* from any caller"),
        ("{to: ['+1555*'], from: ['+44*']}", "{to: ['+1555*']}", "calls to +1555* from +44*"),
        ("{to: ['+1555*']}", "{to: ['+1555*'], from: ['+44*']}", "calls to +1555* from +44*"),
        (
            "{to: ['+1555*'], from: ['+44*']}",
            "{to: ['+1555*'], from: ['+1*', '+4420*']}",
            "calls to +1555* from +4420*",
        ),
    ],
)
def test_overlapping_matches(tmp_path: Path, first: str, second: str, message: str) -> None:
    problems = set_problems(
        tmp_path,
        {"a.yaml": "name: default\n", "b.yaml": f"name: b\nmatch: {first}\n", "c.yaml": f"name: c\nmatch: {second}\n"},
    )
    b, c = tmp_path / "b.yaml", tmp_path / "c.yaml"
    assert problems == [f"{c}:2: match.to[0]: overlaps dialplan 'b' ({b}:2): {message} would match both"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("{to: ['+15551230000']}", "{to: ['+15551230001']}"),
        ("{to: ['+1555*']}", "{to: ['+1556*']}"),
        ("{to: ['+1555*']}", "{to: ['+15561230000']}"),
        ("{to: ['+1555*'], from: ['+44*']}", "{to: ['+1555*'], from: ['+1*']}"),
        ("{to: ['+1555*'], from: ['+4420*']}", "{to: ['+1555*'], from: ['+4421*', '+33*']}"),
    ],
)
def test_disjoint_matches_load(tmp_path: Path, first: str, second: str) -> None:
    write(
        tmp_path,
        {"a.yaml": "name: default\n", "b.yaml": f"name: b\nmatch: {first}\n", "c.yaml": f"name: c\nmatch: {second}\n"},
    )
    assert [plan.name for plan in load_dialplans(tmp_path, {})] == ["default", "b", "c"]


def test_only_the_first_overlap_between_two_dialplans_is_reported(tmp_path: Path) -> None:
    problems = set_problems(
        tmp_path,
        {
            "a.yaml": "name: default\n",
            "b.yaml": "name: b\nmatch: {to: ['+1555*', '+1666*']}\n",
            "c.yaml": "name: c\nmatch:\n  to:\n    - '+16661230000'\n    - '+15551230000'\n",
        },
    )
    assert problems == [
        f"{tmp_path / 'c.yaml'}:4: match.to[0]: overlaps dialplan 'b' ({tmp_path / 'b.yaml'}:2):"
        " calls to +16661230000 from any caller would match both"
    ]


# -- the shipped dialplans --------------------------------------------------------------------------


def test_shipped_dialplans_load_together_on_a_fresh_machine() -> None:
    dialplans = load_dialplans(SHIPPED, {})
    assert [plan.name for plan in dialplans] == ["default", "acme-support", "appointments"]
    assert dialplans.default.name == "default"


def test_shipped_default_dialplan() -> None:
    plan = load_dialplan_text((SHIPPED / "default.yaml").read_text(), "default.yaml", {})
    assert plan.is_default
    assert plan.greeting == "Hello, thanks for calling. How can I help you today?"
    assert [(tool.name, tool.kind) for tool in plan.tools] == [
        ("opening_hours", StaticTool("Monday to Friday 9 am to 5 pm, Saturday 10 am to 2 pm, closed on Sunday.")),
        ("end_call", BuiltinTool("hangup")),
    ]


def test_shipped_acme_support_dialplan_uses_env_defaults_and_values() -> None:
    text = (SHIPPED / "acme-support.yaml").read_text()
    plan = load_dialplan_text(text, "acme-support.yaml", {})
    assert plan.match is not None and plan.match.to == ("+12025550142", "+1202555015*")
    assert plan.dtmf == {"0": "transfer_to_human"}
    tools = {tool.name: tool for tool in plan.tools}
    assert list(tools) == ["lookup_order", "return_policy", "transfer_to_human", "end_call"]
    assert tools["lookup_order"].kind == HttpTool(
        "https://orders.example.com/v1/lookup", "POST", 5.0, {"Authorization": "Bearer demo-token"}
    )
    assert tools["lookup_order"].parameters["required"] == ["order_id"]
    assert tools["transfer_to_human"].kind == BuiltinTool(
        "transfer", to="+12025550199", say="Sure, let me put you through to a colleague. One moment please."
    )
    env = {
        "ORDERS_API_URL": "https://orders.acme.test/api",
        "ORDERS_TOKEN": "s3cret",
        "ACME_HUMAN_NUMBER": "+12025550100",
    }
    configured = {tool.name: tool for tool in load_dialplan_text(text, "acme-support.yaml", env).tools}
    assert configured["lookup_order"].kind == HttpTool(
        "https://orders.acme.test/api", "POST", 5.0, {"Authorization": "Bearer s3cret"}
    )
    assert isinstance(configured["transfer_to_human"].kind, BuiltinTool)
    assert configured["transfer_to_human"].kind.to == "+12025550100"


def test_shipped_appointments_dialplan_uses_the_example_handlers() -> None:
    plan = load_dialplan_text((SHIPPED / "appointments.yaml").read_text(), "appointments.yaml", {})
    assert plan.match is not None and plan.match.to == ("+12025550160",)
    assert [(tool.name, tool.kind) for tool in plan.tools] == [
        ("free_slots", PythonTool("bridge.tools.examples:free_slots")),
        ("book_appointment", PythonTool("bridge.tools.examples:book_appointment")),
        ("end_call", BuiltinTool("hangup", say="Thank you for calling Riverside Physiotherapy. Goodbye!")),
    ]
    assert plan.tools[1].parameters["required"] == ["name", "day", "time"]
    assert plan.tools[1].timeout_s == 5.0


# -- robustness -------------------------------------------------------------------------------------

NASTY = [
    "name: t\n  voice: x\n",
    "name: t\ntools:\n- [\n",
    "name: t\ntools: [{name: a, static: }]\n",
    "{{{{",
    "]]]]",
    "name: 'unterminated\n",
    "name: t\n\x07\n",
    "%YAML 9.9\n---\nname: t\n",
    "!!python/object:os.system {}\n",
    "name: !!python/name:os.system\n",
    "name: t\ntools: !!set {a, b}\n",
    "name: t\ntools:\n  - !!omap [{name: a}]\n",
    "&a [*a]\n",
    "name: t\nmatch: {to: [&x [*x]]}\n",
    "? - a\n  - b\n: c\n",
    "name: t\nlimits: {max_call_s: 1e999}\n",
    "name: t\nparameters: {}\n",
    "name: t\ntools: [{name: a, static: x, parameters: {type: object, $ref: '#/nope'}}]\n",
    "name: t\ntools: [{name: a, static: x, parameters: {type: object, properties: {a: {pattern: '('}}}}]\n",
    "\ufeffname: t\nvoice: [\n",
    "name: t\n" + "x: y\n" * 50 + "z: [\n",
]


@pytest.mark.parametrize("text", NASTY)
def test_broken_yaml_only_ever_raises_dialplan_error(text: str) -> None:
    try:
        load_dialplan_text(text, "t.yaml", {})
    except DialplanError as exc:
        assert exc.problems
        assert all(problem.startswith("t.yaml:") for problem in exc.problems)


def test_random_garbage_only_ever_raises_dialplan_error() -> None:
    rng = random.Random(1234)
    alphabet = "name: tools[]{}-*&!|>'\"#%@`\n\t ,?:+0123456789${}\\\x00\x85\u2028"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        try:
            load_dialplan_text(text, "t.yaml", {})
        except DialplanError as exc:
            assert exc.problems
