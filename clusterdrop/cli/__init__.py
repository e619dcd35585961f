"""The `clusterdrop` command line.

Exit codes everywhere: 0 success; 1 the input or the outcome is wrong (invalid spec,
unsupported field, failed deployment); 2 usage or I/O error, or an unexpected internal error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from clusterdrop import __version__
from clusterdrop.cli import access, cni, deployer, local, spec_tools
from clusterdrop.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterdrop",
        description="Deploy Kubernetes clusters on AWS from a spec file dropped into S3.",
        epilog="Exit codes: 0 success, 1 invalid input or failed outcome, 2 usage or I/O error.",
    )
    parser.add_argument("--version", action="version", version=f"clusterdrop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in (spec_tools, deployer, access, cni, local):
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    func: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.func
    try:
        return func(args, out, err)
    except KeyboardInterrupt:
        err.write("clusterdrop: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
        err.write(f"clusterdrop: internal error: {type(exc).__name__}: {exc}\n")
        return EXIT_USAGE


def run() -> None:
    sys.exit(main())
