"""``bridge serve`` as operators run it: a subprocess with the bundled engine, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx

from bridge.sim.caller import Caller

SHIPPED_DIALPLANS = Path(__file__).resolve().parents[2] / "dialplans"  # its default dialplan greets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LogWatcher:
    """Collects a subprocess's stderr lines; ``wait_for`` returns the first line matching a pattern."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self._stream = stream
        self._changed = asyncio.Condition()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while line := await self._stream.readline():
            async with self._changed:
                self.lines.append(line.decode().rstrip())
                self._changed.notify_all()
        async with self._changed:
            self.lines.append("<eof>")
            self._changed.notify_all()

    async def wait_for(self, pattern: str) -> str:
        regex = re.compile(pattern)
        async with self._changed:
            await self._changed.wait_for(lambda: "<eof>" in self.lines or any(map(regex.search, self.lines)))
        found = [line for line in self.lines if regex.search(line)]
        assert found, f"{pattern!r} never logged:\n" + "\n".join(self.lines)
        return found[0]


async def test_sigterm_drains_live_calls_refuses_new_ones_and_exits_zero(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "BRIDGE_REALTIME_URL")}
    env["BRIDGE_DRAIN_SECONDS"] = "20"
    env["BRIDGE_DIALPLANS"] = str(SHIPPED_DIALPLANS)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        "serve",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log = LogWatcher(process.stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(30):
            await log.wait_for("Uvicorn running on")
            assert any(line.endswith("bridge.serve: event loop: uvloop") for line in log.lines), log.lines
            assert re.search(
                r"bridge\.serve: no OPENAI_API_KEY: using the bundled local engine at ws://127\.0\.0\.1:\d+/v1/realtime$",
                log.lines[0],
            ), log.lines[0]
            # The bundled engine also serves the REST API the post-call jobs use, with files under ./var.
            engine_rest = "http" + log.lines[0].rsplit(" at ws", 1)[1].removesuffix("/realtime")
            async with httpx.AsyncClient(headers={"Authorization": "Bearer local-engine"}) as client:
                files = await client.get(engine_rest + "/files")
            assert files.status_code == 200 and files.json()["object"] == "list"

            caller = Caller(f"ws://127.0.0.1:{port}/twilio/media")
            await caller.start()
            await caller.wait_for(lambda m: m.event == "media")  # the greeting: the call is up

            process.send_signal(signal.SIGTERM)
            await log.wait_for("SIGTERM: draining")
            async with httpx.AsyncClient(base_url=base) as client:
                ready = await client.get("/readyz")
                busy = await client.post("/twilio/voice", data={"CallSid": "CA1", "From": "+1", "To": "+2"})
            refused = await Caller(f"ws://127.0.0.1:{port}/twilio/media", seconds=1).run()
            assert caller.result is None, "the live call goes on while draining"

            result = await caller.hangup()
            code = await process.wait()
            await log.task
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert ready.status_code == 503
    assert '<Reject reason="busy" />' in busy.text
    assert refused.close_code == 1013
    assert (result.ended_by, result.close_code) == ("hangup", 1000)
    assert code == 0
    await log.wait_for(r"call CA[0-9a-f]{32} ended: caller_hangup")
