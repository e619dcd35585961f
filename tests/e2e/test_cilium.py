"""Cilium end to end in the embedded mode, from the official chart in the mirror (rendered on this
machine when the embedded deployer starts, as `clusterdrop cni mirror` does before a real one):
ENI mode with two node groups, and overlay mode with kube-proxy replacement — every node Ready,
Cilium's taint lifted, CoreDNS available, the validation passing with Cilium's rows — then torn
down, nothing left."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clusterdrop.errors import SpecInvalid
from clusterdrop.local import session
from tests.conftest import REPO
from tests.e2e.test_embedded import _run, _spec, _torn_down

CILIUM = (REPO / "examples" / "cilium.yaml").read_text()
OVERLAY = (
    CILIUM.replace("name: cilium\nspec:", "name: cilium-vxlan\nspec:")
    .replace("    mode: eni\n", "    mode: overlay\n    kubeProxyReplacement: true\n")
    .replace("    natGateways: single\n", "    natGateways: single\n    podCidr: 10.48.0.0/16\n")
)


@pytest.mark.parametrize(("name", "text", "overlay"), [("cilium", CILIUM, False), ("cilium-vxlan", OVERLAY, True)])
def test_a_cilium_cluster_is_created_as_its_eks_guide_installs_it(
    local: session.LocalDeployer, tmp_path: Path, name: str, text: str, overlay: bool
) -> None:
    created = _run(local, _spec(tmp_path, name, text))
    sns = created["notifications"]["sns"]
    assert created["status"] == "SUCCEEDED", (sns or {}).get("text")
    assert created["nodes"]["ready"] == 4
    rows = {tuple(line.split()[:3]) for line in sns["outcome"]["validation"].splitlines()}
    for kind, what in (("Deployment", "kube-system/cilium-operator"), ("CustomResourceDefinition",
                       "ciliumnodes.cilium.io"), ("DaemonSet", "kube-system/cilium"), ("CiliumNode", "per-node"),
                       ("Taint", "node.cilium.io/agent-not-ready"), ("Deployment", "kube-system/coredns")):  # fmt: skip
        assert (kind, what, "ok") in rows, sns["outcome"]["validation"]
    cluster = local.aws.eks.clusters[name]
    store = cluster.api.store
    for node in store.objects[("", "nodes")].values():
        assert "node.cilium.io/agent-not-ready" not in {t["key"] for t in node["spec"].get("taints") or []}
    assert sorted(k[1] for k in store.objects[("cilium.io", "ciliumnodes")]) == sorted(
        n["metadata"]["name"] for n in store.objects[("", "nodes")].values()
    )
    eks = local.aws.client("eks")
    addons = set(eks.list_addons(clusterName=name)["addons"])
    assert "vpc-cni" not in addons  # no aws-node beside Cilium
    assert ("kube-proxy" in addons) is not overlay  # replaced in the overlay cluster
    groups = [eks.describe_nodegroup(clusterName=name, nodegroupName=g)["nodegroup"] for g in ("system", "workers")]
    for group in groups:
        assert {"key": "node.cilium.io/agent-not-ready", "value": "true", "effect": "NO_EXECUTE"} in group["taints"]
    associations = eks.list_pod_identity_associations(clusterName=name)["associations"]
    operator = [a for a in associations if (a["namespace"], a["serviceAccount"]) == ("kube-system", "cilium-operator")]
    assert bool(operator) is not overlay  # ENI mode: EC2 permissions through Pod Identity, not the node role
    config = store.objects[("", "configmaps")][("kube-system", "cilium-config")]["data"]
    assert config["cluster-name"] == name
    assert config["ipam"] == ("cluster-pool" if overlay else "eni")
    coredns = [p for p in store.objects[("", "pods")].values() if p["metadata"]["name"].startswith("coredns")]
    assert coredns
    assert all(p["status"]["podIP"].startswith("10.48.") is overlay for p in coredns)
    if not overlay:
        _the_operator_calls_ec2_with_its_own_role(local, cluster, operator[0]["associationArn"])

    _torn_down(local, name)


def _the_operator_calls_ec2_with_its_own_role(local: session.LocalDeployer, cluster: Any, association: str) -> None:
    """The operator's start-up calls EC2 signed with its Pod Identity role, and IAM decides: its
    role without ec2:DescribeRouteTables, a new operator pod crash-loops with the operator's own
    message; given back, the next start runs."""
    import time

    eks, iam = local.aws.client("eks"), local.aws.client("iam")
    cluster_name, association_id = association.rsplit("/", 2)[1:]
    role = eks.describe_pod_identity_association(clusterName=cluster_name, associationId=association_id)["association"][
        "roleArn"
    ].rsplit("/", 1)[1]
    [policy_name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    original = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    narrowed = json.loads(json.dumps(original))
    for statement in narrowed["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        statement["Action"] = [a for a in actions if a != "ec2:DescribeRouteTables"]
    store = cluster.api.store

    def operator_pods() -> list[dict[str, Any]]:
        pods = store.objects[("", "pods")].values()
        return [p for p in pods if (p["metadata"].get("labels") or {}).get("io.cilium/app") == "operator"]

    def restart_and_wait(done: Any) -> dict[str, Any]:
        with store.lock:
            before = {p["metadata"]["uid"] for p in operator_pods()}
            for pod in operator_pods():
                del store.objects[("", "pods")][(pod["metadata"]["namespace"], pod["metadata"]["name"])]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            fresh = [p for p in operator_pods() if p["metadata"]["uid"] not in before and done(p)]
            if fresh:
                return fresh[0]
            time.sleep(0.2)
        raise AssertionError(f"no new operator pod as expected: {operator_pods()}")

    def waiting(pod: dict[str, Any]) -> dict[str, Any]:
        return next(iter((pod["status"].get("containerStatuses") or [{}])[0].get("state", {}).values()), {})

    iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(narrowed))
    try:
        crashed = restart_and_wait(lambda p: waiting(p).get("reason") == "CrashLoopBackOff")
        message = waiting(crashed)["message"]
        assert message.startswith("Unable to start eni allocator"), message
        assert "operation error EC2: DescribeRouteTables" in message
        assert "UnauthorizedOperation" in message
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(original))
    restart_and_wait(lambda p: p["status"].get("phase") == "Running" and "running" in (
        (p["status"].get("containerStatuses") or [{}])[0].get("state") or {}))  # fmt: skip


def test_a_tampered_chart_fails_at_the_digest_check_naming_the_file(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    """The mirror holds a chart that is not the official archive and nothing rendered from it:
    the workflow names the archive and both digests at Plan, before anything is created."""
    mirror = local.workdir / "cni-mirror"
    archive = mirror / "cilium-1.18.12.tgz"
    kept = {p: p.read_bytes() for p in mirror.iterdir() if "cilium-1.18.12" in p.name}
    for path in kept:
        path.unlink()
    archive.write_bytes(kept[archive] + b"\0")
    try:
        text = (
            CILIUM.replace("name: cilium\nspec:", "name: cilium-old\nspec:")
            .replace("1.19.6", "1.18.12")
            .replace('kubernetesVersion: "1.35"', 'kubernetesVersion: "1.33"')  # 1.18's tested versions
        )
        failed = _run(local, _spec(tmp_path, "cilium-old", text))
    finally:
        archive.unlink()
        for path, data in kept.items():
            path.write_bytes(data)
    failure = failed["notifications"]["sns"]["outcome"]["failure"]
    assert (failed["status"], failure["step"], failure["error"]) == ("FAILED", "Plan", "ArtifactDigestMismatch")
    assert f"cilium-1.18.12.tgz from {archive}" in failure["cause"]
    assert "5923f9d9fcb11bc4692ad52353cc791b935d96e09ba0c535c5a8b88ea8a37572" in failure["cause"]
    assert failed["leftovers"] == []


def test_an_upgrade_moves_cilium_to_a_release_its_makers_test_on_the_new_version(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    """Created at 1.33 on Cilium 1.18.12 (tested on 1.30 to 1.33). At 1.34 the pin is refused at
    Validate spec with nothing changed (1.19.6 is tested there); without the pin the upgrade
    moves the control plane, then Cilium to 1.19.6, then the node group."""
    name = "cilium-up"
    header, _, rest = CILIUM.partition("    - name: system\n")
    at_133 = (
        (header + "    - name: workers\n" + rest.split("    - name: workers\n")[1])
        .replace("name: cilium\nspec:", f"name: {name}\nspec:")
        .replace("1.19.6", "1.18.12")
        .replace('kubernetesVersion: "1.35"', 'kubernetesVersion: "1.33"')
        .replace("      desiredSize: 2\n", "      desiredSize: 1\n")
    )
    eks = local.aws.client("eks")

    def image() -> str:
        agents = local.aws.eks.clusters[name].api.store.objects[("apps", "daemonsets")][("kube-system", "cilium")]
        return str(agents["spec"]["template"]["spec"]["containers"][0]["image"])

    created = _run(local, _spec(tmp_path, name, at_133))
    assert created["status"] == "SUCCEEDED", (created["notifications"]["sns"] or {}).get("text")
    assert ":v1.18.12@sha256:" in image()

    # Refused before anything is uploaded (the workflow's Validate spec refuses it as well).
    with pytest.raises(SpecInvalid) as refused:
        _run(local, _spec(tmp_path, name, at_133.replace('"1.33"', '"1.34"')))
    cause = str(refused.value)
    assert "spec.cni.version: cilium 1.18.12 is tested by its makers on Kubernetes 1.30 to 1.33" in cause
    assert "set spec.cni.version to 1.19.6, or leave it out" in cause
    assert eks.describe_cluster(name=name)["cluster"]["version"] == "1.33"
    assert ":v1.18.12@sha256:" in image()

    unpinned = at_133.replace('"1.33"', '"1.34"').replace("    version: 1.18.12\n", "")
    upgraded = _run(local, _spec(tmp_path, name, unpinned))
    sns = upgraded["notifications"]["sns"]
    assert upgraded["status"] == "SUCCEEDED", sns["text"]
    assert eks.describe_cluster(name=name)["cluster"]["version"] == "1.34"
    assert ":v1.19.6@sha256:" in image()
    assert sns["outcome"]["cni"] == {"name": "cilium", "version": "1.19.6"}
    assert sns["outcome"]["upgrade"]["cni"] == "cilium 1.18.12 → 1.19.6"
    assert "for the new Kubernetes version (cilium 1.18.12 → 1.19.6, coredns " in sns["text"]
    assert upgraded["versions"]["kubelets"] == {"1.34": 1}
    rows = {tuple(line.split()[:3]) for line in sns["outcome"]["validation"].splitlines()}
    assert ("DaemonSet", "kube-system/cilium", "ok") in rows
    assert ("CiliumNode", "per-node", "ok") in rows

    _torn_down(local, name)
