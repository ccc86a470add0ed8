"""``bridge jobs`` against the jobs API served on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from bridge import cli as bridge_cli
from bridge.archive.api import create_api_app
from bridge.archive.cli import add_arguments, run
from bridge.archive.jobs import JOB_SCHEMAS, jobs_endpoints
from bridge.archive.records import CreateCall, FinishCall, WriteOp, format_timestamp
from bridge.archive.store import ArchiveStore
from bridge.errors import ConfigError, UpstreamError
from bridge.web.asgi_server import serve_asgi
from tests.archive_fixtures import T0, archive_target_fixture, store_fixture  # noqa: F401
from tests.integration.jobs_support import ended_call, submit

TOKEN = "cli-secret"


@pytest.fixture
async def api_url(store: ArchiveStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.setenv("BRIDGE_API_TOKEN", TOKEN)
    app = create_api_app(
        store, api_token=TOKEN, recordings_dir=tmp_path, extra_routes=jobs_endpoints(), extra_schemas=JOB_SCHEMAS
    )
    async with serve_asgi(Starlette(routes=[Mount("/api", app=app)])) as server:
        yield server.http_url + "/api"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def no_sleep(seconds: float) -> None:
    raise AssertionError("nothing to wait for")


async def jobs(
    api_url: str, action: str, *argv: str, out: io.StringIO | None = None, sleep: Callable[[float], None] = no_sleep
) -> tuple[int, str]:
    """Run ``bridge jobs ACTION --api URL ARGV`` in a thread (it blocks on HTTP); return its code and output."""
    parser = argparse.ArgumentParser(prog="bridge jobs")
    add_arguments(parser)
    args = parser.parse_args([action, "--api", api_url, *argv])
    buffer = io.StringIO() if out is None else out
    code = await asyncio.to_thread(run, args, out=buffer, sleep=sleep)
    return code, buffer.getvalue()


class Stepper:
    """A ``sleep`` for the CLI's thread that moves the job one step on the event loop each time it waits."""

    def __init__(self, store: ArchiveStore, steps: list[dict[str, Any]]) -> None:
        self.loop = asyncio.get_running_loop()
        self.store = store
        self.steps: Iterator[dict[str, Any]] = iter(steps)
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        asyncio.run_coroutine_threadsafe(self._advance(next(self.steps)), self.loop).result(timeout=10)

    async def _advance(self, fields: dict[str, Any]) -> None:
        (job,), _ = await self.store.list_jobs()
        await self.store.update_job(job.id, **fields)


async def test_submit_list_show_cancel(store: ArchiveStore, api_url: str) -> None:
    first = await ended_call(store, 0, ["hello"])
    second = await ended_call(store, 1, ["bye"])
    code, output = await jobs(api_url, "submit", "--kind", "summarize", "--call", first, "--call", second)
    (summary,), _ = await store.list_jobs()
    assert (code, output) == (0, f"submitted job {summary.id} (summarize, 2 calls)\n")

    code, output = await jobs(
        api_url,
        "submit",
        "--kind",
        "transcribe",
        "--since",
        "2024-05-01",
        "--until",
        "2024-05-02",
        "--channel",
        "agent",
        "--model",
        "whisper-1",
        "--json",
    )
    transcribe = json.loads(output)
    assert (code, transcribe["kind"], transcribe["model"], transcribe["channels"]) == (
        0,
        "transcribe",
        "whisper-1",
        ["agent"],
    )
    assert transcribe["filter"] == {"since": "2024-05-01T00:00:00+00:00", "until": "2024-05-02T00:00:00+00:00"}

    code, output = await jobs(api_url, "list")
    lines = output.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].endswith(f"{transcribe['id']} transcribe [{'-' * 30}]   0% 0/2 pending")
    assert lines[1].startswith(summary.created_at.strftime("%Y-%m-%dT"))
    assert (
        (await jobs(api_url, "list", "--kind", "summarize"))[1]
        .splitlines()[0]
        .endswith(f"{summary.id} summarize [{'-' * 30}]   0% 0/2 pending")
    )
    code, output = await jobs(api_url, "list", "--limit", "1")
    more = output.splitlines()[-1]
    assert more.startswith("more: --cursor ")
    code, output = await jobs(api_url, "list", "--limit", "1", "--cursor", more.split()[-1])
    assert summary.id in output and "more:" not in output
    assert (await jobs(api_url, "list", "--status", "failed")) == (0, "no jobs\n")
    page = json.loads((await jobs(api_url, "list", "--json"))[1])
    assert [job["id"] for job in page["data"]] == [transcribe["id"], summary.id]

    await store.update_job_item(summary.id, first, status="done", result={"summary": "Said\nhello."})
    await store.update_job_item(summary.id, second, status="failed", error="no transcript")
    completed = await store.update_job(summary.id, status="completed", done=1, failed=1)
    assert completed is not None
    code, output = await jobs(api_url, "show", summary.id, "--items")
    assert output.splitlines() == [
        f"{summary.id} summarize [{'#' * 30}] 100% 2/2 (1 failed) completed",
        "  model: gpt-4.1-mini",
        f"  created_at: {format_timestamp(summary.created_at)}",
        f"  updated_at: {format_timestamp(completed.updated_at)}",
        f"{first}  done    summary: Said hello.",
        f"{second}  failed  error: no transcript",
    ]
    code, output = await jobs(api_url, "show", summary.id, "--items", "--item-status", "failed", "--json")
    shown = json.loads(output)
    assert (shown["status"], [item["call_id"] for item in shown["items"]]) == ("completed", [second])

    code, output = await jobs(api_url, "cancel", transcribe["id"])
    assert (code, output) == (0, f"{transcribe['id']} transcribe [{'-' * 30}]   0% 0/2 cancelled\n")
    assert json.loads((await jobs(api_url, "cancel", transcribe["id"], "--json"))[1])["status"] == "cancelled"


async def test_follow_prints_a_line_per_change(store: ArchiveStore, api_url: str) -> None:
    calls = [await ended_call(store, n, ["hi"]) for n in range(4)]
    stepper = Stepper(
        store,
        [
            {"status": "running"},
            {"done": 1},
            {"done": 1},  # no change: no line
            {"done": 2, "failed": 1},
            {"status": "completed", "done": 3, "failed": 1},
        ],
    )
    code, output = await jobs(
        api_url,
        "submit",
        "--kind",
        "transcribe",
        *[a for c in calls for a in ("--call", c)],
        "--follow",
        "--interval",
        "0.5",
        sleep=stepper,
    )
    job_id = output.split()[2]
    bar = "[" + "#" * 8 + "-" * 22 + "]"
    assert (code, output.splitlines()) == (
        0,
        [
            f"submitted job {job_id} (transcribe, 4 calls)",
            f"{job_id} transcribe [{'-' * 30}]   0% 0/4 pending",
            f"{job_id} transcribe [{'-' * 30}]   0% 0/4 running",
            f"{job_id} transcribe {bar}  25% 1/4 running",
            f"{job_id} transcribe [{'#' * 22}{'-' * 8}]  75% 3/4 (1 failed) running",
            f"{job_id} transcribe [{'#' * 30}] 100% 4/4 (1 failed) completed",
        ],
    )
    assert stepper.waits == [0.5] * 5


async def test_follow_on_a_terminal_redraws_one_line(store: ArchiveStore, api_url: str) -> None:
    call = await ended_call(store, 0, ["hi"])
    job = await submit(store, kind="summarize", calls=[call])
    stepper = Stepper(store, [{"status": "submitted"}, {"status": "failed", "failed": 1, "error": "the batch failed"}])
    terminal = Terminal()
    code, output = await jobs(api_url, "show", job.id, "--follow", out=terminal, sleep=stepper)
    assert code == 1
    assert output == (
        f"\r\x1b[2K{job.id} summarize [{'-' * 30}]   0% 0/1 pending"
        f"\r\x1b[2K{job.id} summarize [{'-' * 30}]   0% 0/1 submitted"
        f"\r\x1b[2K{job.id} summarize [{'#' * 30}] 100% 1/1 (1 failed) failed"
        "\nerror: the batch failed\n"
    )


async def test_errors_are_reported(store: ArchiveStore, api_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="not both"):
        await jobs(api_url, "submit", "--kind", "summarize", "--call", "a", "--since", "2024-05-01")
    with pytest.raises(ConfigError, match="choose calls"):
        await jobs(api_url, "submit", "--kind", "summarize")
    with pytest.raises(UpstreamError, match=r"^no call 'missing' \(HTTP 400\)$") as raised:
        await jobs(api_url, "submit", "--kind", "summarize", "--call", "missing")
    assert (raised.value.status, raised.value.code) == (400, "invalid_calls")
    with pytest.raises(UpstreamError, match=r"no job 'nope' \(HTTP 404\)"):
        await jobs(api_url, "show", "nope")
    monkeypatch.setenv("BRIDGE_API_TOKEN", "wrong")
    with pytest.raises(UpstreamError, match=r"wrong bearer token \(HTTP 401\)"):
        await jobs(api_url, "list")
    with pytest.raises(UpstreamError, match="cannot reach the bridge API at http://127.0.0.1:9/api"):
        await jobs("http://127.0.0.1:9/api", "list")
    with pytest.raises(UpstreamError, match=r"^Not Found \(HTTP 404\)$"):
        await jobs(api_url.removesuffix("/api"), "list")  # not the API: a plain-text 404


async def test_show_pages_through_every_item(store: ArchiveStore, api_url: str) -> None:
    ids = [f"call{n:03d}" for n in range(201)]
    ops: list[WriteOp] = [CreateCall(id=call_id, started_at=T0) for call_id in ids]
    ops += [FinishCall(call_id, ended_at=T0, end_reason="caller_hangup") for call_id in ids]
    await store.apply(ops)
    job = await store.create_job("summarize", total=len(ids))
    await store.add_job_items(job.id, ids)
    await store.update_job_item(job.id, ids[-1], status="done", result={"summary": "the last"})
    code, output = await jobs(api_url, "show", job.id, "--items")
    lines = output.splitlines()
    assert code == 0 and len(lines) == 3 + 201  # the job's line, its times, then every item
    assert lines[3:5] == ["call000  pending", "call001  pending"]
    assert lines[-1] == "call200  done    summary: the last"


async def test_the_bridge_command_dispatches_jobs(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["jobs", "submit", "--api", api_url, "--kind", "summarize", "--call", "missing"]
    assert await asyncio.to_thread(bridge_cli.main, argv) == 2
    assert capsys.readouterr().err == "bridge jobs: no call 'missing' (HTTP 400)\n"
    assert await asyncio.to_thread(bridge_cli.main, ["jobs", "list", "--api", api_url]) == 0
    assert capsys.readouterr().out == "no jobs\n"
