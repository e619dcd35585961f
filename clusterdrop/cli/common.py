"""What every command shares: exit codes, and the one way a command reads a spec (a file or
stdin, bounded, validated, every problem named with its line and column)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

from clusterdrop.cni import catalog
from clusterdrop.errors import InputUnreadable, LoadError, Problem, SpecInvalid, UnsupportedFields
from clusterdrop.facts import support_warning
from clusterdrop.spec.loader import MAX_BYTES
from clusterdrop.spec.references import Resolver
from clusterdrop.spec.source import LoadedSpec, load_spec

T = TypeVar("T")

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


def read_input(name: str) -> bytes:
    """At most one byte more than a spec may hold (so an oversized one is refused by its real
    size, read from the file system, without reading it all)."""
    try:
        if name == "-":
            raw = sys.stdin.buffer.read(MAX_BYTES + 1)
            size = f"more than {MAX_BYTES}"
        else:
            with Path(name).open("rb") as handle:
                raw = handle.read(MAX_BYTES + 1)
                size = str(os.fstat(handle.fileno()).st_size)
    except OSError as exc:
        raise InputUnreadable(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise LoadError(f"input is {size} bytes; a spec may be at most {MAX_BYTES} bytes (1 MiB)")
    return raw


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


def caller_resolver(enabled: bool) -> Resolver | None:
    """With --resolve: references read with the caller's own credentials (any path and export
    their IAM allows; the deployer is held to its CDK context's)."""
    if not enabled:
        return None
    import boto3

    from clusterdrop.spec.references import resolver

    session = boto3.session.Session()
    return resolver(session.client("ssm"), session.client("cloudformation"))


def load_or_explain(
    name: str, err: TextIO, consequence: str, resolve: Resolver | None = None
) -> tuple[bytes, LoadedSpec] | int:
    """Read and validate a spec for a command; on failure say why (every problem) and return the
    exit code: 2 when the file cannot be read, 1 when the spec is wrong."""
    source = display(name)
    try:
        found = read_or_explain(name, err, lambda raw: (raw, load_spec(raw, resolve=resolve)))
    except (SpecInvalid, UnsupportedFields) as exc:
        err.write(f"{source}: {len(exc.problems)} problem(s); {consequence}:\n")
        for p in exc.problems:
            err.write(problem_line(source, p) + "\n")
        return EXIT_INVALID
    if not isinstance(found, int):
        for line in said_lines(found[1]):
            err.write(f"{source}: {line}\n")
    return found


def spec_warnings(spec: Any) -> list[str]:
    """What a user of this spec should know today: EKS's support calendar, a CNI release its
    makers do not test on the spec's Kubernetes version."""
    version = spec.kubernetes_version or ""
    found = [
        support_warning(version, datetime.now(UTC).date()),
        catalog.untested(spec.cni.name, spec.cni.version, version),
    ]
    return [w for w in found if w]


def said_lines(loaded: LoadedSpec) -> list[str]:
    """What every command that reads a spec says about it: an import's notes (what was changed or
    made explicit), and the warnings `validate` gives."""
    return [
        *(f"note: {n}" for n in loaded.notes),
        *(f"warning: {w}" for w in spec_warnings(loaded.cluster.spec)),
    ]
