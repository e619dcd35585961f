"""Spec and plan: validation, rendering, hostile input.

What a user or a Lambda pays: importing the library (cold start), validating a spec, rendering
the plan, and refusing hostile input.
"""

from __future__ import annotations

import functools
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from clusterdrop.errors import LoadError, SpecInvalid
from clusterdrop.render.plan import make_plan
from clusterdrop.spec.loader import load
from clusterdrop.spec.source import load_spec

REPO = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[], object], repeat: int = 50) -> tuple[float, float]:
    """Median and max wall time in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def import_ms(module: str) -> float:
    """Median wall time of importing a module in a fresh interpreter (a cold start)."""
    code = f"import time; t=time.perf_counter(); import {module}; print((time.perf_counter()-t)*1000)"
    runs = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(5)]
    return statistics.median(runs)


def billion_laughs() -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "\n".join(lines).encode()


def refuse(raw: bytes) -> None:
    try:
        load(raw)
    except LoadError:
        return
    raise AssertionError("expected a refusal")


def invalid(raw: bytes) -> None:
    try:
        load_spec(raw)
    except SpecInvalid:
        return
    raise AssertionError("expected problems")


def main() -> None:
    rows: list[tuple[str, float, float]] = []
    for path in sorted((REPO / "examples").glob("*.yaml")):
        raw = path.read_bytes()
        rows.append((f"validate {path.name}", *timed(functools.partial(load_spec, raw))))
        cluster = load_spec(raw).cluster
        rows.append((f"plan {path.name}", *timed(functools.partial(make_plan, cluster))))
    bad = (REPO / "examples" / "calico-ha.yaml").read_text()
    for old, new in (("maxSize: 6", "maxSize: 1"), ("eu-west-1c]", "eu-west-9c]"), ("api, audit", "api, x")):
        bad = bad.replace(old, new)
    rows.append(("validate a spec with 5 problems", *timed(lambda: invalid(bad.encode()))))
    rows.append(("refuse a billion-laughs document", *timed(lambda: refuse(billion_laughs()), repeat=10)))
    big = b"#" * (1024 * 1024 + 1)
    rows.append(("refuse a 1 MiB + 1 byte input", *timed(lambda: refuse(big), repeat=10)))
    near_limit = ("items:\n" + "".join(f"  - key{i}: value{i}\n" for i in range(40000))).encode()
    rows.append(
        (
            f"reject a {len(near_limit) // 1024} KiB spec (just under the limit)",
            *timed(lambda: invalid(near_limit), repeat=5),
        )
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'operation'.ljust(width)}  median ms  max ms")
    for name, median, worst in rows:
        print(f"{name.ljust(width)}  {median:9.2f}  {worst:6.2f}")
    print(f"{'import clusterdrop.spec.source (cold)'.ljust(width)}  {import_ms('clusterdrop.spec.source'):9.1f}")
    # A step's cold start against boto3's own (issue "time to Ready": at most 1.5 times is the goal): each
    # handler imports its phase only (clusterdrop/steps/__init__.py is lazy).
    boto3 = import_ms("boto3")
    print(f"{'import boto3 (cold)'.ljust(width)}  {boto3:9.1f}")
    for handler in ("take_cluster_lock", "plan", "connect", "diagnose", "notify"):
        took = import_ms(f"lambdas.{handler}")
        print(f"{f'import lambdas.{handler} (cold)'.ljust(width)}  {took:9.1f}  {took / boto3:.1f} x boto3")
