"""End to end in the embedded mode: the synthesized CDK app deployed into moto, the real handlers,
the real state machines, an emulated EKS with its Kubernetes API and simulated nodes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from clusterdrop.local import session
from tests.conftest import REPO

QUICKSTART = (REPO / "examples" / "quickstart.yaml").read_text()


def _spec(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _run(local: session.LocalDeployer, spec: Path, *, plan: bool = False) -> dict[str, Any]:
    return session.run(local, spec, io.StringIO(), plan=plan)


def test_create_update_plan_delete(local: session.LocalDeployer, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "quickstart", QUICKSTART)
    created = _run(local, spec)
    assert created["status"] == "SUCCEEDED", (created["notifications"]["sns"] or {}).get("text")
    assert created["nodes"] == {"expected": 2, "registered": 2, "ready": 2}
    sns = created["notifications"]["sns"]
    assert sns["outcome"]["outcome"] == "SUCCEEDED"
    assert sns["outcome"]["action"] == "create"
    assert sns["outcome"]["nodes"] == {"workers": {"ready": 2, "desired": 2}}
    assert "Nodes Ready:" in sns["text"]
    assert created["notifications"]["slack"]["text"] == "[clusterdrop] quickstart: create succeeded"
    names = [s["name"] for s in created["steps"]]
    assert names[:3] == ["Validate spec", "Take cluster lock", "Plan"]
    assert "Wait for nodes Ready" in names
    assert "Superseded?" not in names  # plumbing is not a step
    table = local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(local.deployer.clusters_table)
    assert table.get_item(Key={"cluster": "quickstart"})["Item"]["status"] == "ACTIVE"

    # A plan: the notification lists the change, nothing changes.
    scaled = _spec(tmp_path, "quickstart", QUICKSTART.replace("desiredSize: 2", "desiredSize: 3"))
    planned = _run(local, scaled, plan=True)
    assert planned["status"] == "SUCCEEDED"
    outcome = planned["notifications"]["sns"]["outcome"]
    assert (outcome["action"], outcome["outcome"]) == ("plan", "PLANNED")
    assert any(c["stack"] == "clusterdrop-quickstart-ng-workers" for c in outcome["changes"])
    assert local.aws.eks.clusters["quickstart"].nodegroups["workers"]["desired"] == 2

    # An update: the node group grows, the cluster stays.
    updated = _run(local, scaled)
    assert updated["status"] == "SUCCEEDED", (updated["notifications"]["sns"] or {}).get("text")
    assert updated["notifications"]["sns"]["outcome"]["action"] == "update"
    assert updated["nodes"]["ready"] == 3

    # Delete: the teardown leaves nothing of the cluster.
    from clusterdrop import ops

    assert ops.delete(local.aws.client("s3"), local.deployer, "quickstart") is not None
    final = ops.watch(local.aws.client("stepfunctions"), local.deployer, "quickstart", io.StringIO(), poll=0.3)
    assert final == "SUCCEEDED"
    assert local.leftovers("quickstart") == []
    assert table.get_item(Key={"cluster": "quickstart"})["Item"]["status"] == "DELETED"


def test_invalid_spec_fails_naming_the_field(local: session.LocalDeployer, tmp_path: Path) -> None:
    # Valid for the CLI's local check is not required here: upload straight to the bucket.
    bad = QUICKSTART.replace("name: quickstart", "name: broken").replace("t3.medium", "t3medium")
    local.aws.client("s3").put_object(Bucket=local.deployer.spec_bucket, Key="clusters/broken.yaml", Body=bad.encode())
    from clusterdrop import ops

    final = ops.watch(local.aws.client("stepfunctions"), local.deployer, "broken", io.StringIO(), poll=0.3)
    assert final == "FAILED"
    delivered = local.notifications()
    failure = __import__("json").loads(delivered[-1]["Message"])["outcome"]["failure"]
    assert failure["step"] == "Validate spec"
    assert failure["error"] == "SpecInvalid"
    assert "spec.nodeGroups[0].instanceTypes[0]" in failure["cause"]
    assert local.leftovers("broken") == []


@pytest.mark.parametrize(
    ("fault", "step"), [("stack-failure", "Wait for cluster stack"), ("nodes-not-ready", "Wait for nodes Ready")]
)
def test_injected_faults_fail_cleanly(local: session.LocalDeployer, tmp_path: Path, fault: str, step: str) -> None:
    name = f"fault-{fault.split('-')[0]}"
    text = QUICKSTART.replace("name: quickstart", f"name: {name}").replace(
        "  cni:\n", "  nodeReadyTimeoutMinutes: 1\n  cni:\n"
    )
    spec = _spec(tmp_path, name, text)
    local.aws.eks.settings.faults.add(fault)
    try:
        result = _run(local, spec)
    finally:
        local.aws.eks.settings.faults.discard(fault)
    assert result["status"] == "FAILED"
    failure = result["notifications"]["sns"]["outcome"]["failure"]
    assert failure["step"] == step
    if fault == "stack-failure":
        assert "does not currently have sufficient capacity" in failure["cause"]
    else:
        assert "cni plugin not initialized" in failure["cause"] or "NotReady" in failure["cause"]
    assert result["leftovers"] == []  # deletionPolicy: delete on a failed first creation
    assert failure["cleaned_up"]
