"""The engine's Batch API (PROTOCOLS E.3): validate a JSONL input file, run each line, write result files.

Progress is computed on read from the injected clock, so no background task runs and tests never sleep.
A batch created at ``t`` with pace ``p`` is ``validating`` until ``t+p``, then ``failed`` (invalid input
file, with ``errors``) or ``in_progress``; ``finalizing`` from ``t+2p`` and ``completed`` from ``t+3p``.
Cancelling at ``c`` makes it ``cancelling`` until ``c+p``, then ``cancelled`` (no lines run). A batch not
finished 24 h after creation is ``expired``. ``p = 0`` finishes a batch the moment it is created.

Lines run, against the same code as ``POST /v1/responses``, the first time the batch is seen at or past
``finalizing``; successes go to an output file and failures (e.g. a body without ``model``) to an error
file, both of purpose ``batch_output``, joined to the input on ``custom_id``.

Input validation errors (``errors.data[].code``): ``empty_file``, ``too_many_requests`` (over 50,000
lines), ``invalid_json_line``, ``missing_custom_id``, ``duplicate_custom_id``, ``invalid_method``,
``mismatched_url``, ``invalid_body``; each names its 1-based ``line`` where there is one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from bridge.engine.rest_files import FileStore, expiry_policy
from bridge.engine.rest_http import ApiError, cursor_page, new_id

__all__ = [
    "BATCH_ENDPOINTS",
    "COMPLETION_WINDOW_S",
    "MAX_BATCH_REQUESTS",
    "BatchLine",
    "BatchStore",
    "BatchTimeline",
    "run_lines",
    "validate_input",
]

BATCH_ENDPOINTS = frozenset(
    {
        "/v1/responses",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/completions",
        "/v1/moderations",
        "/v1/images/generations",
        "/v1/images/edits",
        "/v1/videos",
    }
)
#: The endpoints this engine can execute offline.
RUNNABLE_ENDPOINTS = frozenset({"/v1/responses"})
MAX_BATCH_REQUESTS = 50_000
COMPLETION_WINDOW_S = 86_400
MAX_METADATA_PAIRS = 16

Execute = Callable[[Mapping[str, Any]], dict[str, Any]]
#: Answers one request body at a given time (Unix seconds): ``rest_responses.create_response``'s shape.
Responder = Callable[[Mapping[str, Any], float], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class BatchLine:
    custom_id: str
    body: dict[str, Any]


def validate_input(content: bytes, endpoint: str) -> tuple[list[BatchLine], list[dict[str, Any]]]:
    """The requests of a batch input file, or the errors that fail it (then the list of lines is empty)."""
    lines: list[BatchLine] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()

    def fail(code: str, message: str, number: int | None, param: str | None = None) -> None:
        errors.append({"code": code, "message": message, "param": param, "line": number})

    rows = [(n, raw) for n, raw in enumerate(content.splitlines(), start=1) if raw.strip()]
    if not rows:
        fail("empty_file", "The input file contains no requests.", None)
    if len(rows) > MAX_BATCH_REQUESTS:
        fail("too_many_requests", f"A batch may hold at most {MAX_BATCH_REQUESTS} requests, got {len(rows)}.", None)
        rows = []
    for number, raw in rows:
        try:
            request = orjson.loads(raw)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            fail("invalid_json_line", "This line is not a JSON object.", number)
            continue
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            fail("missing_custom_id", "Each request needs a non-empty string 'custom_id'.", number, "custom_id")
        elif custom_id in seen:
            fail("duplicate_custom_id", f"The custom_id {custom_id!r} is used more than once.", number, "custom_id")
        else:
            seen.add(custom_id)
        if request.get("method") != "POST":
            fail("invalid_method", "Only the POST method is supported.", number, "method")
        if request.get("url") != endpoint:
            fail("mismatched_url", f"The url must be the batch's endpoint {endpoint!r}.", number, "url")
        body = request.get("body")
        if not isinstance(body, dict):
            fail("invalid_body", "Each request needs a JSON object 'body'.", number, "body")
        elif not errors:
            lines.append(BatchLine(str(custom_id), body))
    return ([] if errors else lines), errors


@dataclass(frozen=True, slots=True)
class BatchResult:
    output: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    usage: dict[str, Any]


def run_lines(lines: list[BatchLine], execute: Execute) -> BatchResult:
    """Run every line; :class:`ApiError` from ``execute`` makes that line a failure, not the batch."""
    output: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    input_tokens = output_tokens = 0
    for line in lines:
        row: dict[str, Any] = {"id": new_id("batch_req_"), "custom_id": line.custom_id}
        try:
            body = execute(line.body)
        except ApiError as exc:
            row["response"] = {"status_code": exc.status, "request_id": new_id("req_"), "body": exc.body()}
            row["error"] = {"code": exc.code or exc.type, "message": exc.message}
            errors.append(row)
            continue
        usage = body.get("usage") or {}
        input_tokens += int(usage.get("input_tokens", 0))
        output_tokens += int(usage.get("output_tokens", 0))
        row["response"] = {"status_code": 200, "request_id": new_id("req_"), "body": body}
        row["error"] = None
        output.append(row)
    return BatchResult(output, errors, _usage(input_tokens, output_tokens))


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


_STAMP_FIELDS = {
    "in_progress": "in_progress_at",
    "finalizing": "finalizing_at",
    "completed": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelling": "cancelling_at",
    "cancelled": "cancelled_at",
}
_CANCELLABLE = frozenset({"validating", "in_progress"})


@dataclass(frozen=True, slots=True)
class BatchTimeline:
    """When a batch enters each status; pure, so the status at any time is a lookup."""

    created: float
    pace: float
    valid: bool
    cancelled_at: float | None = None

    def events(self) -> list[tuple[float, str]]:
        t, p = self.created, self.pace
        if self.valid:
            path = [(t, "validating"), (t + p, "in_progress"), (t + 2 * p, "finalizing"), (t + 3 * p, "completed")]
        else:
            path = [(t, "validating"), (t + p, "failed")]
        if self.cancelled_at is not None:
            c = self.cancelled_at
            path = [e for e in path if e[0] <= c and e[1] in _CANCELLABLE] + [(c, "cancelling"), (c + p, "cancelled")]
        expires = t + COMPLETION_WINDOW_S
        if path[-1][0] > expires:
            path = [e for e in path if e[0] < expires] + [(expires, "expired")]
        return path

    def status(self, now: float) -> str:
        return [status for when, status in self.events() if when <= now][-1]

    def stamps(self, now: float) -> dict[str, int | None]:
        stamps: dict[str, int | None] = dict.fromkeys(_STAMP_FIELDS.values())
        for when, status in self.events():
            if when <= now and status in _STAMP_FIELDS:
                stamps[_STAMP_FIELDS[status]] = int(when)
        return stamps


@dataclass(slots=True)
class _Batch:
    id: str
    endpoint: str
    input_file_id: str
    metadata: dict[str, str]
    lines: list[BatchLine]
    errors: list[dict[str, Any]]
    timeline: BatchTimeline
    output_expires_after_s: int | None
    result: BatchResult | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    model: str | None = None

    def to_json(self, now: float) -> dict[str, Any]:
        status = self.timeline.status(now)
        result = self.result if status in ("finalizing", "completed") else None
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": {"object": "list", "data": self.errors} if status == "failed" else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": self.output_file_id if status == "completed" else None,
            "error_file_id": self.error_file_id if status == "completed" else None,
            "created_at": int(self.timeline.created),
            **self.timeline.stamps(now),
            "expires_at": int(self.timeline.created + COMPLETION_WINDOW_S),
            "request_counts": {
                "total": len(self.lines),
                "completed": 0 if result is None else len(result.output),
                "failed": 0 if result is None else len(result.errors),
            },
            "usage": _usage(0, 0) if result is None else result.usage,
            "metadata": self.metadata,
        }


class BatchStore:
    """Batches by id over ``files``; ``execute`` answers one line's body (``POST /v1/responses``)."""

    def __init__(self, files: FileStore, execute: Responder, *, pace_s: float) -> None:
        self._files = files
        self._execute = execute
        self._pace = pace_s
        self._batches: dict[str, _Batch] = {}
        self._unsettled: set[str] = set()
        self._settling = asyncio.Lock()

    async def create(self, body: Mapping[str, Any], *, now: float) -> dict[str, Any]:
        """``POST /v1/batches``: check the request and the input file's purpose; the file's lines are
        checked now but the verdict shows only once validation is over."""
        for name in ("input_file_id", "endpoint", "completion_window"):
            if body.get(name) is None:
                raise ApiError.missing(name)
        endpoint = body["endpoint"]
        if endpoint not in BATCH_ENDPOINTS:
            raise ApiError.invalid(
                "endpoint", f"Invalid 'endpoint': expected one of {', '.join(sorted(BATCH_ENDPOINTS))}."
            )
        if endpoint not in RUNNABLE_ENDPOINTS:
            raise ApiError.invalid("endpoint", f"The offline engine runs {', '.join(RUNNABLE_ENDPOINTS)} batches only.")
        if body["completion_window"] != "24h":
            raise ApiError.invalid("completion_window", "Invalid 'completion_window': expected '24h'.")
        metadata = _metadata(body.get("metadata"))
        output_expires_after_s = expiry_policy(body.get("output_expires_after"), "output_expires_after")
        input_file_id = str(body["input_file_id"])
        source = self._files.get(input_file_id, now=now)
        if source.purpose != "batch":
            message = f"Invalid 'input_file_id': {input_file_id} has purpose {source.purpose!r}, not 'batch'."
            raise ApiError.invalid("input_file_id", message)
        lines, errors = validate_input(await self._files.content(input_file_id, now=now), endpoint)
        model = lines[0].body.get("model") if lines else None
        batch = _Batch(
            id=new_id("batch_"),
            endpoint=endpoint,
            input_file_id=input_file_id,
            metadata=metadata,
            lines=lines,
            errors=errors,
            timeline=BatchTimeline(created=now, pace=self._pace, valid=not errors),
            output_expires_after_s=output_expires_after_s,
            model=model if isinstance(model, str) else None,
        )
        self._batches[batch.id] = batch
        self._unsettled.add(batch.id)
        await self.settle(now)  # with pace 0 the batch is already finished
        return batch.to_json(now)

    def get(self, batch_id: str, *, now: float) -> dict[str, Any]:
        return self._get(batch_id).to_json(now)

    def cancel(self, batch_id: str, *, now: float) -> dict[str, Any]:
        """``POST /v1/batches/{id}/cancel``; cancelling twice is harmless, cancelling a finished batch is 409."""
        batch = self._get(batch_id)
        status = batch.timeline.status(now)
        if status in _CANCELLABLE:
            timeline = batch.timeline
            batch.timeline = BatchTimeline(timeline.created, timeline.pace, timeline.valid, cancelled_at=now)
        elif status not in ("cancelling", "cancelled"):
            raise ApiError(409, f"Cannot cancel a batch with status '{status}'.", param="id")
        return batch.to_json(now)

    def page(self, *, now: float, after: str | None, limit: int) -> dict[str, Any]:
        """Batches newest first."""
        rows = [batch.to_json(now) for batch in reversed(self._batches.values())]
        return cursor_page(rows, after, limit)

    async def settle(self, now: float) -> None:
        """Run the lines of every batch that has reached ``finalizing`` by ``now`` and store its results."""
        async with self._settling:
            for batch in [b for b in self._batches.values() if b.id in self._unsettled]:  # in creation order
                status = batch.timeline.status(now)
                if status in ("finalizing", "completed"):
                    await self._finish(batch)
                if status not in _CANCELLABLE:
                    self._unsettled.discard(batch.id)

    async def _finish(self, batch: _Batch) -> None:
        finalizing = batch.timeline.created + 2 * batch.timeline.pace
        result = run_lines(batch.lines, lambda body: self._execute(body, finalizing))
        for rows, suffix in ((result.output, "output"), (result.errors, "error")):
            if not rows:
                continue
            content = b"".join(orjson.dumps(row) + b"\n" for row in rows)
            stored = await self._files.add(
                content,
                f"{batch.id}_{suffix}.jsonl",
                "batch_output",
                now=finalizing,
                expires_after_s=batch.output_expires_after_s,
            )
            if suffix == "output":
                batch.output_file_id = stored.id
            else:
                batch.error_file_id = stored.id
        batch.result = result

    def _get(self, batch_id: str) -> _Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise ApiError.not_found("Batch", batch_id)
        return batch


def _metadata(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if (
        not isinstance(value, dict)
        or len(value) > MAX_METADATA_PAIRS
        or not all(_metadata_pair(key, item) for key, item in value.items())
    ):
        raise ApiError.invalid(
            "metadata",
            f"Invalid 'metadata': expected at most {MAX_METADATA_PAIRS} string pairs "
            "(keys up to 64 characters, values up to 512).",
        )
    return dict(value)


def _metadata_pair(key: object, value: object) -> bool:
    return isinstance(key, str) and len(key) <= 64 and isinstance(value, str) and len(value) <= 512
