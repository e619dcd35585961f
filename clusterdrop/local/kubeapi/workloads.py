"""The controllers of a real cluster, for the embedded EKS's node simulator: the DaemonSet and
Deployment controllers create pods, the scheduler binds them (`scheduler.py`), a kubelet runs
them, and the workloads' status follows from their pods; the aggregation layer judges each
APIService, and admission webhooks are called, from where the control plane sits.

On EKS the control plane runs outside the cluster's pod network. With the VPC CNI pods have VPC
addresses it reaches; with an overlay CNI (Calico VXLAN, flannel, Cilium's overlay) pod addresses
exist only inside the overlay, so an APIService or webhook served by a pod without hostNetwork
times out (the reason Calico's EKS guide runs metrics-server with hostNetwork).
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from clusterdrop.local.kubeapi import disruption, scheduler
from clusterdrop.local.kubeapi.errors import ApiError
from clusterdrop.local.kubeapi.store import ResourceType, Store

Obj = dict[str, Any]

# The CNIs' node agents, and whether the pod network they build is an overlay.
CNI_AGENTS: dict[tuple[str, str], bool] = {
    ("kube-system", "aws-node"): False,
    ("kube-system", "calico-node"): True,
    ("calico-system", "calico-node"): True,
    ("kube-flannel", "kube-flannel-ds"): True,
    ("kube-system", "cilium"): True,
}
# Node ports held by the node's own daemons, not by pods: the kubelet's API and healthz. A
# hostNetwork pod listening on one crashes ("bind: address already in use"), which the scheduler
# cannot foresee (it only knows the ports of other pods).
KUBELET_PORTS = frozenset({10248, 10250})
DEFAULT_OVERLAY_CIDR = "192.168.0.0/16"


@dataclass(frozen=True)
class PodNetwork:
    overlay: bool
    prefix: str  # the first two octets of pod addresses

    def address(self, n: int) -> str:
        return f"{self.prefix}.{n // 250 % 250}.{n % 250 + 2}"


def _cilium_config(store: Store) -> Obj:
    config = store.objects[("", "configmaps")].get(("kube-system", "cilium-config")) or {}
    data: Obj = config.get("data") or {}
    return data


def pod_network(store: Store) -> PodNetwork:
    """The cluster's pod network, from the CNI agent that is installed. Cilium's is an overlay
    unless its IPAM is ENI (pods then get addresses of the node's subnet, as the VPC CNI's)."""
    daemonsets = store.objects[("apps", "daemonsets")]
    agents = [(key, overlay) for key, overlay in CNI_AGENTS.items() if key in daemonsets]
    cilium = _cilium_config(store)
    if ("kube-system", "cilium") in daemonsets and cilium.get("ipam") == "eni":
        agents = [(key, False if key == ("kube-system", "cilium") else overlay) for key, overlay in agents]
    elif ("kube-system", "cilium") in daemonsets and cilium.get("cluster-pool-ipv4-cidr"):
        cidr = cilium["cluster-pool-ipv4-cidr"]
        return PodNetwork(overlay=True, prefix=".".join(cidr.split(".")[:2]))
    if not any(overlay for _, overlay in agents) and not store.objects.get(("operator.tigera.io", "installations")):
        return PodNetwork(overlay=False, prefix="10.0")
    cidr = DEFAULT_OVERLAY_CIDR
    for key, _ in agents:
        for container in _template(daemonsets[key]).get("containers") or []:
            for env in container.get("env") or []:
                if env.get("name") == "CALICO_IPV4POOL_CIDR" and env.get("value"):
                    cidr = env["value"]
    return PodNetwork(overlay=True, prefix=".".join(cidr.split(".")[:2]))


def _template(workload: Obj) -> Obj:
    return ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}


def _labels(workload: Obj) -> dict[str, str]:
    return dict(((workload.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {})


def is_ready(node: Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _owned(pods: Iterable[Obj], kind: str, namespace: str, name: str) -> list[Obj]:
    out = []
    for pod in pods:
        ref = (pod["metadata"].get("ownerReferences") or [{}])[0]
        if pod["metadata"].get("namespace") == namespace and ref.get("kind") == kind and ref.get("name") == name:
            out.append(pod)
    return out


def _suffix(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:5]


class Reconciler:
    """One pass of every controller over the store; the node simulator runs it on each tick."""

    def __init__(self, store: Store):
        self.store = store
        self.pod_type: ResourceType = store.types[("", "pods")]
        self.serial = 0
        # What else a pod's program does at start-up, where it can fail: the reason it exits, or
        # None (the controllers that call AWS, given by the cluster around: eks/in_cluster.py).
        self.startup: list[Callable[[Obj], str | None]] = []
        # Controllers of the cluster around it that run on each pass (eks/in_cluster.py's).
        self.controllers: list[Callable[[], None]] = []

    def run(self) -> None:
        store = self.store
        with store.lock:
            network = pod_network(store)
            nodes = sorted(store.objects[("", "nodes")].values(), key=lambda n: n["metadata"]["name"])
            by_name = {n["metadata"]["name"]: n for n in nodes}
            pods = store.objects[("", "pods")]
            # The pod garbage collector: pods bound to nodes that are gone.
            for key in [
                k for k, p in pods.items() if (p.get("spec") or {}).get("nodeName") not in (None, "", *by_name)
            ]:
                del pods[key]
            for (namespace, name), ds in list(store.objects[("apps", "daemonsets")].items()):
                self._daemonset(namespace, name, ds, nodes)
            for (namespace, name), deployment in list(store.objects[("apps", "deployments")].items()):
                self._deployment(namespace, name, deployment, nodes)
            self._bind_pending(nodes)
            for pod in pods.values():
                self._kubelet(pod, by_name, network)
            for (namespace, name), ds in store.objects[("apps", "daemonsets")].items():
                _daemonset_status(ds, _owned(pods.values(), "DaemonSet", namespace, name), nodes)
            for (namespace, name), deployment in store.objects[("apps", "deployments")].items():
                _deployment_status(deployment, _owned(pods.values(), "Deployment", namespace, name))
            disruption.refresh(store)
            _tigera_operator(store)
            cilium_operator(store)
            for controller in self.controllers:
                controller()
            for service in store.objects.get(("apiregistration.k8s.io", "apiservices"), {}).values():
                service["status"] = {"conditions": [apiservice_condition(store, service, network)]}

    # --- the DaemonSet and Deployment controllers -----------------------------------------

    def _new_pod(
        self, kind: str, namespace: str, owner: str, workload: Obj, name: str, spec: Obj, **labels: str
    ) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {**_labels(workload), **labels},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": kind,
                        "name": owner,
                        "uid": workload["metadata"].get("uid", ""),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": {"phase": "Pending"},
        }
        try:
            self.store.create(self.pod_type, "v1", namespace, body)
        except ApiError:
            # Refused (a failing admission webhook, a namespace being deleted): the controller
            # tries again on its next pass, as the ReplicaSet and DaemonSet controllers do.
            return

    def _daemonset(self, namespace: str, name: str, ds: Obj, nodes: list[Obj]) -> None:
        template = _template(ds)
        wanted = {n["metadata"]["name"] for n in nodes if scheduler.daemon_should_run(template, n)}
        pods = self.store.objects[("", "pods")]
        have: dict[str, tuple[str, str]] = {}
        for pod in _owned(pods.values(), "DaemonSet", namespace, name):
            node = _daemon_target(pod)
            key = (namespace, pod["metadata"]["name"])
            if node not in wanted or node in have:
                del pods[key]
            else:
                have[node] = key
        for node in sorted(wanted - set(have)):
            spec = scheduler.daemon_pod_spec(template)
            # The controller pins each pod to its node through node affinity, then the scheduler binds it.
            spec["affinity"] = {
                **(spec.get("affinity") or {}),
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                        ]
                    }
                },
            }
            self._new_pod("DaemonSet", namespace, name, ds, f"{name}-{_suffix(name, node)}", spec)

    def _deployment(self, namespace: str, name: str, deployment: Obj, nodes: list[Obj]) -> None:
        replicas = (deployment.get("spec") or {}).get("replicas", 1)
        template = _template(deployment)
        revision = _suffix(json.dumps(template, sort_keys=True)) + _suffix(name)
        pods = self.store.objects[("", "pods")]
        owned = _owned(pods.values(), "Deployment", namespace, name)
        # A changed template replaces the pods (all at once: the rollout's pacing is not modelled).
        for pod in owned:
            if pod["metadata"].get("labels", {}).get("pod-template-hash") != revision:
                del pods[(namespace, pod["metadata"]["name"])]
        owned = _owned(pods.values(), "Deployment", namespace, name)
        for pod in sorted(owned, key=lambda p: str(p["metadata"]["name"]))[replicas:]:
            del pods[(namespace, pod["metadata"]["name"])]
        for _ in range(len(owned), replicas):
            self.serial += 1
            pod_name = f"{name}-{revision}-{_suffix(name, str(self.serial), str(id(self)))}"
            labels = {"pod-template-hash": revision}
            self._new_pod("Deployment", namespace, name, deployment, pod_name, dict(template), **labels)

    # --- the scheduler and the kubelet --------------------------------------------------------

    def _bind_pending(self, nodes: list[Obj]) -> None:
        pods = self.store.objects[("", "pods")]
        on_node: dict[str, list[Obj]] = {}
        for pod in pods.values():
            bound = (pod.get("spec") or {}).get("nodeName")
            if bound:
                on_node.setdefault(bound, []).append(pod)
        for pod in sorted(pods.values(), key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
            spec = pod.setdefault("spec", {})
            if spec.get("nodeName"):
                continue
            ref = (pod["metadata"].get("ownerReferences") or [{}])[0]
            owner = f"{ref.get('kind', '')}/{pod['metadata']['namespace']}/{ref.get('name', '')}"
            decision = scheduler.schedule(spec, nodes, on_node, owner=owner)
            status = pod.setdefault("status", {})
            if decision.node is None:
                status.update(
                    phase="Pending",
                    conditions=[
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": decision.message,
                        }
                    ],
                )
                continue
            spec["nodeName"] = decision.node
            on_node.setdefault(decision.node, []).append(pod)
            status["conditions"] = [{"type": "PodScheduled", "status": "True"}]

    def _kubelet(self, pod: Obj, nodes: dict[str, Obj], network: PodNetwork) -> None:
        node = nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is not None:
            self._refresh(pod, node, network)

    def _claims_bound(self, pod: Obj) -> bool:
        """Whether every PersistentVolumeClaim the pod mounts is Bound (the kubelet waits for it)."""
        namespace = pod["metadata"].get("namespace", "default")
        claims = self.store.objects[("", "persistentvolumeclaims")]
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if name and ((claims.get((namespace, name)) or {}).get("status") or {}).get("phase") != "Bound":
                return False
        return True

    def _refusal(self, pod: Obj) -> str | None:
        """Why a pod's program exits at start-up, where the emulator knows one."""
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get("k8s-app") == "cilium" or labels.get("io.cilium/app") == "operator":
            refused = cilium_name_refusal(str(_cilium_config(self.store).get("cluster-name", "")))
            if refused:
                return refused
        return next((why for check in self.startup if (why := check(pod))), None)

    def _refresh(self, pod: Obj, node: Obj, network: PodNetwork) -> None:
        """What the kubelet reports: hostNetwork pods run as soon as they are bound; other pods
        need the node's pod network (a Ready node); a hostNetwork pod on a port the kubelet holds
        crashes."""
        spec, status = pod["spec"], pod["status"]
        host_network = bool(spec.get("hostNetwork"))
        node_ip = next(
            (a["address"] for a in (node.get("status") or {}).get("addresses") or [] if a["type"] == "InternalIP"), ""
        )
        # Every status names its container's image (typed clients refuse one without).
        containers = [c.get("name", "") for c in spec.get("containers") or []]
        images = {c.get("name", ""): {"image": c.get("image", ""), "imageID": ""} for c in spec.get("containers") or []}
        scheduled = {"type": "PodScheduled", "status": "True"}
        if (not host_network and not is_ready(node)) or not self._claims_bound(pod):
            # No pod network on the node yet, or a volume not bound: the kubelet cannot start it.
            waiting = {"reason": "ContainerCreating"}
            status.update(
                phase="Pending",
                hostIP=node_ip,
                conditions=[scheduled, {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                containerStatuses=[
                    {"name": c, **images[c], "ready": False, "restartCount": 0, "state": {"waiting": waiting}}
                    for c in containers
                ],
            )
            return
        clash = sorted(scheduler.host_ports(spec) & KUBELET_PORTS) if host_network else []
        if "podIP" not in status or status.get("hostIP") != node_ip:
            self.serial += 1
            status["podIP"] = node_ip if host_network else network.address(self.serial)
        status.update(phase="Running", hostIP=node_ip)
        message = f"listen tcp 0.0.0.0:{clash[0]}: bind: address already in use" if clash else self._refusal(pod)
        if message:
            status.update(
                conditions=[scheduled, {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                containerStatuses=[
                    {
                        "name": c,
                        **images[c],
                        "ready": False,
                        "restartCount": 5,
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": message}},
                        "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "message": message}},
                    }
                    for c in containers
                ],
            )
            return
        status.update(
            conditions=[scheduled, {"type": "Ready", "status": "True"}],
            containerStatuses=[
                {"name": c, **images[c], "ready": True, "restartCount": 0, "state": {"running": {}}} for c in containers
            ],
        )


# Cilium's agent and operator validate the cluster name they are given at start-up and exit on
# one that Cilium refuses (since 1.16; its chart's templates/validate.yaml fails the install the
# same way: "must not be more than 32 characters", lower-case alphanumerics and '-').
CILIUM_NAME = re.compile(r"^([a-z0-9][-a-z0-9]*)?[a-z0-9]$")
CILIUM_NAME_MAX = 32


def cilium_name_refusal(name: str) -> str | None:
    if len(name) > CILIUM_NAME_MAX:
        return f"invalid cluster name {name!r}: must not be more than {CILIUM_NAME_MAX} characters"
    if name and not CILIUM_NAME.match(name):
        return f"invalid cluster name {name!r}: must consist of lower case alphanumeric characters and '-'"
    return None


def _daemon_target(pod: Obj) -> str:
    terms = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity", {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution", {}
    ).get("nodeSelectorTerms") or [{}]
    fields = terms[0].get("matchFields") or [{}]
    return str((fields[0].get("values") or [""])[0])


def pod_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _daemonset_status(ds: Obj, pods: list[Obj], nodes: list[Obj]) -> None:
    template = _template(ds)
    desired = sum(1 for n in nodes if scheduler.daemon_should_run(template, n))
    scheduled = sum(1 for p in pods if (p.get("spec") or {}).get("nodeName"))
    ready = sum(1 for p in pods if pod_ready(p))
    ds["status"] = {
        "observedGeneration": ds["metadata"].get("generation", 1),
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": scheduled,
        "updatedNumberScheduled": len(pods),
        "numberReady": ready,
        "numberAvailable": ready,
        "numberUnavailable": max(desired - ready, 0),
        "numberMisscheduled": 0,
    }


def _max_unavailable(deployment: Obj, replicas: int) -> int:
    """The rolling update's maxUnavailable (default 25%, rounded down), as the Deployment
    controller uses it for the Available condition."""
    raw = ((deployment.get("spec") or {}).get("strategy") or {}).get("rollingUpdate", {}).get("maxUnavailable", "25%")
    if isinstance(raw, str) and raw.endswith("%"):
        return replicas * int(raw[:-1]) // 100
    return int(raw)


def _deployment_status(deployment: Obj, pods: list[Obj]) -> None:
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    ready = sum(1 for p in pods if pod_ready(p))
    available = ready >= replicas - _max_unavailable(deployment, replicas)
    deployment["status"] = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": len(pods),
        "updatedReplicas": len(pods),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": max(replicas - ready, 0),
        "conditions": [
            {
                "type": "Available",
                "status": "True" if available else "False",
                "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
            }
        ],
    }


# --- the Calico operator ---------------------------------------------------------------------

_TOLERATE_ALL = [{"operator": "Exists", "effect": "NoSchedule"}, {"operator": "Exists", "effect": "NoExecute"}]
# What the operator gives calico-kube-controllers: critical add-ons and control-plane nodes only.
_TOLERATE_CRITICAL = [
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
    {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"},
    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
]


def _operator_running(store: Store) -> bool:
    pods = store.objects[("", "pods")].values()
    return any(pod_ready(p) for p in _owned(pods, "Deployment", "tigera-operator", "tigera-operator"))


def _tigera_operator(store: Store) -> None:
    """Once an Installation exists and the operator's pod runs: calico-system's node agent and
    kube-controllers (with the tolerations the operator gives them), and a TigeraStatus that is
    Available only when both have rolled out."""
    if not store.objects.get(("operator.tigera.io", "installations")) or not _operator_running(store):
        return
    namespaces = store.objects[("", "namespaces")]
    if ("", "calico-system") not in namespaces:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "calico-system"}}
        store.create(store.types[("", "namespaces")], "v1", None, body)
    for kind, name, spec in (
        ("DaemonSet", "calico-node", {"hostNetwork": True, "tolerations": _TOLERATE_ALL}),
        ("Deployment", "calico-kube-controllers", {"tolerations": _TOLERATE_CRITICAL}),
    ):
        plural = "daemonsets" if kind == "DaemonSet" else "deployments"
        if ("calico-system", name) in store.objects[("apps", plural)]:
            continue
        pod_spec = {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": name}], **spec}
        body = {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": "calico-system"},
            "spec": {
                "selector": {"matchLabels": {"k8s-app": name}},
                "template": {"metadata": {"labels": {"k8s-app": name}}, "spec": pod_spec},
                **({"replicas": 1} if kind == "Deployment" else {}),
            },
        }
        store.create(store.types[("apps", plural)], "v1", "calico-system", body)
    key = ("operator.tigera.io", "tigerastatuses")
    rtype = store.types.get(key)
    if rtype is None:
        return
    if ("", "calico") not in store.objects[key]:
        body = {"apiVersion": "operator.tigera.io/v1", "kind": "TigeraStatus", "metadata": {"name": "calico"}}
        store.create(rtype, rtype.versions[0], None, body)
    node = store.objects[("apps", "daemonsets")][("calico-system", "calico-node")].get("status") or {}
    controllers = store.objects[("apps", "deployments")][("calico-system", "calico-kube-controllers")]
    up = node.get("numberReady", 0) >= node.get("desiredNumberScheduled", 1) > 0 and any(
        c.get("type") == "Available" and c.get("status") == "True"
        for c in (controllers.get("status") or {}).get("conditions") or []
    )
    reason = "AllObjectsAvailable" if up else "ResourceNotReady"
    message = "" if up else "Waiting for calico-node and calico-kube-controllers to be available"
    store.objects[key][("", "calico")]["status"] = {
        "conditions": [
            {"type": "Available", "status": str(up), "reason": reason, "message": message},
            {"type": "Progressing", "status": str(not up), "reason": reason, "message": message},
            {"type": "Degraded", "status": "False", "reason": reason},
        ]
    }


# What Cilium's operator creates at start-up (the chart ships no CRDs): its CRDs, by kind and
# scope; and the taint its agent lifts from a node once it runs there (cilium-config's
# agent-not-ready-taint-key, with remove-cilium-node-taints).
CILIUM_CRDS = {  # kind: (plural, scope)
    "CiliumNode": ("ciliumnodes", "Cluster"),
    "CiliumEndpoint": ("ciliumendpoints", "Namespaced"),
    "CiliumIdentity": ("ciliumidentities", "Cluster"),
    "CiliumNetworkPolicy": ("ciliumnetworkpolicies", "Namespaced"),
    "CiliumClusterwideNetworkPolicy": ("ciliumclusterwidenetworkpolicies", "Cluster"),
}
CILIUM_TAINT = "node.cilium.io/agent-not-ready"


def _ready_pods(store: Store, kind: str, namespace: str, name: str) -> list[Obj]:
    return [p for p in _owned(store.objects[("", "pods")].values(), kind, namespace, name) if pod_ready(p)]


def cilium_operator(store: Store, *, stand_in: bool = False) -> None:
    """Cilium as the workflow depends on it: once an operator pod runs, the CRDs it registers
    and a CiliumNode for every node (ENI mode: the node's ENI IPAM; overlay: a pod CIDR from the
    cluster pool); on each node where the agent runs, the agent-not-ready taint lifted.
    `stand_in` (controllers.py's stand-ins, which run no pods): as if operator and agents
    ran everywhere."""
    if not stand_in and not _ready_pods(store, "Deployment", "kube-system", "cilium-operator"):
        return
    crds = store.types[("apiextensions.k8s.io", "customresourcedefinitions")]
    for kind, (plural, scope) in CILIUM_CRDS.items():
        if ("cilium.io", plural) in store.types:
            continue
        body = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.cilium.io"},
            "spec": {
                "group": "cilium.io",
                "scope": scope,
                "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                "versions": [{"name": "v2", "served": True, "storage": True,
                              "schema": {"openAPIV3Schema": {"type": "object",
                                                             "x-kubernetes-preserve-unknown-fields": True}}}],
            },
        }  # fmt: skip
        store.create(crds, "v1", None, body, manager="cilium-operator")
    config = _cilium_config(store)
    node_type = store.types[("cilium.io", "ciliumnodes")]
    known = store.objects[("cilium.io", "ciliumnodes")]
    pool = ipaddress.IPv4Network(config.get("cluster-pool-ipv4-cidr") or DEFAULT_OVERLAY_CIDR)
    agents = {p["spec"].get("nodeName") for p in _ready_pods(store, "DaemonSet", "kube-system", "cilium")}
    if stand_in:
        agents = {n["metadata"]["name"] for n in store.objects[("", "nodes")].values()}
    for position, node in enumerate(sorted(store.objects[("", "nodes")].values(), key=lambda n: n["metadata"]["name"])):
        name = node["metadata"]["name"]
        if ("", name) not in known:
            # ENI mode: the node's ENI addresses; overlay: the position-th /24 of the cluster pool.
            block = next(itertools.islice(pool.subnets(new_prefix=24), position % 256, None), pool)
            ipam: Obj = {"eni": {}} if config.get("ipam") == "eni" else {"ipam": {"podCIDRs": [str(block)]}}
            body = {"apiVersion": "cilium.io/v2", "kind": "CiliumNode", "metadata": {"name": name}, "spec": ipam}
            store.create(node_type, "v2", None, body, manager="cilium-operator")
        if name in agents:
            node["_cilium_agent"] = True  # the kubelet's taints no longer include it (nodes.tick)
            taints = (node.get("spec") or {}).get("taints") or []
            node["spec"]["taints"] = [t for t in taints if t.get("key") != CILIUM_TAINT]


# --- the aggregation layer and admission webhooks ----------------------------------------------


def _backends(store: Store, namespace: str, name: str) -> tuple[Obj | None, list[Obj]]:
    """A Service and its ready pods (the endpoints it would have)."""
    service = store.objects[("", "services")].get((namespace, name))
    if service is None:
        return None, []
    selector = (service.get("spec") or {}).get("selector") or {}
    pods = [
        p
        for (ns, _), p in store.objects[("", "pods")].items()
        if ns == namespace
        and selector
        and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        and pod_ready(p)
    ]
    return service, pods


def _unreachable(pods: list[Obj], network: PodNetwork) -> Obj | None:
    """The pod the control plane would try and fail to reach, when none of them is reachable."""
    reachable = [p for p in pods if p["spec"].get("hostNetwork") or not network.overlay]
    return None if reachable or not pods else pods[0]


def _target_port(pod: Obj) -> int:
    for container in pod["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            return int(port.get("containerPort", 443))
    return 443


def apiservice_condition(store: Store, apiservice: Obj, network: PodNetwork) -> Obj:
    """The Available condition kube-aggregator sets, with its reasons and messages."""
    spec = apiservice.get("spec") or {}
    ref = spec.get("service")
    if not ref:
        return {
            "type": "Available",
            "status": "True",
            "reason": "Local",
            "message": "Local APIServices are always available",
        }
    namespace, name = ref.get("namespace", ""), ref.get("name", "")
    service, pods = _backends(store, namespace, name)
    if service is None:
        message = f'service/{name} in "{namespace}" is not present'
        return {"type": "Available", "status": "False", "reason": "ServiceNotFound", "message": message}
    if not pods:
        message = f'endpoints for service/{name} in "{namespace}" have no addresses with port name "https"'
        return {"type": "Available", "status": "False", "reason": "MissingEndpoints", "message": message}
    stuck = _unreachable(pods, network)
    if stuck is not None:
        path = f"/apis/{spec.get('group', '')}/{spec.get('version', '')}"
        url = f"https://{stuck['status'].get('podIP')}:{_target_port(stuck)}"
        message = (
            f'failing or missing response from {url}{path}: Get "{url}{path}": dial tcp '
            f"{url.removeprefix('https://')}: i/o timeout"
        )
        return {"type": "Available", "status": "False", "reason": "FailedDiscoveryCheck", "message": message}
    return {"type": "Available", "status": "True", "reason": "Passed", "message": "all checks passed"}


def _rule_matches(rule: Obj, rtype: ResourceType, operation: str) -> bool:
    def hit(values: list[str], value: str) -> bool:
        return "*" in values or value in values

    return (
        hit(rule.get("operations") or [], operation)
        and hit(rule.get("apiGroups") or [], rtype.group)
        and hit(rule.get("resources") or [], rtype.plural)
    )


def admission(store: Store, operation: str, rtype: ResourceType, obj: Obj) -> None:
    """Call the webhooks whose rules match, as the API server does before storing: one served by
    pods the control plane cannot reach times out, and with `failurePolicy: Fail` (the default)
    the request fails as on a real cluster; with `Ignore` it goes through."""
    network = pod_network(store)
    for plural in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
        for config in list(store.objects[("admissionregistration.k8s.io", plural)].values()):
            for hook in config.get("webhooks") or []:
                if not any(_rule_matches(r, rtype, operation) for r in hook.get("rules") or []):
                    continue
                ref = (hook.get("clientConfig") or {}).get("service")
                if not ref or hook.get("failurePolicy", "Fail") != "Fail":
                    continue
                namespace, name = ref.get("namespace", ""), ref.get("name", "")
                _, pods = _backends(store, namespace, name)
                if pods and _unreachable(pods, network) is None:
                    continue
                url = f"https://{name}.{namespace}.svc:{ref.get('port', 443)}{ref.get('path', '')}?timeout=10s"
                why = "context deadline exceeded" if pods else f'no endpoints available for service "{name}"'
                raise ApiError(
                    500,
                    "InternalError",
                    f'Internal error occurred: failed calling webhook "{hook.get("name", "")}": failed to call '
                    f'webhook: Post "{url}": {why}',
                )
