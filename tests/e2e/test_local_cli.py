"""`clusterdrop local run` as a person (or a supervisor) stops it: SIGTERM unwinds as Ctrl-C does,
and nothing of it stays in the temporary directory — a server private key was among what it left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO


def test_sigterm_mid_run_leaves_nothing_in_the_temporary_directory(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "CLUSTERDROP_CNI_MIRROR": str(REPO.parent / "shared/fixtures/cni")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterdrop", "local", "run", str(REPO / "examples" / "quickstart.yaml")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 300
    for line in proc.stdout:  # until the deployer is up and the spec submitted
        seen.append(line)
        if line.startswith("Submitting") or time.monotonic() > deadline:
            break
    assert any(line.startswith("Submitting") for line in seen), "".join(seen)
    assert any(p.name.startswith("clusterdrop-local-") for p in scratch.iterdir())  # it was working there
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode != 0  # stopped, not finished
    assert sorted(p.name for p in scratch.iterdir() if p.name.startswith("clusterdrop-")) == []
