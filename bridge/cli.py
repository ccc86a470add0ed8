"""The ``bridge`` command: serve | engine | call | dialplan | jobs.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
it is imported only when chosen, so ``bridge call`` does not pay for the server's imports.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from bridge import __version__
from bridge.errors import BridgeError

__all__ = ["main"]

# name -> (module, help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("bridge.web.serve", "run the bridge server (Twilio webhook + media streams)"),
    "engine": ("bridge.engine.cli", "run the bundled Realtime-compatible engine"),
    "call": ("bridge.sim.cli", "place a simulated Twilio call against a bridge"),
    "dialplan": ("bridge.dialplan.cli", "check dialplans"),
    "jobs": ("bridge.archive.cli", "submit and follow post-call jobs"),
}


def _build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"bridge {__version__}")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((a for a in argv if a in SUBCOMMANDS), None)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args))
    except BridgeError as exc:
        print(f"bridge {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
