from __future__ import annotations

import argparse
from typing import Any

import pytest

from bridge.archive.cli import DEFAULT_API, add_arguments, progress_line


def job(status: str, total: int, done: int = 0, failed: int = 0) -> dict[str, Any]:
    return {
        "id": "J1",
        "kind": "classify",
        "status": status,
        "progress": {"total": total, "done": done, "failed": failed},
    }


@pytest.mark.parametrize(
    ("value", "line"),
    [
        (job("running", 3, done=1), f"J1 classify [{'#' * 10}{'-' * 20}]  33% 1/3 running"),
        (job("running", 3, done=1, failed=1), f"J1 classify [{'#' * 20}{'-' * 10}]  67% 2/3 (1 failed) running"),
        (job("pending", 0), f"J1 classify [{'-' * 30}]   0% 0/0 pending"),
        (job("completed", 0), f"J1 classify [{'#' * 30}] 100% 0/0 completed"),
    ],
)
def test_progress_line(value: dict[str, Any], line: str) -> None:
    assert progress_line(value) == line


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bridge jobs")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_filter_options_and_defaults() -> None:
    args = parse(
        "submit", "--kind", "transcribe", "--from", "+1555", "--to", "+1666", "--end-reason", "hangup", "--q", "refund"
    )
    assert (args.api, args.json, args.follow, args.interval) == (DEFAULT_API, False, False, 2.0)
    assert (args.from_number, args.to_number, args.end_reason, args.q, args.calls, args.channels) == (
        "+1555",
        "+1666",
        "hangup",
        "refund",
        None,
        None,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("submit",),  # --kind is required
        ("submit", "--kind", "translate"),
        ("submit", "--kind", "transcribe", "--channel", "left"),
        ("list", "--status", "done"),
        ("show",),
        ("purge",),
    ],
)
def test_bad_command_lines_are_refused(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err
