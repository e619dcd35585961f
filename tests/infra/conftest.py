"""Synthesize the CDK app once per test session (15-30 s, ~500 MB: not per test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

ADMINS = ("arn:aws:iam::123456789012:role/platform", "arn:aws:iam::123456789012:user/oncall")


@pytest.fixture(scope="session")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cdk.out")
    env = {
        **os.environ,
        "CDK_OUTDIR": str(out),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        # Context the way the CDK CLI passes it (-c notificationEmail=…).
        "CDK_CONTEXT_JSON": json.dumps(
            {"notificationEmail": "ops@example.com", "clusterAdmins": ADMINS[0] + "," + ADMINS[1]}
        ),
    }
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out


@pytest.fixture(scope="session")
def template(cdk_out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((cdk_out / "clusterdrop.template.json").read_text())
    return data
