"""What a change of each spec field does to a running cluster: applied in place, applied by
replacing a resource, or refused. One table, shown in docs/changing.md; a test walks every field of the
spec model and fails on one that is not here. *Plan* compares the spec with the last applied one
and refuses, by field, what cannot happen — before anything changes."""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

from clusterdrop.errors import Problem
from clusterdrop.spec.models import Cluster

IN_PLACE = "in place"
REPLACES_CLUSTER = "replaces the EKS cluster"  # refused unless spec.controlPlane.allowReplacement
# A node group is named by its spec name (NodegroupName), so CloudFormation cannot replace it:
# refused at Plan (render/nodegroup.py `replaced_groups`, from the rendered templates), with the
# way that works — a new name, which creates the new group and then removes the old one.
REPLACES_GROUP = "refused (would replace the node group)"
IN_A_TEMPLATE = "in place with a launch template"  # a new version; refused where it adds or removes one
REFUSED = "refused"

# Paths in camelCase; `nodeGroups[]` is each node group (matched by name).
CHANGES: dict[str, tuple[str, str]] = {
    "apiVersion": (IN_PLACE, "the spec's format"),
    "kind": (IN_PLACE, "the spec's format"),
    "metadata.name": (REFUSED, "another name is another cluster: upload a spec of that name"),
    "metadata.tags": (IN_PLACE, "tags on every resource"),
    "spec.region": (REFUSED, "a cluster cannot move: create one in the other region (with its deployer)"),
    "spec.kubernetesVersion": (IN_PLACE, "one minor version up at a time, never down"),
    "spec.controlPlane.flavor": (REFUSED, "a control plane cannot change kind: create a new cluster"),
    "spec.controlPlane.endpointAccess": (IN_PLACE, "EKS endpoint access"),
    "spec.controlPlane.adminCidrs": (IN_PLACE, "EKS public endpoint CIDRs"),
    "spec.controlPlane.admins": (IN_PLACE, "EKS access entries"),
    "spec.controlPlane.logging": (IN_PLACE, "EKS control-plane logs"),
    "spec.controlPlane.logRetentionDays": (
        IN_PLACE,
        "the log group's retention; refused once set and then removed (that would delete the group and its logs)",
    ),
    "spec.controlPlane.scalingTier": (IN_PLACE, "EKS Provisioned Control Plane (UpdateClusterConfig)"),
    "spec.controlPlane.secretsKey": (
        REFUSED,
        (
            "another EncryptionConfig (create-only) would replace the EKS cluster, and CloudFormation cannot "
            "replace a cluster under its own name: create a new cluster"
        ),
    ),
    "spec.controlPlane.zonalShift": (IN_PLACE, "ARC zonal shift (UpdateClusterConfig)"),
    "spec.controlPlane.supportType": (IN_PLACE, "EKS upgrade policy (UpdateClusterConfig)"),
    "spec.controlPlane.allowReplacement": (IN_PLACE, "a setting of the update itself"),
    "spec.network.zones": (REPLACES_CLUSTER, "the control plane's subnets"),
    "spec.network.topology": (REPLACES_CLUSTER, "the cluster's subnets"),
    "spec.network.vpc.cidr": (REPLACES_CLUSTER, "a new VPC"),
    "spec.network.vpc.id": (REPLACES_CLUSTER, "another VPC"),
    "spec.network.vpc.subnets": (REPLACES_CLUSTER, "the control plane's subnets"),
    "spec.network.natGateways": (IN_PLACE, "NAT gateways and routes"),
    "spec.network.podCidr": (
        REFUSED,
        "the overlay's address pool: running pods hold addresses from it; create a new cluster",
    ),
    "spec.network.serviceCidr": (
        REFUSED,
        (
            "EKS sets the service CIDR at creation (create-only), and CloudFormation cannot replace a cluster "
            "under its own name: create a new cluster"
        ),
    ),
    "spec.cni.name": (
        REFUSED,
        (
            "a CNI switch would leave both CNIs running, and only a new EKS cluster can leave out the VPC CNI "
            "(BootstrapSelfManagedAddons): create a new cluster with the other CNI"
        ),
    ),
    "spec.cni.version": (IN_PLACE, "the CNI's manifests or add-on version"),
    "spec.cni.mode": (
        REFUSED,
        (
            "manifest and operator installs, ENI and overlay datapaths, do not convert into each other: create a new "
            "cluster"
        ),
    ),
    "spec.cni.kubeProxyReplacement": (
        REFUSED,
        (
            "kube-proxy's rules and Cilium's would both program services (or neither) during the switch: create a new "
            "cluster"
        ),
    ),
    "spec.addonVersions": (
        IN_PLACE,
        "the pinned add-ons move to their versions (UpdateAddon); an unpinned one stays until an upgrade",
    ),
    "spec.addonTags": (IN_PLACE, "the add-on's tags (TagResource, UntagResource), as metadata.tags on every add-on"),
    "spec.access": (IN_PLACE, "EKS access entries and their policies"),
    "spec.identityProviders": (
        IN_PLACE,
        (
            "added or removed (EKS associates or disassociates it); one changed is refused: EKS changes none of its "
            "settings and takes one per cluster"
        ),
    ),
    "spec.podIdentities": (
        IN_PLACE,
        (
            "EKS Pod Identity associations (and the roles clusterdrop makes: a renamed role is made anew, then the "
            "old one goes); a service account it created stays"
        ),
    ),
    "spec.computeMode": (
        REFUSED,
        "managed node groups and EKS Auto Mode do not convert into each other here: create a new cluster",
    ),
    "spec.nodePools": (
        IN_PLACE,
        "EKS Auto Mode's built-in node pools (UpdateClusterConfig); a removed pool's nodes go",
    ),
    "spec.nodeGroups[].name": (IN_PLACE, "another name is another node group: created, and the old one removed"),
    "spec.nodeGroups[].instanceTypes": (
        REPLACES_GROUP,
        "EKS sets a managed node group's instance types at creation: rename the group to replace it",
    ),
    "spec.nodeGroups[].minSize": (IN_PLACE, "scaling"),
    "spec.nodeGroups[].desiredSize": (IN_PLACE, "scaling"),
    "spec.nodeGroups[].maxSize": (IN_PLACE, "scaling"),
    "spec.nodeGroups[].zones": (
        REPLACES_GROUP,
        "the node group's subnets, set at creation: rename the group to replace it",
    ),
    "spec.nodeGroups[].topology": (
        REPLACES_GROUP,
        "the node group's subnets, set at creation: rename the group to replace it",
    ),
    "spec.nodeGroups[].capacityType": (
        REPLACES_GROUP,
        "on-demand or spot is set at creation: rename the group to replace it",
    ),
    "spec.nodeGroups[].diskSizeGiB": (
        IN_A_TEMPLATE,
        "the launch template's root volume; without one EKS sets DiskSize at creation (rename the group)",
    ),
    "spec.nodeGroups[].labels": (IN_PLACE, "node labels"),
    "spec.nodeGroups[].taints": (IN_PLACE, "node taints"),
    "spec.nodeGroups[].sshKeyName": (
        IN_A_TEMPLATE,
        "the launch template's key pair; without one EKS sets RemoteAccess at creation (rename the group)",
    ),
    "spec.nodeGroups[].instanceName": (
        IN_A_TEMPLATE,
        "the instances' Name tag (a new launch template version); adding the first needs a renamed group",
    ),
    "spec.nodeGroups[].amiFamily": (
        REPLACES_GROUP,
        "EKS sets a managed node group's AMI type at creation: rename the group to replace it",
    ),
    "spec.nodeGroups[].volume": (
        IN_A_TEMPLATE,
        "the nodes' root volume (a new launch template version); adding the first needs a renamed group",
    ),
    "spec.nodeGroups[].tags": (IN_PLACE, "tags on the node group"),
    "spec.nodeGroups[].updateConfig": (IN_PLACE, "how many nodes an update replaces at once"),
    "spec.nodeGroups[].nodeRepair": (IN_PLACE, "EKS node auto repair (UpdateNodegroupConfig)"),
    "spec.nodeGroups[].kubernetesVersion": (
        IN_PLACE,
        "raised: the group's nodes replaced one by one at the new version, the cluster validated after",
    ),
    "spec.addons": (IN_PLACE, "added add-ons are installed, removed ones deleted (DeleteAddon; the plan names them)"),
    "spec.nodeReadyTimeoutMinutes": (IN_PLACE, "a setting of the workflow"),
    "spec.deletionPolicy": (IN_PLACE, "a setting of the workflow"),
    "spec.notifications.emails": (IN_PLACE, "a setting of the workflow"),
    "spec.upgradePolicy.force": (IN_PLACE, "a setting of node-group updates (EKS's ForceUpdateEnabled)"),
}


def _value(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _shown(value: Any, *, default: bool = False) -> str:
    """A value as the user wrote it: nothing written is unset, and a value the spec's defaults
    filled in is said to be one (the user never wrote it)."""
    if value is None:
        return "unset"
    return f"the default {value!r}" if default else repr(value)


def _default(spec: dict[str, Any], path: str) -> Any:
    """What the spec's defaults give at `path` when the spec does not set it (None when none)."""
    from clusterdrop.errors import SpecInvalid
    from clusterdrop.spec.loader import Document
    from clusterdrop.spec.validate import validate

    data = copy.deepcopy(spec)
    *parents, leaf = path.split(".")
    holder: Any = data
    for part in parents:
        holder = holder.get(part) if isinstance(holder, dict) else None
    if not isinstance(holder, dict) or leaf not in holder:
        return None
    del holder[leaf]
    try:
        defaulted = validate(Document(data=_without_nones(data), is_yaml=False))
    except SpecInvalid:
        return None
    return _value(defaulted.model_dump(mode="json", by_alias=True), path)


def _without_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nones(v) for v in value]
    return value


def refused_changes(before: Cluster, after: Cluster) -> list[Problem]:
    """The changes from the applied spec to the new one that cannot be made, by field path."""
    old = before.model_dump(mode="json", by_alias=True)
    new = after.model_dump(mode="json", by_alias=True)
    problems = []
    for path, (kind, why) in CHANGES.items():
        if "[]" in path or kind not in (REFUSED, REPLACES_CLUSTER):
            continue
        was, now = _value(old, path), _value(new, path)
        if was == now or (path == "spec.cni.mode" and old["spec"]["cni"]["name"] != new["spec"]["cni"]["name"]):
            continue  # a mode goes with its CNI: a CNI switch is refused once, by name
        if kind == REPLACES_CLUSTER and after.spec.control_plane.allow_replacement:
            continue
        # A field unset before and set now by the defaults (a CNI switch's pod CIDR) was never
        # written by the user: said to be the default.
        change = f"{_shown(was)} → {_shown(now, default=was is None and _default(new, path) == now)}"
        if kind == REFUSED:
            problems.append(Problem(path, f"cannot change on a running cluster ({change}): {why}"))
        else:
            problems.append(
                Problem(
                    path,
                    f"{change} {REPLACES_CLUSTER} ({why}): a new, empty control plane; set "
                    "spec.controlPlane.allowReplacement: true to do it anyway",
                )
            )
    old_providers, new_providers = before.spec.identity_providers, after.spec.identity_providers
    if old_providers and new_providers and old_providers != new_providers:
        # CloudFormation would associate the new configuration before disassociating the old one,
        # and EKS refuses a second: it takes two uploads.
        problems.append(
            Problem(
                "spec.identityProviders",
                f"identity provider {old_providers[0].name} cannot be changed on a running cluster (EKS changes "
                "none of its settings and associates one per cluster): upload the spec without it, then with the "
                "new one",
            )
        )
    was, now = before.spec.control_plane.log_retention_days, after.spec.control_plane.log_retention_days
    if was is not None and now is None:
        problems.append(
            Problem(
                "spec.controlPlane.logRetentionDays",
                f"cannot be removed once set ({was} days): the log group would be deleted with the logs in it. "
                "Keep it, or set the longest retention (3653 days)",
            )
        )
    return problems


class FieldChange(NamedTuple):
    """One field that differs between the applied spec and a new one, and what changing it does
    (the CHANGES table's kind and why). `was`/`now` are None for a group added or removed."""

    path: str
    was: Any
    now: Any
    kind: str
    why: str
    # `now` is the spec's default, not a value the user wrote.
    defaulted: bool = False

    def line(self) -> str:
        if self.kind == "added":
            return f"+ {self.path}: {self.why}"
        if self.kind == "removed":
            return f"- {self.path}: {self.why}"
        return (
            f"~ {self.path}: {_shown(self.was)} → {_shown(self.now, default=self.defaulted)} ({self.kind}: {self.why})"
        )


def field_changes(before: Cluster, after: Cluster) -> list[FieldChange]:
    """Every field the new spec changes, by the table's paths; node groups matched by name, an
    added or removed group as one change. The spec as validated (defaults filled in) on both
    sides, so that a default written out is no change."""
    old = before.model_dump(mode="json", by_alias=True)
    new = after.model_dump(mode="json", by_alias=True)
    found = [
        FieldChange(path, was, now, *CHANGES[path], defaulted=was is None and _default(new, path) == now)
        for path in CHANGES
        if "[]" not in path and (was := _value(old, path)) != (now := _value(new, path))
    ]
    old_groups = {g["name"]: g for g in old["spec"]["nodeGroups"]}
    new_groups = {g["name"]: g for g in new["spec"]["nodeGroups"]}
    for name, group in new_groups.items():
        if name not in old_groups:
            found.append(FieldChange(f"spec.nodeGroups[{name}]", None, None, "added", "a new node group is created"))
            continue
        for path, (kind, why) in CHANGES.items():
            field = path.removeprefix("spec.nodeGroups[].")
            if path.startswith("spec.nodeGroups[].") and field != "name":
                was, now = old_groups[name].get(field), group.get(field)
                if was != now:
                    found.append(FieldChange(f"spec.nodeGroups[{name}].{field}", was, now, kind, why))
    for name in old_groups:
        if name not in new_groups:
            found.append(
                FieldChange(
                    f"spec.nodeGroups[{name}]", None, None, "removed", "its nodes are drained and the group deleted"
                )
            )
    return found
