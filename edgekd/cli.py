"""The `edgekd` command: one thin function per subcommand over the public API.

Every user-facing failure is an EdgeKDError: printed as one line, exit status 2
(a traceback only with --debug).
"""
from __future__ import annotations

import argparse
import sys

from edgekd.errors import EdgeKDError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgekd",
        description="Distill, quantize to int8, generate C and verify it bit-exact.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    del sub  # subcommands are added below as they land
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EdgeKDError as error:
        if args.debug:
            raise
        print(f"edgekd: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edgekd: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
