"""``bridge dialplan check [DIR]``: load every dialplan in a folder and report every problem.

Exit status 0 when all dialplans load (a one-line summary is printed), 1 when any problem was found
(each printed on its own line as ``file:line: key.path: message``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.config import Settings
from bridge.dialplan.loader import load_dialplans
from bridge.dialplan.model import BUILT_IN_SOURCE
from bridge.errors import DialplanError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``dialplan`` actions (``check``) to ``parser``."""
    actions = parser.add_subparsers(dest="dialplan_action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="load every dialplan in a folder and report every problem")
    check.add_argument(
        "directory",
        nargs="?",
        type=Path,
        default=None,
        help="dialplan folder (default: $BRIDGE_DIALPLANS, else dialplans/)",
    )


def _check(directory: Path | None) -> int:
    folder = Settings.from_env().dialplans_dir if directory is None else directory
    try:
        dialplans = load_dialplans(folder)
    except DialplanError as exc:
        for problem in exc.problems:
            print(problem)
        return 1
    if dialplans.default.source == BUILT_IN_SOURCE:
        print(f"no dialplan files in {folder}: every call gets the built-in default dialplan")
        return 0
    count = len(dialplans)
    names = ", ".join(plan.name for plan in dialplans)
    print(f"{count} dialplan{'' if count == 1 else 's'} OK: {names}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the chosen ``dialplan`` action; returns the exit status."""
    # ``check`` is the only action; argparse has already refused any other.
    return _check(args.directory)
