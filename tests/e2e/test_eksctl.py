"""eksctl files end to end in the embedded mode: uploaded as they are, converted by the workflow.
A file without node groups is a control plane alone, as eksctl creates one; a later upload gives
it nodes; the teardown leaves nothing."""

from __future__ import annotations

from pathlib import Path

from clusterdrop.local import session
from tests.conftest import FIXTURES
from tests.e2e.test_embedded import _run, _spec, _torn_down

NAME = "alone"
# eksctl's zonal-shift example, in the embedded deployer's region.
ZONAL = (
    (FIXTURES / "eksctl" / "41-zonal-shift.yaml")
    .read_text()
    .replace("name: highly-available-cluster", f"name: {NAME}")
    .replace("region: us-west-2", "region: eu-west-1")
    # The VPC CNI's add-on pinned and tagged, as eksctl writes it.
    + "\naddons:\n  - {name: vpc-cni, version: v1.23.1-eksbuild.2, tags: {team: net}}\n"
)


def test_a_control_plane_alone_is_created_validated_and_given_nodes_later(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    created = _run(local, _spec(tmp_path, NAME, ZONAL))
    sns = created["notifications"]["sns"]
    assert created["status"] == "SUCCEEDED", (sns or {}).get("text")
    assert created["nodes"]["ready"] == 0
    table = sns["outcome"]["validation"]
    # CoreDNS is there, waiting for nodes as asked: no failure.
    assert "kube-system/coredns" in table
    assert "waits for nodes, the cluster has none yet" in table
    eks = local.aws.client("eks")
    assert eks.describe_cluster(name=NAME)["cluster"]["zonalShiftConfig"] == {"enabled": True}
    assert eks.list_nodegroups(clusterName=NAME)["nodegroups"] == []
    vpc_cni = eks.describe_addon(clusterName=NAME, addonName="vpc-cni")["addon"]
    assert (vpc_cni["addonVersion"], vpc_cni["tags"]["team"]) == ("v1.23.1-eksbuild.2", "net")
    coredns = local.aws.eks.clusters[NAME].api.store.objects[("apps", "deployments")][("kube-system", "coredns")]
    assert not (coredns.get("status") or {}).get("availableReplicas")

    # The same file with a managed node group: its nodes come, CoreDNS runs on them.
    grown_text = (
        ZONAL + "\nmanagedNodeGroups:\n  - name: workers\n    instanceType: t3.medium\n    desiredCapacity: 2\n"
    )
    grown = _run(local, _spec(tmp_path, NAME, grown_text))
    assert grown["status"] == "SUCCEEDED", (grown["notifications"]["sns"] or {}).get("text")
    assert grown["nodes"]["ready"] == 2
    assert "waits for nodes" not in grown["notifications"]["sns"]["outcome"]["validation"]
    coredns = local.aws.eks.clusters[NAME].api.store.objects[("apps", "deployments")][("kube-system", "coredns")]
    assert coredns["status"]["availableReplicas"] >= 1

    _torn_down(local, NAME)
