"""The commands a kops or eksctl user runs on a cluster the embedded deployer made:
`validate-cluster NAME` (kops's `validate cluster`: the agent's report on demand, through Lambda's
Invoke, as the workflow gets it) and `diff FILE` (against the spec the cluster runs, and --live)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clusterdrop.cli import main
from clusterdrop.local import session
from tests.conftest import REPO

NAME = "validated"


def _cli(local: session.LocalDeployer, monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str, str]:
    for key, value in local.environment.items():
        monkeypatch.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def _all_ready(nodes: dict[tuple[str, str], dict[str, Any]]) -> bool:
    return all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]) for n in nodes.values()
    )


def _until(condition: Callable[[], bool]) -> None:
    """The node simulator's next pass (it runs on its own clock)."""
    for _ in range(100):
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the node simulator did not get there in 10 s")


def test_validate_cluster_reports_on_demand_and_fails_on_a_node_not_ready(
    local: session.LocalDeployer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / f"{NAME}.yaml"
    spec.write_text((REPO / "examples" / "quickstart.yaml").read_text().replace("name: quickstart", f"name: {NAME}"))
    created = session.run(local, spec, io.StringIO())
    assert created["status"] == "SUCCEEDED", (created["notifications"]["sns"] or {}).get("text")

    code, out, err = _cli(local, monkeypatch, "validate-cluster", NAME)
    assert code == 0, err
    assert "KIND" in out
    assert "STATUS" in out
    nodes = local.aws.eks.clusters[NAME].api.store.objects[("", "nodes")]
    assert len(nodes) == 2
    assert re.search(r"NodeGroup +workers +ok +2/2 Ready", out), out
    assert not any(node["metadata"]["name"] in out for node in nodes.values())  # only a failing node has a row
    assert f"Your cluster {NAME} is ready" in out
    before = sum(1 for i in local.aws.runtime.invocations if i["function"] == f"clusterdrop-{NAME}-agent")
    assert before >= 1, "the report came from the cluster's agent, invoked through Lambda"

    # Kubelets that stop posting Ready: the report names the nodes, exit 1, and says how to wait.
    local.aws.eks.settings.faults.add("nodes-not-ready")
    try:
        _until(lambda: not _all_ready(nodes))
        code, out, err = _cli(local, monkeypatch, "validate-cluster", NAME)
        assert code == 1
        assert re.search(r"NodeGroup +workers +FAIL +0/2 Ready", out), out
        assert next(iter(nodes.values()))["metadata"]["name"] in err  # the one-line cause names the nodes
        assert "ClusterValidationFailed" in err
        assert f"clusterdrop validate-cluster {NAME} --wait" in err
        # --wait keeps asking while the cause is one the workflow waits out, then gives up.
        code, out, err = _cli(local, monkeypatch, "validate-cluster", NAME, "--wait", "1", "--poll", "0.3")
        assert code == 1
        assert out.count("waiting: ") >= 2
    finally:
        local.aws.eks.settings.faults.discard("nodes-not-ready")
    _until(lambda: _all_ready(nodes))
    code, out, _ = _cli(local, monkeypatch, "validate-cluster", NAME, "--json")
    assert code == 0
    assert '"ok": true' in out

    # A cluster never created has nothing to validate: said, exit 1, nothing invoked.
    code, _, err = _cli(local, monkeypatch, "validate-cluster", "nobody-here")
    assert code == 1
    assert "cannot validate nobody-here" in err


def test_diff_compares_with_the_spec_the_cluster_runs_and_live_asks_cloudformation(
    local: session.LocalDeployer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (REPO / "examples" / "quickstart.yaml").read_text().replace("name: quickstart", "name: diffed")
    spec = tmp_path / "diffed.yaml"
    code, out, _ = _cli(local, monkeypatch, "diff", str(_write(spec, text)))
    assert code == 0
    assert "Cluster diffed is not running" in out
    created = session.run(local, spec, io.StringIO())
    assert created["status"] == "SUCCEEDED", (created["notifications"]["sns"] or {}).get("text")

    code, out, err = _cli(local, monkeypatch, "diff", str(spec))
    assert code == 0, err
    assert "No changes:" in out
    assert "the spec diffed runs (version " in out
    scaled = _write(tmp_path / "scaled.yaml", text.replace("desiredSize: 2", "desiredSize: 3"))
    code, out, err = _cli(local, monkeypatch, "diff", str(scaled))
    assert code == 0, err
    assert "~ spec.nodeGroups[workers].desiredSize: 2 → 3 (in place: scaling)" in out
    code, out, err = _cli(
        local, monkeypatch, "diff", str(_write(tmp_path / "cni.yaml", text.replace("aws-vpc-cni", "calico")))
    )
    assert code == 1
    assert "spec.cni.name: cannot change on a running cluster" in err

    # --live: a plan execution, its notification's change sets; nothing changes.
    code, out, err = _cli(local, monkeypatch, "diff", str(scaled), "--live", "--poll", "0.5")
    assert code == 0, err
    assert "clusterdrop-diffed-ng-workers" in out
    assert "Watching " in err  # the execution's progress went to stderr
    assert local.aws.eks.clusters["diffed"].nodegroups["workers"]["desired"] == 2


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
