"""The ``/api/jobs`` routes: submit, list, inspect and cancel post-call jobs.

Mounted beside the archive's routes with ``create_api_app(..., extra_routes=jobs_endpoints(notify=...),
extra_schemas=JOB_SCHEMAS)``, so they share its access control, error shape and OpenAPI document. The
routes only touch the database; a :class:`~bridge.archive.jobs_worker.JobWorker` does the work, and
``notify`` (its ``wake``) tells it at once that there is some.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from bridge.archive.api import MAX_LIMIT, ApiError, JsonResponse, archive_store, page_limit, query_params
from bridge.archive.jobs_model import (
    CHANNELS,
    FINAL_STATUSES,
    ITEM_STATUSES,
    KINDS,
    MAX_JOB_CALLS,
    MAX_LISTED_CALLS,
    MAX_MODEL_CHARS,
    MAX_PROMPT_CHARS,
    STATUSES,
    JobRequest,
    JobRequestError,
    item_to_json,
    job_to_json,
)
from bridge.archive.openapi import (
    Endpoint,
    JsonObject,
    error_responses,
    exact_object,
    json_response,
    nullable,
    path_param,
    query_param,
    ref,
)
from bridge.archive.query import FILTER_PARAMS, Cursor
from bridge.archive.records import ID_PATTERN, Job
from bridge.archive.store import ArchiveStore

__all__ = ["JOB_SCHEMAS", "JobFinished", "cancel_job", "jobs_endpoints", "submit_job"]

_PAGE = 200


# ---- operations (the API's, usable without HTTP) ----


async def _selected_calls(store: ArchiveStore, request: JobRequest, max_calls: int) -> list[str]:
    if request.calls is not None:
        problems = []
        for call_id in request.calls:
            call = await store.get_call(call_id)
            if call is None:
                problems.append(f"no call {call_id!r}")
            elif call.ended_at is None:
                problems.append(f"call {call_id!r} has not ended")
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise JobRequestError("invalid_calls", "; ".join(problems[:3]) + more)
        return list(request.calls)
    assert request.filter is not None
    ids: list[str] = []
    cursor: Cursor | None = None
    while True:
        calls, cursor = await store.list_calls(request.filter, cursor=cursor, limit=_PAGE)
        # A call still in progress has no final recording or transcript yet.
        ids.extend(call.id for call in calls if call.ended_at is not None)
        if len(ids) > max_calls:
            raise JobRequestError(
                "too_many_calls", f"the filter selects more than {max_calls} calls; narrow it (e.g. since/until)"
            )
        if cursor is None:
            break
    if not ids:
        raise JobRequestError("no_calls", "the filter selects no ended call")
    return ids


async def submit_job(store: ArchiveStore, request: JobRequest, *, max_calls: int = MAX_JOB_CALLS) -> Job:
    """Create the job for a checked request, with one item per selected call, and return it (``pending``).

    The job is ``creating`` until its items are in, so no worker starts it half-made. Raises
    :class:`JobRequestError` for unknown or unfinished calls, an empty selection or one over ``max_calls``.
    """
    ids = await _selected_calls(store, request, max_calls)
    job = await store.create_job(
        request.kind,
        status="creating",
        model=request.model,
        prompt=request.prompt,
        filter=request.stored_options(),
        total=len(ids),
    )
    await store.add_job_items(job.id, ids)
    ready = await store.update_job(job.id, expect_status="creating", status="pending")
    # None: it was cancelled (or deleted) while its items went in.
    return ready or await store.get_job(job.id) or job


class JobFinished(Exception):
    """The job to cancel has already finished (its status is final)."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id} is already {job.status}")
        self.job = job


async def cancel_job(store: ArchiveStore, job_id: str) -> Job | None:
    """Ask for a job to stop; return it (None: no such job).

    A job no worker has started (``creating``, ``pending``) is ``cancelled`` at once; a running or
    submitted one becomes ``cancelling`` and its worker (or a batch poller) finishes the cancel.
    Cancelling a cancelled or cancelling job changes nothing. Raises :class:`JobFinished` for a job that
    ended otherwise.
    """
    job = await store.get_job(job_id)
    while True:
        if job is None or job.status in ("cancelling", "cancelled"):
            return job
        if job.status in FINAL_STATUSES:
            raise JobFinished(job)
        target = "cancelled" if job.status in ("creating", "pending") else "cancelling"
        moved = await store.update_job(job_id, expect_status=job.status, status=target)
        if moved is not None:
            return moved
        job = await store.get_job(job_id)  # a worker moved it on meanwhile: decide again on what it is now


# ---- handlers ----


def _job_id(request: Request) -> str:
    job_id: str = request.path_params["job_id"]
    if not ID_PATTERN.fullmatch(job_id):
        raise ApiError(400, "invalid_id", "a job id is 1 to 64 letters, digits, '-' or '_'")
    return job_id


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name) or None
    if value is not None and value not in allowed:
        raise ApiError(400, f"invalid_{name}", f"{name} must be one of {', '.join(allowed)}")
    return value


def _encode_after(call_id: str) -> str:
    return base64.urlsafe_b64encode(call_id.encode()).rstrip(b"=").decode("ascii")


def _decode_after(token: str) -> str:
    try:
        call_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (ValueError, binascii.Error):
        call_id = ""
    if not ID_PATTERN.fullmatch(call_id):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned")
    return call_id


async def _found(request: Request) -> Job:
    job_id = _job_id(request)
    job = await archive_store(request).get_job(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id!r}")
    return job


async def _get_job(request: Request) -> Response:
    query_params(request, [])
    return JsonResponse(job_to_json(await _found(request)))


async def _list_jobs(request: Request) -> Response:
    params = query_params(request, ["status", "kind", "cursor", "limit"])
    status = _choice(params, "status", STATUSES)
    kind = _choice(params, "kind", KINDS)
    limit = page_limit(params)
    cursor = None
    if params.get("cursor"):
        try:
            cursor = Cursor.decode(params["cursor"])
        except ValueError:
            raise ApiError(400, "invalid_cursor", "cursor is not one this API returned") from None
    jobs, next_cursor = await archive_store(request).list_jobs(status=status, kind=kind, cursor=cursor, limit=limit)
    return JsonResponse(
        {"data": [job_to_json(j) for j in jobs], "next_cursor": next_cursor.encode() if next_cursor else None}
    )


async def _list_items(request: Request) -> Response:
    params = query_params(request, ["status", "cursor", "limit"])
    status = _choice(params, "status", ITEM_STATUSES)
    limit = page_limit(params)
    after = _decode_after(params["cursor"]) if params.get("cursor") else None
    job = await _found(request)
    items = await archive_store(request).list_job_items(job.id, status=status)
    if after is not None:
        items = [item for item in items if item.call_id > after]
    page = items[:limit]
    more = len(items) > limit
    return JsonResponse(
        {"data": [item_to_json(i) for i in page], "next_cursor": _encode_after(page[-1].call_id) if more else None}
    )


async def _read_json(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "the body is not JSON") from None


def jobs_endpoints(*, notify: Callable[[], None] | None = None) -> list[Endpoint]:
    """The ``/jobs`` endpoints; ``notify`` is called after a job is submitted or cancelled (pass the
    worker's ``wake``)."""

    def poke() -> None:
        if notify is not None:
            notify()

    async def create(request: Request) -> Response:
        query_params(request, [])
        try:
            job = await submit_job(archive_store(request), JobRequest.parse(await _read_json(request)))
        except JobRequestError as exc:
            raise ApiError(400, exc.code, exc.message) from None
        poke()
        return JsonResponse(job_to_json(job), status_code=201, headers={"Location": f"jobs/{job.id}"})

    async def cancel(request: Request) -> Response:
        query_params(request, [])
        job_id = _job_id(request)
        try:
            job = await cancel_job(archive_store(request), job_id)
        except JobFinished as exc:
            raise ApiError(409, "job_finished", str(exc)) from None
        if job is None:
            raise ApiError(404, "not_found", f"no job {job_id!r}")
        poke()
        return JsonResponse(job_to_json(job))

    job_id = path_param("job_id", "The job's id")
    limit = query_param(
        "limit", f"Page size, 1 to {MAX_LIMIT}", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
    )
    return [
        Endpoint(
            "POST",
            "/jobs",
            create,
            {
                "operationId": "createJob",
                "summary": "Submit a post-call job (transcribe, summarize or classify) over listed or filtered calls",
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("JobRequest")}}},
                "responses": {
                    "201": {
                        **json_response("The job, pending", ref("Job")),
                        "headers": {"Location": {"schema": {"type": "string"}, "description": "`jobs/<id>`"}},
                    },
                    **error_responses(400, 503),
                },
            },
        ),
        Endpoint(
            "GET",
            "/jobs",
            _list_jobs,
            {
                "operationId": "listJobs",
                "summary": "Jobs, newest first",
                "parameters": [
                    query_param("status", "Only jobs in this status", {"enum": list(STATUSES)}),
                    query_param("kind", "Only jobs of this kind", {"enum": list(KINDS)}),
                    query_param("cursor", "`next_cursor` from the previous page"),
                    limit,
                ],
                "responses": {"200": json_response("A page of jobs", ref("JobPage")), **error_responses(400, 503)},
            },
        ),
        Endpoint(
            "GET",
            "/jobs/{job_id}",
            _get_job,
            {
                "operationId": "getJob",
                "summary": "One job, with its progress",
                "parameters": [job_id],
                "responses": {"200": json_response("The job", ref("Job")), **error_responses(400, 404, 503)},
            },
        ),
        Endpoint(
            "GET",
            "/jobs/{job_id}/items",
            _list_items,
            {
                "operationId": "listJobItems",
                "summary": "The job's calls with their results or errors, in call order",
                "parameters": [
                    job_id,
                    query_param("status", "Only items in this status", {"enum": list(ITEM_STATUSES)}),
                    query_param("cursor", "`next_cursor` from the previous page"),
                    limit,
                ],
                "responses": {
                    "200": json_response("A page of items", ref("JobItemPage")),
                    **error_responses(400, 404, 503),
                },
            },
        ),
        Endpoint(
            "POST",
            "/jobs/{job_id}/cancel",
            cancel,
            {
                "operationId": "cancelJob",
                "summary": "Cancel a job: at once if it has not started, else once its work stops",
                "parameters": [job_id],
                "responses": {
                    "200": json_response("The job, cancelled or cancelling", ref("Job")),
                    "409": json_response("The job has already finished", ref("Error")),
                    **error_responses(400, 404, 503),
                },
            },
        ),
    ]


# ---- schemas ----


_COUNT = {"type": "integer", "minimum": 0}
_ID = {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"}
_FILTER = {
    "type": "object",
    "description": 'The `GET /calls` filter parameters, e.g. `{"since": "2024-05-01", "dialplan": "support"}`',
    "additionalProperties": False,
    "properties": {name: {"type": "string"} for name in FILTER_PARAMS},
}

JOB_SCHEMAS: Mapping[str, JsonObject] = {
    "JobRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind"],
        "oneOf": [{"required": ["calls"]}, {"required": ["filter"]}],
        "properties": {
            "kind": {"enum": list(KINDS)},
            "calls": {
                "type": "array",
                "items": _ID,
                "minItems": 1,
                "maxItems": MAX_LISTED_CALLS,
                "uniqueItems": True,
                "description": "Ended calls, by id",
            },
            "filter": {**_FILTER, "description": f"Every ended call it matches (at most {MAX_JOB_CALLS})"},
            "model": {"type": "string", "minLength": 1, "maxLength": MAX_MODEL_CHARS},
            "prompt": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_PROMPT_CHARS,
                "description": "summarize: the instructions (a default otherwise); classify: required, with a "
                "line `labels: a, b, c`; transcribe: the transcription prompt",
            },
            "channels": {
                "type": "array",
                "items": {"enum": list(CHANNELS)},
                "minItems": 1,
                "uniqueItems": True,
                "description": 'transcribe only (default `["caller"]`)',
            },
        },
    },
    "Job": exact_object(
        {
            "id": {"type": "string"},
            "kind": {"enum": list(KINDS)},
            "status": {"enum": list(STATUSES)},
            "model": nullable("string"),
            "prompt": nullable("string"),
            "filter": {**_FILTER, "type": ["object", "null"], "description": "the filter it was submitted with"},
            "channels": {"type": ["array", "null"], "items": {"enum": list(CHANNELS)}},
            "progress": exact_object({"total": _COUNT, "done": _COUNT, "failed": _COUNT}),
            "error": nullable("string", description="why the job failed"),
            "input_file_id": nullable("string"),
            "batch_id": nullable("string"),
            "output_file_id": nullable("string"),
            "error_file_id": nullable("string"),
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        }
    ),
    "JobPage": exact_object(
        {
            "data": {"type": "array", "items": ref("Job")},
            "next_cursor": nullable("string", description="pass as `cursor` for the next page; null on the last"),
        }
    ),
    "JobItem": exact_object(
        {
            "call_id": {"type": "string"},
            "status": {"enum": list(ITEM_STATUSES)},
            "result": {
                "type": ["object", "null"],
                "description": "transcribe: text by channel (`caller`, `agent`); summarize: `summary`; "
                "classify: `label`",
            },
            "error": nullable("string"),
        }
    ),
    "JobItemPage": exact_object(
        {
            "data": {"type": "array", "items": ref("JobItem")},
            "next_cursor": nullable("string", description="pass as `cursor` for the next page; null on the last"),
        }
    ),
}
