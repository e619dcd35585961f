"""Stand-ins for the controllers of a real cluster, for tests that drive the API server alone:
workloads report rolled out, the Calico operator reports its TigeraStatus, and Cilium's operator
registers its CRDs and CiliumNodes. Off by default: the emulator is an API server, and tests
drive status themselves. (`local kube-api` runs the real ones: local/standalone.py.)"""

from __future__ import annotations

from typing import Any

from clusterdrop.local.kubeapi.store import ResourceType, Store

Obj = dict[str, Any]


def daemonset_status(ds: Obj, nodes: int) -> None:
    """Rolled out on `nodes` nodes, at the current generation."""
    ds["status"] = {
        "observedGeneration": ds["metadata"].get("generation", 1),
        "desiredNumberScheduled": nodes,
        "currentNumberScheduled": nodes,
        "updatedNumberScheduled": nodes,
        "numberReady": nodes,
        "numberAvailable": nodes,
        "numberMisscheduled": 0,
    }


def deployment_status(deployment: Obj, replicas: int, running: int) -> None:
    """`running` of `replicas` available, at the current generation."""
    deployment["status"] = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": running,
        "availableReplicas": running,
        "conditions": [{"type": "Available", "status": "True" if running >= replicas else "False"}],
    }


def tigera_status(store: Store) -> None:
    """The Calico operator's report once an Installation exists: calico Available."""
    key = ("operator.tigera.io", "tigerastatuses")
    rtype = store.types.get(key)
    if rtype is None or ("", "calico") in store.objects[key]:
        return
    body = {"apiVersion": "operator.tigera.io/v1", "kind": "TigeraStatus", "metadata": {"name": "calico"}}
    store.create(rtype, rtype.versions[0], None, body)
    store.objects[key][("", "calico")]["status"] = {
        "conditions": [
            {"type": "Available", "status": "True", "reason": "AllObjectsAvailable"},
            {"type": "Progressing", "status": "False", "reason": "AllObjectsAvailable"},
            {"type": "Degraded", "status": "False", "reason": "AllObjectsAvailable"},
        ]
    }


def attach(store: Store) -> None:
    """Make workloads roll out as soon as they are written (on the nodes that exist)."""

    def on_event(event: str, rtype: ResourceType, obj: Obj) -> None:
        if event == "DELETED":
            return
        if rtype.group == "apps" and rtype.kind in ("DaemonSet", "Deployment"):
            status = obj.get("status") or {}
            if status.get("observedGeneration") == obj["metadata"].get("generation"):
                return
            if rtype.kind == "DaemonSet":
                daemonset_status(obj, len(store.objects[("", "nodes")]))
            else:
                replicas = (obj.get("spec") or {}).get("replicas", 1)
                deployment_status(obj, replicas, replicas)
                if (obj["metadata"].get("namespace"), obj["metadata"]["name"]) == ("kube-system", "cilium-operator"):
                    from clusterdrop.local.kubeapi import workloads

                    workloads.cilium_operator(store, stand_in=True)
        elif rtype.group == "operator.tigera.io" and rtype.kind == "Installation":
            tigera_status(store)

    store.listeners.append(on_event)
