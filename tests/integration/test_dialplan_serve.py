"""``bridge serve`` and its dialplan folder, as operators run it: refused at start, reloaded on SIGHUP."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from tests.integration.test_bridge_serve import LogWatcher, free_port

DEFAULT = "name: default\ngreeting: Hello.\n"
SALES = 'name: sales\nmatch: {to: ["+15550001000"]}\nvoice: cedar\n'


def serve_env() -> dict[str, str]:
    """The environment with the bundled engine and no dialplan folder set."""
    drop = ("OPENAI_API_KEY", "BRIDGE_REALTIME_URL", "BRIDGE_DIALPLANS")
    return {key: value for key, value in os.environ.items() if key not in drop}


async def serve(folder: Path, cwd: Path, port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        "serve",
        "--port",
        str(port),
        "--dialplans",
        str(folder),
        cwd=cwd,
        env=serve_env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_serve_refuses_to_start_on_a_broken_dialplan_folder_and_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "dialplans"
    folder.mkdir()
    (folder / "default.yaml").write_text(DEFAULT)
    (folder / "sales.yaml").write_text(SALES.replace("voice", "voise") + "limits: {idle_s: 0}\n")
    process = await serve(folder, tmp_path, free_port())
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()

    assert process.returncode == 1
    assert stderr.decode().splitlines() == [
        f"bridge serve: not starting, the dialplans in {folder} have problems:",
        f"{folder}/sales.yaml:3: voise: unknown key (did you mean 'voice'?)",
        f"{folder}/sales.yaml:4: limits.idle_s: must be a positive number, got 0",
    ]


async def test_sighup_reloads_keeping_the_last_good_set_when_the_new_one_is_broken(tmp_path: Path) -> None:
    folder = tmp_path / "dialplans"
    folder.mkdir()
    (folder / "default.yaml").write_text(DEFAULT)
    port = free_port()
    process = await serve(folder, tmp_path, port)
    assert process.stderr is not None
    log = LogWatcher(process.stderr)
    try:
        async with asyncio.timeout(30), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await log.wait_for("Uvicorn running on")
            assert f"bridge.serve: dialplans from {folder}: default" in "\n".join(log.lines)
            before = (await client.get("/dialplans")).json()

            (folder / "sales.yaml").write_text(SALES.replace("voice", "voise"))
            process.send_signal(signal.SIGHUP)
            await log.wait_for(r"dialplan reload \(SIGHUP\) refused, keeping default: 1 problem")
            refused = (await client.get("/dialplans")).json()

            (folder / "sales.yaml").write_text(SALES)
            process.send_signal(signal.SIGHUP)
            await log.wait_for(r"dialplans reloaded \(SIGHUP\): default, sales")
            reloaded = (await client.get("/dialplans")).json()
            routed = (await client.post("/twilio/voice", data={"To": "+15550001000", "From": "+1"})).text

            process.send_signal(signal.SIGTERM)
            code = await process.wait()
            await log.task
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert (before["dialplans"], before["last_error"]) == (["default"], None)
    assert refused["dialplans"] == ["default"]
    assert refused["last_error"]["problems"] == [f"{folder}/sales.yaml:3: voise: unknown key (did you mean 'voice'?)"]
    assert (reloaded["dialplans"], reloaded["last_error"]) == (["default", "sales"], None)
    assert '<Parameter name="dialplan" value="sales" />' in routed
    assert code == 0
