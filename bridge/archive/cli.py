"""``bridge jobs``: submit, list, show and cancel post-call jobs on a running bridge, through its REST API.

    bridge jobs submit --kind summarize --since 2024-05-01 --until 2024-05-02 [--follow]
    bridge jobs submit --kind classify --call ID --call ID --prompt "labels: billing, support, sales"
    bridge jobs submit --kind transcribe --dialplan support --channel caller --channel agent
    bridge jobs list [--status running] [--kind summarize]
    bridge jobs show ID [--items] [--follow]
    bridge jobs cancel ID

``--api`` is the API's root (default ``http://127.0.0.1:8080/api``); the bearer token comes from
``BRIDGE_API_TOKEN``. ``--follow`` redraws a progress bar in place on a terminal and prints a line per
change otherwise; it exits 0 when the job completes and 1 when it ends any other way.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import httpx

from bridge.archive.jobs_model import CHANNELS, FINAL_STATUSES, ITEM_STATUSES, KINDS, STATUSES
from bridge.config import Settings
from bridge.errors import ConfigError, UpstreamError

__all__ = ["DEFAULT_API", "add_arguments", "progress_line", "run"]

DEFAULT_API = "http://127.0.0.1:8080/api"
_BAR_WIDTH = 30
_CLEAR_LINE = "\r\x1b[2K"
# --option -> the /calls filter parameter it sets
_FILTER_OPTIONS = {
    "from_number": "from",
    "to_number": "to",
    "dialplan": "dialplan",
    "since": "since",
    "until": "until",
    "end_reason": "end_reason",
    "q": "q",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api", default=DEFAULT_API, help=f"the bridge API's root URL (default {DEFAULT_API})")
    common.add_argument("--json", action="store_true", help="print the API's JSON instead of text")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    submit = actions.add_parser("submit", parents=[common], help="submit a job")
    submit.add_argument("--kind", required=True, choices=KINDS)
    submit.add_argument("--call", dest="calls", action="append", metavar="ID", help="a call id (repeatable)")
    picked = submit.add_argument_group("or choose calls by filter (as GET /api/calls)")
    picked.add_argument("--from", dest="from_number", metavar="NUMBER", help="caller number")
    picked.add_argument("--to", dest="to_number", metavar="NUMBER", help="called number")
    picked.add_argument("--dialplan")
    picked.add_argument("--since", metavar="TIME", help="started at or after (ISO 8601)")
    picked.add_argument("--until", metavar="TIME", help="started before (ISO 8601)")
    picked.add_argument("--end-reason", dest="end_reason")
    picked.add_argument("--q", metavar="WORDS", help="transcript full-text search")
    submit.add_argument("--model", help="the model (default: per kind)")
    submit.add_argument("--prompt", help="instructions; classify needs a line 'labels: a, b, c'")
    submit.add_argument(
        "--channel", dest="channels", action="append", choices=CHANNELS, help="transcribe: channel (repeatable)"
    )
    submit.add_argument("--follow", action="store_true", help="then follow its progress")
    submit.add_argument("--interval", type=float, default=2.0, help="seconds between progress checks")

    listing = actions.add_parser("list", parents=[common], help="list jobs, newest first")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--kind", choices=KINDS)
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--cursor", help="continue where the previous list stopped")

    show = actions.add_parser("show", parents=[common], help="show a job")
    show.add_argument("job_id", metavar="ID")
    show.add_argument("--items", action="store_true", help="also list each call's result or error")
    show.add_argument("--item-status", choices=ITEM_STATUSES, help="with --items: only items in this status")
    show.add_argument("--follow", action="store_true", help="follow its progress until it ends")
    show.add_argument("--interval", type=float, default=2.0, help="seconds between progress checks")

    cancel = actions.add_parser("cancel", parents=[common], help="cancel a job")
    cancel.add_argument("job_id", metavar="ID")


class _Api:
    """The bridge's REST API over httpx; every failure is an UpstreamError with the API's message."""

    def __init__(self, root: str, token: str | None) -> None:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self._root = root.rstrip("/")
        self._http = httpx.Client(base_url=self._root + "/", headers=headers, timeout=30.0)

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"cannot reach the bridge API at {self._root}: {exc}") from exc
        if response.is_success:
            return response.json()
        code, message = None, response.text[:300] or response.reason_phrase
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        if isinstance(error, dict):
            code, message = error.get("code"), str(error.get("message"))
        raise UpstreamError(f"{message} (HTTP {response.status_code})", status=response.status_code, code=code)


def progress_line(job: Mapping[str, Any]) -> str:
    """``ID kind [#####-----]  50% 5/10 (1 failed) running``."""
    progress = job["progress"]
    total, finished = progress["total"], progress["done"] + progress["failed"]
    fraction = min(finished / total, 1.0) if total else float(job["status"] in FINAL_STATUSES)
    filled = round(fraction * _BAR_WIDTH)
    bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
    failed = f" ({progress['failed']} failed)" if progress["failed"] else ""
    return f"{job['id']} {job['kind']} [{bar}] {fraction:4.0%} {finished}/{total}{failed} {job['status']}"


def _follow(api: _Api, job_id: str, out: TextIO, interval: float, sleep: Callable[[float], None]) -> int:
    on_tty = out.isatty()
    last = None
    while True:
        job = api.call("GET", f"jobs/{job_id}")
        line = progress_line(job)
        if on_tty:
            out.write(_CLEAR_LINE + line)
        elif line != last:
            out.write(line + "\n")
        out.flush()
        last = line
        if job["status"] in FINAL_STATUSES:
            break
        sleep(interval)
    if on_tty:
        out.write("\n")
    if job["error"]:
        out.write(f"error: {job['error']}\n")
    return 0 if job["status"] == "completed" else 1


def _print_json(out: TextIO, value: Any) -> None:
    out.write(json.dumps(value, indent=2) + "\n")


def _submit(api: _Api, args: argparse.Namespace, out: TextIO, sleep: Callable[[float], None]) -> int:
    call_filter = {param: getattr(args, option) for option, param in _FILTER_OPTIONS.items()}
    call_filter = {param: value for param, value in call_filter.items() if value is not None}
    if args.calls and call_filter:
        raise ConfigError("choose calls either with --call or with filter options, not both")
    if not args.calls and not call_filter:
        raise ConfigError("choose calls with --call ID or with filter options (e.g. --since 2024-05-01)")
    body: dict[str, Any] = {"kind": args.kind}
    if args.calls:
        body["calls"] = args.calls
    else:
        body["filter"] = call_filter
    for name in ("model", "prompt", "channels"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    job = api.call("POST", "jobs", json=body)
    if args.json:
        _print_json(out, job)
    else:
        out.write(f"submitted job {job['id']} ({job['kind']}, {job['progress']['total']} calls)\n")
    if args.follow:
        return _follow(api, job["id"], out, args.interval, sleep)
    return 0


def _list(api: _Api, args: argparse.Namespace, out: TextIO) -> int:
    params = {name: getattr(args, name) for name in ("status", "kind", "limit", "cursor")}
    page = api.call("GET", "jobs", params={k: v for k, v in params.items() if v is not None})
    if args.json:
        _print_json(out, page)
        return 0
    for job in page["data"]:
        out.write(f"{job['created_at']}  {progress_line(job)}\n")
    if not page["data"]:
        out.write("no jobs\n")
    if page["next_cursor"]:
        out.write(f"more: --cursor {page['next_cursor']}\n")
    return 0


def _items(api: _Api, job_id: str, status: str | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": 200}
    if status is not None:
        params["status"] = status
    while True:
        page = api.call("GET", f"jobs/{job_id}/items", params=params)
        items.extend(page["data"])
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]


def _item_line(item: Mapping[str, Any]) -> str:
    if item["error"] is not None:
        detail = f"error: {item['error']}"
    elif item["result"] is not None:
        detail = "; ".join(f"{key}: {' '.join(str(value).split())}" for key, value in item["result"].items())
    else:
        detail = ""
    return f"{item['call_id']}  {item['status']:<7} {detail}".rstrip()


def _show(api: _Api, args: argparse.Namespace, out: TextIO, sleep: Callable[[float], None]) -> int:
    if args.follow:
        return _follow(api, args.job_id, out, args.interval, sleep)
    job = api.call("GET", f"jobs/{args.job_id}")
    items = _items(api, args.job_id, args.item_status) if args.items else None
    if args.json:
        _print_json(out, job if items is None else {**job, "items": items})
        return 0
    out.write(progress_line(job) + "\n")
    for key in ("model", "prompt", "channels", "filter", "error", "batch_id", "created_at", "updated_at"):
        if job[key] is not None:
            out.write(f"  {key}: {job[key]}\n")
    for item in items or []:
        out.write(_item_line(item) + "\n")
    return 0


def _cancel(api: _Api, args: argparse.Namespace, out: TextIO) -> int:
    job = api.call("POST", f"jobs/{args.job_id}/cancel")
    if args.json:
        _print_json(out, job)
    else:
        out.write(progress_line(job) + "\n")
    return 0


def run(args: argparse.Namespace, *, out: TextIO | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """Run ``bridge jobs ACTION``; ``out`` and ``sleep`` are for tests (default: stdout, real time)."""
    out = sys.stdout if out is None else out
    # httpx logs every request at INFO; here the output is the information, and a log line would break
    # the progress bar.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    api = _Api(args.api, Settings.from_env().api_token)
    try:
        if args.action == "submit":
            return _submit(api, args, out, sleep)
        if args.action == "list":
            return _list(api, args, out)
        if args.action == "show":
            return _show(api, args, out, sleep)
        return _cancel(api, args, out)
    finally:
        api.close()
