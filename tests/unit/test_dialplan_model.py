"""The dialplan model: defaults, rendering for the model, and the set's invariants."""

from __future__ import annotations

import pytest

from bridge.dialplan.model import (
    BuiltinTool,
    Dialplan,
    DialplanSet,
    HttpTool,
    Match,
    StaticTool,
    ToolSpec,
    builtin_description,
    builtin_parameters,
)
from bridge.errors import DialplanError


def test_tool_lookup_and_function_tools() -> None:
    hours = ToolSpec("hours", StaticTool("9 to 5"), "Opening hours.", {"type": "object", "properties": {}})
    lookup = ToolSpec(
        "lookup",
        HttpTool("https://x.example"),
        "Look up.",
        {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        timeout_s=3.0,
    )
    plan = Dialplan(name="t", tools=(hours, lookup))
    assert plan.tool("lookup") is lookup
    assert plan.tool("missing") is None
    assert plan.function_tools() == [
        {
            "type": "function",
            "name": "hours",
            "description": "Opening hours.",
            "parameters": {"type": "object", "properties": {}},
        },
        {
            "type": "function",
            "name": "lookup",
            "description": "Look up.",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        },
    ]
    assert HttpTool("https://x.example") == HttpTool("https://x.example", "POST", 10.0, {})


def test_builtin_descriptions_follow_say() -> None:
    assert builtin_description(BuiltinTool("hangup")) == "End the call. Say goodbye before you use it."
    assert builtin_description(BuiltinTool("hangup", say="Bye")) == (
        "Say goodbye to the caller and end the call (the goodbye is spoken for you)."
    )
    assert builtin_description(BuiltinTool("transfer", to="+15551230000")) == (
        "Transfer the caller to a person who can help further. Tell the caller before you use it."
    )
    assert builtin_description(BuiltinTool("transfer", to="+15551230000", say="One moment")) == (
        "Transfer the caller to a person who can help further (the caller is told for you)."
    )


def test_builtin_parameters_ask_only_for_what_is_not_fixed() -> None:
    assert builtin_parameters(BuiltinTool("send_dtmf"))["required"] == ["digits"]
    assert builtin_parameters(BuiltinTool("send_dtmf", digits="1")) == {"type": "object", "properties": {}}
    assert builtin_parameters(BuiltinTool("wait"))["required"] == ["seconds"]
    assert builtin_parameters(BuiltinTool("wait", seconds=2.0)) == {"type": "object", "properties": {}}
    assert builtin_parameters(BuiltinTool("hangup")) == {"type": "object", "properties": {}}


def test_each_dialplan_gets_its_own_mutable_defaults() -> None:
    a, b = Dialplan(name="a"), Dialplan(name="b")
    assert a.turn_detection is not None and a.turn_detection is not b.turn_detection
    assert a.dtmf is not b.dtmf


def test_set_lookup() -> None:
    default, sales = Dialplan(name="main"), Dialplan(name="sales", match=Match(to=("+1555*",)))
    dialplans = DialplanSet((default, sales))
    assert dialplans.default is default
    assert dialplans.by_name("sales") is sales
    assert dialplans.by_name("nope") is None
    assert list(dialplans) == [default, sales]
    assert len(dialplans) == 2


@pytest.mark.parametrize(
    ("plans", "problems"),
    [
        ((), ["a dialplan set needs exactly one default dialplan, got 0"]),
        ((Dialplan(name="a"), Dialplan(name="b")), ["a dialplan set needs exactly one default dialplan, got 2"]),
        (
            (Dialplan(name="a"), Dialplan(name="a", match=Match(to=("+1*",)))),
            ["duplicate dialplan name 'a'"],
        ),
    ],
)
def test_set_invariants(plans: tuple[Dialplan, ...], problems: list[str]) -> None:
    with pytest.raises(DialplanError) as info:
        DialplanSet(plans)
    assert info.value.problems == problems
