"""The node simulator — what kwok does for real clusters: the nodes a node group asks for
register with the usual labels, the group's taints and the not-ready taints, NotReady ("cni plugin
not initialized") until the CNI's agent runs on them, then Ready; then the cluster's controllers
(scheduler, workloads, kubelet: `kubeapi/workloads.py`) run. And what an EKS add-on applies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import partial
from threading import RLock

from clusterdrop.local import eks_addons
from clusterdrop.local.aws_facts import NODEGROUP_LABEL
from clusterdrop.local.eks import automode, instances
from clusterdrop.local.eks.emulation import (
    LOG,
    EmulatedCluster,
    Obj,
    Settings,
)
from clusterdrop.local.kubeapi import disruption, scheduler, workloads
from clusterdrop.local.kubeapi.errors import ApiError
from clusterdrop.local.kubeapi.store import Store


def _launch(cluster: EmulatedCluster, group: Obj, zone: str | None = None) -> Obj:
    """A new instance in the group's Auto Scaling group, at the group's current version, in the
    zone given (an update replaces a node in its own zone) or the next one round the zones; its
    EC2 instance is `instance` (None when EC2 refused it)."""
    launched = group["launched"] = group.get("launched", 0) + 1
    index = launched - 1
    if zone is None:
        zone = cluster.zones[index % len(cluster.zones)] if cluster.zones else f"{cluster.region}a"
    # Named after its instance's private address, as EC2 names instances (a made-up one for a
    # group with no account's EC2 behind it).
    launched_as = instances.launch(cluster, group, zone) if group.get("account") else None
    instance, address = launched_as or (
        None,
        f"10.{index // 200 % 250}.{abs(hash(group['name'])) % 250}.{index % 200 + 10}",
    )
    name = instances.node_name(address, cluster.region)
    member = {"name": name, "zone": zone, "address": address, "version": group["version"], "index": index}
    return {**member, "instance": instance}


# How long an Auto Scaling group waits before it tries a launch EC2 refused again.
_LAUNCH_RETRY_SECONDS = 2.0


def _members(cluster: EmulatedCluster, group: Obj) -> list[Obj]:
    """The group's instances: launched up to its desired size, the newest removed past it (not
    while an update is replacing nodes: it runs one more than desired for a while). A launch EC2
    refuses (a quota) adds no node; it is tried again a little later."""
    members: list[Obj] = group.setdefault("members", [])
    while len(members) < group["desired"] and time.monotonic() >= group.get("retryLaunchAt", 0):
        member = _launch(cluster, group)
        if member["instance"] is None and group.get("account"):
            group["retryLaunchAt"] = time.monotonic() + _LAUNCH_RETRY_SECONDS
            break
        members.append(member)
    if not group.get("updating"):
        del members[group["desired"] :]
    return members


def tick(cluster: EmulatedCluster, settings: Settings) -> None:
    """One pass of the node simulator over a cluster: nodes as its node groups want them, Ready
    when the CNI's agent runs on them, then every controller."""
    store = cluster.api.store
    with store.lock:
        nodes_type = store.types[("", "nodes")]
        nodes = store.objects[("", "nodes")]
        wanted: dict[str, tuple[Obj, Obj, float]] = {}
        automode.seed(cluster)
        groups = [*cluster.nodegroups.values(), *automode.groups(cluster, cluster.version)]
        for group in groups:
            for position, member in enumerate(_members(cluster, group)):
                # Nodes of a group do not turn Ready at one instant: each a half delay later.
                wanted[member["name"]] = (group, member, settings.node_ready_delay * (1 + position / 2))
        for key in [k for k in nodes if k[1] not in wanted]:
            del nodes[key]
        now = time.monotonic()
        networked = networked_nodes(store)
        for name, (group, member, delay) in wanted.items():
            if ("", name) not in nodes:
                store.create(nodes_type, "v1", None, _node(name, group, member, cluster.region))
                nodes[("", name)]["_registered"] = now
            node = nodes[("", name)]
            # The kubelet reports Ready once the CNI's agent runs on the node and has written
            # its configuration; the node lifecycle controller then lifts the not-ready taints.
            # (EKS Auto Mode's nodes run the VPC CNI themselves, outside Kubernetes.)
            ready = (name in networked or bool(group.get("pool"))) and "nodes-not-ready" not in settings.faults
            ready = ready and now - node.get("_registered", now) >= delay
            node["status"] = _node_status(ready, member["version"], node, member["address"], group)
            # A node group's labels and taints reach its nodes, and follow an update of the group
            # (EKS applies UpdateNodegroupConfig's labels and taints to the running nodes).
            _follow_group(node, group)
            own = _taints(group)
            if node.get("_cilium_agent"):  # lifted by Cilium's agent once it ran there
                own = [t for t in own if t["key"] != workloads.CILIUM_TAINT]
            # The group's taints follow the group; taints others put on the node (kubectl taint)
            # stay, as on a real node.
            theirs = {(t["key"], t["effect"]) for t in [*node.get("_group_taints", []), *NOT_READY_TAINTS]}
            others = [t for t in node["spec"].get("taints") or [] if (t.get("key"), t.get("effect")) not in theirs]
            node["_group_taints"] = own
            node["spec"]["taints"] = [*own, *others] if ready else [*own, *others, *NOT_READY_TAINTS]
        # Instances whose nodes are gone (scaled in, replaced, their group deleted) are terminated.
        running = {m["instance"] for g in groups for m in g.get("members", []) if m.get("instance")}
        instances.reconcile(cluster, running)
        if "pdb-blocks-eviction" in settings.faults and not cluster.seeded and wanted:
            _seed_budgeted_workload(store)
            cluster.seeded = True
        cluster.reconciler.run()


# The fault pdb-blocks-eviction: a user's Deployment under a budget that allows no disruption (two
# replicas, minAvailable 2), as found on clusters whose node-group updates stop at PodEvictionFailure.
_BUDGETED: list[Obj] = [
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                # Runs on any node (tolerates every taint), as a user's workload may.
                "spec": {"containers": [{"name": "web", "image": "nginx"}], "tolerations": [{"operator": "Exists"}]},
            },
        },
    },
    {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
    },
]


def _seed_budgeted_workload(store: Store) -> None:
    for obj in _BUDGETED:
        group, _, version = obj["apiVersion"].rpartition("/")
        rtype = next(t for t in store.types.values() if t.group == group and t.kind == obj["kind"])
        store.create(rtype, version, "default", obj, manager="user")


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


_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}


def _taints(group: Obj) -> list[Obj]:
    return [{"key": t["Key"], "value": t.get("Value", ""), "effect": _EFFECTS[t["Effect"]]} for t in group["taints"]]


def _follow_group(node: Obj, group: Obj) -> None:
    labels = node["metadata"].setdefault("labels", {})
    for key in node.get("_group_labels", {}):
        if key not in group["labels"]:
            labels.pop(key, None)
    labels.update(group["labels"])
    node["_group_labels"] = dict(group["labels"])


def _node(name: str, group: Obj, member: Obj, region: str) -> Obj:
    zone = member["zone"]
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "arm64" if "ARM" in group["amiType"] else "amd64",
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
        "node.kubernetes.io/instance-type": group["instanceTypes"][0],
        **({} if group.get("pool") else {NODEGROUP_LABEL: group["name"]}),
        "eks.amazonaws.com/capacityType": group["capacityType"],
        **group["labels"],
    }
    taints = _taints(group)
    # The cloud provider's ID names the node's EC2 instance (aws:///ZONE/INSTANCE).
    instance = member.get("instance") or f"i-{uuid.uuid4().hex[:17]}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        # The kubelet registers the node with the not-ready taint.
        "spec": {"taints": [*taints, *NOT_READY_TAINTS], "providerID": f"aws:///{zone}/{instance}"},
        "_group_taints": taints,
    }


# What the kubelet reports of its machine, per EKS-optimized AMI family.
_OS = {
    "AL2023": ("Amazon Linux 2023 (simulated)", "6.1.0-simulated", "containerd://2.0.0"),
    "BOTTLEROCKET": (
        "Bottlerocket OS 1.50.0 (aws-k8s-{version})",
        "6.1.0-simulated",
        "containerd://2.0.0+bottlerocket",
    ),
}


def _node_status(ready: bool, version: str, node: Obj, address: str, group: Obj) -> Obj:
    max_pods = group["maxPods"]
    os_image, kernel, runtime = _OS["BOTTLEROCKET" if group["amiType"].startswith("BOTTLEROCKET") else "AL2023"]
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
        "osImage": os_image.format(version=version),
        "kernelVersion": kernel,
        "architecture": arch,
        "operatingSystem": "linux",
        "containerRuntimeVersion": runtime,
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


def install_addon(cluster: EmulatedCluster, addon: str, config: Obj, version: str = "") -> None:
    """Apply what the add-on ships (create, or replace with the new configuration or version)."""
    store = cluster.api.store
    with store.lock:
        for obj in eks_addons.objects(addon, config, version):
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


def remove_addon(cluster: EmulatedCluster, addon: str, config: Obj, version: str = "") -> None:
    """Delete what the add-on shipped, and the pods of its workloads (Kubernetes' garbage
    collector follows their owner references)."""
    store = cluster.api.store
    with store.lock:
        for obj in eks_addons.objects(addon, config, version):
            group, _, api_version = obj["apiVersion"].rpartition("/")
            rtype = next(t for t in store.types.values() if t.group == group and t.kind == obj["kind"])
            namespace, name = obj["metadata"].get("namespace") or "", obj["metadata"]["name"]
            if (namespace, name) not in store.objects[(rtype.group, rtype.plural)]:
                continue
            store.delete(rtype, api_version, namespace, name)
            pods = store.objects[("", "pods")]
            for key, pod in list(pods.items()):
                ref = (pod["metadata"].get("ownerReferences") or [{}])[0]
                if key[0] == namespace and (ref.get("kind"), ref.get("name")) == (obj["kind"], name):
                    store.delete(store.types[("", "pods")], "v1", namespace, key[1])


class NodegroupUpdateFailed(Exception):
    """A managed node-group update EKS gives up on, with EKS's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _node_ready(store: Store, name: str) -> bool:
    with store.lock:
        node = store.objects[("", "nodes")].get(("", name))
        return node is not None and workloads.is_ready(node)


def _node_gone(store: Store, name: str) -> bool:
    with store.lock:
        return ("", name) not in store.objects[("", "nodes")]


def _drainable(store: Store, node: str) -> list[tuple[str, str]]:
    """The pods a drain evicts: all on the node but DaemonSet pods (`--ignore-daemonsets`)."""
    with store.lock:
        return sorted(
            key
            for key, pod in store.objects[("", "pods")].items()
            if (pod.get("spec") or {}).get("nodeName") == node
            and not any(r.get("kind") == "DaemonSet" for r in pod["metadata"].get("ownerReferences") or [])
        )


def _drain(store: Store, node: str, group: str, *, seconds: float, force: bool) -> None:
    """Evict the node's pods through the Eviction API's rules, retrying while a budget forbids it;
    past the time allowed, a forced update deletes what is left, an unforced one fails."""
    blocked: dict[tuple[str, str], str] = {}

    def evicted_all() -> bool:
        blocked.clear()
        for namespace, name in _drainable(store, node):
            try:
                disruption.evict(store, namespace, name)
            except ApiError as exc:
                causes = exc.details.get("causes") or [{}]
                blocked[(namespace, name)] = str(causes[0].get("message") or exc.message)
        return not blocked

    if _wait(evicted_all, seconds):
        return
    if force:
        with store.lock:
            for key in blocked:
                store.objects[("", "pods")].pop(key, None)
        return
    (namespace, pod), cause = next(iter(blocked.items()))
    LOG.info("drain of %s blocked: %s/%s: %s", node, namespace, pod, cause)
    # EKS's words: it does not say which pod or budget.
    raise NodegroupUpdateFailed(
        "PodEvictionFailure", f"Reached max retries while trying to evict pods from nodes in node group {group}"
    )


def update_version(
    cluster: EmulatedCluster, lock: RLock, name: str, version: str, settings: Settings, *, force: bool
) -> None:
    """EKS's managed node-group version update, the group's maxUnavailable nodes at a time (one by
    default): new nodes at the new version join in the old ones' zones and turn Ready; the old
    ones are cordoned, drained through the Eviction API (PodDisruptionBudgets honoured; EKS
    retries for 15 minutes, here `settings.eviction_timeout`) and terminated. A node that never
    turns Ready fails the update with NodeCreationFailure, a drain that never completes with
    PodEvictionFailure (unless forced); either way the nodes being replaced are put back in
    service and the surge nodes go. Runs inside the CloudFormation request, which moto completes
    before it answers."""
    with lock:
        group = cluster.nodegroups[name]
        old = [m for m in group.get("members", []) if m["version"] != version]
        group["version"] = version
        group["updating"] = True
    batch = max(1, int(group.get("maxUnavailable", 1)))
    try:
        for start in range(0, len(old), batch):
            _replace(cluster, lock, group, name, old[start : start + batch], settings, force=force)
    finally:
        with lock:
            group["updating"] = False
            if any(m["version"] != version for m in group["members"]):
                group["version"] = next(m["version"] for m in group["members"] if m["version"] != version)


def _replace(
    cluster: EmulatedCluster, lock: RLock, group: Obj, name: str, members: list[Obj], settings: Settings, *, force: bool
) -> None:
    """Replace up to maxUnavailable nodes at once: new ones join in their zones and turn Ready,
    then the old ones are cordoned, drained and terminated."""
    store = cluster.api.store
    with lock:
        new = [_launch(cluster, group, m["zone"]) for m in members]
        group["members"].extend(new)
    if not all(_wait(partial(_node_ready, store, n["name"]), settings.node_join_timeout) for n in new):
        with lock:
            group["members"][:] = [m for m in group["members"] if m not in new]
        raise NodegroupUpdateFailed("NodeCreationFailure", "Instances failed to join the kubernetes cluster")
    for member in members:
        _cordon(store, member["name"], True)
    try:
        for member in members:
            _drain(store, member["name"], name, seconds=settings.eviction_timeout, force=force)
    except NodegroupUpdateFailed:
        for member in members:
            _cordon(store, member["name"], False)
        with lock:
            group["members"][:] = [m for m in group["members"] if m not in new]
        raise
    with lock:
        group["members"][:] = [m for m in group["members"] if m not in members]
    # The instances are terminated: their nodes leave the cluster before the next ones go.
    for member in members:
        _wait(partial(_node_gone, store, member["name"]), settings.node_join_timeout)


def _cordon(store: Store, node: str, unschedulable: bool) -> None:
    with store.lock:
        found = store.objects[("", "nodes")].get(("", node))
        if found is not None:
            found["spec"]["unschedulable"] = unschedulable
