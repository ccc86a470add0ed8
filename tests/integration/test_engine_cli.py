"""``bridge engine``: arguments, a bad scenario, and the real command serving a session."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from bridge.cli import main
from bridge.engine.cli import add_arguments, config_from_args

ROOT = Path(__file__).resolve().parents[2]


def test_arguments_make_the_config() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--api-key", "k", "--session-limit", "90", "--pace", "0", "--delta-ms", "40", "--scenario",
         str(ROOT / "scripts" / "scenarios" / "order-status.yaml")]
    )  # fmt: skip
    config = config_from_args(args)
    assert (config.api_key, config.session_limit_s, config.pace, config.delta_ms) == ("k", 90.0, 0.0, 40)
    assert config.scenario is not None and config.scenario.greeting is not None
    assert (args.host, args.port, args.data_dir, args.batch_pace) == ("127.0.0.1", 8765, Path("var/engine"), 1.0)


def test_a_bad_scenario_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("turns:\n  - - sya: hello\n")
    assert main(["engine", "--scenario", str(bad)]) == 2
    assert f"{bad}: turns[0][0]: unknown step 'sya'" in capsys.readouterr().err


async def test_the_command_serves_until_terminated(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "engine", "--port", "0", "--pace", "0", "--data-dir", str(tmp_path),
        stderr=asyncio.subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert process.stderr is not None
    try:
        async with asyncio.timeout(20):
            while not (found := re.search(rb"listening on (ws://\S+)\?model", await process.stderr.readline())):
                pass
            url = found.group(1).decode()
            headers = {"Authorization": "Bearer x"}
            async with websockets.connect(url + "?model=gpt-realtime", additional_headers=headers) as ws:
                assert orjson.loads(await ws.recv())["type"] == "session.created"
            # The same port serves the REST endpoints, with files kept under --data-dir.
            http_url = "http" + url.removeprefix("ws").removesuffix("/v1/realtime")
            async with httpx.AsyncClient(base_url=http_url + "/v1", headers=headers) as client:
                uploaded = await client.post("/files", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "batch"})
                assert uploaded.status_code == 200, uploaded.text
                listed = await client.get("/files")
            assert [f["id"] for f in listed.json()["data"]] == [uploaded.json()["id"]]
            stored = await asyncio.to_thread(lambda: [p for p in tmp_path.rglob("*") if p.is_file()])
            assert stored, "the uploaded file lives under --data-dir"
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
