"""Every spec field says what changing it does to a running cluster."""

from __future__ import annotations

import copy
import typing
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from clusterdrop.spec.changes import CHANGES, refused_changes
from clusterdrop.spec.models import (
    Cluster,
    Cni,
    ControlPlane,
    Metadata,
    Network,
    NodeGroup,
    Notifications,
    UpgradePolicy,
    Vpc,
)
from clusterdrop.spec.source import load_spec
from tests.conftest import REPO, set_path

# Models whose fields are classified one by one; any other field is classified as a whole.
WALKED = (Cluster, Metadata, ControlPlane, Network, Vpc, Cni, NodeGroup, Notifications, UpgradePolicy)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    found = []
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            found.append(arg)
        found += [a for a in typing.get_args(arg) if isinstance(a, type) and issubclass(a, BaseModel)]
    return found


def _paths(model: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        inner = [m for m in _models_in(field.annotation) if m in WALKED or m.__name__ == "ClusterSpec"]
        if inner:
            is_list = typing.get_origin(field.annotation) is list
            out += _paths(inner[0], f"{path}{'[]' if is_list else ''}.")
        else:
            out.append(path)
    return out


def test_every_field_of_the_spec_is_classified() -> None:
    paths = _paths(Cluster, "")
    assert "spec.nodeGroups[].desiredSize" in paths
    assert sorted(set(paths) - set(CHANGES)) == []
    assert sorted(set(CHANGES) - set(paths)) == []


def test_the_docs_show_the_table() -> None:
    page = (REPO / "docs" / "changing.md").read_text()
    for path, (kind, _) in CHANGES.items():
        assert f"| `{path}` | {kind} |" in page, path


def _cluster(data: dict[str, Any]) -> Cluster:
    return load_spec(yaml.safe_dump(data).encode()).cluster


def test_a_cni_switch_and_a_new_subnet_layout_are_refused_by_field(full_spec: dict[str, Any]) -> None:
    before = _cluster(full_spec)
    after_data = copy.deepcopy(full_spec)
    set_path(after_data, "spec.cni", {"name": "aws-vpc-cni"})
    del after_data["spec"]["network"]["podCidr"]
    set_path(after_data, "spec.network.vpc.cidr", "10.98.0.0/16")
    set_path(after_data, "spec.network.serviceCidr", "172.21.0.0/16")
    set_path(after_data, "spec.nodeGroups[0].desiredSize", 4)
    problems = {p.path: p.message for p in refused_changes(before, _cluster(after_data))}
    assert set(problems) == {
        "spec.cni.name",
        "spec.network.podCidr",
        "spec.network.vpc.cidr",
        "spec.network.serviceCidr",
    }
    assert "create a new cluster with the other CNI" in problems["spec.cni.name"]
    assert "allowReplacement: true" in problems["spec.network.vpc.cidr"]
    # The service CIDR is create-only on the named cluster: CloudFormation cannot replace it at all.
    assert "cannot replace a cluster under its own name" in problems["spec.network.serviceCidr"]
    set_path(after_data, "spec.controlPlane.allowReplacement", True)
    assert {p.path for p in refused_changes(before, _cluster(after_data))} == {
        "spec.cni.name",
        "spec.network.podCidr",
        "spec.network.serviceCidr",
    }


def test_the_node_groups_create_only_properties_are_the_provider_schemas() -> None:
    """The product's list and AWS's schema (cfn-lint's copy) are two sources of one fact."""
    from clusterdrop.local import cfn_replacement
    from clusterdrop.render.nodegroup import NODEGROUP_CREATE_ONLY

    schema = {"/".join(p) for p in cfn_replacement.create_only("AWS::EKS::Nodegroup")}
    assert set(NODEGROUP_CREATE_ONLY) == schema, "render/nodegroup.py vs the AWS::EKS::Nodegroup provider schema"
    assert cfn_replacement.naming_property("AWS::EKS::Nodegroup") == "NodegroupName"


@pytest.mark.parametrize(
    ("path", "value", "refused"),
    [
        ("instanceTypes", ["m5.large"], "spec.nodeGroups[0].instanceTypes"),
        ("capacityType", "spot", "spec.nodeGroups[0].capacityType"),
        ("amiFamily", "bottlerocket", "spec.nodeGroups[0].amiFamily"),
        ("diskSizeGiB", 100, "spec.nodeGroups[0].diskSizeGiB"),
        ("topology", "public", "spec.nodeGroups[0].topology"),
        ("sshKeyName", "ops", "spec.nodeGroups[0].sshKeyName"),
        ("volume", {"type": "gp3", "iops": 4000}, "spec.nodeGroups[0].volume"),
        ("instanceName", "worker", "spec.nodeGroups[0].instanceName"),
        ("labels", {"role": "x"}, None),
        ("desiredSize", 3, None),
    ],
)
def test_a_node_group_that_would_be_replaced_under_its_name_is_refused(
    path: str, value: Any, refused: str | None
) -> None:
    """Quickstart's group has no launch template (an EKS-made disk, no SSH key): each create-only
    property, and a first launch template, would need a second group of the same name."""
    from clusterdrop.render.nodegroup import replaced_groups

    data = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    before = _cluster(data)
    after = copy.deepcopy(data)
    set_path(after, f"spec.nodeGroups[0].{path}", value)
    problems = replaced_groups(before, _cluster(after))
    assert [p.path for p in problems] == ([refused] if refused else [])
    if refused:
        assert "Give the group a new name in the same upload" in problems[0].message
        renamed = copy.deepcopy(after)
        set_path(renamed, "spec.nodeGroups[0].name", "workers-2")
        assert replaced_groups(before, _cluster(renamed)) == []  # another group: created, the old removed


def test_a_group_with_a_launch_template_changes_its_disk_in_place() -> None:
    from clusterdrop.render.nodegroup import replaced_groups

    data = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    set_path(data, "spec.nodeGroups[0].volume", {"type": "gp3"})
    after = copy.deepcopy(data)
    set_path(after, "spec.nodeGroups[0].volume", {"type": "gp3", "iops": 4000, "sizeGiB": 120})
    set_path(after, "spec.nodeGroups[0].sshKeyName", "ops")
    assert replaced_groups(_cluster(data), _cluster(after)) == []


@pytest.mark.parametrize("path", ["spec.nodeGroups[0].desiredSize", "metadata.tags", "spec.addons"])
def test_in_place_changes_pass(full_spec: dict[str, Any], path: str) -> None:
    before = _cluster(full_spec)
    value = {"spec.nodeGroups[0].desiredSize": 5, "metadata.tags": {"team": "x"}, "spec.addons": ["ebs-csi"]}[path]
    after = copy.deepcopy(full_spec)
    set_path(after, path, value)
    if path == "spec.nodeGroups[0].desiredSize":
        set_path(after, "spec.nodeGroups[0].maxSize", 6)
    assert refused_changes(before, _cluster(after)) == []


def test_a_plan_names_each_changed_property_with_its_values() -> None:
    from clusterdrop.aws.stacks import property_changes

    before = {
        "Resources": {
            "Cluster": {"Type": "AWS::EKS::Cluster", "Properties": {"Version": "1.34", "Name": "demo"}},
            "NodeGroup": {
                "Type": "AWS::EKS::Nodegroup",
                "Properties": {"Version": "1.34", "Labels": {"role": "a"}, "UserData": "x" * 100},
            },
            "Gone": {"Type": "AWS::SNS::Topic"},
        }
    }
    after = {
        "Resources": {
            "Cluster": {"Type": "AWS::EKS::Cluster", "Properties": {"Version": "1.35", "Name": "demo"}},
            "NodeGroup": {
                "Type": "AWS::EKS::Nodegroup",
                "Properties": {"Version": "1.35", "ForceUpdateEnabled": True, "UserData": "y" * 100},
            },
            "New": {"Type": "AWS::SNS::Topic"},
        }
    }
    changes = property_changes(before, after)
    assert changes["Cluster"] == ["Version: 1.34 → 1.35"]
    assert changes["NodeGroup"][:3] == [
        "ForceUpdateEnabled: (none) → true",
        'Labels: {"role":"a"} → (none)',
        "UserData: " + "x" * 59 + "… → " + "y" * 59 + "…",
    ]
    assert changes["NodeGroup"][3] == "Version: 1.34 → 1.35"
    assert set(changes) == {"Cluster", "NodeGroup"}  # added and removed resources are the change set's own lines


def test_a_log_retention_changes_in_place_but_is_never_removed(full_spec: dict[str, Any]) -> None:
    before = _cluster(full_spec)
    kept = copy.deepcopy(full_spec)
    set_path(kept, "spec.controlPlane.logRetentionDays", 30)
    assert refused_changes(before, _cluster(kept)) == []  # set on a running cluster
    longer = copy.deepcopy(kept)
    set_path(longer, "spec.controlPlane.logRetentionDays", 365)
    assert refused_changes(_cluster(kept), _cluster(longer)) == []
    [problem] = refused_changes(_cluster(kept), before)  # removed: the group would go, with its logs
    assert problem.path == "spec.controlPlane.logRetentionDays"
    assert "cannot be removed once set (30 days)" in problem.message


def test_an_identity_provider_is_added_or_removed_but_not_changed(full_spec: dict[str, Any]) -> None:
    before = _cluster(full_spec)
    provider = {"name": "corp-sso", "issuerUrl": "https://login.example.com", "clientId": "kubernetes"}
    added = copy.deepcopy(full_spec)
    set_path(added, "spec.identityProviders", [provider])
    assert refused_changes(before, _cluster(added)) == []
    assert refused_changes(_cluster(added), before) == []
    changed = copy.deepcopy(full_spec)
    set_path(changed, "spec.identityProviders", [{**provider, "clientId": "k8s"}])
    [problem] = refused_changes(_cluster(added), _cluster(changed))
    assert problem.path == "spec.identityProviders"
    assert "upload the spec without it, then with the new one" in problem.message


def test_an_add_on_the_spec_no_longer_lists_is_removed_by_its_eks_name() -> None:
    """Only what an earlier version of the spec listed (clusterdrop installed it): never an add-on
    installed by other means, never one still listed."""
    from clusterdrop.aws.eks import removed_addons

    before = load_spec((REPO / "examples" / "calico-ha.yaml").read_bytes()).cluster  # ebs-csi, metrics-server
    after = before.model_copy(
        update={"spec": before.spec.model_copy(update={"addons": ["metrics-server", "pod-identity-agent"]})}
    )
    assert removed_addons(before, after) == ["aws-ebs-csi-driver"]
    assert removed_addons(after, after) == []


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"spec.kubernetesVersion": "1.36"}, []),
        ({"spec.kubernetesVersion": "1.36", "spec.upgradePolicy": {"force": True}}, []),  # force goes with it
        ({"spec.nodeGroups[0].labels": {"role": "web"}}, []),
        (
            {"spec.kubernetesVersion": "1.36", "spec.nodeGroups[0].labels": {"role": "web"}},
            ["spec.nodeGroups[0].labels"],
        ),
        ({"spec.kubernetesVersion": "1.36", "metadata.tags": {"team": "x"}}, ["metadata.tags"]),
        ({"spec.kubernetesVersion": "1.36", "spec.nodeGroups[0].desiredSize": 3}, ["spec.nodeGroups[0].desiredSize"]),
    ],
)
def test_a_node_groups_version_update_goes_alone(changes: dict[str, Any], refused: list[str]) -> None:
    """EKS's handler: "Version and ReleaseVersion updates cannot be combined with other updates"."""
    from clusterdrop.render.nodegroup import combined_updates

    data = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    set_path(data, "spec.kubernetesVersion", "1.35")
    after = copy.deepcopy(data)
    for path, value in changes.items():
        set_path(after, path, value)
    problems = combined_updates(_cluster(data), _cluster(after))
    assert [p.path for p in problems] == refused
    for problem in problems:
        assert "Upload the spec with only the version change first" in problem.message


def test_a_group_gaining_a_launch_template_is_refused_once_by_its_replacement() -> None:
    """A switch to an overlay CNI gives every group a launch template (its max pods): that replaces
    the group, refused by the field that causes it — not again as a version update combined with
    its disk size (found on a newcomer's walk: "in the same upload as its the launch template
    (Version 1.36 → 1.36)")."""
    from clusterdrop.render.nodegroup import combined_updates, replaced_groups

    data = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    after = copy.deepcopy(data)
    after["spec"]["cni"] = {"name": "calico"}
    before_cluster, after_cluster = _cluster(data), _cluster(after)
    assert combined_updates(before_cluster, after_cluster) == []
    assert [p.path for p in replaced_groups(before_cluster, after_cluster)] == ["spec.nodeGroups[0].volume"]


def test_a_version_update_with_a_label_names_the_version_it_moves() -> None:
    from clusterdrop.render.nodegroup import combined_updates

    data = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    set_path(data, "spec.kubernetesVersion", "1.35")
    after = copy.deepcopy(data)
    set_path(after, "spec.kubernetesVersion", "1.36")
    set_path(after, "spec.nodeGroups[0].labels", {"role": "web"})
    [problem] = combined_updates(_cluster(data), _cluster(after))
    assert "in the same upload as its Version (1.35 → 1.36)" in problem.message


def test_a_refusal_shows_the_users_values_and_a_default_as_a_default() -> None:
    """A CNI switch also moves the pod CIDR from nothing to the overlay's default: said so, not as
    `None → '192.168.0.0/16'` the user never wrote."""
    text = (REPO / "examples" / "quickstart.yaml").read_text()
    before = load_spec(text.encode()).cluster
    data = yaml.safe_load(text)
    data["spec"]["cni"] = {"name": "calico"}
    after = load_spec(yaml.safe_dump(data).encode()).cluster
    said = {p.path: p.message for p in refused_changes(before, after)}
    assert "(unset → the default '192.168.0.0/16')" in said["spec.network.podCidr"]
    assert "None" not in said["spec.network.podCidr"]
    assert "('aws-vpc-cni' → 'calico')" in said["spec.cni.name"]
    data["spec"]["network"] = {"podCidr": "10.48.0.0/16"}
    written = load_spec(yaml.safe_dump(data).encode()).cluster
    assert (
        "(unset → '10.48.0.0/16')"
        in {p.path: p.message for p in refused_changes(before, written)}["spec.network.podCidr"]
    )
