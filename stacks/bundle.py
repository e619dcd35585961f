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
PLATFORM = "manylinux2014_aarch64"  # arm64 Lambdas

LAYER = BUILD / "layer"  # python/<packages>: the workflow Lambdas' dependencies
FUNCTIONS = BUILD / "functions"  # clusterdrop/ and lambdas/: the workflow Lambdas' code
AGENT = BUILD / "agent"  # the agent: its dependencies and the code in one zip


def _pip_target(requirements: Path, target: Path) -> None:
    stamp = target / ".requirements.sha256"
    digest = hashlib.sha256(requirements.read_bytes() + (REPO / "requirements-lambda.txt").read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(target), "--platform", PLATFORM, "--implementation", "cp",
            "--python-version", PYTHON_VERSION, "--only-binary=:all:", "-r", str(requirements),
        ],
        check=True,
        cwd=REPO,
    )  # fmt: skip
    stamp.write_text(digest)


def _copy_code(target: Path, handlers: list[str] | None = None) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
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


def main() -> None:
    _pip_target(REPO / "requirements-lambda.txt", LAYER / "python")
    FUNCTIONS.mkdir(parents=True, exist_ok=True)
    _copy_code(FUNCTIONS)
    _pip_target(REPO / "requirements-agent.txt", AGENT)
    _prune_botocore(AGENT)
    _copy_code(AGENT, handlers=["agent"])
    print(f"bundles in {BUILD.relative_to(REPO)}/: layer, functions, agent")  # noqa: T201


if __name__ == "__main__":
    main()
