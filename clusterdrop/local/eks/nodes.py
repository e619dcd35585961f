"""The node simulator — what kwok does for real clusters: the nodes a node group asks for
register with the usual labels, the group's taints and the not-ready taints, NotReady ("cni plugin
not initialized") until the CNI's agent runs on them, then Ready; then the cluster's controllers
(scheduler, workloads, kubelet: `kubeapi/workloads.py`) run. And what an EKS add-on applies."""

from __future__ import annotations

import time
import uuid

from clusterdrop.kube.nodes import NODEGROUP_LABEL
from clusterdrop.local import eks_addons
from clusterdrop.local.eks.emulation import (
    EmulatedCluster,
    Obj,
    Settings,
)
from clusterdrop.local.kubeapi import scheduler, workloads
from clusterdrop.local.kubeapi.store import Store


def tick(cluster: EmulatedCluster, settings: Settings) -> None:
    """One pass of the node simulator over a cluster: nodes as its node groups want them, Ready
    when the CNI's agent runs on them, then every controller."""
    store = cluster.api.store
    with store.lock:
        nodes_type = store.types[("", "nodes")]
        nodes = store.objects[("", "nodes")]
        wanted: dict[str, Obj] = {}
        for group in cluster.nodegroups.values():
            for i in range(group["desired"]):
                zone = cluster.zones[i % len(cluster.zones)] if cluster.zones else f"{cluster.region}a"
                # Named after its private address, as EC2 names instances.
                address = f"10.0.{abs(hash(group['name'])) % 250}.{i + 10}"
                name = f"ip-{address.replace('.', '-')}.{cluster.region}.compute.internal"
                # Nodes of a group do not turn Ready at one instant: each a half delay later.
                delay = settings.node_ready_delay * (1 + i / 2)
                wanted[name] = {"group": group, "zone": zone, "delay": delay, "address": address}
        for key in [k for k in nodes if k[1] not in wanted]:
            del nodes[key]
        now = time.monotonic()
        networked = networked_nodes(store)
        for name, info in wanted.items():
            group = info["group"]
            if ("", name) not in nodes:
                store.create(nodes_type, "v1", None, _node(name, group, info["zone"], cluster.region))
                nodes[("", name)]["_registered"] = now
            node = nodes[("", name)]
            # The kubelet reports Ready once the CNI's agent runs on the node and has written
            # its configuration; the node lifecycle controller then lifts the not-ready taints.
            ready = name in networked and "nodes-not-ready" not in settings.faults
            ready = ready and now - node.get("_registered", now) >= info["delay"]
            node["status"] = _node_status(ready, cluster.version, node, info["address"], group["maxPods"])
            own = [t for t in node["spec"].get("taints") or [] if t.get("key") != scheduler.NOT_READY_TAINT]
            node["spec"]["taints"] = own if ready else [*own, *NOT_READY_TAINTS]
        cluster.reconciler.run()


NOT_READY_MESSAGE = (
    "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
    "message:Network plugin returns error: cni plugin not initialized"
)


# The taints a NotReady node carries: the kubelet registers with the NoSchedule one, the node
# lifecycle controller adds NoExecute; both go when the node turns Ready.
NOT_READY_TAINTS = [
    {"key": scheduler.NOT_READY_TAINT, "effect": "NoSchedule"},
    {"key": scheduler.NOT_READY_TAINT, "effect": "NoExecute"},
]


def networked_nodes(store: Store) -> set[str]:
    """Nodes where a CNI agent's pod runs."""
    daemonsets = store.objects[("apps", "daemonsets")]
    out = set()
    for pod in store.objects[("", "pods")].values():
        ref = (pod["metadata"].get("ownerReferences") or [{}])[0]
        agent = (pod["metadata"].get("namespace", ""), ref.get("name", ""))
        agent_pod = ref.get("kind") == "DaemonSet" and agent in workloads.CNI_AGENTS and agent in daemonsets
        if agent_pod and workloads.pod_ready(pod):
            out.add(pod["spec"].get("nodeName", ""))
    return out


def _node(name: str, group: Obj, zone: str, region: str) -> Obj:
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "arm64" if "ARM" in group["amiType"] else "amd64",
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
        "node.kubernetes.io/instance-type": group["instanceTypes"][0],
        NODEGROUP_LABEL: group["name"],
        "eks.amazonaws.com/capacityType": group["capacityType"],
        **group["labels"],
    }
    effects = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}
    taints = [{"key": t["Key"], "value": t.get("Value", ""), "effect": effects[t["Effect"]]} for t in group["taints"]]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        # The kubelet registers the node with the not-ready taint.
        "spec": {"taints": [*taints, *NOT_READY_TAINTS], "providerID": f"aws:///{zone}/i-{uuid.uuid4().hex[:17]}"},
    }


def _node_status(ready: bool, version: str, node: Obj, address: str, max_pods: int) -> Obj:
    condition = (
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
        if ready
        else {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": NOT_READY_MESSAGE}
    )
    arch = node["metadata"]["labels"]["kubernetes.io/arch"]
    uid = node["metadata"].get("uid", "")
    info = {  # every field: typed clients refuse a partial nodeInfo
        "kubeletVersion": f"v{version}.0-eks-local",
        "kubeProxyVersion": f"v{version}.0-eks-local",
        "osImage": "Amazon Linux 2023 (simulated)",
        "kernelVersion": "6.1.0-simulated",
        "architecture": arch,
        "operatingSystem": "linux",
        "containerRuntimeVersion": "containerd://2.0.0",
        "bootID": uid,
        "machineID": uid.replace("-", ""),
        "systemUUID": uid,
    }
    addresses = [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": node["metadata"]["name"]}]
    capacity = {"pods": str(max_pods)}  # what the kubelet reports from its maxPods
    return {
        "conditions": [condition],
        "nodeInfo": info,
        "addresses": addresses,
        "capacity": capacity,
        "allocatable": dict(capacity),
    }


def install_addon(cluster: EmulatedCluster, addon: str, config: Obj) -> None:
    """Apply what the add-on ships (create, or replace with the new configuration)."""
    store = cluster.api.store
    with store.lock:
        for obj in eks_addons.objects(addon, config):
            group, _, version = obj["apiVersion"].rpartition("/")
            rtype = next(t for t in store.types.values() if t.group == group and t.kind == obj["kind"])
            namespace = obj["metadata"].get("namespace")
            current = store.objects[(rtype.group, rtype.plural)].get((namespace or "", obj["metadata"]["name"]))
            if current is None:
                store.create(rtype, version, namespace, obj, manager="eks")
            else:
                body = {
                    **obj,
                    "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
                }
                store.replace(rtype, version, namespace, obj["metadata"]["name"], body)
