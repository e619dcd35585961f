"""End to end in the embedded mode: the synthesized CDK app deployed into moto, the real handlers,
the real state machines, an emulated EKS with its Kubernetes API and simulated nodes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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

    before = datetime.now(UTC) - timedelta(seconds=1)
    assert ops.delete(local.aws.client("s3"), local.deployer, "quickstart") is not None
    sfn = local.aws.client("stepfunctions")
    final = ops.watch(sfn, local.deployer, "quickstart", io.StringIO(), poll=0.3, started_after=before, timeout=300)
    assert final == "SUCCEEDED"
    assert ops.newest_execution(sfn, local.deployer, "quickstart")["name"].startswith("teardown-quickstart-")  # type: ignore[index]
    assert local.leftovers("quickstart") == []
    assert table.get_item(Key={"cluster": "quickstart"})["Item"]["status"] == "DELETED"
    deleted = json.loads(local.notifications()[-1]["Message"])["outcome"]
    assert (deleted["action"], deleted["outcome"]) == ("delete", "SUCCEEDED")


def test_invalid_spec_fails_naming_the_field(local: session.LocalDeployer, tmp_path: Path) -> None:
    # Valid for the CLI's local check is not required here: upload straight to the bucket.
    bad = QUICKSTART.replace("name: quickstart", "name: broken").replace("t3.medium", "t3medium")
    local.aws.client("s3").put_object(Bucket=local.deployer.spec_bucket, Key="clusters/broken.yaml", Body=bad.encode())
    from clusterdrop import ops

    final = ops.watch(local.aws.client("stepfunctions"), local.deployer, "broken", io.StringIO(), poll=0.3, timeout=300)
    assert final == "FAILED"
    delivered = local.notifications()
    failure = json.loads(delivered[-1]["Message"])["outcome"]["failure"]
    assert failure["step"] == "Validate spec"
    assert failure["error"] == "SpecInvalid"
    assert "spec.nodeGroups[0].instanceTypes[0]" in failure["cause"]
    assert local.leftovers("broken") == []


def test_nodes_that_never_turn_ready_fail_and_retain_keeps_everything(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    """The shortest deadline a spec allows is a minute: this test takes that long."""
    text = QUICKSTART.replace("name: quickstart", "name: stuck").replace(
        "  cni:\n", "  nodeReadyTimeoutMinutes: 1\n  deletionPolicy: retain\n  cni:\n"
    )
    spec = _spec(tmp_path, "stuck", text)
    local.aws.eks.settings.faults.add("nodes-not-ready")
    try:
        result = _run(local, spec)
    finally:
        local.aws.eks.settings.faults.discard("nodes-not-ready")
    assert result["status"] == "FAILED"
    failure = result["notifications"]["sns"]["outcome"]["failure"]
    assert failure["step"] == "Wait for nodes Ready"
    assert failure["error"] == "NodesNotReady"
    assert "cni plugin not initialized" in failure["cause"]
    assert failure["cleaned_up"] == []
    assert set(failure["kept"]) == {"clusterdrop-stuck", "clusterdrop-stuck-ng-workers"}
    assert "stack clusterdrop-stuck" in result["leftovers"]  # retain keeps everything
    assert result["nodes"] == {"expected": 2, "registered": 2, "ready": 0}


def test_stack_failure_is_diagnosed_with_the_real_cause(local: session.LocalDeployer, tmp_path: Path) -> None:
    text = QUICKSTART.replace("name: quickstart", "name: nocap")  # deletionPolicy: delete, the default
    spec = _spec(tmp_path, "nocap", text)
    local.aws.eks.settings.faults.add("stack-failure")
    try:
        result = _run(local, spec)
    finally:
        local.aws.eks.settings.faults.discard("stack-failure")
    assert result["status"] == "FAILED"
    failure = result["notifications"]["sns"]["outcome"]["failure"]
    assert failure["step"] == "Wait for cluster stack"
    assert "Cluster (AWS::EKS::Cluster) CREATE_FAILED" in failure["cause"]
    assert "does not currently have sufficient capacity" in failure["cause"]
    assert "Resource creation cancelled" not in failure["cause"]
    assert failure["cleaned_up"] == ["clusterdrop-nocap"]  # the node-group stack never existed
    assert result["leftovers"] == []  # a failed first creation is cleaned up
