"""Builtin tools: each records its effect and tells the model what happens, from the model or a key."""

from __future__ import annotations

import textwrap

import orjson
import pytest

from bridge.dialplan.loader import load_dialplan_text
from bridge.dialplan.model import BuiltinTool
from bridge.errors import ToolError
from bridge.tools.base import HangupEffect, SendDtmfEffect, ToolCall, ToolResult, TransferEffect, WaitEffect
from bridge.tools.builtin import MAX_DTMF_DIGITS, BuiltinHandler
from bridge.tools.registry import ToolRegistry
from bridge.tools.runner import ToolRunner
from tests.tools_support import make_context

DIALPLAN = textwrap.dedent(
    """\
    name: t
    dtmf: {"0": transfer_to_human, "#": end_call, "9": press_menu_keys}
    tools:
      - {name: end_call, builtin: hangup, say: "Goodbye!"}
      - {name: quiet_end, builtin: hangup}
      - {name: transfer_to_human, builtin: transfer, to: "+15557654321", say: "Putting you through."}
      - {name: dial_sip, builtin: transfer, to: "sip:desk@pbx.example.com"}
      - {name: press_keys, builtin: send_dtmf}
      - {name: press_menu_keys, builtin: send_dtmf, digits: "1#"}
      - {name: hold_on, builtin: wait}
      - {name: short_pause, builtin: wait, seconds: 2.5}
    """
)


@pytest.fixture
def runner() -> ToolRunner:
    return ToolRunner(ToolRegistry.from_dialplan(load_dialplan_text(DIALPLAN, "t.yaml", {})))


async def call(runner: ToolRunner, name: str, arguments: str = "{}", source: str = "model") -> ToolResult:
    tool_call = ToolCall("c1", name, arguments, source="dtmf" if source == "dtmf" else "model")
    [result] = await runner.run([tool_call], make_context())
    return result


async def test_hangup_ends_the_call_after_its_goodbye(runner: ToolRunner) -> None:
    result = await call(runner, "end_call")
    assert orjson.loads(result.output) == {"ok": True, "status": "hanging up"}
    assert result.effects == (HangupEffect("Goodbye!"),)
    assert (await call(runner, "quiet_end")).effects == (HangupEffect(None),)


async def test_transfer_goes_to_the_configured_target(runner: ToolRunner) -> None:
    result = await call(runner, "transfer_to_human")
    assert orjson.loads(result.output) == {"ok": True, "status": "transferring"}
    assert result.effects == (TransferEffect("+15557654321", "Putting you through."),)
    assert (await call(runner, "dial_sip")).effects == (TransferEffect("sip:desk@pbx.example.com"),)


async def test_send_dtmf_presses_the_models_keys(runner: ToolRunner) -> None:
    result = await call(runner, "press_keys", '{"digits": "12*#AD"}')
    assert orjson.loads(result.output) == {"ok": True, "status": "sent", "digits": "12*#AD"}
    assert result.effects == (SendDtmfEffect("12*#AD"),)


async def test_send_dtmf_with_fixed_digits_ignores_the_arguments(runner: ToolRunner) -> None:
    result = await call(runner, "press_menu_keys", '{"digits": "999"}')
    assert result.effects == (SendDtmfEffect("1#"),)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"digits": "12x"}', "digits must be DTMF keys (0-9, *, #, A-D), got '12x'"),
        ('{"digits": ""}', "digits must be DTMF keys (0-9, *, #, A-D), got ''"),
        ('{"digits": "1 2"}', "digits must be DTMF keys (0-9, *, #, A-D), got '1 2'"),
        (
            orjson.dumps({"digits": "1" * (MAX_DTMF_DIGITS + 1)}).decode(),
            f"at most {MAX_DTMF_DIGITS} digits at a time, got {MAX_DTMF_DIGITS + 1}",
        ),
        ('{"digits": 12}', "invalid arguments: $.digits: 12 is not of type 'string'"),
        ("{}", "invalid arguments: $: 'digits' is a required property"),
    ],
)
async def test_send_dtmf_refuses_what_is_not_a_key(runner: ToolRunner, arguments: str, message: str) -> None:
    result = await call(runner, "press_keys", arguments)
    assert (result.status, orjson.loads(result.output), result.effects) == ("error", {"error": message}, ())


async def test_wait_holds_for_the_models_seconds(runner: ToolRunner) -> None:
    result = await call(runner, "hold_on", '{"seconds": 4}')
    assert orjson.loads(result.output) == {"ok": True, "status": "waiting", "seconds": 4.0}
    assert result.effects == (WaitEffect(4.0),)
    assert (await call(runner, "short_pause", '{"seconds": 30}')).effects == (WaitEffect(2.5),)


async def test_a_long_wait_is_capped_and_the_model_is_told(runner: ToolRunner) -> None:
    result = await call(runner, "hold_on", '{"seconds": 600}')
    assert orjson.loads(result.output) == {"ok": True, "status": "waiting", "seconds": 60.0}
    assert result.effects == (WaitEffect(60.0),)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"seconds": -1}', "invalid arguments: $.seconds: -1 is less than the minimum of 0"),
        ('{"seconds": true}', "invalid arguments: $.seconds: True is not of type 'number'"),
    ],
)
async def test_wait_refuses_bad_seconds(runner: ToolRunner, arguments: str, message: str) -> None:
    result = await call(runner, "hold_on", arguments)
    assert orjson.loads(result.output) == {"error": message}


@pytest.mark.parametrize(
    ("seconds", "message"),
    [(-1, "seconds must be 0 or more, got -1"), ("5", "seconds must be a number, got '5'")],
)
async def test_the_wait_handler_checks_seconds_itself(seconds: object, message: str) -> None:
    # The schema normally stops these first; the handler must not rely on it.
    handler = BuiltinHandler(BuiltinTool("wait"))
    with pytest.raises(ToolError, match=message):
        await handler({"seconds": seconds}, make_context())


@pytest.mark.parametrize(
    ("name", "effect"),
    [
        ("transfer_to_human", TransferEffect("+15557654321", "Putting you through.")),
        ("end_call", HangupEffect("Goodbye!")),
        ("press_menu_keys", SendDtmfEffect("1#")),
    ],
)
async def test_builtins_mapped_to_keys_run_from_dtmf(runner: ToolRunner, name: str, effect: object) -> None:
    result = await call(runner, name, "{}", source="dtmf")
    assert (result.source, result.status, result.effects) == ("dtmf", "ok", (effect,))


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        (BuiltinTool("transfer"), "builtin transfer needs 'to'"),
        (BuiltinTool("send_dtmf", digits="12x"), "digits must be DTMF keys"),
        (BuiltinTool("wait", seconds=-2), "seconds must be 0 or more"),
    ],
)
def test_bad_fixed_values_fail_when_the_handler_is_built(tool: BuiltinTool, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        BuiltinHandler(tool)


async def test_a_fixed_wait_longer_than_the_cap_is_capped() -> None:
    context = make_context()
    output = await BuiltinHandler(BuiltinTool("wait", seconds=300))({}, context)
    assert (orjson.loads(output)["seconds"], context.effects) == (60.0, [WaitEffect(60.0)])
