"""Stand-ins for the controllers of a real cluster, for the embedded mode and `local kube-api`:
workloads report rolled out, and the Calico operator reports its TigeraStatus. Off by default:
the emulator is an API server, and tests drive status themselves."""

from __future__ import annotations

from typing import Any

from clusterdrop.local.kubeapi.store import ResourceType, Store

Obj = dict[str, Any]


def _count_nodes(store: Store) -> int:
    return len(store.objects[("", "nodes")])


def _rolled_out(store: Store, rtype: ResourceType, obj: Obj) -> None:
    generation = obj["metadata"].get("generation", 1)
    if rtype.kind == "DaemonSet":
        n = _count_nodes(store)
        obj["status"] = {
            "observedGeneration": generation,
            "desiredNumberScheduled": n,
            "currentNumberScheduled": n,
            "updatedNumberScheduled": n,
            "numberReady": n,
            "numberAvailable": n,
            "numberMisscheduled": 0,
        }
    else:
        n = (obj.get("spec") or {}).get("replicas", 1)
        obj["status"] = {
            "observedGeneration": generation,
            "replicas": n,
            "updatedReplicas": n,
            "readyReplicas": n,
            "availableReplicas": n,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        }


def _tigera_status(store: Store) -> None:
    key = ("operator.tigera.io", "tigerastatuses")
    rtype = store.types.get(key)
    if rtype is None or ("", "calico") in store.objects[key]:
        return
    store.create(
        rtype,
        rtype.versions[0],
        None,
        {"apiVersion": "operator.tigera.io/v1", "kind": "TigeraStatus", "metadata": {"name": "calico"}},
    )
    store.objects[key][("", "calico")]["status"] = {
        "conditions": [
            {"type": "Available", "status": "True", "reason": "AllObjectsAvailable"},
            {"type": "Progressing", "status": "False", "reason": "AllObjectsAvailable"},
            {"type": "Degraded", "status": "False", "reason": "AllObjectsAvailable"},
        ]
    }


def attach(store: Store) -> None:
    """Make workloads roll out as soon as they are written."""

    def on_event(event: str, rtype: ResourceType, obj: Obj) -> None:
        if event == "DELETED":
            return
        if rtype.group == "apps" and rtype.kind in ("DaemonSet", "Deployment"):
            status = obj.get("status") or {}
            if status.get("observedGeneration") != obj["metadata"].get("generation"):
                _rolled_out(store, rtype, obj)
        elif rtype.group == "operator.tigera.io" and rtype.kind == "Installation":
            _tigera_status(store)

    store.listeners.append(on_event)
