"""The offline plan: every template the workflow will deploy, and a summary of it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterdrop import quotas
from clusterdrop.render.addons import METRICS_SERVER_HOST_PORT
from clusterdrop.render.cluster import ELB_ROLE_TAG, INTERNAL_ELB_ROLE_TAG, cluster_tag_key, render_cluster, zones
from clusterdrop.render.common import ROLE_PATH, Json, nodegroup_stack_name, stack_name
from clusterdrop.render.nodegroup import max_pods, render_nodegroup
from clusterdrop.spec.models import Cluster, PodIdentity
from clusterdrop.workflow import DEPLOY_STEPS


@dataclass(frozen=True)
class Stack:
    name: str
    role: str  # "cluster" or "nodegroup"
    template: Json

    @property
    def file_name(self) -> str:
        return f"{self.name}.template.json"

    def resource_counts(self) -> dict[str, int]:
        counts = Counter(r["Type"] for r in self.template["Resources"].values())
        return dict(sorted(counts.items()))


@dataclass
class Plan:
    cluster: Cluster
    stacks: list[Stack]
    subnet_tags: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for stack in self.stacks:
            total.update(stack.resource_counts())
        return dict(sorted(total.items()))

    def summary(self) -> dict[str, Any]:
        spec = self.cluster.spec
        zone_labels = [z.label for z in zones(self.cluster)]
        taken = quotas.consumption(self.cluster, [s.template for s in self.stacks], zone_labels)
        return {
            "cluster": self.cluster.metadata.name,
            "region": spec.region,
            "kubernetesVersion": spec.kubernetes_version,
            "cni": {
                "name": spec.cni.name,
                "version": spec.cni.version,
                "mode": spec.cni.mode,
                "kubeProxyReplacement": spec.cni.kube_proxy_replacement,
            },
            "zones": zone_labels,
            "zonesPickedAtDeploy": spec.network.zones is None,
            "network": {
                "vpc": spec.network.vpc.id or spec.network.vpc.cidr,
                "existingVpc": spec.network.vpc.id is not None,
                "topology": spec.network.topology,
                "natGateways": None if spec.network.vpc.id else spec.network.nat_gateways,
                "podCidr": spec.network.pod_cidr,
                "serviceCidr": spec.network.service_cidr,
                "endpointAccess": spec.control_plane.endpoint_access,
                "adminCidrs": list(spec.control_plane.admin_cidrs or []),
                "scalingTier": spec.control_plane.scaling_tier,
                "zonalShift": spec.control_plane.zonal_shift,
                "supportType": spec.control_plane.support_type,
                "logging": list(spec.control_plane.logging),
                "logRetentionDays": spec.control_plane.log_retention_days,
            },
            "addons": list(spec.addons),
            "addonTags": {name: dict(tags) for name, tags in spec.addon_tags.items()},
            "addonVersions": dict(spec.addon_versions),
            "computeMode": spec.compute_mode,
            "nodePools": list(spec.node_pools or []),
            "stacks": [
                {"name": s.name, "role": s.role, "file": s.file_name, "resources": s.resource_counts()}
                for s in self.stacks
            ],
            "resourceTotals": self.totals(),
            "nodeGroups": [
                {
                    "name": g.name,
                    "instanceTypes": list(g.instance_types),
                    "minSize": g.min_size,
                    "desiredSize": g.desired_size,
                    "maxSize": g.max_size,
                    "capacityType": g.capacity_type,
                    "zones": list(g.zones) if g.zones is not None else zone_labels,
                    "amiFamily": g.ami_family,
                    "volume": g.volume.model_dump(by_alias=True, exclude_none=True) if g.volume else None,
                    "topology": g.topology if g.topology != spec.network.topology else None,
                    "instanceName": g.instance_name,
                    "maxPods": max_pods(self.cluster, g)[0],
                    "maxPodsFrom": max_pods(self.cluster, g)[1],
                }
                for g in spec.node_groups
            ],
            "subnetTags": self.subnet_tags,
            "podIdentities": [
                {
                    "namespace": p.namespace,
                    "serviceAccount": p.service_account,
                    "role": _identity_role(p),
                }
                for p in spec.pod_identities
            ],
            "identityProviders": [
                {"name": p.name, "issuerUrl": p.issuer_url, "clientId": p.client_id} for p in spec.identity_providers
            ],
            "quotas": [n.as_dict() for n in taken.needs],
            "quotaNotes": taken.notes,
            "steps": list(DEPLOY_STEPS),
            "notes": self.notes,
        }

    def write(self, out_dir: Path) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for stack in self.stacks:
            path = out_dir / stack.file_name
            path.write_text(json.dumps(stack.template, indent=2, sort_keys=False) + "\n", encoding="utf-8")
            written.append(path)
        return written


def make_plan(cluster: Cluster, admins: Sequence[str] = ()) -> Plan:
    """Render every stack of a validated spec (defaults explicit, as `validate` returns it);
    `admins` are the deployer's cluster admins, beside the spec's."""
    stacks = [Stack(stack_name(cluster), "cluster", render_cluster(cluster, admins))]
    stacks += [
        Stack(nodegroup_stack_name(cluster, g.name), "nodegroup", render_nodegroup(cluster, g))
        for g in cluster.spec.node_groups
    ]
    plan = Plan(cluster=cluster, stacks=stacks)
    vpc = cluster.spec.network.vpc
    if vpc.id is not None and vpc.subnets is not None:
        # CloudFormation cannot tag subnets it does not own: a workflow step adds these tags
        # to the existing subnets and the teardown removes them.
        for kind, role_tag in (("public", ELB_ROLE_TAG), ("private", INTERNAL_ELB_ROLE_TAG)):
            for ref in getattr(vpc.subnets, kind):
                plan.subnet_tags.append({"subnet": ref.id, "tag": role_tag, "value": "1"})
                plan.subnet_tags.append({"subnet": ref.id, "tag": cluster_tag_key(cluster), "value": "shared"})
        plan.notes.append(
            "existing VPC: the agent Lambda reaches S3 through the VPC's S3 gateway endpoint or NAT; "
            "the workflow checks one exists before it applies the cluster stack"
        )
    release = cluster.spec.cni.release()
    overlay = cluster.spec.cni.overlay()
    if release.eks_addon is None and cluster.spec.compute_mode != "auto":
        core = "CoreDNS" if cluster.spec.cni.kube_proxy_replacement else "kube-proxy and CoreDNS"
        plan.notes.append(
            f"{release.name} {release.version}: EKS installs no CNI, kube-proxy or CoreDNS "
            "(BootstrapSelfManagedAddons false); the workflow applies the CNI before the node groups "
            f"and installs {core} as EKS add-ons"
            + ("; Cilium replaces kube-proxy" if cluster.spec.cni.kube_proxy_replacement else "")
        )
    if release.name == "cilium":
        plan.notes.append(
            "cilium: node groups register with the taint node.cilium.io/agent-not-ready=true:NoExecute, which "
            "Cilium's agent lifts once it runs on the node"
            + (
                "; its operator manages the nodes' ENIs with EC2 permissions of its own (a Pod Identity role)"
                if not overlay
                else ""
            )
        )
    if overlay and "metrics-server" in cluster.spec.addons:
        plan.notes.append(
            f"metrics-server runs with hostNetwork on port {METRICS_SERVER_HOST_PORT}: the EKS control plane "
            f"cannot reach {release.name}'s pod addresses, and it calls metrics-server for the metrics API"
        )
    if cluster.spec.network.zones is None:
        plan.notes.append("zones: not set; the first zones of the region are picked at deploy time (Fn::GetAZs)")
    return plan


def _network_lines(net: dict[str, Any], addons: list[str]) -> list[str]:
    vpc = f"existing VPC {net['vpc']}" if net["existingVpc"] else f"new VPC {net['vpc']}"
    nat = "" if net["natGateways"] is None else f", NAT gateways: {net['natGateways']}"
    pods = net["podCidr"] or "VPC addresses (the VPC CNI)"
    access = "private only" if net["endpointAccess"] == "private" else "public and private"
    if net["endpointAccess"] != "private":
        access += f", public from {', '.join(net['adminCidrs'])}"
    control = []
    if net.get("logging"):
        kept = f"kept {net['logRetentionDays']} days" if net.get("logRetentionDays") else "kept forever (EKS's group)"
        control.append(f"logs {', '.join(net['logging'])} to CloudWatch, {kept}")
    elif net.get("logRetentionDays"):
        control.append(f"log group kept with {net['logRetentionDays']} days' retention (no log types on)")
    if net.get("zonalShift"):
        control.append("zonal shift on")
    if net.get("supportType") == "standard":
        control.append("EKS upgrades the version itself when its standard support ends")
    elif net.get("supportType") == "extended":
        control.append("extended support past standard support (billed more)")
    return [
        "Network:",
        f"  {vpc}, {net['topology']} topology{nat}",
        f"  pods: {pods}; services: {net['serviceCidr']}",
        f"  API endpoint: {access}"
        + (
            f"; control plane tier {net['scalingTier']} (EKS Provisioned Control Plane)"
            if net.get("scalingTier")
            else ""
        ),
        *([f"  control plane: {'; '.join(control)}"] if control else []),
        f"Add-ons: {', '.join(addons) if addons else 'none beyond the cluster basics (CNI, kube-proxy, CoreDNS)'}",
    ]


def _identity_role(p: PodIdentity) -> str:
    """The role an association gives, as the plan says it."""
    made = [*(a.rsplit("/", 1)[1] for a in p.policy_arns or []), *(["an inline policy"] if p.policy else [])]
    named = f" as {ROLE_PATH}{p.role_name}" if p.role_name else ""
    bounded = f", bounded by {p.permissions_boundary_arn}" if p.permissions_boundary_arn else ""
    role = p.role_arn or f"made{named} for {', '.join(made)}{bounded}"
    chained = f", then {p.target_role_arn}" if p.target_role_arn else ""
    return role + chained + ("; service account created" if p.create_service_account else "")


def _cni_version(summary: dict[str, Any]) -> str:
    """The CNI's version as it will be: the catalog's for a CNI clusterdrop applies; for the VPC
    CNI on EKS the add-on's, which EKS picks unless the spec pins one."""
    cni = summary["cni"]
    if not cni["version"]:
        return " (EKS Auto Mode's)"
    if cni["name"] == "aws-vpc-cni":
        pinned = summary.get("addonVersions", {}).get("vpc-cni")
        return " (the EKS add-on vpc-cni, " + (pinned or "at EKS's default version for the cluster") + ")"
    return f" {cni['version']}"


def format_summary(summary: dict[str, Any]) -> str:
    """The plan as a person reads it."""
    lines = [
        f"Plan for cluster {summary['cluster']} in {summary['region']}: Kubernetes "
        f"{summary['kubernetesVersion']}, CNI {summary['cni']['name']}"
        + _cni_version(summary)
        + (f" ({summary['cni']['mode']})" if summary["cni"]["mode"] else "")
        + (", kube-proxy replaced" if summary["cni"].get("kubeProxyReplacement") else ""),
        f"Zones: {', '.join(summary['zones'])}"
        + (" (picked at deploy time)" if summary["zonesPickedAtDeploy"] else ""),
        "",
        *_network_lines(summary["network"], summary["addons"]),
        *(
            f"  {name} tagged {', '.join(f'{k}={v}' for k, v in sorted(tags.items()))}"
            for name, tags in sorted(summary.get("addonTags", {}).items())
        ),
        "",
        "Stacks:",
    ]
    for stack in summary["stacks"]:
        count = sum(stack["resources"].values())
        lines.append(f"  {stack['name']}  ({stack['role']}, {count} resource{'' if count == 1 else 's'})")
    lines += ["", "Resources:"]
    width = max(len(t) for t in summary["resourceTotals"])
    for kind, count in summary["resourceTotals"].items():
        lines.append(f"  {kind.ljust(width)}  {count}")
    if summary.get("computeMode") == "auto":
        pools = ", ".join(summary["nodePools"]) or "none (your own NodePools)"
        lines += [
            "",
            (
                f"Compute: EKS Auto Mode, node pools {pools}: EKS starts nodes as pods need them (none before), and "
                "runs the VPC CNI, DNS, kube-proxy, block storage and load balancing on them"
            ),
        ]
    elif not any(g["desiredSize"] for g in summary["nodeGroups"]):
        lines += ["", "Node groups: no nodes — a control plane alone; CoreDNS waits for a node group with nodes"]
    else:
        lines += ["", "Node groups:"]
    for g in summary["nodeGroups"]:
        lines.append(
            f"  {g['name']}: {', '.join(g['instanceTypes'])} {g['capacityType']}"
            f"{', Bottlerocket' if g.get('amiFamily') == 'bottlerocket' else ''}, "
            f"min {g['minSize']} / desired {g['desiredSize']} / max {g['maxSize']}, "
            f"zones {', '.join(g['zones'])}"
            + (f", {g['topology']} subnets (apart from the cluster's)" if g.get("topology") else "")
            + (f", instances named {g['instanceName']}" if g.get("instanceName") else "")
        )
        if g.get("volume"):
            v = g["volume"]
            size = v.get("sizeGiB")
            extras = [
                f"{v['iops']} IOPS" if v.get("iops") else "",
                f"{v['throughput']} MiB/s" if v.get("throughput") else "",
            ]
            encryption = (
                ("encrypted with " + v["kmsKeyId"])
                if v.get("kmsKeyId")
                else ("encrypted" if v["encrypted"] else "not encrypted")
            )
            lines.append(
                f"    root volume: {v['type']}{f', {size} GiB' if size else ''}"
                + "".join(f", {e}" for e in extras if e)
                + f", {encryption}"
            )
        pods = g["maxPods"] if g["maxPods"] is not None else "EKS's default"
        lines.append(f"    max pods per node: {pods} ({g['maxPodsFrom']})")
    if summary["subnetTags"]:
        lines += ["", "Tags the workflow adds to existing subnets:"]
        for t in summary["subnetTags"]:
            lines.append(f"  {t['subnet']}: {t['tag']}={t['value']}")
    if summary.get("podIdentities"):
        lines += ["", "Pod Identity (IAM roles for service accounts):"]
        lines += [f"  {p['namespace']}/{p['serviceAccount']}: {p['role']}" for p in summary["podIdentities"]]
    if summary.get("identityProviders"):
        lines += ["", "OIDC identity provider (people sign in with its tokens; Kubernetes RBAC grants them):"]
        lines += [f"  {p['name']}: {p['issuerUrl']} (client {p['clientId']})" for p in summary["identityProviders"]]
    if summary["quotas"]:
        lines += ["", "Service quotas it takes (set against the account's at Plan; vCPUs from the type's size):"]
        for q in summary["quotas"]:
            where = f" in {q['where']}" if q.get("where") else ""
            lines.append(
                f"  {q['name']}{where} ({q['service']} {q['code']}): {q['amount']}{' ' + q.get('unit', '')}".rstrip()
            )
        lines += [f"  - {n}" for n in summary["quotaNotes"]]
    lines += ["", "Workflow steps:"]
    lines += [f"  {i}. {step}" for i, step in enumerate(summary["steps"], 1)]
    if summary["notes"]:
        lines += ["", "Notes:"]
        lines += [f"  - {n}" for n in summary["notes"]]
    return "\n".join(lines)
