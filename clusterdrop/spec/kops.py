"""kops files answered as kops: clusterdrop does not import them, but it says so, and sketches the
clusterdrop spec that comes closest, instead of listing twenty problems with fields it never knew.

A kops file holds a `Cluster` and its `InstanceGroup`s (apiVersion `kops.k8s.io/v1alpha2`) as
several YAML documents. What maps: the name, the Kubernetes minor, the zones, the topology (a
`Private` subnet means nodes in private subnets), the VPC (`networkID` is an existing one,
`networkCIDR` a new one), the CNI, and each `Node` instance group (one machine type, its sizes).
What does not: `Master` groups (EKS runs the control plane, highly available across zones),
`Bastion` groups, etcd, and everything a kops cluster configures on its own machines.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from clusterdrop.cni import catalog
from clusterdrop.errors import Problem

API_GROUP = "kops.k8s.io/"

# kops's `networking` keys and the clusterdrop CNI each becomes.
_CNI = {"calico": "calico", "flannel": "flannel", "cilium": "cilium", "amazonvpc": "aws-vpc-cni"}


def is_kops(data: Any) -> bool:
    return isinstance(data, dict) and str(data.get("apiVersion", "")).startswith(API_GROUP)


def explain(documents: list[Any]) -> Problem:
    """One problem for the whole file: it is kops, what clusterdrop writes instead, what has no
    counterpart or is still to fill in."""
    clusters = [d for d in documents if is_kops(d) and d.get("kind") == "Cluster"]
    groups = [d for d in documents if is_kops(d) and d.get("kind") == "InstanceGroup"]
    kinds = ", ".join(f"{n} {k}" for k, n in (("Cluster", len(clusters)), ("InstanceGroup(s)", len(groups))) if n)
    lines = [
        (
            f"this is a kops spec ({kinds}); clusterdrop does not import kops specs yet. "
            "Write a clusterdrop.io/v1alpha1 Cluster instead; from this file, roughly:"
        )
    ]
    sketch, left_out = _sketch(clusters[0] if clusters else {}, groups)
    lines += ["    " + line for line in yaml.safe_dump(sketch, sort_keys=False).splitlines()]
    if left_out:
        lines.append("  and: " + "; ".join(left_out))
    return Problem("apiVersion", "\n".join(lines), None, None)


def _sketch(cluster: dict[str, Any], groups: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    meta = cluster.get("metadata") or {}
    spec = cluster.get("spec") or {}
    left_out: list[str] = []
    name = str(meta.get("name", "my-cluster")).split(".")[0][:40].lower()
    subnets = [s for s in spec.get("subnets") or [] if isinstance(s, dict)]
    zones = sorted({str(s["zone"]) for s in subnets if s.get("zone")})
    region = zones[0][:-1] if zones else "eu-west-1"
    out: dict[str, Any] = {"region": region}
    version = re.match(r"v?(\d+\.\d+)", str(spec.get("kubernetesVersion", "")))
    if version:
        out["kubernetesVersion"] = version.group(1)
    network: dict[str, Any] = {"topology": "private" if any(s.get("type") == "Private" for s in subnets) else "public"}
    if zones:
        network["zones"] = zones
    if spec.get("networkID"):
        network["vpc"] = {"id": spec["networkID"]}
        left_out.append("the existing VPC's subnets: list their ids under spec.network.vpc.subnets")
    elif spec.get("networkCIDR"):
        network["vpc"] = {"cidr": spec["networkCIDR"]}
    out["network"] = network
    networking = spec.get("networking") or {}
    chosen = next((key for key in networking if key in _CNI or key in catalog.RETIRED), None)
    if chosen in _CNI:
        out["cni"] = {"name": _CNI[chosen]}
    elif chosen:
        left_out.append(f"networking.{chosen} ({catalog.RETIRED[chosen]})")
    elif networking:
        left_out.append(f"networking.{next(iter(networking))} (clusterdrop installs the CNI: name one)")
    node_groups = []
    for group in groups:
        gspec = group.get("spec") or {}
        gname = str((group.get("metadata") or {}).get("name", "nodes"))
        role = gspec.get("role", "Node")
        if role != "Node":
            left_out.append(
                f"instance group {gname} (role {role}: "
                + ("EKS runs the control plane)" if role == "Master" else "reach nodes through SSM instead)")
            )
            continue
        low, high = gspec.get("minSize", 1), gspec.get("maxSize", gspec.get("minSize", 1))
        node_groups.append(
            {
                "name": gname,
                "instanceTypes": [gspec.get("machineType", "t3.medium")],
                "minSize": low,
                "desiredSize": low,
                "maxSize": high,
            }
        )
    out["nodeGroups"] = node_groups
    if spec.get("cloudProvider") not in (None, "aws"):
        left_out.append(f"cloudProvider {spec['cloudProvider']} (clusterdrop deploys to AWS only)")
    sketch = {"apiVersion": "clusterdrop.io/v1alpha1", "kind": "Cluster", "metadata": {"name": name}, "spec": out}
    return sketch, left_out
