"""The scenario's ``calls`` step: several function calls in one response, as a model's parallel calls."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bridge.engine import EngineConfig, Scenario
from bridge.engine.scenario import Call, Calls, CallTool, Say, ScenarioRunner, Speak
from bridge.engine.session import EngineSession, Send
from bridge.errors import ConfigError

T0 = 1_767_000_000.0


def test_a_calls_step_parses_from_yaml() -> None:
    scenario = Scenario.parse(
        "turns: [[{calls: [{name: a, arguments: {x: 1}}, {name: b}]}, {say: 'Got {output}'}]]", source="s.yaml"
    )
    assert scenario.turns == ((Calls((Call("a", {"x": 1}), Call("b"))), Say("Got {output}")),)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("turns: [[{calls: []}]]", "s.yaml: turns[0][0].calls: expected a non-empty list of {name, arguments}"),
        ("turns: [[{calls: {name: a}}]]", "s.yaml: turns[0][0].calls: expected a non-empty list"),
        ("turns: [[{calls: [{name: a}, x]}]]", "s.yaml: turns[0][0].calls[1]: expected a mapping"),
        ("turns: [[{calls: [{name: 'a b'}]}]]", "s.yaml: turns[0][0].calls[0].name: expected a function name"),
        ("turns: [[{calls: [{name: a, args: {}}]}]]", "s.yaml: turns[0][0].calls[0]: unknown key 'args'"),
    ],
)
def test_bad_calls_steps_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        Scenario.parse(text, source="s.yaml")
    assert str(error.value).startswith(problem)


def test_the_runner_puts_every_call_of_the_step_in_one_response() -> None:
    runner = ScenarioRunner(
        Scenario(turns=((Say("One moment."), Calls((Call("a", {"x": 1}), Call("b")))), (Say("Next"),)))
    )
    assert runner.next_response(user_input=True) == [
        Speak("One moment."),
        CallTool("a", '{"x":1}'),
        CallTool("b", "{}"),
    ]
    assert runner.next_response(user_input=True, tool_output="ok") == []  # the step ended the turn
    assert runner.next_response(user_input=True) == [Speak("Next")]


def send(session: EngineSession, event: dict[str, Any]) -> None:
    session.receive_text(orjson.dumps(event), T0)


def sent(session: EngineSession) -> list[dict[str, Any]]:
    return [action.event for action in session.poll(T0) if isinstance(action, Send)]


def test_the_engine_sends_both_calls_in_one_response_and_answers_after_both_outputs() -> None:
    scenario = Scenario(turns=((Calls((Call("a"), Call("b", {"y": "z"}))), Say("The last said {output.said}.")),))
    session = EngineSession(EngineConfig(pace=0, scenario=scenario), dialect="ga", model="gpt-realtime", now=T0, seed=1)
    sent(session)
    send(
        session,
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        },
    )
    send(session, {"type": "response.create"})
    events = sent(session)
    (done,) = [e for e in events if e["type"] == "response.done"]
    calls = done["response"]["output"]
    assert [(c["type"], c["name"], c["arguments"]) for c in calls] == [
        ("function_call", "a", "{}"),
        ("function_call", "b", '{"y":"z"}'),
    ]
    assert [e["output_index"] for e in events if e["type"] == "response.function_call_arguments.done"] == [0, 1]
    assert calls[0]["call_id"] != calls[1]["call_id"]

    for call, said in zip(calls, ("first", "second"), strict=True):
        output = orjson.dumps({"said": said}).decode()
        send(
            session,
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": call["call_id"], "output": output},
            },
        )
    send(session, {"type": "response.create"})
    transcripts = [e["transcript"] for e in sent(session) if e["type"] == "response.output_audio_transcript.done"]
    assert transcripts == ["The last said second."]
