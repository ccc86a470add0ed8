from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from bridge import runtime
from bridge.errors import ConfigError


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process must not keep every later test's garbage


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_is_the_default_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRIDGE_EVENT_LOOP", raising=False)
    assert runtime.event_loop_kind() == "uvloop"
    assert runtime.run(_loop_module()).startswith("uvloop")


def test_the_standard_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_EVENT_LOOP", "asyncio")
    assert runtime.event_loop_kind() == "asyncio"
    assert runtime.run(_loop_module()).startswith("asyncio")


def test_an_explicit_kind_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_EVENT_LOOP", "uvloop")
    assert runtime.run(_loop_module(), kind="asyncio").startswith("asyncio")


def test_an_unknown_loop_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_EVENT_LOOP", "trio")
    with pytest.raises(ConfigError, match="BRIDGE_EVENT_LOOP must be 'auto', 'uvloop' or 'asyncio', got 'trio'"):
        runtime.event_loop_kind()


def test_run_returns_the_coroutine_result_and_raises_its_error() -> None:
    async def answer() -> int:
        return 42

    async def fail() -> None:
        raise ConfigError("boom")

    assert runtime.run(answer()) == 42
    with pytest.raises(ConfigError, match="boom"):
        runtime.run(fail())


def test_settle_heap_collects_the_garbage_then_freezes_what_is_alive(unfrozen: None) -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    before = gc.get_freeze_count()
    kept = [Node() for _ in range(100)]
    garbage = Node()
    collected = weakref.ref(garbage)
    del garbage
    runtime.settle_heap()
    assert collected() is None, "the cycle was collected before freezing"
    assert gc.get_freeze_count() >= before + len(kept)
    assert not any(node is kept[0] for node in gc.get_objects()), "frozen objects leave the generations"
