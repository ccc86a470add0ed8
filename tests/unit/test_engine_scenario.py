"""Scenarios: loading (with clear errors) and the per-session runner."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bridge.engine.scenario import Call, CallTool, End, Say, Scenario, ScenarioRunner, Speak
from bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_file_loads() -> None:
    scenario = Scenario.load(ROOT / "scripts" / "scenarios" / "order-status.yaml")
    assert scenario.greeting == "Thanks for calling Acme. How can I help you today?"
    assert scenario.turns == (
        (
            Say("Let me look that up for you."),
            Call("lookup_order", {"order_id": "A-1001"}),
            Say("Your order {output.order_id} is {output.status}."),
        ),
        (Say("Thanks for calling. Goodbye!"), End()),
    )


def test_json_and_the_default_scenario_load(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(orjson.dumps({"greeting": "Hi", "turns": [[{"say": "Yes"}]], "fallback": "Hm."}).decode())
    assert Scenario.load(path) == Scenario(turns=((Say("Yes"),),), greeting="Hi", fallback=("Hm.",))
    default = Scenario.default()
    assert default.greeting == "Hello, this is the bridge's demo agent. How can I help?"
    assert default.turns == () and len(default.fallback) == 3


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- just a list", "s.yaml: expected a mapping"),
        ("greting: Hi", "s.yaml: unknown key 'greting'"),
        ("turns: {say: hi}", "s.yaml: turns: expected a list of turns"),
        ("turns: [[]]", "s.yaml: turns[0]: expected a non-empty list of steps"),
        ("turns: [[{sya: hi}]]", "s.yaml: turns[0][0]: unknown step 'sya' (expected say, call, calls or end)"),
        ("turns: [[{say: hi, end: true}]]", "s.yaml: turns[0][0]: expected one of `say: text`"),
        ("turns: [[{say: ''}]]", "s.yaml: turns[0][0].say: expected non-empty text"),
        ("turns: [[{end: false}]]", "s.yaml: turns[0][0].end: expected true"),
        ("turns: [[{say: ok}, {call: {arguments: {}}}]]", "s.yaml: turns[0][1].call.name: expected a function name"),
        ("turns: [[{call: {name: f, arguments: [1]}}]]", "s.yaml: turns[0][0].call.arguments: expected a mapping"),
        ("turns: [[{call: {name: f, args: {}}}]]", "s.yaml: turns[0][0].call: unknown key 'args'"),
        ("turns: [[{call: lookup}]]", "s.yaml: turns[0][0].call: expected a mapping"),
        ("fallback: {a: b}", "s.yaml: fallback: expected a list"),
        ("idle: 3", "s.yaml: idle: expected non-empty text"),
        ("turns: [[{say: hi}]", "s.yaml: not valid YAML/JSON"),
    ],
)
def test_bad_scenarios_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        Scenario.parse(text, source="s.yaml")
    assert str(error.value).startswith(problem)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read scenario"):
        Scenario.load(tmp_path / "nope.yaml")


def test_the_runner_walks_turns_calls_and_the_end() -> None:
    scenario = Scenario.load(ROOT / "scripts" / "scenarios" / "order-status.yaml")
    runner = ScenarioRunner(scenario)
    assert runner.next_response(user_input=False) == [Speak("Thanks for calling Acme. How can I help you today?")]
    assert runner.next_response(user_input=True) == [
        Speak("Let me look that up for you."),
        CallTool("lookup_order", '{"order_id":"A-1001"}'),
    ]
    output = '{"order_id": "A-1001", "status": "shipped", "eta": {"day": 3}}'
    assert runner.next_response(user_input=True, tool_output=output) == [Speak("Your order A-1001 is shipped.")]
    assert runner.next_response(user_input=True) == [Speak("Thanks for calling. Goodbye!")]
    assert runner.ended
    assert runner.next_response(user_input=True) == [] and runner.idle_response() == []


def test_output_placeholders() -> None:
    scenario = Scenario(turns=((Call("f"), Say("All: {output}. Day: {output.eta.day}. Missing: {output.nope}")),))
    runner = ScenarioRunner(scenario)
    assert runner.next_response(user_input=True) == [CallTool("f", "{}")]
    output = '{"eta": {"day": 3}}'
    assert runner.next_response(user_input=True, tool_output=output) == [
        Speak(f"All: {output}. Day: 3. Missing: {output}")
    ]
    runner = ScenarioRunner(Scenario(turns=((Call("f"), Say("Got {output.x}")),)))
    runner.next_response(user_input=True)
    assert runner.next_response(user_input=True, tool_output="plain text") == [Speak("Got plain text")]


def test_greeting_rules_fallbacks_and_a_call_ending_a_turn() -> None:
    scenario = Scenario(turns=((Say("A"), Call("f")), (Say("B"),)), greeting="G", fallback=("X", "Y"))
    runner = ScenarioRunner(scenario)
    # The first response comes after user input: no greeting.
    assert runner.next_response(user_input=True) == [Speak("A"), CallTool("f", "{}")]
    # The response that follows the call's output finishes the turn and says nothing.
    assert runner.next_response(user_input=True, tool_output="ok") == []
    assert runner.next_response(user_input=True) == [Speak("B")]
    assert [runner.next_response(user_input=True) for _ in range(3)] == [[Speak("X")], [Speak("Y")], [Speak("X")]]
    assert runner.idle_response() == [Speak("Are you still there?")]
    skipped = ScenarioRunner(scenario)
    skipped.skip_greeting()
    assert skipped.next_response(user_input=False) == [Speak("A"), CallTool("f", "{}")]
    assert ScenarioRunner(Scenario()).next_response(user_input=False) == []
