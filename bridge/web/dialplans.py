"""LiveDialplans: the dialplan set a running bridge answers calls with, reloaded while it runs.

The set is loaded when the bridge starts (an invalid folder is a :class:`~bridge.errors.DialplanError`
listing every problem, and the bridge refuses to start). Each dialplan's call setup is built once per
load: its :class:`~bridge.call.config.CallConfig` and a :class:`~bridge.tools.runner.ToolRunner` over its
:class:`~bridge.tools.registry.ToolRegistry`; every registry shares one ``httpx.AsyncClient`` (and its
connection pool), which :meth:`LiveDialplans.aclose` closes.

Reloads come from SIGHUP (``bridge serve`` calls :meth:`LiveDialplans.reload_soon`) or from a change
in the folder: the watcher compares the name, mtime and size of the dialplan files every ``poll_s``
seconds. A reload that finds problems keeps the last good set and logs every problem; a valid set
replaces the old one for new calls, while live calls keep the setup they started with. Python tool
modules are imported once per process: a reload picks up new ``module:function`` targets, not edits
to modules already imported.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bridge.call.config import call_config_from_dialplan
from bridge.call.runner import CallSetup
from bridge.config import Settings
from bridge.dialplan.loader import load_dialplans
from bridge.dialplan.model import DialplanSet
from bridge.dialplan.router import route
from bridge.errors import DialplanError
from bridge.telephony.events import CallStarted
from bridge.tools.registry import ToolRegistry
from bridge.tools.runner import ToolRunner

__all__ = ["DEFAULT_POLL_S", "LiveDialplans", "LoadedDialplans", "ReloadError"]

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 2.0
"""Seconds between two looks at the dialplan folder."""

_Snapshot = frozenset[tuple[str, int, int]]
_SUFFIXES = (".yaml", ".yml")  # the files the loader reads (dotfiles and subfolders aside)


@dataclass(frozen=True, slots=True)
class LoadedDialplans:
    """A valid dialplan set and each dialplan's call setup, by dialplan name."""

    dialplans: DialplanSet
    setups: Mapping[str, CallSetup]
    loaded_at: float
    """Unix time of the load."""


@dataclass(frozen=True, slots=True)
class ReloadError:
    """A reload that was refused: when, and every problem (``file:line: key.path: message``)."""

    at: float
    problems: tuple[str, ...]


def _setups(dialplans: DialplanSet, settings: Settings, http: httpx.AsyncClient) -> dict[str, CallSetup]:
    # The loader has checked everything ToolRegistry.from_dialplan checks again (targets, schemas).
    return {
        plan.name: CallSetup(
            call_config_from_dialplan(plan, settings), ToolRunner(ToolRegistry.from_dialplan(plan, http=http))
        )
        for plan in dialplans
    }


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class LiveDialplans:
    """The current dialplan set, its reloads, and each call's setup from it.

    Args:
        directory: the dialplan folder.
        settings: the process settings (the Realtime dialect of every call's configuration).
        env: variables for ``${VAR}`` in the files; None reads the process environment.
        http: the client HTTP tools share; None creates one, closed by :meth:`aclose`.
        poll_s: seconds between two looks at the folder once :meth:`start` was called.
        clock: Unix time, for ``loaded_at`` and reload errors.
        sleep: how the watcher waits ``poll_s`` (tests step it).

    Raises:
        DialplanError: the folder cannot be loaded (every problem in every file).
    """

    def __init__(
        self,
        directory: Path,
        settings: Settings,
        *,
        env: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        poll_s: float = DEFAULT_POLL_S,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.directory = directory
        self._settings = settings
        self._env = env
        self._poll_s = poll_s
        self._clock = clock
        self._sleep = sleep
        # The environment is read only by bridge.config, so proxies are not picked up from it here.
        self._owned_http = http is None
        self._http = httpx.AsyncClient(trust_env=False) if http is None else http
        self._seen = self._snapshot()
        self._loaded = self._load()
        self.last_error: ReloadError | None = None
        self.reloads = 0
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def current(self) -> LoadedDialplans:
        """The set new calls get."""
        return self._loaded

    # -- per call ----------------------------------------------------------------------------------

    def choose(self, to_number: str, from_number: str) -> str:
        """The name of the dialplan for a call to ``to_number`` from ``from_number`` (the webhook's choice)."""
        return route(self._loaded.dialplans, to_number, from_number).name

    def plan(self, call: CallStarted) -> CallSetup:
        """The setup of a call whose media stream started: the dialplan its ``dialplan`` parameter names,
        else the one its From/To parameters route to (the default without them)."""
        loaded = self._loaded
        name = call.parameters.get("dialplan", "")
        plan = loaded.dialplans.by_name(name) if name else None
        if plan is None:
            if name:
                log.warning("call %s: no dialplan named %r any more; routing by its numbers", call.call_id, name)
            plan = route(loaded.dialplans, call.to_number, call.from_number)
        return loaded.setups[plan.name]

    # -- reloading ---------------------------------------------------------------------------------

    def _snapshot(self) -> _Snapshot:
        """Name, mtime and size of every file the loader would read (empty if the folder is unreadable)."""
        try:
            paths = [p for p in self.directory.iterdir() if p.suffix in _SUFFIXES and not p.name.startswith(".")]
            stats = [(p.name, p.stat()) for p in paths if p.is_file()]
        except OSError:
            return frozenset()
        return frozenset((name, st.st_mtime_ns, st.st_size) for name, st in stats)

    def _load(self) -> LoadedDialplans:
        dialplans = load_dialplans(self.directory, self._env)
        return LoadedDialplans(dialplans, _setups(dialplans, self._settings, self._http), self._clock())

    async def reload(self, reason: str = "requested") -> bool:
        """Load the folder again; True if the new set replaced the old one.

        The files are read in a worker thread. On problems the current set stays, ``last_error``
        holds them and each is logged; after a good reload ``last_error`` is None.
        """
        async with self._lock:
            seen = self._snapshot()
            try:
                loaded = await asyncio.to_thread(self._load)
            except DialplanError as exc:
                self._seen = seen
                self.last_error = ReloadError(self._clock(), tuple(exc.problems))
                log.error(
                    "dialplan reload (%s) refused, keeping %s: %d problem(s)",
                    reason,
                    ", ".join(plan.name for plan in self._loaded.dialplans),
                    len(exc.problems),
                )
                for problem in exc.problems:
                    log.error("%s", problem)
                return False
            self._seen = seen
            self._loaded = loaded
            self.last_error = None
            self.reloads += 1
            log.info("dialplans reloaded (%s): %s", reason, ", ".join(plan.name for plan in loaded.dialplans))
            return True

    def reload_soon(self, reason: str = "SIGHUP") -> None:
        """Start a reload without waiting for it (a signal handler's way in)."""
        self._spawn(self.reload(reason))

    async def poll(self) -> bool:
        """Reload if the dialplan files changed since the last load; True if a new set was taken."""
        if self._snapshot() == self._seen:
            return False
        return await self.reload("files changed")

    def start(self) -> None:
        """Watch the folder: :meth:`poll` every ``poll_s`` seconds until :meth:`aclose`."""
        self._spawn(self._watch())

    async def _watch(self) -> None:
        while True:
            await self._sleep(self._poll_s)
            await self.poll()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Stop watching and reloading; close the HTTP client if this object created it."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._owned_http:
            await self._http.aclose()

    # -- reporting ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``GET /dialplans`` answers: the loaded set and the last refused reload."""
        loaded = self._loaded
        error = self.last_error
        return {
            "directory": str(self.directory),
            "dialplans": [plan.name for plan in loaded.dialplans],
            "default": loaded.dialplans.default.name,
            "loaded_at": _iso(loaded.loaded_at),
            "reloads": self.reloads,
            "last_error": None if error is None else {"at": _iso(error.at), "problems": list(error.problems)},
        }
