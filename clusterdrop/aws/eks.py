"""EKS calls the workflow makes outside the VPC: the endpoint and CA, and managed add-ons."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from clusterdrop.errors import Problem
from clusterdrop.render.addons import addon_configuration
from clusterdrop.spec.models import Cluster

# clusterdrop addon name -> EKS add-on name
ADDONS = {
    "ebs-csi": "aws-ebs-csi-driver",
    "metrics-server": "metrics-server",
    "pod-identity-agent": "eks-pod-identity-agent",
}
# With BootstrapSelfManagedAddons false EKS installs neither: the workflow adds them.
CORE_ADDONS = ("kube-proxy", "coredns")
# Add-ons EKS updates one minor version at a time, up or down (EKS User Guide, "Update the Amazon
# VPC CNI (Amazon EKS add-on)": "you can only update one minor version at a time"); UpdateAddon
# refuses a longer jump. The embedded EKS keeps its own copy of the rule (tests compare them).
ONE_MINOR_AT_A_TIME = frozenset({"vpc-cni"})


def _minor_of(version: str) -> tuple[int, int]:
    """v1.21.1-eksbuild.3 → (1, 21)."""
    major, minor = version.lstrip("v").split("-", 1)[0].split(".")[:2]
    return int(major), int(minor)


def minor_gap(installed: str, target: str) -> int:
    (a, b), (c, d) = _minor_of(installed), _minor_of(target)
    return abs((c - a) * 1000 + (d - b))


def one_minor_step(eks: Any, addon: str, installed: str, target: str, kubernetes: str) -> str:
    """Where an add-on EKS moves one minor at a time goes next on the way to `target`: `target`
    itself when it is at most one minor away, else the newest version EKS offers for `kubernetes`
    one minor on from `installed` (`target` when it offers none: EKS's refusal then names why)."""
    if addon not in ONE_MINOR_AT_A_TIME or minor_gap(installed, target) <= 1:
        return target
    major, minor = _minor_of(installed)
    step = minor + (1 if _minor_of(target) > _minor_of(installed) else -1)
    offered = [v for v in compatible_versions(eks, addon, kubernetes) if _minor_of(v) == (major, step)]
    return offered[0] if offered else target


def addon_tags(cluster: Cluster, tags: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each add-on's own tags beside the cluster's (`tags`), by EKS add-on name."""
    return {ADDONS.get(name, name): {**tags, **own} for name, own in cluster.spec.addon_tags.items()}


def removed_addons(before: Cluster, now: Cluster) -> list[str]:
    """The EKS add-ons a spec listed and its next version does not (EKS names). Only what
    clusterdrop installed for the spec: an add-on installed by other means is never removed."""
    return [ADDONS.get(a, a) for a in before.spec.addons if a not in now.spec.addons]


def remove_addons(eks: Any, cluster: str, names: list[str]) -> list[str]:
    """DeleteAddon for each still installed (EKS removes its workloads; the add-on is DELETING
    meanwhile). The ones deleted."""
    installed = set(eks.list_addons(clusterName=cluster).get("addons", []))
    removed = [n for n in names if n in installed]
    for name in removed:
        eks.delete_addon(clusterName=cluster, addonName=name)
    return removed


def pinned_versions(cluster: Cluster) -> dict[str, str]:
    """The spec's addonVersions by EKS add-on name."""
    return {ADDONS.get(name, name): version for name, version in cluster.spec.addon_versions.items()}


def pin_problems(eks: Any, cluster: Cluster, kubernetes: str, installed: dict[str, str] | None = None) -> list[Problem]:
    """Each pinned version EKS does not offer for the cluster's Kubernetes version, and each pin
    more than one minor from the running version of an add-on EKS moves one minor at a time (at
    *Plan*: CreateAddon and UpdateAddon would refuse it half-way)."""
    problems = []
    for name, version in cluster.spec.addon_versions.items():
        running = (installed or {}).get(ADDONS.get(name, name))
        if running and ADDONS.get(name, name) in ONE_MINOR_AT_A_TIME and minor_gap(running, version) > 1:
            step = one_minor_step(eks, ADDONS.get(name, name), running, version, kubernetes)
            problems.append(
                Problem(
                    f"spec.addonVersions.{name}",
                    f"{name} runs {running}, and EKS moves {name} one minor version at a time: pin {step} first, "
                    f"then {version}",
                )
            )
            continue
        offered = compatible_versions(eks, ADDONS.get(name, name), kubernetes)
        if version not in offered:
            problems.append(
                Problem(
                    f"spec.addonVersions.{name}",
                    f"{version} is not offered for Kubernetes {kubernetes}; EKS offers "
                    f"{', '.join(offered[:5]) or 'none'} (aws eks describe-addon-versions --addon-name "
                    f"{ADDONS.get(name, name)} --kubernetes-version {kubernetes})",
                )
            )
    return problems


def compatible_versions(eks: Any, addon: str, kubernetes: str) -> list[str]:
    """The versions of an add-on EKS offers for a Kubernetes version, newest first."""
    out = []
    for page in eks.get_paginator("describe_addon_versions").paginate(addonName=addon, kubernetesVersion=kubernetes):
        for found in page.get("addons", []):
            out += [str(v["addonVersion"]) for v in found.get("addonVersions", [])]
    return out


def pin_addons(eks: Any, cluster: str, pins: dict[str, str], skip: Collection[str] = ()) -> dict[str, str]:
    """Installed add-ons moved to the version the spec pins (a pin added or changed on a running
    cluster), except those in `skip` (being removed). {add-on: "old → new"}."""
    moved = {}
    for name, installed in installed_versions(eks, cluster, skip).items():
        pinned = pins.get(name)
        if pinned and pinned != installed:
            eks.update_addon(clusterName=cluster, addonName=name, addonVersion=pinned, resolveConflicts="PRESERVE")
            moved[name] = f"{installed} → {pinned}"
    return moved


def health_issues(eks: Any, cluster: Cluster) -> list[str]:
    """What EKS reports wrong with each node group (DescribeNodegroup's health issues)."""
    lines = []
    for group in cluster.spec.node_groups:
        try:
            described = eks.describe_nodegroup(clusterName=cluster.metadata.name, nodegroupName=group.name)
        except eks.exceptions.ResourceNotFoundException:
            continue
        for issue in (described["nodegroup"].get("health") or {}).get("issues") or []:
            lines.append(f"EKS reports for node group {group.name}: {issue.get('code')}: {issue.get('message')}")
    return lines


def describe(eks: Any, cluster: str) -> dict[str, str]:
    described = eks.describe_cluster(name=cluster)["cluster"]
    return {
        "endpoint": described.get("endpoint", ""),
        "certificateAuthority": (described.get("certificateAuthority") or {}).get("data", ""),
        "version": described.get("version", ""),
        "status": described.get("status", ""),
    }


def ensure_addons(
    eks: Any,
    cluster: str,
    names: list[str],
    *,
    tags: dict[str, str],
    overlay: bool = False,
    pins: dict[str, str] | None = None,
    own_tags: dict[str, dict[str, str]] | None = None,
) -> list[str]:
    """Create the add-ons that do not exist yet, with clusterdrop's configuration for the
    cluster's pod network, at the version the spec pins (else EKS's default), tagged with the
    cluster's tags or the add-on's own (`own_tags`); bring an existing one's tags to those.
    Return the ones created."""
    existing = set(eks.list_addons(clusterName=cluster).get("addons", []))
    created = []
    for name in names:
        wanted = (own_tags or {}).get(name, tags)
        if name in existing:
            _retag(eks, eks.describe_addon(clusterName=cluster, addonName=name)["addon"], wanted)
            continue
        extra = {}
        values = addon_configuration(name, overlay=overlay)
        if values is not None:
            extra["configurationValues"] = json.dumps(values, sort_keys=True)
        if (pins or {}).get(name):
            extra["addonVersion"] = (pins or {})[name]
        eks.create_addon(clusterName=cluster, addonName=name, resolveConflicts="OVERWRITE", tags=wanted, **extra)
        created.append(name)
    return created


def _retag(eks: Any, addon: dict[str, Any], wanted: dict[str, str]) -> None:
    """An add-on's tags as the spec has them now (metadata.tags or addonTags changed)."""
    current = addon.get("tags") or {}
    stale = sorted(set(current) - set(wanted))
    if stale:
        eks.untag_resource(resourceArn=addon["addonArn"], tagKeys=stale)
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    if changed:
        eks.tag_resource(resourceArn=addon["addonArn"], tags=changed)


def addon_statuses(eks: Any, cluster: str, names: list[str]) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = eks.describe_addon(clusterName=cluster, addonName=name)["addon"]["status"]
        except eks.exceptions.ResourceNotFoundException:
            out[name] = "MISSING"
    return out


def installed_versions(eks: Any, cluster: str, skip: Collection[str] = ()) -> dict[str, str]:
    """Every add-on of the cluster (but those in `skip`) with the version EKS installed (not the
    one expected)."""
    names = [n for n in eks.list_addons(clusterName=cluster).get("addons", []) if n not in skip]
    return {
        n: str(eks.describe_addon(clusterName=cluster, addonName=n)["addon"].get("addonVersion", "")) for n in names
    }


def nodegroup_versions(eks: Any, cluster: str) -> dict[str, str]:
    """Each managed node group of the cluster with the Kubernetes version EKS reports for it."""
    names = eks.list_nodegroups(clusterName=cluster).get("nodegroups", [])
    return {
        n: str(eks.describe_nodegroup(clusterName=cluster, nodegroupName=n)["nodegroup"].get("version", ""))
        for n in names
    }


def default_addon_version(eks: Any, addon: str, kubernetes: str) -> str | None:
    """The version EKS names as default for an add-on on a Kubernetes version (DescribeAddonVersions)."""
    pages = eks.get_paginator("describe_addon_versions").paginate(addonName=addon, kubernetesVersion=kubernetes)
    for page in pages:
        for found in page.get("addons", []):
            for version in found.get("addonVersions", []):
                compatible = version.get("compatibilities", [])
                if any(c.get("clusterVersion") == kubernetes and c.get("defaultVersion") for c in compatible):
                    return str(version["addonVersion"])
    return None


def realignment(
    eks: Any, cluster: str, kubernetes: str, pins: dict[str, str] | None = None, skip: Collection[str] = ()
) -> dict[str, tuple[str, str]]:
    """Where an upgrade to `kubernetes` moves each installed add-on (but those in `skip`): to the
    version the spec pins, else to the one EKS names as default for it. {add-on: (old, new)}."""
    moves = {}
    for name, installed in installed_versions(eks, cluster, skip).items():
        target = (pins or {}).get(name) or default_addon_version(eks, name, kubernetes)
        if target and target != installed:
            # vpc-cni: one minor per upgrade; the next upgrade (or a pin) moves it on.
            moves[name] = (installed, one_minor_step(eks, name, installed, target, kubernetes))
    return moves


def realign_addons(
    eks: Any, cluster: str, kubernetes: str, pins: dict[str, str] | None = None, skip: Collection[str] = ()
) -> dict[str, str]:
    """After the control plane moved to `kubernetes`: the `realignment` carried out (EKS leaves
    add-ons where they were). `skip`: add-ons being removed, as EKS refuses to update a DELETING
    one. {add-on: "old → new"}."""
    moved = {}
    for name, (installed, target) in realignment(eks, cluster, kubernetes, pins, skip).items():
        # PRESERVE: what was set through configurationValues stays, and so do edits made in the cluster.
        eks.update_addon(clusterName=cluster, addonName=name, addonVersion=target, resolveConflicts="PRESERVE")
        moved[name] = f"{installed} → {target}"
    return moved
