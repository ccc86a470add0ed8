"""The live calls of one bridge process: admission (max calls, draining), shutdown, and totals.

Admission is checked and recorded in one synchronous step (:meth:`CallRegistry.admit`), so
concurrent sockets can never push the process past ``max_calls``. Counters of finished calls are
folded into :attr:`CallRegistry.finished` when they leave, so totals (live + finished) cost
nothing on the hot path: metrics read them when scraped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field, replace

from bridge.call.runner import CallRunner

__all__ = ["CallRegistry", "CallTotals"]

log = logging.getLogger(__name__)

_END_GRACE_S = 5.0


@dataclass(slots=True)
class CallTotals:
    """Counters summed over calls."""

    frames_in: int = 0
    frames_out: int = 0
    barge_ins: int = 0
    truncations: int = 0
    malformed_frames: int = 0
    upstream_errors: Counter[str] = field(default_factory=Counter)

    def add(self, runner: CallRunner) -> None:
        """Add one call's counters."""
        session = runner.session
        self.frames_in += session.frames_in
        self.frames_out += session.frames_out
        self.barge_ins += session.barge_ins
        self.truncations += session.truncations
        self.malformed_frames += runner.malformed_frames
        self.upstream_errors.update(runner.upstream_errors)


class CallRegistry:
    """Live calls and the rules for starting new ones.

    Args:
        max_calls: the most calls at once; 0 is no limit.
    """

    def __init__(self, max_calls: int = 0) -> None:
        self.max_calls = max_calls
        self.draining = False
        self.live: set[CallRunner] = set()
        self.finished = CallTotals()
        self.end_reasons: Counter[str] = Counter()
        self._changed = asyncio.Event()

    @property
    def accepting(self) -> bool:
        """Whether a new call would be admitted now."""
        return not self.draining and (self.max_calls == 0 or len(self.live) < self.max_calls)

    def admit(self, runner: CallRunner) -> bool:
        """Record ``runner`` as live if a new call may start; False (and nothing recorded) if not."""
        if not self.accepting:
            return False
        self.live.add(runner)
        return True

    def release(self, runner: CallRunner) -> None:
        """``runner`` has finished: fold its counters into the totals."""
        if runner not in self.live:
            return
        self.live.discard(runner)
        self.finished.add(runner)
        self.end_reasons[runner.session.end_reason or "error"] += 1
        self._changed.set()

    def totals(self) -> CallTotals:
        """Counters of every call so far, live ones included."""
        finished = self.finished
        out = replace(finished, upstream_errors=Counter(finished.upstream_errors))
        for runner in self.live:
            out.add(runner)
        return out

    async def drain(self, seconds: float) -> int:
        """Stop admitting calls, let live ones finish for up to ``seconds``, then end the rest.

        Returns how many calls were ended with reason ``shutdown``.
        """
        self.draining = True
        if self.live:
            log.info("draining: waiting up to %.0f s for %d live call(s)", seconds, len(self.live))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.wait_empty()
        remaining = list(self.live)
        if remaining:
            log.info("draining: ending %d call(s) still live", len(remaining))
            await asyncio.gather(*(runner.end("shutdown") for runner in remaining))
            # Ending is prompt (close frames and task cancellation); the bound only guards a stuck socket.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_END_GRACE_S):
                    await self.wait_empty()
        return len(remaining)

    async def wait_empty(self) -> None:
        """Return once no call is live."""
        while self.live:
            self._changed.clear()
            await self._changed.wait()
