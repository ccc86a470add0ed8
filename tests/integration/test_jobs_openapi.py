"""The /jobs routes in the OpenAPI document: described, structurally valid, and true of real responses."""

from __future__ import annotations

from typing import Any

import jsonschema

from bridge.archive.jobs import JOB_SCHEMAS, JobRequest, JobRequestError
from bridge.archive.store import ArchiveStore
from tests.archive_fixtures import archive_target_fixture, store_fixture  # noqa: F401
from tests.integration.jobs_support import ended_call
from tests.integration.test_archive_openapi import (
    METHODS,
    OPENAPI_31,
    ResponseChecker,
    fetch_document,
    resolve,
    schemas_in,
    walk_refs,
)
from tests.integration.test_jobs_api import JobsApi, api_fixture  # noqa: F401

JOB_OPERATIONS = {
    ("post", "/jobs"),
    ("get", "/jobs"),
    ("get", "/jobs/{job_id}"),
    ("get", "/jobs/{job_id}/items"),
    ("post", "/jobs/{job_id}/cancel"),
}


async def test_job_routes_are_in_a_valid_document(api: JobsApi) -> None:
    doc = await fetch_document(api.client)
    jsonschema.Draft202012Validator(OPENAPI_31).validate(doc)
    for _, schema in schemas_in(doc):
        jsonschema.Draft202012Validator.check_schema(schema)
    for ref in walk_refs(doc):
        resolve(doc, ref)
    documented = {(method, path) for path, item in doc["paths"].items() for method in item if method in METHODS}
    assert JOB_OPERATIONS <= documented
    request_schema = doc["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert resolve(doc, request_schema["$ref"]) == doc["components"]["schemas"]["JobRequest"]


def test_the_request_schema_agrees_with_the_parser() -> None:
    validator = jsonschema.Draft202012Validator(dict(JOB_SCHEMAS["JobRequest"]))
    accepted: list[dict[str, Any]] = [
        {"kind": "summarize", "calls": ["a"]},
        {"kind": "transcribe", "filter": {"since": "2024-05-01"}, "channels": ["agent"], "model": "m"},
        {"kind": "classify", "calls": ["a", "b"], "prompt": "labels: x, y"},
    ]
    refused: list[dict[str, Any]] = [
        {"kind": "summarize"},
        {"kind": "summarize", "calls": ["a"], "filter": {}},
        {"kind": "summarize", "calls": []},
        {"kind": "summarize", "calls": ["a", "a"]},
        {"kind": "summarize", "filter": {"from_number": "1"}},
        {"kind": "sing", "calls": ["a"]},
        {"kind": "transcribe", "calls": ["a"], "channels": ["left"]},
        {"kind": "summarize", "calls": ["a"], "extra": True},
    ]
    for body in accepted:
        validator.validate(body)
        JobRequest.parse(body)
    for body in refused:
        assert not validator.is_valid(body), body
        try:
            JobRequest.parse(body)
        except JobRequestError:
            continue
        raise AssertionError(f"the parser accepted {body}")


async def test_job_responses_match_the_document(store: ArchiveStore, api: JobsApi) -> None:
    checker = ResponseChecker(await fetch_document(api.client))

    async def call(method: str, template: str, url: str, **kwargs: Any) -> Any:
        response = await api.client.request(method.upper(), url, **kwargs)
        checker.check(method, template, response)
        return response.json()

    first = await ended_call(store, 0, ["hello"])
    second = await ended_call(store, 1, ["bye"])
    job = await call("post", "/jobs", "/api/jobs", json={"kind": "transcribe", "filter": {"since": "2024-05-01"}})
    await store.update_job_item(job["id"], first, status="done", result={"caller": "hello"})
    await store.update_job_item(job["id"], second, status="failed", error="the call has no recording")
    await store.update_job(job["id"], status="completed", done=1, failed=1, error=None)
    other = await call("post", "/jobs", "/api/jobs", json={"kind": "summarize", "calls": [first], "prompt": "p"})
    await store.update_job(other["id"], remote_ids={"input_file": "file-1", "batch": "batch_1"})

    await call("post", "/jobs", "/api/jobs", json={"kind": "summarize"})
    await call("get", "/jobs", "/api/jobs")
    await call("get", "/jobs", "/api/jobs", params={"limit": "1"})
    await call("get", "/jobs", "/api/jobs", params={"status": "nope"})
    for job_id in (job["id"], other["id"]):
        await call("get", "/jobs/{job_id}", f"/api/jobs/{job_id}")
        await call("get", "/jobs/{job_id}/items", f"/api/jobs/{job_id}/items", params={"limit": "1"})
    await call("get", "/jobs/{job_id}", "/api/jobs/missing")
    await call("get", "/jobs/{job_id}", "/api/jobs/bad.id")
    await call("get", "/jobs/{job_id}", f"/api/jobs/{job['id']}", headers={"Authorization": "Bearer wrong"})
    await call("get", "/jobs/{job_id}/items", "/api/jobs/missing/items")
    await call("post", "/jobs/{job_id}/cancel", f"/api/jobs/{other['id']}/cancel")
    await call("post", "/jobs/{job_id}/cancel", f"/api/jobs/{job['id']}/cancel")
    await call("post", "/jobs/{job_id}/cancel", "/api/jobs/missing/cancel")

    covered = {(method, path) for method, path, status in checker.covered if status.startswith("2")}
    assert covered == JOB_OPERATIONS
    assert {
        ("post", "/jobs", "400"),
        ("get", "/jobs", "400"),
        ("get", "/jobs/{job_id}", "400"),
        ("get", "/jobs/{job_id}", "401"),
        ("get", "/jobs/{job_id}", "404"),
        ("get", "/jobs/{job_id}/items", "404"),
        ("post", "/jobs/{job_id}/cancel", "404"),
        ("post", "/jobs/{job_id}/cancel", "409"),
    } <= checker.covered
