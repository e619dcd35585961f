"""What every command shares: exit codes, and the one way a command reads a spec (a file or
stdin, bounded, validated, every problem named with its line and column)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

from clusterdrop.errors import InputUnreadable, LoadError, Problem, SpecInvalid, UnsupportedFields
from clusterdrop.spec.loader import MAX_BYTES
from clusterdrop.spec.source import LoadedSpec, load_spec

T = TypeVar("T")

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def read_input(name: str) -> bytes:
    try:
        if name == "-":
            return sys.stdin.buffer.read(MAX_BYTES + 1)
        with Path(name).open("rb") as handle:
            return handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputUnreadable(f"{name}: cannot read: {exc.strerror or exc}") from None


def display(name: str) -> str:
    return "<stdin>" if name == "-" else name


def problem_line(source: str, problem: Problem) -> str:
    where = f"{source}:{problem.line}:{problem.column}" if problem.line is not None else source
    return f"  {where}: {problem.path or '(document)'}: {problem.message}"


def read_or_explain(name: str, err: TextIO, parse: Callable[[bytes], T]) -> T | int:
    """Read a file (or stdin) and parse it; on failure say why and return the exit code: 2 when
    it cannot be read, 1 when it is not a document."""
    try:
        return parse(read_input(name))
    except InputUnreadable as exc:
        err.write(f"clusterdrop: {exc}\n")
        return EXIT_USAGE
    except LoadError as exc:
        err.write(f"{display(name)}: {exc}\n")
        return EXIT_INVALID


def load_or_explain(name: str, err: TextIO, consequence: str) -> tuple[bytes, LoadedSpec] | int:
    """Read and validate a spec for a command; on failure say why (every problem) and return the
    exit code: 2 when the file cannot be read, 1 when the spec is wrong."""
    source = display(name)
    try:
        return read_or_explain(name, err, lambda raw: (raw, load_spec(raw)))
    except (SpecInvalid, UnsupportedFields) as exc:
        err.write(f"{source}: {len(exc.problems)} problem(s); {consequence}:\n")
        for p in exc.problems:
            err.write(problem_line(source, p) + "\n")
        return EXIT_INVALID
