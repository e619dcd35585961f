"""Lambda bundles, built without Docker: pip installs the Linux arm64 wheels of the pinned
requirements for the Lambda runtime's Python into build/, and the project's code is copied
beside them. The CDK app points its assets at these directories.

    python -m stacks.bundle          # all three
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build"
PYTHON_VERSION = "3.13"  # the Lambda runtime (python3.13)
# arm64 Lambdas run Amazon Linux 2023 (glibc 2.34): wheels tagged manylinux2014 (glibc 2.17) and
# manylinux_2_28 both load there, and some packages publish only the newer tag.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
# Lambda's quota: a function and all its layers, unzipped, at most 250 MB (262,144,000 bytes).
UNZIPPED_LIMIT = 262_144_000

LAYER = BUILD / "layer"  # python/<packages>: the workflow Lambdas' dependencies
FUNCTIONS = BUILD / "functions"  # clusterdrop/ and lambdas/: the workflow Lambdas' code
AGENT = BUILD / "agent"  # the agent: its dependencies and the code in one zip


def _pip_target(requirements: Path, target: Path) -> None:
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    # --no-compile: pip would byte-compile for the build machine's Python, whose .pyc files the
    # Lambda runtime's Python cannot use (it compiles its own, in memory).
    args = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(target), *platforms, "--implementation", "cp",
        "--python-version", PYTHON_VERSION, "--only-binary=:all:", "-r", str(requirements),
    ]  # fmt: skip
    stamp = target / ".requirements.sha256"
    inputs = requirements.read_bytes() + (REPO / "requirements-lambda.txt").read_bytes() + " ".join(args[4:]).encode()
    digest = hashlib.sha256(inputs).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    subprocess.run(args, check=True, cwd=REPO)  # noqa: S603 - fixed arguments
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache)
    stamp.write_text(digest)


# What runs only on a person's machine never ships: the embedded mode (moto, the emulators) and
# the CLI around it. No Lambda imports them (tests/infra/test_bundles.py checks).
NOT_SHIPPED = ("local", "cli", "__main__.py", "ops.py")


def _copy_code(target: Path, handlers: list[str] | None = None) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
        if Path(directory) == REPO / "clusterdrop":
            skipped |= set(NOT_SHIPPED) & set(names)
        return skipped

    shutil.rmtree(target / "clusterdrop", ignore_errors=True)
    shutil.copytree(REPO / "clusterdrop", target / "clusterdrop", ignore=ignore)
    lambdas = target / "lambdas"
    shutil.rmtree(lambdas, ignore_errors=True)
    if handlers is None:
        shutil.copytree(REPO / "lambdas", lambdas, ignore=ignore)
    else:
        lambdas.mkdir()
        for name in ["__init__", *handlers]:
            shutil.copy2(REPO / "lambdas" / f"{name}.py", lambdas / f"{name}.py")


# The agent calls S3 (its mirror) and signs STS tokens; the other ~400 service models of
# botocore (28 MB) would only add to its cold start and size.
AGENT_BOTOCORE_SERVICES = {"s3", "sts"}


def _prune_botocore(target: Path) -> None:
    data = target / "botocore" / "data"
    for service in data.iterdir():
        if service.is_dir() and service.name not in AGENT_BOTOCORE_SERVICES:
            shutil.rmtree(service)


def unzipped_size(*directories: Path) -> int:
    """Bytes of every file, as Lambda counts a function's code and its layers unzipped."""
    return sum(f.stat().st_size for d in directories for f in d.rglob("*") if f.is_file() and f.name[0] != ".")


def sizes() -> dict[str, int]:
    """Each deployed function's unzipped size: the workflow functions share code and layer."""
    return {"workflow function + layer": unzipped_size(FUNCTIONS, LAYER), "agent": unzipped_size(AGENT)}


def main() -> None:
    _pip_target(REPO / "requirements-lambda.txt", LAYER / "python")
    FUNCTIONS.mkdir(parents=True, exist_ok=True)
    _copy_code(FUNCTIONS)
    _pip_target(REPO / "requirements-agent.txt", AGENT)
    _prune_botocore(AGENT)
    _copy_code(AGENT, handlers=["agent"])
    print(f"bundles in {BUILD.relative_to(REPO)}/: layer, functions, agent")  # noqa: T201
    for name, size in sizes().items():
        margin = UNZIPPED_LIMIT - size
        print(f"  {name}: {size / 1e6:.1f} MB unzipped, {margin / 1e6:.1f} MB under Lambda's 250 MB")  # noqa: T201
        if margin < 0:
            raise SystemExit(f"{name} is over Lambda's unzipped limit by {-margin / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
