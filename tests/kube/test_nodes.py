"""Node progress and cluster validation on clusters of 3 and 2,000 nodes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clusterdrop.errors import NodesNotReady
from clusterdrop.kube import readiness
from clusterdrop.kube.client import Kube
from clusterdrop.kube.nodes import NODEGROUP_LABEL, node_progress, raise_if_late
from clusterdrop.kube.validate_cluster import validate_cluster
from clusterdrop.local.kubeapi import KubeApiServer

NOT_READY = {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "cni plugin not initialized"}


def _node(name: str, group: str, ready: bool) -> dict[str, Any]:
    condition = {"type": "Ready", "status": "True", "reason": "KubeletReady"} if ready else NOT_READY
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {NODEGROUP_LABEL: group, "topology.kubernetes.io/zone": "eu-west-1a"}},
        "status": {"conditions": [condition]},
    }


def _add_nodes(server: KubeApiServer, group: str, count: int, *, not_ready: int = 0) -> None:
    store = server.store
    nodes = store.types[("", "nodes")]
    for i in range(count):
        store.create(nodes, "v1", None, _node(f"{group}-{i:04d}", group, ready=i >= not_ready))


def test_three_nodes_one_not_ready(kube: Kube, kube_api: KubeApiServer) -> None:
    _add_nodes(kube_api, "workers", 3, not_ready=1)
    progress = node_progress(kube, {"workers": 3})
    assert (progress.expected, progress.registered, progress.ready) == (3, 3, 2)
    assert progress.not_ready == [
        {"name": "workers-0000", "group": "workers", "reason": "KubeletNotReady: cni plugin not initialized"}
    ]
    assert not progress.done
    with pytest.raises(NodesNotReady, match="workers-0000 \\(workers\\): KubeletNotReady: cni plugin not initialized"):
        raise_if_late(progress, minutes=20)


def test_missing_nodes_are_named_by_group(kube: Kube, kube_api: KubeApiServer) -> None:
    _add_nodes(kube_api, "workers", 2)
    progress = node_progress(kube, {"workers": 3, "batch": 1})
    assert progress.groups["workers"].registered == 2
    assert progress.groups["batch"].registered == 0
    with pytest.raises(NodesNotReady) as info:
        raise_if_late(progress, minutes=20)
    assert "node group workers: 2/3 nodes registered" in str(info.value)
    assert "node group batch: 0/1 nodes registered" in str(info.value)


def test_two_thousand_nodes_in_four_requests(kube: Kube, kube_api: KubeApiServer) -> None:
    _add_nodes(kube_api, "big", 1500, not_ready=7)
    _add_nodes(kube_api, "small", 500)
    kube_api.reset_counts()
    progress = node_progress(kube, {"big": 1500, "small": 500})
    assert (progress.registered, progress.ready) == (2000, 1993)
    assert len(progress.not_ready) == 7
    assert progress.requests == 4
    assert kube_api.request_log == [("GET", "/api/v1/nodes")] * 4
    with pytest.raises(NodesNotReady) as info:
        raise_if_late(progress, minutes=20)
    assert "1993/2000 nodes are Ready" in str(info.value)


def test_all_ready_is_done(kube: Kube, kube_api: KubeApiServer) -> None:
    _add_nodes(kube_api, "workers", 3)
    progress = node_progress(kube, {"workers": 3})
    assert progress.done
    raise_if_late(progress, minutes=20)
    assert progress.as_dict()["groups"] == {"workers": {"expected": 3, "registered": 3, "ready": 3}}


def _system(server: KubeApiServer, *, coredns_ready: bool, bad_pod: bool) -> None:
    store = server.store
    deployments = store.types[("apps", "deployments")]
    store.create(
        deployments,
        "v1",
        "kube-system",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "spec": {"replicas": 2},
        },
    )
    status = {
        "observedGeneration": 1,
        "replicas": 2,
        "updatedReplicas": 2,
        "availableReplicas": 2 if coredns_ready else 0,
        "conditions": [{"type": "Available", "status": "True" if coredns_ready else "False"}],
    }
    store.objects[("apps", "deployments")][("kube-system", "coredns")]["status"] = status
    pods = store.types[("", "pods")]
    for name, ready in (("coredns-1", True), ("kube-proxy-a", not bad_pod)):
        pod: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "kube-system"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
        }
        if not ready:
            pod["status"] = {
                "phase": "Pending",
                "containerStatuses": [{"name": "kube-proxy", "state": {"waiting": {"reason": "ImagePullBackOff"}}}],
            }
        store.create(pods, "v1", "kube-system", pod)


def test_validate_cluster_passes(kube: Kube, kube_api: KubeApiServer) -> None:
    _add_nodes(kube_api, "workers", 3)
    _system(kube_api, coredns_ready=True, bad_pod=False)
    report = validate_cluster(kube, {"workers": 3})
    assert report.ok, report.table()
    assert "3/3 Ready, 3 registered" in report.table()
    assert "2 system pods Running and Ready" in report.table()


def test_a_control_plane_alone_validates_with_its_system_pods_waiting(kube: Kube, kube_api: KubeApiServer) -> None:
    """No nodes asked for: CoreDNS unscheduled is what was asked, not a failure; a pod that did
    get a node and fails still does."""
    _system(kube_api, coredns_ready=False, bad_pod=True)
    store = kube_api.store
    unbound = store.objects[("", "pods")][("kube-system", "kube-proxy-a")]
    assert "nodeName" not in unbound.get("spec", {})
    report = validate_cluster(kube, {})
    assert report.ok, report.table()
    assert "waits for nodes, the cluster has none yet (0/2 available)" in report.table()
    assert "1 system pods Running and Ready, 1 waiting for nodes" in report.table()
    # With nodes asked for, the same cluster fails.
    assert not validate_cluster(kube, {"workers": 1}).ok
    unbound.setdefault("spec", {})["nodeName"] = "workers-0000"  # placed, and failing: a failure
    failures = {(r.kind, r.name) for r in validate_cluster(kube, {}).failures}
    assert failures == {("Pod", "kube-system/kube-proxy-a")}


def test_validate_cluster_names_what_is_wrong(kube: Kube, kube_api: KubeApiServer) -> None:
    _add_nodes(kube_api, "workers", 3, not_ready=1)
    _system(kube_api, coredns_ready=False, bad_pod=True)
    report = validate_cluster(kube, {"workers": 3})
    assert not report.ok
    failures = {(r.kind, r.name): r.message for r in report.failures}
    assert failures[("NodeGroup", "workers")] == "2/3 Ready, 3 registered"
    assert failures[("Node", "workers-0000")] == "KubeletNotReady: cni plugin not initialized"
    assert failures[("Deployment", "kube-system/coredns")] == "0/2 available"
    assert failures[("Pod", "kube-system/kube-proxy-a")] == "Pending (ImagePullBackOff)"
    assert "FAIL" in report.table()


@pytest.mark.parametrize(
    ("kubelet", "problem"),
    [
        ("1.35", None),
        ("1.32", None),
        ("1.31", "kubelet 1.31 is more than 3 minor versions behind the control plane's 1.35"),
        ("1.36", "kubelet 1.36 is newer than the control plane's 1.35"),
    ],
)
def test_validation_holds_kubelets_to_the_version_skew(
    kube: Kube, kube_api: KubeApiServer, kubelet: str, problem: str | None
) -> None:
    kube_api.version = "1.35"
    _add_nodes(kube_api, "workers", 2)
    for node in kube_api.store.objects[("", "nodes")].values():
        node["status"]["nodeInfo"] = {"kubeletVersion": f"v{kubelet}.4-eks-0a1b2c3"}
    _system(kube_api, coredns_ready=True, bad_pod=False)
    report = validate_cluster(kube, {"workers": 2}, kube.server_version())
    assert report.kubelets == {kubelet: 2}
    assert report.control_plane == "1.35"
    assert report.ok is (problem is None), report.table()
    if problem:
        assert {(r.kind, r.name): r.message for r in report.failures} == {("Kubelets", kubelet): problem}


def test_readiness_predicates() -> None:
    ds = {"metadata": {"generation": 2}, "status": {"observedGeneration": 1}}
    assert not readiness.daemonset_rolled_out(ds).ready
    ds["status"] = {"observedGeneration": 2, "desiredNumberScheduled": 3, "numberReady": 3, "updatedNumberScheduled": 2}
    assert readiness.daemonset_rolled_out(ds).reason == "3/3 pods ready, 2/3 updated"
    ds["status"]["updatedNumberScheduled"] = 3
    assert readiness.daemonset_rolled_out(ds).ready
    ts = {
        "status": {
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Degraded", "status": "True", "message": "boom"},
            ]
        }
    }
    assert readiness.tigerastatus_available(ts) == readiness.Verdict(False, "degraded: boom")
    assert not readiness.node_ready({"status": {}}).ready
    assert readiness.pod_ready({"status": {"phase": "Succeeded"}}).ready


def test_validate_cluster_at_two_thousand_nodes(kube: Kube, kube_api: KubeApiServer) -> None:
    _add_nodes(kube_api, "big", 2000)
    _system(kube_api, coredns_ready=True, bad_pod=False)
    kube_api.reset_counts()
    report = validate_cluster(kube, {"big": 2000})
    assert report.ok, report.table()
    node_requests = [p for m, p in kube_api.request_log if p == "/api/v1/nodes"]
    assert len(node_requests) == 4


# Step Functions refuses a state over 256 KiB (States.DataLimitExceeded, which no Catch catches).
STATE_LIMIT = 256 * 1024
EKS_NOT_READY = (
    "KubeletNotReady: container runtime network not ready: NetworkReady=false "
    "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"
)


def test_five_thousand_nodes_three_thousand_not_ready_stay_under_the_state_limit(
    kube: Kube, kube_api: KubeApiServer
) -> None:
    """What the node and validation steps put in the workflow's state is bounded: a few examples
    and counts per reason, whatever the cluster's size."""
    store = kube_api.store
    nodes = store.types[("", "nodes")]
    for i in range(5000):
        node = _node(f"ip-10-{i // 250}-{i % 250}-{i % 7}.eu-west-1.compute.internal", f"group-{i % 5}", i >= 3000)
        if i < 3000:
            node["status"]["conditions"][0]["message"] = EKS_NOT_READY.split(": ", 1)[1]
        store.create(nodes, "v1", None, node)
    expected = {f"group-{g}": 1000 for g in range(5)}
    progress = node_progress(kube, expected)
    assert (progress.registered, progress.ready, len(progress.not_ready)) == (5000, 2000, 3000)
    state = json.dumps({"done": progress.done, **progress.as_dict()})
    assert len(state.encode()) < STATE_LIMIT // 16  # a few KiB
    assert progress.as_dict()["notReadyCount"] == 3000
    assert progress.as_dict()["notReadyReasons"] == {EKS_NOT_READY: 3000}
    unbounded = json.dumps([vars(progress)["not_ready"]])
    assert len(unbounded.encode()) > STATE_LIMIT  # what the state carried before: over the limit
    with pytest.raises(NodesNotReady) as late:
        raise_if_late(progress, minutes=20)
    assert len(str(late.value).encode()) < 32 * 1024  # an error's cause is cut at 32 KiB
    assert "… and 2980 more NotReady nodes; most common: " in str(late.value)
    report = validate_cluster(kube, expected)
    assert len(json.dumps(report.as_dict()).encode()) < STATE_LIMIT // 16
    assert len(report.table().encode()) < 32 * 1024
    assert any(r.name == "2980 more NotReady" for r in report.rows)
