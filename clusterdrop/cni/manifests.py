"""From verified artifact bytes to Kubernetes objects, with the few parameters clusterdrop
sets patched on the parsed objects (never by text substitution)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import yaml

from clusterdrop.errors import KubernetesOperationFailed

Obj = dict[str, Any]
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(data: bytes, source: str) -> list[Obj]:
    """The objects of a multi-document manifest; `List` kinds are flattened."""
    try:
        documents = list(yaml.load_all(data, Loader=_LOADER))
    except yaml.YAMLError as exc:
        raise KubernetesOperationFailed(f"{source}: not a valid manifest: {exc}") from None
    objects: list[Obj] = []
    for doc in documents:
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise KubernetesOperationFailed(f"{source}: a document without apiVersion and kind")
        if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(doc["items"])
        else:
            objects.append(doc)
    return objects


@dataclass(frozen=True)
class Parameters:
    """What clusterdrop sets on a CNI: the pod CIDR and whether the cluster is EKS; for Cilium
    also the cluster's name, its API server (kube-proxy replacement reaches it directly) and how
    many nodes the operator's replicas are fitted to."""

    pod_cidr: str | None
    eks: bool = True
    cluster_name: str | None = None
    api_host: str | None = None
    api_port: int = 443
    nodes: int | None = None


def _find(objects: list[Obj], kind: str, name: str) -> Obj | None:
    return next((o for o in objects if o.get("kind") == kind and o.get("metadata", {}).get("name") == name), None)


def _require(objects: list[Obj], kind: str, name: str, source: str) -> Obj:
    """The object a patch sets values on; its absence means the artifact is not what the catalog pins."""
    found = _find(objects, kind, name)
    if found is None:
        raise KubernetesOperationFailed(f"{source} has no {kind} named {name}")
    return found


def _set_env(container: Obj, name: str, value: str) -> None:
    env = container.setdefault("env", [])
    for item in env:
        if item.get("name") == name:
            item.pop("valueFrom", None)
            item["value"] = value
            return
    env.append({"name": name, "value": value})


def patch_calico_manifest(objects: list[Obj], params: Parameters) -> list[Obj]:
    """calico-vxlan.yaml on EKS: VXLAN everywhere, Calico IPAM on the pod CIDR."""
    out = copy.deepcopy(objects)
    node = _require(out, "DaemonSet", "calico-node", "the calico manifest")
    containers = node["spec"]["template"]["spec"]["containers"]
    container = next(c for c in containers if c["name"] == "calico-node")
    _set_env(container, "CALICO_NETWORKING_BACKEND", "vxlan")
    _set_env(container, "CALICO_IPV4POOL_VXLAN", "Always")
    _set_env(container, "CALICO_IPV4POOL_IPIP", "Never")
    if params.pod_cidr:
        _set_env(container, "CALICO_IPV4POOL_CIDR", params.pod_cidr)
    if params.eks:
        # EKS nodes keep the EC2 source/destination check unless Felix turns it off.
        _set_env(container, "FELIX_AWSSRCDSTCHECK", "Disable")
    config = _find(out, "ConfigMap", "calico-config")
    if config is not None:
        config.setdefault("data", {})["calico_backend"] = "vxlan"
    return out


def patch_calico_operator(objects: list[Obj], params: Parameters) -> list[Obj]:
    """The operator's Installation: EKS provider, Calico CNI and IPAM, VXLAN, BGP off."""
    out = copy.deepcopy(objects)
    installation = _require(out, "Installation", "default", "calico's custom resources")
    spec = installation.setdefault("spec", {})
    if params.eks:
        spec["kubernetesProvider"] = "EKS"
    spec["cni"] = {"type": "Calico", "ipam": {"type": "Calico"}}
    network = spec.setdefault("calicoNetwork", {})
    network["bgp"] = "Disabled"
    pools = network.setdefault("ipPools", [{"name": "default-ipv4-ippool", "blockSize": 26, "nodeSelector": "all()"}])
    pool = pools[0]
    pool["encapsulation"] = "VXLAN"
    pool["natOutgoing"] = "Enabled"
    if params.pod_cidr:
        pool["cidr"] = params.pod_cidr
    return out


def patch_flannel(objects: list[Obj], params: Parameters) -> list[Obj]:
    """flannel's net-conf.json is JSON inside a ConfigMap: parse it, set Network, write it back."""
    out = copy.deepcopy(objects)
    config = _require(out, "ConfigMap", "kube-flannel-cfg", "the flannel manifest")
    if params.pod_cidr:
        net_conf = json.loads(config["data"]["net-conf.json"])
        net_conf["Network"] = params.pod_cidr
        config["data"]["net-conf.json"] = json.dumps(net_conf, indent=2) + "\n"
    return out


# Cilium's operator runs two replicas (the chart's default), never on one node: each replica
# wants a node of its own (the chart's pod anti-affinity).
CILIUM_OPERATOR_REPLICAS = 2


def _containers(pod_spec: Obj) -> list[Obj]:
    return [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]


def patch_cilium(objects: list[Obj], mode: str, params: Parameters) -> list[Obj]:
    """The chart rendered with its structural values; the cluster's own set here: its name, the
    overlay's pod CIDR, the API server a kube-proxy replacement reaches, the operator's replicas."""
    from clusterdrop.cni.catalog import CILIUM_API_PLACEHOLDER

    out = copy.deepcopy(objects)
    config = _require(out, "ConfigMap", "cilium-config", "the rendered Cilium chart")
    data = config.setdefault("data", {})
    if params.cluster_name:
        data["cluster-name"] = params.cluster_name
    if mode.startswith("overlay") and params.pod_cidr:
        data["cluster-pool-ipv4-cidr"] = params.pod_cidr
    replacement = mode.endswith("-kpr")
    if replacement and not params.api_host:
        raise KubernetesOperationFailed("kube-proxy replacement needs the cluster's API server host")
    for obj in out:
        pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in _containers(pod_spec):
            for env in container.get("env") or []:
                if env.get("name") == "KUBERNETES_SERVICE_HOST" and env.get("value") == CILIUM_API_PLACEHOLDER:
                    env["value"] = params.api_host
                elif env.get("name") == "KUBERNETES_SERVICE_PORT" and replacement:
                    env["value"] = str(params.api_port)
    operator = _find(out, "Deployment", "cilium-operator")
    if operator is not None and params.nodes is not None:
        operator["spec"]["replicas"] = max(1, min(CILIUM_OPERATOR_REPLICAS, params.nodes))
    if CILIUM_API_PLACEHOLDER in json.dumps(out):
        raise KubernetesOperationFailed(f"the rendered Cilium chart still names {CILIUM_API_PLACEHOLDER}")
    return out


def patch(cni: str, mode: str, objects: list[Obj], params: Parameters) -> list[Obj]:
    if cni == "cilium":
        return patch_cilium(objects, mode, params)
    if cni == "calico":
        return patch_calico_operator(objects, params) if mode == "operator" else patch_calico_manifest(objects, params)
    if cni == "flannel":
        return patch_flannel(objects, params)
    return copy.deepcopy(objects)
