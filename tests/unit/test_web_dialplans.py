"""LiveDialplans: routing each call to its setup, and reloads that keep the last good set."""

from __future__ import annotations

import asyncio
import logging
import textwrap
from pathlib import Path

import httpx
import pytest

from bridge.config import Settings
from bridge.errors import DialplanError
from bridge.telephony.events import CallStarted
from bridge.tools.runner import ToolRunner
from bridge.web.dialplans import LiveDialplans

DEFAULT = "name: default\ninstructions: Front desk.\n"
SALES = textwrap.dedent(
    """\
    name: sales
    match: {to: ["+15550001000"]}
    voice: cedar
    audio: pcm16
    instructions: You sell.
    tools:
      - {name: price, static: 42}
    """
)
SUPPORT = 'name: support\nmatch: {to: ["+15550002*"], from: ["+44*"]}\n'
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Steps:
    """An injected sleep: each call waits until the test lets it go, and says how long it was asked for."""

    def __init__(self) -> None:
        self.waiting: asyncio.Queue[tuple[float, asyncio.Event]] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        gate = asyncio.Event()
        await self.waiting.put((seconds, gate))
        await gate.wait()


def folder(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    return tmp_path


def start(parameters: dict[str, str], from_number: str = "", to_number: str = "") -> CallStarted:
    return CallStarted("CA1", "MZ1", from_number=from_number, to_number=to_number, parameters=parameters)


async def test_the_webhook_routes_by_numbers_and_the_stream_gets_the_named_dialplans_setup(tmp_path: Path) -> None:
    live = LiveDialplans(folder(tmp_path, default=DEFAULT, sales=SALES, support=SUPPORT), Settings(), env={})
    try:
        assert live.choose("+15550001000", "+13125550000") == "sales"
        assert live.choose("+15550002123", "+447700900123") == "support"
        assert live.choose("+15550002123", "+13125550000") == "default"
        assert live.choose("", "") == "default"

        sales = live.plan(start({"dialplan": "sales"}))
        assert sales.config.dialplan == "sales"
        assert (sales.config.session.voice, sales.config.session.audio_mode) == ("cedar", "pcm16")
        assert isinstance(sales.tools, ToolRunner) and sales.tools.registry.names == ["price"]
        assert live.plan(start({"dialplan": "sales"})) is sales, "built once per load, shared by calls"
        assert live.plan(start({}, from_number="+447700900123", to_number="+15550002000")).config.dialplan == "support"
        assert live.plan(start({})).config.dialplan == "default"
    finally:
        await live.aclose()


async def test_an_unknown_dialplan_name_is_routed_by_the_calls_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live = LiveDialplans(folder(tmp_path, default=DEFAULT, sales=SALES), Settings(), env={})
    try:
        with caplog.at_level(logging.WARNING, logger="bridge.web.dialplans"):
            setup = live.plan(start({"dialplan": "gone"}, to_number="+15550001000"))
        assert setup.config.dialplan == "sales"
        assert "call CA1: no dialplan named 'gone' any more; routing by its numbers" in caplog.messages
    finally:
        await live.aclose()


def test_a_broken_folder_refuses_to_load_with_every_problem(tmp_path: Path) -> None:
    broken = folder(tmp_path, default=DEFAULT, sales="name: sales\nmatch: {to: [nope]}\nvoise: x\n")
    with pytest.raises(DialplanError) as error:
        LiveDialplans(broken, Settings(), env={})
    lines = [problem.split(": ", 1)[0] for problem in error.value.problems]
    assert lines == [f"{broken}/sales.yaml:2", f"{broken}/sales.yaml:3"]


async def test_a_refused_reload_keeps_the_last_good_set_and_a_good_one_replaces_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    path = folder(tmp_path, default=DEFAULT, sales=SALES)
    live = LiveDialplans(path, Settings(), env={}, clock=clock)
    try:
        old = live.plan(start({"dialplan": "sales"}))
        (path / "sales.yaml").write_text(SALES.replace("voice: cedar", "voise: cedar"))
        clock.now = T0 + 60
        with caplog.at_level(logging.ERROR, logger="bridge.web.dialplans"):
            assert await live.reload() is False
        problem = f"{path}/sales.yaml:3: voise: unknown key (did you mean 'voice'?)"
        assert live.status() == {
            "directory": str(path),
            "dialplans": ["default", "sales"],
            "default": "default",
            "loaded_at": "2026-01-01T00:00:00Z",
            "reloads": 0,
            "last_error": {"at": "2026-01-01T00:01:00Z", "problems": [problem]},
        }
        assert problem in caplog.messages
        assert live.plan(start({"dialplan": "sales"})) is old, "new calls still get the last good set"

        (path / "sales.yaml").write_text(SALES.replace("You sell.", "You sell more."))
        (path / "support.yaml").write_text(SUPPORT)
        clock.now = T0 + 120
        assert await live.reload() is True
        status = live.status()
        assert (status["dialplans"], status["loaded_at"], status["reloads"], status["last_error"]) == (
            ["default", "sales", "support"],
            "2026-01-01T00:02:00Z",
            1,
            None,
        )
        new = live.plan(start({"dialplan": "sales"}))
        assert new.config.session.instructions == "You sell more."
        assert old.config.session.instructions == "You sell.", "a live call keeps the setup it started with"
    finally:
        await live.aclose()


async def test_the_watcher_reloads_when_the_files_change_and_only_then(tmp_path: Path) -> None:
    steps = Steps()
    path = folder(tmp_path, default=DEFAULT)
    live = LiveDialplans(path, Settings(), env={}, poll_s=2.0, sleep=steps.sleep)
    live.start()
    try:
        async with asyncio.timeout(5):
            seconds, gate = await steps.waiting.get()
            assert seconds == 2.0
            gate.set()  # nothing changed
            _, gate = await steps.waiting.get()
            assert live.reloads == 0
            (path / "sales.yaml").write_text(SALES)
            (path / ".draft.yaml").write_text("not: [a dialplan")  # dotfiles are not read, nor watched
            gate.set()
            _, gate = await steps.waiting.get()
            assert (live.reloads, live.current.dialplans.by_name("sales") is not None) == (1, True)
            (path / "sales.yaml").write_text(SALES + "greeting: [\n")  # an edit half saved
            gate.set()
            _, gate = await steps.waiting.get()
            assert live.last_error is not None and live.reloads == 1
            gate.set()  # the broken file is not loaded again until it changes
            _, gate = await steps.waiting.get()
            assert live.reloads == 1
            (path / "sales.yaml").unlink()
            gate.set()
            _, gate = await steps.waiting.get()
            assert (live.reloads, live.last_error, [p.name for p in live.current.dialplans]) == (2, None, ["default"])
    finally:
        await live.aclose()


async def test_a_client_passed_in_is_left_open(tmp_path: Path) -> None:
    http_tool = 'name: default\ntools:\n  - {name: lookup, http: {url: "http://127.0.0.1:9/x"}}\n'
    async with httpx.AsyncClient() as client:
        live = LiveDialplans(folder(tmp_path, default=http_tool), Settings(), env={}, http=client)
        await live.aclose()
        assert not client.is_closed
