"""The embedded EKS's managed node-group version update, node by node, and the Eviction API it
drains through: driven as EKS is (the update call), observed over HTTP with the official client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from clusterdrop.errors import EvictionBlocked
from clusterdrop.kube import agent
from clusterdrop.kube.client import Kube
from clusterdrop.kube.connect import for_server
from clusterdrop.local.eks import nodes
from clusterdrop.local.eks.emulation import EmulatedCluster, Settings
from clusterdrop.local.kubeapi import KubeApiServer

Obj = dict[str, Any]


@pytest.fixture
def cluster(kube_api: KubeApiServer) -> Iterator[tuple[EmulatedCluster, threading.RLock, Settings]]:
    """A 1.34 cluster with the VPC CNI and one two-node group, its node simulator ticking."""
    emulated = EmulatedCluster(name="c", region="eu-west-1", api=kube_api, zones=["eu-west-1a", "eu-west-1b"])
    emulated.version = kube_api.version = "1.34"
    settings = Settings(eviction_timeout=0.6, node_join_timeout=5.0)
    lock = threading.RLock()
    emulated.nodegroups["workers"] = {
        "version": "1.34",
        "name": "workers",
        "desired": 2,
        "maxPods": 29,
        "instanceTypes": ["t3.medium"],
        "amiType": "AL2023_x86_64_STANDARD",
        "capacityType": "ON_DEMAND",
        "labels": {},
        "taints": [],
    }
    nodes.install_addon(emulated, "vpc-cni", {})
    stop = threading.Event()

    def simulate() -> None:
        while not stop.wait(0.02):
            with lock:
                nodes.tick(emulated, settings)

    thread = threading.Thread(target=simulate, daemon=True)
    thread.start()
    try:
        yield emulated, lock, settings
    finally:
        stop.set()
        thread.join()


def _kubelets(core: Any) -> list[str]:
    return sorted(n.status.node_info.kubelet_version for n in core.list_node().items if n.status.node_info)


def _web(api_client: Any, *, min_available: int) -> None:
    """A user's two-replica Deployment under a budget, running before the update."""
    labels = {"app": "web"}
    deployment: Any = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
        },
    }
    budget: Any = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": labels}},
    }
    client.AppsV1Api(api_client).create_namespaced_deployment("default", deployment)
    client.PolicyV1Api(api_client).create_namespaced_pod_disruption_budget("default", budget)


def _budgeted_web_running(core: Any, api_client: Any, *, min_available: int) -> None:
    """Once both nodes are up: the user's Deployment under its budget, running."""
    _wait_for(lambda: len(_kubelets(core)) == 2)
    _web(api_client, min_available=min_available)
    _wait_for(lambda: _web_running(core))


def _wait_for(condition: Any, seconds: float = 5.0) -> None:
    event = threading.Event()
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        event.wait(0.05)
    raise AssertionError("condition not met in time")


def _web_running(core: Any) -> bool:
    pods = core.list_namespaced_pod("default", label_selector="app=web").items
    return len(pods) == 2 and all(p.status.phase == "Running" for p in pods)


def test_an_update_replaces_every_node_at_the_new_version_and_honours_a_budget_that_allows_one(
    cluster: tuple[EmulatedCluster, threading.RLock, Settings], core: Any, api_client: Any
) -> None:
    emulated, lock, settings = cluster
    _wait_for(lambda: _kubelets(core) == ["v1.34.0-eks-local"] * 2)
    before = {n.metadata.name for n in core.list_node().items}
    _web(api_client, min_available=1)
    _wait_for(lambda: _web_running(core))

    nodes.update_version(emulated, lock, "workers", "1.35", settings, force=False)

    assert _kubelets(core) == ["v1.35.0-eks-local"] * 2
    assert not before & {n.metadata.name for n in core.list_node().items}, "every old node replaced"
    _wait_for(lambda: _web_running(core))
    budget: Any = client.PolicyV1Api(api_client).read_namespaced_pod_disruption_budget("web", "default")
    assert budget.status.desired_healthy == 1
    assert budget.status.expected_pods == 2


def test_a_budget_that_allows_no_eviction_fails_the_update_and_leaves_the_nodes_in_service(
    cluster: tuple[EmulatedCluster, threading.RLock, Settings], core: Any, api_client: Any
) -> None:
    emulated, lock, settings = cluster
    _budgeted_web_running(core, api_client, min_available=2)
    pod: str = core.list_namespaced_pod("default", label_selector="app=web").items[0].metadata.name

    # The Eviction API refuses as the API server does.
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": "default"}}
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod_eviction(pod, "default", eviction)
    assert refused.value.status == 429
    body = str(refused.value.body)
    assert "violate the pod's disruption budget" in body
    assert "The disruption budget web needs 2 healthy pods and has 2 currently" in body

    with pytest.raises(nodes.NodegroupUpdateFailed) as failed:
        nodes.update_version(emulated, lock, "workers", "1.35", settings, force=False)
    assert failed.value.code == "PodEvictionFailure"
    assert "node group workers" in failed.value.message
    _wait_for(lambda: _kubelets(core) == ["v1.34.0-eks-local"] * 2)
    assert not any(n.spec.unschedulable for n in core.list_node().items), "the drained node is back in service"
    assert emulated.nodegroups["workers"]["version"] == "1.34"


def test_a_forced_update_deletes_what_the_budget_protects(
    cluster: tuple[EmulatedCluster, threading.RLock, Settings], core: Any, api_client: Any
) -> None:
    emulated, lock, settings = cluster
    _budgeted_web_running(core, api_client, min_available=2)

    nodes.update_version(emulated, lock, "workers", "1.35", settings, force=True)

    assert _kubelets(core) == ["v1.35.0-eks-local"] * 2
    _wait_for(lambda: _web_running(core))


def test_the_agent_names_the_pods_and_budgets_that_would_stop_an_upgrade_before_any_node_moves(
    cluster: tuple[EmulatedCluster, threading.RLock, Settings], core: Any, api_client: Any
) -> None:
    emulated, _, _ = cluster
    _budgeted_web_running(core, api_client, min_available=2)
    context = agent.AgentContext(kube_for=lambda c: Kube(for_server(c.endpoint)), mirror=None)

    def check(*, force: bool = False) -> dict[str, Any]:
        ref = {"name": "c", "region": "eu-west-1", "endpoint": emulated.api.url}
        event = {"operation": "check_disruption_budgets", "cluster": ref, "nodeGroups": {"workers": 2}, "force": force}
        return agent.run(event, context)

    # The control plane still at the nodes' version: nothing is to be replaced.
    assert check() == {"blocked": [], "forced": False}
    emulated.api.version = "1.35"  # the control plane upgraded, the nodes not yet
    with pytest.raises(EvictionBlocked) as blocked:
        check()
    message = str(blocked.value)
    pods = sorted(p.metadata.name for p in core.list_namespaced_pod("default", label_selector="app=web").items)
    for pod in pods:
        assert f"PodEvictionFailure: default/{pod} blocked by PodDisruptionBudget default/web" in message
    assert "(needs 2 healthy pods, has 2)" in message
    assert "Node group workers not changed" in message
    assert "spec.upgradePolicy.force: true" in message
    # Forced: reported, not refused.
    forced = check(force=True)
    assert forced["forced"] is True
    assert [b["pod"] for b in forced["blocked"]] == [f"default/{p}" for p in pods]
    assert {b["nodeGroup"] for b in forced["blocked"]} == {"workers"}
    # A budget that allows one disruption does not stop a drain.
    client.PolicyV1Api(api_client).patch_namespaced_pod_disruption_budget(
        "web", "default", {"spec": {"minAvailable": 1}}
    )

    def passes() -> bool:
        try:
            return check() == {"blocked": [], "forced": False}
        except EvictionBlocked:
            return False  # the disruption controller has not seen the change yet

    _wait_for(passes)


@pytest.mark.parametrize(("max_unavailable", "peak"), [(1, 3), (2, 4)])
def test_an_update_replaces_max_unavailable_nodes_at_once(
    cluster: tuple[EmulatedCluster, threading.RLock, Settings], core: Any, max_unavailable: int, peak: int
) -> None:
    emulated, lock, settings = cluster
    _wait_for(lambda: len(_kubelets(core)) == 2)
    emulated.nodegroups["workers"]["maxUnavailable"] = max_unavailable
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            with emulated.api.store.lock:
                seen.append(len(emulated.api.store.objects[("", "nodes")]))
            done.wait(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        nodes.update_version(emulated, lock, "workers", "1.35", settings, force=False)
    finally:
        done.set()
        watcher.join()
    assert max(seen) == peak  # the group's nodes plus the surge of new ones
    assert _kubelets(core) == ["v1.35.0-eks-local"] * 2
