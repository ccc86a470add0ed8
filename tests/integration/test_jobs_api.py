"""The /api/jobs routes, mounted in the archive API as the bridge mounts them, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from bridge.archive.api import create_api_app
from bridge.archive.jobs import JOB_SCHEMAS, JobRequest, JobRequestError, cancel_job, jobs_endpoints, submit_job
from bridge.archive.store import ArchiveStore
from tests.archive_fixtures import Target, add_call, archive_target_fixture, store_fixture  # noqa: F401
from tests.integration.jobs_support import ended_call, submit


@dataclass
class JobsApi:
    app: Starlette
    client: httpx.AsyncClient
    pokes: list[None] = field(default_factory=list)


@pytest.fixture(name="api")
async def api_fixture(store: ArchiveStore, tmp_path: Path) -> AsyncIterator[JobsApi]:
    pokes: list[None] = []
    app = create_api_app(
        store,
        api_token="t",
        recordings_dir=tmp_path,
        extra_routes=jobs_endpoints(notify=lambda: pokes.append(None)),
        extra_schemas=JOB_SCHEMAS,
    )
    root = Starlette(routes=[Mount("/api", app=app)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=root), base_url="http://bridge", headers={"Authorization": "Bearer t"}
    ) as client:
        yield JobsApi(app, client, pokes)


def error_code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_submit_creates_a_pending_job_and_wakes_the_worker(store: ArchiveStore, api: JobsApi) -> None:
    first = await ended_call(store, 0, ["hello"])
    second = await ended_call(store, 1, ["bye"])
    response = await api.client.post(
        "/api/jobs", json={"kind": "classify", "calls": [second, first], "prompt": "labels: a, b", "model": "m"}
    )
    assert response.status_code == 201
    job = response.json()
    assert response.headers["location"] == f"jobs/{job['id']}"
    assert api.pokes == [None]
    assert {k: job[k] for k in ("kind", "status", "model", "prompt", "filter", "channels", "progress", "batch_id")} == {
        "kind": "classify",
        "status": "pending",
        "model": "m",
        "prompt": "labels: a, b",
        "filter": None,
        "channels": None,
        "progress": {"total": 2, "done": 0, "failed": 0},
        "batch_id": None,
    }
    assert (await api.client.get(f"/api/jobs/{job['id']}")).json() == job
    items = (await api.client.get(f"/api/jobs/{job['id']}/items")).json()
    assert items == {
        "data": [{"call_id": c, "status": "pending", "result": None, "error": None} for c in (first, second)],
        "next_cursor": None,
    }


async def test_submit_by_filter_takes_ended_calls_only(store: ArchiveStore, api: JobsApi) -> None:
    ended = await ended_call(store, 0, dialplan="support")
    await ended_call(store, 1, dialplan="sales")
    await add_call(store, 2, dialplan="support")  # still in progress
    body = {"kind": "transcribe", "filter": {"dialplan": "support"}, "channels": ["agent"]}
    job = (await api.client.post("/api/jobs", json=body)).json()
    assert (job["filter"], job["channels"], job["model"]) == (
        {"dialplan": "support"},
        ["agent"],
        "gpt-4o-mini-transcribe",
    )
    items = (await api.client.get(f"/api/jobs/{job['id']}/items")).json()["data"]
    assert [item["call_id"] for item in items] == [ended]


async def test_invalid_submissions_are_refused(store: ArchiveStore, api: JobsApi) -> None:
    ended = await ended_call(store, 0)
    live = await add_call(store, 1)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"content": b"{"}, "invalid_json", "the body is not JSON"),
        ({"json": ["kind"]}, "invalid_body", "the body must be a JSON object"),
        ({"json": {"kind": "summarize", "calls": [ended], "x": 1}}, "unknown_field", "unknown field 'x'"),
        ({"json": {"kind": "sing", "calls": [ended]}}, "invalid_kind", "kind must be one of"),
        ({"json": {"kind": "summarize", "calls": [ended, "nope"]}}, "invalid_calls", "no call 'nope'"),
        ({"json": {"kind": "summarize", "calls": [live]}}, "invalid_calls", f"call {live!r} has not ended"),
        ({"json": {"kind": "summarize", "filter": {"dialplan": "none"}}}, "no_calls", "the filter selects no ended"),
        ({"json": {"kind": "summarize", "filter": {"until": "x"}}}, "invalid_filter", "until: not an ISO 8601"),
        ({"json": {"kind": "classify", "calls": [ended]}}, "invalid_prompt", "classify needs a prompt"),
    ]
    for request, code, message in cases:
        response = await api.client.post("/api/jobs", **request)
        assert error_code(response) == (400, code), request
        assert response.json()["error"]["message"].startswith(message), request
    many = [f"missing{n}" for n in range(5)]
    response = await api.client.post("/api/jobs", json={"kind": "summarize", "calls": many})
    assert (
        response.json()["error"]["message"] == "no call 'missing0'; no call 'missing1'; no call 'missing2' (and 2 more)"
    )
    response = await api.client.post("/api/jobs?dry=1", json={"kind": "summarize", "calls": [ended]})
    assert error_code(response) == (400, "unknown_parameter")
    assert (await api.client.get("/api/jobs")).json()["data"] == []
    assert api.pokes == []


async def test_a_filter_over_the_limit_is_refused(store: ArchiveStore) -> None:
    await ended_call(store, 0)
    await ended_call(store, 1)
    request = JobRequest.parse({"kind": "summarize", "filter": {}})
    with pytest.raises(JobRequestError, match="more than 1 calls") as raised:
        await submit_job(store, request, max_calls=1)
    assert raised.value.code == "too_many_calls"
    assert (await submit_job(store, request, max_calls=2)).total == 2


async def test_list_pages_and_filters(store: ArchiveStore, api: JobsApi) -> None:
    call = await ended_call(store, 0, ["hi"])
    made = [await submit(store, kind=kind, calls=[call], prompt="labels: a, b") for kind in ("summarize", "classify")]
    made.append(await submit(store, kind="transcribe", calls=[call]))
    await cancel_job(store, made[0].id)
    first = (await api.client.get("/api/jobs", params={"limit": "2"})).json()
    assert [j["id"] for j in first["data"]] == [made[2].id, made[1].id]
    rest = (await api.client.get("/api/jobs", params={"limit": "2", "cursor": first["next_cursor"]})).json()
    assert ([j["id"] for j in rest["data"]], rest["next_cursor"]) == ([made[0].id], None)
    cancelled = (await api.client.get("/api/jobs", params={"status": "cancelled"})).json()["data"]
    assert [j["id"] for j in cancelled] == [made[0].id]
    classify = (await api.client.get("/api/jobs", params={"kind": "classify", "status": ""})).json()["data"]
    assert [j["id"] for j in classify] == [made[1].id]
    for params, code in [
        ({"status": "done"}, "invalid_status"),
        ({"kind": "sing"}, "invalid_kind"),
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "201"}, "invalid_limit"),
        ({"cursor": "nope"}, "invalid_cursor"),
        ({"sort": "asc"}, "unknown_parameter"),
    ]:
        assert error_code(await api.client.get("/api/jobs", params=params)) == (400, code), params


async def test_items_page_in_call_order(store: ArchiveStore, api: JobsApi) -> None:
    calls = [await ended_call(store, n, ["hi"]) for n in range(3)]
    job = await submit(store, kind="summarize", calls=calls)
    await store.update_job_item(job.id, calls[1], status="done", result={"summary": "s"})
    await store.update_job_item(job.id, calls[2], status="failed", error="no transcript")
    url = f"/api/jobs/{job.id}/items"
    first = (await api.client.get(url, params={"limit": "2"})).json()
    assert [item["call_id"] for item in first["data"]] == calls[:2]
    rest = (await api.client.get(url, params={"limit": "2", "cursor": first["next_cursor"]})).json()
    assert rest == {
        "data": [{"call_id": calls[2], "status": "failed", "result": None, "error": "no transcript"}],
        "next_cursor": None,
    }
    done = (await api.client.get(url, params={"status": "done"})).json()["data"]
    assert done == [{"call_id": calls[1], "status": "done", "result": {"summary": "s"}, "error": None}]
    assert error_code(await api.client.get(url, params={"status": "ok"})) == (400, "invalid_status")
    assert error_code(await api.client.get(url, params={"cursor": "!!"})) == (400, "invalid_cursor")
    assert error_code(await api.client.get(url, params={"cursor": "4pyT"})) == (400, "invalid_cursor")  # not ASCII
    assert error_code(await api.client.get("/api/jobs/missing/items")) == (404, "not_found")
    assert error_code(await api.client.get("/api/jobs/bad.id")) == (400, "invalid_id")
    assert error_code(await api.client.get("/api/jobs/missing")) == (404, "not_found")


async def test_cancel(store: ArchiveStore, api: JobsApi) -> None:
    call = await ended_call(store, 0, ["hi"])
    pending = await submit(store, kind="summarize", calls=[call])
    response = await api.client.post(f"/api/jobs/{pending.id}/cancel")
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    again = await api.client.post(f"/api/jobs/{pending.id}/cancel")
    assert (again.status_code, again.json()["status"]) == (200, "cancelled")
    running = await submit(store, kind="summarize", calls=[call])
    await store.update_job(running.id, status="submitted")
    assert (await api.client.post(f"/api/jobs/{running.id}/cancel")).json()["status"] == "cancelling"
    assert (await api.client.post(f"/api/jobs/{running.id}/cancel")).json()["status"] == "cancelling"
    finished = await submit(store, kind="summarize", calls=[call])
    await store.update_job(finished.id, status="completed")
    response = await api.client.post(f"/api/jobs/{finished.id}/cancel")
    assert error_code(response) == (409, "job_finished")
    assert response.json()["error"]["message"] == f"job {finished.id} is already completed"
    assert error_code(await api.client.post("/api/jobs/missing/cancel")) == (404, "not_found")
    assert error_code(await api.client.get(f"/api/jobs/{pending.id}/cancel")) == (405, "method_not_allowed")
    assert len(api.pokes) == 4


class RacingStore(ArchiveStore):
    """A store where a worker claims the job (or an operator cancels it) just before each compare-and-set."""

    before_update: str | None = None
    cancel_on_items = False

    async def update_job(self, job_id: str, **kwargs: Any) -> Any:
        if self.before_update is not None:
            status, self.before_update = self.before_update, None
            await super().update_job(job_id, status=status)
        return await super().update_job(job_id, **kwargs)

    async def add_job_items(self, job_id: str, call_ids: Any, **kwargs: Any) -> None:
        await super().add_job_items(job_id, call_ids, **kwargs)
        if self.cancel_on_items:
            await cancel_job(self, job_id)


async def test_cancel_and_submit_follow_a_job_that_moves_meanwhile(archive_target: Target) -> None:
    store = await RacingStore.open(archive_target.url, schema=archive_target.schema)
    assert isinstance(store, RacingStore)
    try:
        call = await ended_call(store, 0, ["hi"])
        job = await submit(store, kind="summarize", calls=[call])
        store.before_update = "running"  # claimed between the read and the write
        cancelled = await cancel_job(store, job.id)
        assert cancelled is not None and cancelled.status == "cancelling"
        store.cancel_on_items = True
        raced = await submit(store, kind="summarize", calls=[call])
        assert raced.status == "cancelled"
    finally:
        await store.close()
