"""call_config_from_dialplan: a dialplan and settings become one call's CallConfig."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from bridge.call.config import CallConfig, call_config_from_dialplan
from bridge.config import Settings
from bridge.dialplan.loader import load_dialplan_text
from bridge.dialplan.model import Dialplan, Limits
from bridge.realtime.session import SessionSettings
from tests.conftest import ROOT


def shipped(name: str) -> Dialplan:
    path = ROOT / "dialplans" / f"{name}.yaml"
    return load_dialplan_text(path.read_text(), path.name, {})


def test_a_full_dialplan_maps_to_session_and_call_settings() -> None:
    plan = shipped("acme-support")
    config = call_config_from_dialplan(plan, Settings())
    assert config.session == SessionSettings(
        model="gpt-realtime",
        instructions=plan.instructions,
        voice="cedar",
        audio_mode="passthrough",
        turn_detection={
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 600,
            "create_response": True,
            "interrupt_response": True,
        },
        transcription={"model": "gpt-4o-mini-transcribe", "language": "en"},
        tools=tuple(plan.function_tools()),
    )
    assert config == CallConfig(
        session=config.session,
        dialect="ga",
        dialplan="acme-support",
        greeting="Thanks for calling Acme Outdoor Gear, this is Ava. How can I help?",
        barge_in=True,
        max_call_s=1800,
        idle_s=30,
        dtmf_tools={"0": "transfer_to_human"},
        record=True,
    )


def test_the_dialect_comes_from_the_settings() -> None:
    config = call_config_from_dialplan(Dialplan(name="d"), Settings(realtime_dialect="beta"))
    assert config.dialect == "beta"


def test_the_built_in_default_dialplan_gets_the_defaults() -> None:
    config = call_config_from_dialplan(Dialplan(name="default"), Settings())
    assert config.session.turn_detection == SessionSettings().turn_detection
    assert (config.greeting, config.session.transcription, config.session.tools, config.dtmf_tools) == (
        None,
        None,
        (),
        {},
    )


def turn_detection_of(yaml: str) -> dict[str, Any] | None:
    plan = load_dialplan_text(textwrap.dedent(yaml), "t.yaml", {})
    return call_config_from_dialplan(plan, Settings()).session.turn_detection


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        (
            "name: t\nbarge_in: false\nturn_detection: {type: semantic_vad, eagerness: low}\n",
            {"type": "semantic_vad", "eagerness": "low", "create_response": True, "interrupt_response": False},
        ),
        (
            "name: t\nbarge_in: false\nturn_detection: {type: semantic_vad, interrupt_response: true}\n",
            {"type": "semantic_vad", "create_response": True, "interrupt_response": False},
        ),
        (
            "name: t\nturn_detection: {type: semantic_vad, interrupt_response: false, create_response: false}\n",
            {"type": "semantic_vad", "create_response": False, "interrupt_response": False},
        ),
    ],
)
def test_turn_detection_follows_barge_in_and_answers_by_default(yaml: str, expected: dict[str, Any]) -> None:
    assert turn_detection_of(yaml) == expected


def test_manual_turns_stay_manual() -> None:
    assert turn_detection_of("name: t\nturn_detection: null\nbarge_in: false\n") is None


def test_the_call_settings_come_from_the_dialplan() -> None:
    plan = Dialplan(
        name="quiet",
        audio="pcm16",
        model="gpt-realtime-mini",
        voice="alloy",
        barge_in=False,
        record=False,
        limits=Limits(max_call_s=90, idle_s=7.5),
        dtmf={"#": "end_call"},
    )
    config = call_config_from_dialplan(plan, Settings())
    assert (config.session.audio_mode, config.session.model, config.session.voice) == (
        "pcm16",
        "gpt-realtime-mini",
        "alloy",
    )
    assert (config.dialplan, config.barge_in, config.record, config.max_call_s, config.idle_s) == (
        "quiet",
        False,
        False,
        90,
        7.5,
    )
    assert config.dtmf_tools == {"#": "end_call"}


def test_the_dialplans_own_mappings_are_not_shared_or_changed() -> None:
    plan = Dialplan(name="d", barge_in=False, dtmf={"1": "x"}, transcription={"model": "whisper-1"})
    config = call_config_from_dialplan(plan, Settings())
    assert plan.turn_detection == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
    }
    assert config.dtmf_tools is not plan.dtmf
    assert config.session.transcription is not plan.transcription
