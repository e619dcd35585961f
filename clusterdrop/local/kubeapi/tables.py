"""Server-side printing: `kubectl get` asks for `as=Table` and prints the columns the server sends.

The columns are those of the real API server's printers for the kinds a cluster's operator looks
at first (nodes, pods, services, deployments, daemonsets); every other kind gets Name and Age, as custom
resources without printer columns do. Wide columns (`-o wide`) have priority 1.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj], Any]]  # name, type, priority, cell


def wants_table(accept: str | None) -> bool:
    return bool(accept) and "as=Table" in (accept or "")


def age(obj: Obj, now: datetime | None = None) -> str:
    """Like the API server's HumanDuration: 45s, 3m20s, 42m, 5h12m, 3d4h, 120d."""
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    created = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - created).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def _condition(obj: Obj, kind: str) -> str | None:
    return next((c.get("status") for c in _status(obj).get("conditions", []) if c.get("type") == kind), None)


def _node_status(node: Obj) -> str:
    ready = {"True": "Ready", "False": "NotReady"}.get(_condition(node, "Ready") or "", "Unknown")
    return f"{ready},SchedulingDisabled" if (node.get("spec") or {}).get("unschedulable") else ready


def _node_roles(node: Obj) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def _address(node: Obj, kind: str) -> str:
    return next((a["address"] for a in _status(node).get("addresses", []) if a.get("type") == kind), "<none>")


def _pod_ready(pod: Obj) -> str:
    statuses = _status(pod).get("containerStatuses")
    if statuses:
        return f"{sum(1 for s in statuses if s.get('ready'))}/{len(statuses)}"
    containers = len(((pod.get("spec") or {}).get("containers")) or []) or 1
    return f"{containers if _condition(pod, 'Ready') == 'True' else 0}/{containers}"


def _selector(ds: Obj) -> str:
    selector = ((((ds.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeSelector")) or {}
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"


def _ports(service: Obj) -> str:
    """As kubectl's printer: 443/TCP, 80:30080/TCP for a node port."""
    shown = []
    for port in (service.get("spec") or {}).get("ports") or []:
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        shown.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
    return ",".join(shown) or "<none>"


def _external_ip(service: Obj) -> str:
    ingress = ((_status(service).get("loadBalancer") or {}).get("ingress")) or []
    found = [i.get("ip") or i.get("hostname") for i in ingress]
    if found:
        return ",".join(str(f) for f in found)
    return "<pending>" if (service.get("spec") or {}).get("type") == "LoadBalancer" else "<none>"


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


_NAME: Column = ("Name", "string", 0, _name)
_AGE: Column = ("Age", "date", 0, age)

COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "nodes"): [
        _NAME,
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        _AGE,
        ("Version", "string", 0, lambda n: _status(n).get("nodeInfo", {}).get("kubeletVersion", "")),
        ("Internal-IP", "string", 1, lambda n: _address(n, "InternalIP")),
        ("External-IP", "string", 1, lambda n: _address(n, "ExternalIP")),
        ("OS-Image", "string", 1, lambda n: _status(n).get("nodeInfo", {}).get("osImage", "<unknown>")),
    ],
    ("", "pods"): [
        _NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, lambda p: _status(p).get("phase", "Pending")),
        (
            "Restarts",
            "integer",
            0,
            lambda p: sum(s.get("restartCount", 0) for s in _status(p).get("containerStatuses", [])),
        ),
        _AGE,
        ("IP", "string", 1, lambda p: _status(p).get("podIP", "<none>")),
        ("Node", "string", 1, lambda p: (p.get("spec") or {}).get("nodeName", "<none>")),
    ],
    ("apps", "deployments"): [
        _NAME,
        (
            "Ready",
            "string",
            0,
            lambda d: f"{_status(d).get('readyReplicas', 0)}/{(d.get('spec') or {}).get('replicas', 1)}",
        ),
        ("Up-to-date", "integer", 0, lambda d: _status(d).get("updatedReplicas", 0)),
        ("Available", "integer", 0, lambda d: _status(d).get("availableReplicas", 0)),
        _AGE,
    ],
    ("", "services"): [
        _NAME,
        ("Type", "string", 0, lambda s: (s.get("spec") or {}).get("type", "ClusterIP")),
        ("Cluster-IP", "string", 0, lambda s: (s.get("spec") or {}).get("clusterIP", "<none>")),
        ("External-IP", "string", 0, _external_ip),
        ("Port(s)", "string", 0, _ports),
        _AGE,
    ],
    ("apps", "daemonsets"): [
        _NAME,
        ("Desired", "integer", 0, lambda d: _status(d).get("desiredNumberScheduled", 0)),
        ("Current", "integer", 0, lambda d: _status(d).get("currentNumberScheduled", 0)),
        ("Ready", "integer", 0, lambda d: _status(d).get("numberReady", 0)),
        ("Up-to-date", "integer", 0, lambda d: _status(d).get("updatedNumberScheduled", 0)),
        ("Available", "integer", 0, lambda d: _status(d).get("numberAvailable", 0)),
        ("Node Selector", "string", 0, _selector),
        _AGE,
    ],
}


def as_table(group: str, plural: str, body: Obj) -> Obj:
    """A list (or one object) as a meta.k8s.io/v1 Table, each row with its object's metadata."""
    columns = COLUMNS.get((group, plural), [_NAME, _AGE])
    items = body.get("items", []) if "items" in body else [body]
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k in ("resourceVersion", "continue")}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta if "items" in body else {},
        "columnDefinitions": [
            {"name": name, "type": kind, "format": "name" if name == "Name" else "", "description": "", "priority": p}
            for name, kind, p, _ in columns
        ],
        "rows": [
            {
                "cells": [cell(item) for _, _, _, cell in columns],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": item.get("metadata") or {},
                },
            }
            for item in items
        ],
    }
