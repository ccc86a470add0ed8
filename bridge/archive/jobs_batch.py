"""Summaries and classifications as one Batch of ``/v1/responses`` requests: the input lines and the results.

Pure. Each call becomes one line ``{"custom_id": <call id>, "method": "POST", "url": "/v1/responses",
"body": {...}}`` whose ``input`` is the call's live transcript as the caller experienced it (agent
replies cut by barge-in appear as heard). Results come back as output and error JSONL files joined on
``custom_id`` (PROTOCOLS E.3); :func:`parse_results` turns them into one :class:`Outcome` per call.

Classification asks for structured output: a JSON object ``{"label": ...}`` whose schema enumerates the
labels, so a conforming model can only answer one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bridge.archive.records import TranscriptSegment

__all__ = [
    "BATCH_ENDPOINT",
    "CLASSIFY_INSTRUCTIONS",
    "SUMMARY_INSTRUCTIONS",
    "Outcome",
    "parse_results",
    "request_line",
    "transcript_text",
]

log = logging.getLogger("bridge.archive.jobs")

BATCH_ENDPOINT = "/v1/responses"
SUMMARY_INSTRUCTIONS = (
    "Summarize this phone call between a caller and an agent in two or three sentences: why the caller "
    "called, what the agent did, and anything left to follow up."
)
CLASSIFY_INSTRUCTIONS = (
    "Classify this phone call between a caller and an agent. Answer with the one label that fits best."
)
_SPEAKERS = {"caller": "Caller", "agent": "Agent"}


def transcript_text(segments: Sequence[TranscriptSegment]) -> str:
    """``Caller: ...`` / ``Agent: ...`` lines, agent replies cut by barge-in as the caller heard them."""
    lines = []
    for segment in segments:
        text = segment.heard_text if segment.cut and segment.heard_text is not None else segment.text
        text = " ".join(text.split())
        if text:
            lines.append(f"{_SPEAKERS[segment.speaker]}: {text}")
    return "\n".join(lines)


def _classification_format(labels: Sequence[str]) -> dict[str, Any]:
    return {
        "format": {
            "type": "json_schema",
            "name": "call_classification",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"label": {"type": "string", "enum": list(labels)}},
                "required": ["label"],
                "additionalProperties": False,
            },
        }
    }


def request_line(call_id: str, *, kind: str, model: str, prompt: str | None, labels: Sequence[str], text: str) -> bytes:
    """One JSONL line (newline included) asking to summarize (``labels`` empty) or classify ``text``."""
    body: dict[str, Any] = {"model": model, "input": text}
    if kind == "classify":
        body["instructions"] = f"{CLASSIFY_INSTRUCTIONS}\n{prompt}"
        body["text"] = _classification_format(labels)
    else:
        body["instructions"] = prompt or SUMMARY_INSTRUCTIONS
    line = {"custom_id": call_id, "method": "POST", "url": BATCH_ENDPOINT, "body": body}
    return orjson.dumps(line) + b"\n"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One call's result (``{"summary": ...}`` or ``{"label": ...}``) or the error that replaced it."""

    result: dict[str, Any] | None = None
    error: str | None = None


def parse_results(content: bytes, *, kind: str, labels: Sequence[str]) -> dict[str, Outcome]:
    """Outcomes by call id from a batch output or error file; lines without a ``custom_id`` are skipped."""
    outcomes: dict[str, Outcome] = {}
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            line = None
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            log.warning("batch result line %d is not a result line; skipped", number)
            continue
        outcomes[line["custom_id"]] = _outcome(line, kind, labels)
    return outcomes


def _outcome(line: Mapping[str, Any], kind: str, labels: Sequence[str]) -> Outcome:
    response = line.get("response")
    response = response if isinstance(response, Mapping) else {}
    body = response.get("body")
    body = body if isinstance(body, Mapping) else {}
    error = line.get("error")
    if isinstance(error, Mapping):
        return Outcome(error=_error_text(error, response.get("status_code")))
    status = response.get("status_code")
    if status != 200:
        body_error = body.get("error")
        if isinstance(body_error, Mapping):
            return Outcome(error=_error_text(body_error, status))
        return Outcome(error=f"HTTP {status}: the request failed")
    if body.get("status", "completed") != "completed":
        details = body.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        return Outcome(error=f"the response is {body.get('status')}" + (f" ({reason})" if reason else ""))
    text = _output_text(body)
    if kind == "classify":
        return _label(text, labels)
    return Outcome(result={"summary": text.strip()})


def _error_text(error: Mapping[str, Any], status: object) -> str:
    """``HTTP 400 missing_required_parameter: Missing required parameter: 'model'.``"""
    message = str(error.get("message") or "the request failed")
    code = error.get("code") or error.get("type")
    tags = [f"HTTP {status}"] if isinstance(status, int) else []
    if code:
        tags.append(str(code))
    return f"{' '.join(tags)}: {message}" if tags else message


def _output_text(body: Mapping[str, Any]) -> str:
    """The text of a Response's assistant messages (``output_text`` is only an SDK convenience)."""
    texts = []
    for item in body.get("output") or []:
        if not isinstance(item, Mapping) or item.get("type") != "message":
            continue
        for part in item.get("content") or []:
            if isinstance(part, Mapping) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "".join(texts)


def _label(text: str, labels: Sequence[str]) -> Outcome:
    try:
        answer = orjson.loads(text)
    except orjson.JSONDecodeError:
        answer = text.strip()  # a model that ignored the format may still have answered a bare label
    if isinstance(answer, Mapping):
        answer = answer.get("label")
    if isinstance(answer, str):
        for label in labels:
            if label.casefold() == answer.strip().casefold():
                return Outcome(result={"label": label})
    shown = text if len(text) <= 200 else text[:200] + "…"
    return Outcome(error=f"the model answered {shown!r}, which is not one of the labels")
