"""What the emulated EKS add-ons put into a cluster: their workloads with the placement EKS ships
them with (tolerations, node affinity, host network, ports), and the configuration values each
add-on accepts.

The placement is what decides where a system pod can run once the scheduler is real: the VPC CNI,
kube-proxy and the EBS CSI node agent tolerate every taint; CoreDNS tolerates only
`CriticalAddonsOnly` and control-plane taints; the EBS CSI controller `CriticalAddonsOnly` and
`NoExecute` for five minutes; metrics-server (the upstream Helm chart) nothing unless configured.

Configuration values are checked as EKS checks them (a JSON schema per add-on version, without
additional properties): a key the schema does not have is refused with InvalidParameterException.
The schemas here hold the keys clusterdrop and its tests use, with the types EKS's schemas give
them; for metrics-server they follow the chart's values (`replicas`, `hostNetwork.enabled`,
`containerPort`, `tolerations`, `nodeSelector`, `affinity`) — EKS's published schema for the
add-on (`aws eks describe-addon-configuration`) could not be read offline: these keys are the
upstream chart's, which the EKS add-on packages.
"""

from __future__ import annotations

import copy
import json
from typing import Any

Obj = dict[str, Any]

# The node affinity the EKS-managed DaemonSets carry: Linux nodes of either architecture, not
# Fargate, hybrid or Auto Mode nodes.
_EKS_NODES: Obj = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
                        {
                            "key": "eks.amazonaws.com/compute-type",
                            "operator": "NotIn",
                            "values": ["fargate", "hybrid", "auto"],
                        },
                    ]
                }
            ]
        }
    }
}
_EVERYWHERE = [{"operator": "Exists"}]
_CRITICAL = [
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
]


def _workload(kind: str, name: str, pod: Obj, *, replicas: int = 2, labels: Obj | None = None) -> Obj:
    labels = labels or {"k8s-app": name}
    spec: Obj = {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": pod}}
    if kind == "Deployment":
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "kube-system"}, "spec": spec}


def _container(name: str, *ports: tuple[str, int]) -> Obj:
    return {"name": name, "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports]}


# Top-level keys of each add-on's configuration schema, with the JSON type of each.
SCHEMAS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "vpc-cni": {"env": dict, "tolerations": list, "resources": dict},
    "kube-proxy": {"mode": str, "resources": dict},
    "coredns": {"replicaCount": int, "tolerations": list, "nodeSelector": dict, "affinity": dict, "resources": dict},
    "aws-ebs-csi-driver": {"controller": dict, "node": dict, "defaultStorageClass": dict},
    "eks-pod-identity-agent": {"tolerations": list, "resources": dict, "agent": dict},
    "metrics-server": {
        "replicas": int,
        "hostNetwork": dict,
        "containerPort": int,
        "tolerations": list,
        "nodeSelector": dict,
        "affinity": dict,
        "resources": dict,
        "args": list,
    },
}


def check_configuration(addon: str, raw: str | None) -> Obj:
    """The parsed configuration values, or ValueError with EKS's message."""
    if not raw:
        return {}
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"ConfigurationValue provided in request is not supported: invalid JSON: {exc}") from exc
    schema = SCHEMAS.get(addon, {})
    problems = []
    for key, value in values.items() if isinstance(values, dict) else []:
        if key not in schema:
            problems.append(
                f"$.{key}: is not defined in the schema and the schema does not allow additional properties"
            )
        elif not isinstance(value, schema[key]) or (isinstance(value, bool) and schema[key] is int):
            problems.append(
                f"$.{key}: {type(value).__name__} found, {getattr(schema[key], '__name__', 'object')} expected"
            )
    if not isinstance(values, dict):
        problems.append("$: array found, object expected")
    if problems:
        raise ValueError(
            "ConfigurationValue provided in request is not supported: Json schema validation failed with error: "
            f"[{', '.join(problems)}]"
        )
    return dict(values)


def objects(addon: str, config: Obj, version: str = "") -> list[Obj]:
    """The objects the add-on applies, its configuration values taken into account, its
    containers' images tagged with its version (as EKS's add-on images are: an update changes them)."""
    found = _objects(addon, config)
    for obj in found:
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in pod.get("containers") or []:
            container["image"] = f"{ECR}/eks/{container['name']}:{version or 'latest'}"
    return found


# EKS's add-on images come from its regional ECR registries (602401143452 in most regions).
ECR = "602401143452.dkr.ecr.eu-west-1.amazonaws.com"


def _objects(addon: str, config: Obj) -> list[Obj]:
    if addon == "vpc-cni":
        pod = {
            "hostNetwork": True,
            "priorityClassName": "system-node-critical",
            "tolerations": config.get("tolerations", _EVERYWHERE),
            "affinity": _EKS_NODES,
            "containers": [
                _container("aws-node", ("metrics", 61678)),
                _container("aws-eks-nodeagent", ("agentmetrics", 8162)),
            ],
        }
        return [_workload("DaemonSet", "aws-node", pod)]
    if addon == "kube-proxy":
        pod = {
            "hostNetwork": True,
            "tolerations": _EVERYWHERE,
            "affinity": _EKS_NODES,
            "containers": [_container("kube-proxy")],
        }
        return [_workload("DaemonSet", "kube-proxy", pod)]
    if addon == "coredns":
        pod = {
            "tolerations": config.get("tolerations", _CRITICAL),
            "nodeSelector": config.get("nodeSelector", {}),
            "affinity": config.get("affinity", _EKS_NODES),
            "containers": [_container("coredns", ("dns", 53), ("metrics", 9153))],
        }
        return [
            _workload(
                "Deployment", "coredns", pod, replicas=config.get("replicaCount", 2), labels={"k8s-app": "kube-dns"}
            )
        ]
    if addon == "aws-ebs-csi-driver":
        controller = {
            # The add-on's manifest runs its controller as this account (EKS's guide gives it its role).
            "serviceAccountName": "ebs-csi-controller-sa",
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [
                {"key": "CriticalAddonsOnly", "operator": "Exists"},
                {"effect": "NoExecute", "operator": "Exists", "tolerationSeconds": 300},
            ],
            "containers": [_container("ebs-plugin", ("healthz", 9808))],
        }
        node = {"tolerations": _EVERYWHERE, "affinity": _EKS_NODES, "containers": [_container("ebs-plugin")]}
        return [
            _workload("Deployment", "ebs-csi-controller", controller, labels={"app": "ebs-csi-controller"}),
            _workload("DaemonSet", "ebs-csi-node", node, labels={"app": "ebs-csi-node"}),
        ]
    if addon == "metrics-server":
        return _metrics_server(config)
    if addon == "eks-pod-identity-agent":
        # A host-network DaemonSet on every node: pods reach it at 169.254.170.23:80 for credentials.
        pod = {
            "hostNetwork": True,
            "tolerations": config.get("tolerations", _EVERYWHERE),
            "affinity": _EKS_NODES,
            "containers": [_container("eks-pod-identity-agent", ("proxy", 80), ("health", 2703))],
        }
        return [_workload("DaemonSet", "eks-pod-identity-agent", pod)]
    return []


METRICS_SERVER_PORT = 10251


def _metrics_server(config: Obj) -> list[Obj]:
    host_network = bool((config.get("hostNetwork") or {}).get("enabled", False))
    # EKS's add-on, unlike the upstream chart (10250, the kubelet's port), "is pre-configured to use
    # port 10251" (EKS User Guide, "View resource usage with the Kubernetes Metrics Server").
    port = int(config.get("containerPort", METRICS_SERVER_PORT))
    labels = {"app.kubernetes.io/name": "metrics-server", "app.kubernetes.io/instance": "metrics-server"}
    pod = {
        "hostNetwork": host_network,
        "priorityClassName": "system-cluster-critical",
        "tolerations": copy.deepcopy(config.get("tolerations", [])),
        "nodeSelector": config.get("nodeSelector", {}),
        "containers": [{**_container("metrics-server", ("https", port)), "args": [f"--secure-port={port}"]}],
    }
    if config.get("affinity"):
        pod["affinity"] = config["affinity"]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "metrics-server", "namespace": "kube-system", "labels": labels},
        "spec": {"selector": labels, "ports": [{"name": "https", "port": 443, "targetPort": "https"}]},
    }
    apiservice = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": labels},
        "spec": {
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "insecureSkipTLSVerify": True,
            "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443},
        },
    }
    deployment = _workload("Deployment", "metrics-server", pod, replicas=config.get("replicas", 1), labels=labels)
    return [deployment, service, apiservice]
