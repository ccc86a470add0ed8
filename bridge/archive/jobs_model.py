"""Post-call jobs as values: kinds, statuses, what a submission may ask for, and the API form of a job.

Pure: nothing here touches the database or the network. A job is stored as a :class:`~bridge.archive.records.Job`
row whose ``filter`` column holds the job's selection and options (:meth:`JobRequest.stored_options`):
``{"filter": {CallFilter params}}`` when calls were chosen by filter, and ``{"channels": [...]}`` for
transcription. The calls themselves are the job's items, fixed when the job is created.

Statuses::

    creating ──► pending ──► running ──┬──► completed | failed            (transcribe; a batch that never started)
       │            │ ▲         │      └──► submitted ──► completed | failed | expired | cancelled (as the batch)
       │            │ └─────────┤                │
       │            │           ▼                ▼
       │            │       cancelling ──► cancelled (or as the batch ended, when it had one)
       └────────────┴──► cancelled (cancelled before any worker started it)

A ``creating`` job that a crash left half-made ends ``failed``. ``running`` jobs belong to one worker,
which keeps ``updated_at`` fresh (its lease) and hands them back (``pending``) when it stops;
``submitted`` jobs wait on a remote batch that any worker may poll.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from bridge.archive.query import FILTER_PARAMS, CallFilter
from bridge.archive.records import ID_PATTERN, Job, JobItem, Speaker, format_timestamp

__all__ = [
    "CHANNELS",
    "DEFAULT_MODELS",
    "FINAL_STATUSES",
    "ITEM_STATUSES",
    "KINDS",
    "MAX_JOB_CALLS",
    "MAX_LISTED_CALLS",
    "STATUSES",
    "JobRequest",
    "JobRequestError",
    "Kind",
    "item_to_json",
    "job_channels",
    "job_to_json",
    "parse_labels",
]

Kind = Literal["transcribe", "summarize", "classify"]
KINDS: tuple[Kind, ...] = ("transcribe", "summarize", "classify")
STATUSES = (
    "creating",
    "pending",
    "running",
    "submitted",
    "cancelling",
    "completed",
    "failed",
    "cancelled",
    "expired",
)
FINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "expired"})
#: An item stays ``pending`` until it has a result (``done``) or an error (``failed``); the items of a
#: cancelled job that were never processed stay ``pending``.
ITEM_STATUSES = ("pending", "done", "failed")
CHANNELS: tuple[Speaker, ...] = ("caller", "agent")
DEFAULT_MODELS: Mapping[Kind, str] = {
    "transcribe": "gpt-4o-mini-transcribe",
    "summarize": "gpt-4.1-mini",
    "classify": "gpt-4.1-mini",
}
#: One batch holds at most 50,000 requests (PROTOCOLS E.3), so one job holds at most that many calls.
MAX_JOB_CALLS = 50_000
#: Calls named one by one; larger selections go through a filter.
MAX_LISTED_CALLS = 1_000
MAX_MODEL_CHARS = 128
MAX_PROMPT_CHARS = 20_000
MAX_LABELS = 50
MAX_LABEL_CHARS = 100

_FIELDS = ("kind", "calls", "filter", "model", "prompt", "channels")
# "labels: a, b, c" (or "label:"), anywhere in the prompt, to the end of that line.
_LABELS = re.compile(r"labels?\s*:\s*(?P<list>[^\n]+)", re.IGNORECASE)


class JobRequestError(ValueError):
    """A submission that cannot become a job; ``code`` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_labels(prompt: str) -> list[str]:
    """The labels a classification prompt lists as ``labels: a, b, c`` (comma or ``|`` separated, to the
    end of that line), in order; empty when the prompt has no such line."""
    found = _LABELS.search(prompt)
    if found is None:
        return []
    labels = (label.strip().strip("\"'`.") for label in re.split(r"[,|]", found["list"]))
    return [label for label in labels if label]


def _check_labels(prompt: str) -> tuple[str, ...]:
    labels = parse_labels(prompt)
    if len(labels) < 2:
        raise JobRequestError(
            "invalid_prompt", "a classify prompt must list at least two labels, e.g. 'labels: billing, support, sales'"
        )
    if len(labels) > MAX_LABELS or any(len(label) > MAX_LABEL_CHARS for label in labels):
        raise JobRequestError(
            "invalid_prompt", f"at most {MAX_LABELS} labels of at most {MAX_LABEL_CHARS} characters each"
        )
    if len({label.casefold() for label in labels}) != len(labels):
        raise JobRequestError("invalid_prompt", "the labels must be distinct")
    return tuple(labels)


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A checked submission: exactly one of ``calls`` and ``filter`` is set.

    ``channels`` is what a transcription job transcribes (empty for the other kinds); ``labels`` are a
    classification's labels, read from ``prompt``.
    """

    kind: Kind
    model: str
    calls: tuple[str, ...] | None = None
    filter: CallFilter | None = None
    prompt: str | None = None
    channels: tuple[Speaker, ...] = ()
    labels: tuple[str, ...] = ()

    @classmethod
    def parse(cls, body: object) -> JobRequest:
        """Check a ``POST /api/jobs`` body; raise :class:`JobRequestError` naming the first problem."""
        if not isinstance(body, Mapping):
            raise JobRequestError("invalid_body", "the body must be a JSON object")
        unknown = sorted(set(body) - set(_FIELDS))
        if unknown:
            raise JobRequestError("unknown_field", f"unknown field {unknown[0]!r}; allowed: {', '.join(_FIELDS)}")
        kind = body.get("kind")
        if kind not in KINDS:
            raise JobRequestError("invalid_kind", f"kind must be one of {', '.join(KINDS)}")
        kind = cast(Kind, kind)
        calls, call_filter = _selection(body.get("calls"), body.get("filter"))
        model = body.get("model")
        if model is None:
            model = DEFAULT_MODELS[kind]
        if not isinstance(model, str) or not 0 < len(model) <= MAX_MODEL_CHARS:
            raise JobRequestError("invalid_model", f"model must be a string of 1 to {MAX_MODEL_CHARS} characters")
        prompt = body.get("prompt")
        if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
            raise JobRequestError("invalid_prompt", "prompt must be a non-empty string")
        if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
            raise JobRequestError("invalid_prompt", f"prompt may hold at most {MAX_PROMPT_CHARS} characters")
        labels: tuple[str, ...] = ()
        if kind == "classify":
            if prompt is None:
                raise JobRequestError(
                    "invalid_prompt", "classify needs a prompt listing its labels, e.g. 'labels: billing, support'"
                )
            labels = _check_labels(prompt)
        channels = _channels(kind, body.get("channels"))
        return cls(
            kind=kind,
            model=model,
            calls=calls,
            filter=call_filter,
            prompt=prompt,
            channels=channels,
            labels=labels,
        )

    def stored_options(self) -> dict[str, Any]:
        """What the job row's ``filter`` column keeps (see the module docstring)."""
        options: dict[str, Any] = {}
        if self.filter is not None:
            options["filter"] = self.filter.to_params()
        if self.channels:
            options["channels"] = list(self.channels)
        return options


def _selection(calls: object, call_filter: object) -> tuple[tuple[str, ...] | None, CallFilter | None]:
    if (calls is None) == (call_filter is None):
        raise JobRequestError("invalid_selection", "give exactly one of 'calls' (a list of call ids) and 'filter'")
    if calls is not None:
        if not isinstance(calls, list) or not calls:
            raise JobRequestError("invalid_calls", "calls must be a non-empty list of call ids")
        if len(calls) > MAX_LISTED_CALLS:
            raise JobRequestError(
                "too_many_calls", f"at most {MAX_LISTED_CALLS} calls may be listed; select more with a filter"
            )
        if not all(isinstance(c, str) and ID_PATTERN.fullmatch(c) for c in calls):
            raise JobRequestError("invalid_calls", "a call id is 1 to 64 letters, digits, '-' or '_'")
        if len(set(calls)) != len(calls):
            raise JobRequestError("invalid_calls", "calls lists a call more than once")
        return tuple(calls), None
    if not isinstance(call_filter, Mapping) or not all(isinstance(v, str) for v in call_filter.values()):
        raise JobRequestError("invalid_filter", "filter must be an object of string values (the /calls parameters)")
    unknown = sorted(set(call_filter) - set(FILTER_PARAMS))
    if unknown:
        raise JobRequestError("invalid_filter", f"unknown filter {unknown[0]!r}; allowed: {', '.join(FILTER_PARAMS)}")
    try:
        return None, CallFilter.parse(call_filter)
    except ValueError as exc:
        raise JobRequestError("invalid_filter", str(exc)) from None


def _channels(kind: Kind, value: object) -> tuple[Speaker, ...]:
    if kind != "transcribe":
        if value is not None:
            raise JobRequestError("invalid_channels", "channels only applies to transcribe jobs")
        return ()
    if value is None:
        return ("caller",)
    if (
        not isinstance(value, list)
        or not value
        or not all(c in CHANNELS for c in value)
        or len(set(value)) != len(value)
    ):
        raise JobRequestError("invalid_channels", "channels must be a non-empty list of distinct 'caller', 'agent'")
    # Recording order (left, right), whatever order they were asked in.
    return tuple(c for c in CHANNELS if c in value)


def job_channels(job: Job) -> tuple[Speaker, ...]:
    """The channels a stored transcription job transcribes."""
    stored: Sequence[str] = job.filter.get("channels") or ("caller",)
    return tuple(c for c in CHANNELS if c in stored)


def job_to_json(job: Job) -> dict[str, Any]:
    """The API form of a job."""
    remote = job.remote_ids
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "model": job.model,
        "prompt": job.prompt,
        "filter": job.filter.get("filter"),
        "channels": job.filter.get("channels"),
        "progress": {"total": job.total, "done": job.done, "failed": job.failed},
        "error": job.error,
        "input_file_id": remote.get("input_file"),
        "batch_id": remote.get("batch"),
        "output_file_id": remote.get("output_file"),
        "error_file_id": remote.get("error_file"),
        "created_at": format_timestamp(job.created_at),
        "updated_at": format_timestamp(job.updated_at),
    }


def item_to_json(item: JobItem) -> dict[str, Any]:
    """The API form of a job item."""
    return {
        "call_id": item.call_id,
        "status": item.status,
        "result": None if item.result is None else dict(item.result),
        "error": item.error,
    }
