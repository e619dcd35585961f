"""EKS Auto Mode in the emulated cluster: what the workflow and its users see of it.

- The cluster holds Auto Mode's objects: the node class `default` (eks.amazonaws.com/v1) and a
  NodePool (karpenter.sh/v1) per built-in pool the cluster enables, each Ready, with their CRDs.
- Nodes exist only while pods need them: a pod the scheduler cannot place gets a node from the
  pool that takes it (`system` only takes pods that tolerate CriticalAddonsOnly; `general-purpose`
  the rest), launched as an EC2 instance in the cluster's subnets (the account's vCPU quotas
  count it), labelled as Auto Mode labels its nodes. The nodes run the VPC CNI, kube-proxy and DNS
  outside Kubernetes, so they turn Ready with no DaemonSet on them.
- A node no workload needs any more goes after a short while, as the built-in pools consolidate.
- What is not emulated (docs/known-gaps.md): consolidation of underused nodes (only empty ones go),
  instance-type choice (every node is the pool's one type), custom NodePools and NodeClasses.
"""

from __future__ import annotations

import time
from typing import Any

from clusterdrop.local.eks.emulation import EmulatedCluster, Obj
from clusterdrop.local.kubeapi import scheduler

COMPUTE_TYPE_LABEL = "eks.amazonaws.com/compute-type"
POOL_LABEL = "karpenter.sh/nodepool"
# The built-in pools ("Built-in node pools", EKS Auto Mode): system is tainted for critical
# add-ons; both run On-Demand instances of current C, M and R families (here: one type each).
POOLS: dict[str, Obj] = {
    "system": {
        "instanceTypes": ["m6a.large"],
        "taints": [{"Key": "CriticalAddonsOnly", "Effect": "NO_SCHEDULE"}],
    },
    "general-purpose": {"instanceTypes": ["c6a.large"], "taints": []},
}
MAX_PODS = 110  # what the emulated Auto Mode nodes report (the kubelet's default)

_CRDS = [
    ("eks.amazonaws.com", "NodeClass", "nodeclasses", "v1"),
    ("karpenter.sh", "NodePool", "nodepools", "v1"),
    ("karpenter.sh", "NodeClaim", "nodeclaims", "v1"),
]
_READY = [{"type": "Ready", "status": "True", "reason": "Ready", "message": ""}]


def enable(cluster: EmulatedCluster, compute: Obj, subnets: list[str]) -> None:
    """The cluster's ComputeConfig as EKS took it (create, or UpdateClusterConfig)."""
    cluster.auto_mode = {
        "nodePools": list(compute.get("NodePools") or []),
        "nodeRole": compute.get("NodeRoleArn", ""),
        "subnets": subnets,
    }
    for name in list(cluster.node_pools):
        if name not in cluster.auto_mode["nodePools"]:
            del cluster.node_pools[name]  # its nodes go (the simulator removes nodes no group wants)


def _store_type(store: Any, group: str, kind: str) -> Any:
    return next((t for t in store.types.values() if t.group == group and t.kind == kind), None)


def _crd(group: str, kind: str, plural: str, version: str) -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": {"app.kubernetes.io/managed-by": "eks"}},
        "spec": {
            "group": group,
            "scope": "Cluster",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def _ensure(store: Any, api_version: str, kind: str, obj: Obj) -> None:
    group, _, version = api_version.rpartition("/")
    rtype = _store_type(store, group, kind)
    if rtype is None:
        return  # its CRD is not established yet: the next tick
    name = obj["metadata"]["name"]
    if ("", name) in store.objects.get((rtype.group, rtype.plural), {}):
        return
    created = store.create(rtype, version, None, {"apiVersion": api_version, "kind": kind, **obj}, manager="eks")
    if "status" in obj:  # written through the status subresource, as its controller does
        store.replace(rtype, version, None, name, {**created, "status": obj["status"]}, subresource="status")


def seed(cluster: EmulatedCluster) -> None:
    """Auto Mode's CRDs, the default node class and the enabled pools, as EKS installs them."""
    if cluster.auto_mode is None:
        return
    store = cluster.api.store
    crds = _store_type(store, "apiextensions.k8s.io", "CustomResourceDefinition")
    for group, kind, plural, version in _CRDS:
        _ensure(store, "apiextensions.k8s.io/v1", "CustomResourceDefinition", _crd(group, kind, plural, version))
    if crds is None:
        return
    managed = {"labels": {"app.kubernetes.io/managed-by": "eks"}}
    _ensure(store, "eks.amazonaws.com/v1", "NodeClass", {
        "metadata": {"name": "default", **managed},
        "spec": {"role": cluster.auto_mode["nodeRole"].rsplit("/", 1)[-1]},
        "status": {"conditions": _READY},
    })  # fmt: skip
    for name in cluster.auto_mode["nodePools"]:
        pool = POOLS[name]
        _ensure(store, "karpenter.sh/v1", "NodePool", {
            "metadata": {"name": name, **managed},
            "spec": {"template": {"spec": {
                "nodeClassRef": {"group": "eks.amazonaws.com", "kind": "NodeClass", "name": "default"},
                "taints": [{"key": t["Key"], "effect": "NoSchedule"} for t in pool["taints"]],
            }}},
            "status": {"conditions": _READY},
        })  # fmt: skip
    rtype = _store_type(store, "karpenter.sh", "NodePool")
    if rtype is not None:  # a pool the cluster no longer enables goes
        pools = store.objects[(rtype.group, rtype.plural)]
        for key in [k for k in pools if k[1] not in cluster.auto_mode["nodePools"]]:
            del pools[key]


def _pool_for(pod: Obj, pools: list[str]) -> str | None:
    """The built-in pool whose taints the pod tolerates, system first for critical add-ons."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for name in ("system", "general-purpose"):
        if name not in pools:
            continue
        taints = [{"key": t["Key"], "effect": "NoSchedule"} for t in POOLS[name]["taints"]]
        if scheduler.untolerated(tolerations, taints) is None:
            return name
    return None


def _waiting(pod: Obj) -> bool:
    """A pod the scheduler could not place (not a DaemonSet's: those follow the nodes)."""
    ref = (pod["metadata"].get("ownerReferences") or [{}])[0]
    conditions = (pod.get("status") or {}).get("conditions") or []
    unschedulable = any(c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable" for c in conditions)
    return ref.get("kind") != "DaemonSet" and not (pod.get("spec") or {}).get("nodeName") and unschedulable


def groups(cluster: EmulatedCluster, version: str) -> list[Obj]:
    """The node simulator's group per enabled pool: one more node while pods wait for that pool
    and none of its nodes is still starting (Auto Mode launches for what is pending)."""
    if cluster.auto_mode is None:
        return []
    store = cluster.api.store
    pools = cluster.auto_mode["nodePools"]
    wanted: dict[str, int] = {}
    for pod in store.objects[("", "pods")].values():
        pool = _pool_for(pod, pools) if _waiting(pod) else None
        if pool is not None:
            wanted[pool] = wanted.get(pool, 0) + 1
    nodes = store.objects[("", "nodes")]
    busy = _busy_nodes(store)
    out = []
    for name in pools:
        group = cluster.node_pools.setdefault(name, _group(cluster, name, version))
        members = group.get("members", [])
        starting = any(not _ready(nodes.get(("", m["name"]))) for m in members)
        if wanted.get(name) and not starting and len(members) >= group["desired"]:
            group["desired"] += 1
        elif not wanted.get(name):
            _consolidate(group, members, busy)
        out.append(group)
    return out


# The built-in pools consolidate: a node no workload needs goes (disruption policy
# WhenEmptyOrUnderutilized, consolidateAfter 30 s on EKS; here after this many seconds).
CONSOLIDATE_AFTER = 2.0


def _busy_nodes(store: Any) -> set[str]:
    """Nodes running a pod that is not a DaemonSet's (those run wherever a node is)."""
    out = set()
    for pod in store.objects[("", "pods")].values():
        ref = (pod["metadata"].get("ownerReferences") or [{}])[0]
        if ref.get("kind") != "DaemonSet" and (pod.get("spec") or {}).get("nodeName"):
            out.add(pod["spec"]["nodeName"])
    return out


def _consolidate(group: Obj, members: list[Obj], busy: set[str]) -> None:
    """An empty node past CONSOLIDATE_AFTER leaves its pool (moved last, then cut by the simulator)."""
    now = time.monotonic()
    empty_since: dict[str, float] = group.setdefault("emptySince", {})
    for member in list(members):
        if member["name"] in busy:
            empty_since.pop(member["name"], None)
            continue
        if now - empty_since.setdefault(member["name"], now) >= CONSOLIDATE_AFTER:
            members.remove(member)
            members.append(member)
            group["desired"] = max(0, group["desired"] - 1)
            empty_since.pop(member["name"], None)
            return  # one at a time


def _ready(node: Obj | None) -> bool:
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _group(cluster: EmulatedCluster, name: str, version: str) -> Obj:
    assert cluster.auto_mode is not None
    pool = POOLS[name]
    return {
        "name": name,
        "pool": True,  # Ready without a CNI DaemonSet: Auto Mode runs the CNI on the node itself
        "version": version,
        "maxPods": MAX_PODS,
        "desired": 0,
        "instanceTypes": pool["instanceTypes"],
        "amiType": "BOTTLEROCKET_x86_64",  # Auto Mode's nodes run a Bottlerocket-based image
        "capacityType": "ON_DEMAND",
        "labels": {COMPUTE_TYPE_LABEL: "auto", POOL_LABEL: name, "karpenter.sh/capacity-type": "on-demand"},
        "taints": pool["taints"],
        "maxUnavailable": 1,
        "account": cluster.account,
        "subnets": cluster.auto_mode["subnets"],
        "launchTemplate": {},
        "instanceTags": {"eks:kubernetes-node-pool-name": name},
    }
