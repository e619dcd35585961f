"""Validation of native specs: the examples pass, every mistake is named by its path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterdrop import facts
from clusterdrop.errors import SpecInvalid
from clusterdrop.spec.loader import Document, load
from clusterdrop.spec.models import Cluster
from clusterdrop.spec.source import load_spec
from clusterdrop.spec.validate import validate
from tests.conftest import DELETE, EXAMPLES, REPO, set_path


def _validate(data: Any) -> Cluster:
    return validate(Document(data=data, is_yaml=False))


def _problems(data: Any) -> dict[str, str]:
    with pytest.raises(SpecInvalid) as info:
        _validate(data)
    return {p.path: p.message for p in info.value.problems}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_valid(path: Any) -> None:
    loaded = load_spec(path.read_bytes())
    assert loaded.source_format == "clusterdrop"
    assert loaded.cluster.metadata.name == yaml.safe_load(path.read_text())["metadata"]["name"]


def test_defaults_are_made_explicit() -> None:
    cluster = load_spec((EXAMPLES[0].parent / "quickstart.yaml").read_bytes()).cluster
    spec = cluster.spec
    assert spec.kubernetes_version == facts.DEFAULT_KUBERNETES_VERSION
    assert spec.cni.version == "v1.23.1"
    assert spec.network.vpc.cidr == "10.0.0.0/16"
    assert spec.network.service_cidr == "172.20.0.0/16"  # what EKS picks for a VPC in 10/8
    assert spec.network.pod_cidr is None  # the VPC CNI gives pods VPC addresses
    assert spec.control_plane.admin_cidrs == ["0.0.0.0/0"]
    group = spec.node_groups[0]
    assert (group.min_size, group.desired_size, group.max_size) == (2, 2, 4)


def test_overlay_pod_cidr_default_avoids_the_vpc(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.network.vpc.cidr", "192.168.0.0/16")
    set_path(full_spec, "spec.network.podCidr", DELETE)
    set_path(full_spec, "spec.network.serviceCidr", DELETE)
    spec = _validate(full_spec).spec
    assert spec.network.pod_cidr == "10.244.0.0/16"
    assert spec.network.service_cidr == "10.100.0.0/16"


MALFORMED: list[tuple[str, str, Any]] = [
    ("metadata.name", "metadata.name", "Demo_1"),
    ("metadata.name", "metadata.name", "a" * 41),
    ("metadata.name", "metadata.name", DELETE),
    ("metadata.tags.aws:owner", "metadata.tags", {"aws:owner": "x"}),
    ("metadata.tags", "metadata.tags", {f"k{i}": "v" for i in range(41)}),
    ("metadata.tags.team", "metadata.tags", {"team": "x" * 257}),
    ("metadata.tags.bad", "metadata.tags", {"bad": "semi;colon"}),
    ("apiVersion", "apiVersion", "clusterdrop.io/v1"),
    ("kind", "kind", "ClusterConfig"),
    ("spec.region", "spec.region", "eu-west-9"),
    ("spec.kubernetesVersion", "spec.kubernetesVersion", "1.20"),
    ("spec.kubernetesVersion", "spec.kubernetesVersion", 1.3),
    ("spec.controlPlane.flavor", "spec.controlPlane.flavor", "kubeadm"),
    ("spec.controlPlane.endpointAccess", "spec.controlPlane.endpointAccess", "public"),
    ("spec.controlPlane.adminCidrs[0]", "spec.controlPlane.adminCidrs", ["300.0.0.0/8"]),
    ("spec.controlPlane.admins[0]", "spec.controlPlane.admins", ["arn:aws:iam::12:role/x"]),
    ("spec.controlPlane.admins[1]", "spec.controlPlane.admins", ["arn:aws:iam::123456789012:role/a"] * 2),
    ("spec.controlPlane.logging[0]", "spec.controlPlane.logging", ["debug"]),
    ("spec.network.zones[1]", "spec.network.zones", ["eu-west-1a", "us-east-1b", "eu-west-1c"]),
    ("spec.network.zones[2]", "spec.network.zones", ["eu-west-1a", "eu-west-1b", "eu-west-1a"]),
    ("spec.network.zones", "spec.network.zones", ["eu-west-1a"]),
    ("spec.network.topology", "spec.network.topology", "dmz"),
    ("spec.network.vpc.cidr", "spec.network.vpc.cidr", "10.0.0.0/8"),
    ("spec.network.vpc.cidr", "spec.network.vpc.cidr", "10.99.0.1/16"),
    ("spec.network.vpc.cidr", "spec.network.vpc.cidr", "10.99.0.0"),
    ("spec.network.vpc.id", "spec.network.vpc.id", "vpc-0a1b2c3d4e5f60718"),
    ("spec.network.vpc.id", "spec.network.vpc", {"id": "vpc-xyz", "subnets": {"private": ["subnet-0a1b2c3d"]}}),
    ("spec.network.vpc.subnets", "spec.network.vpc.subnets", {"private": ["subnet-0a1b2c3d"]}),
    ("spec.network.vpc.subnets", "spec.network.vpc", {"id": "vpc-0a1b2c3d"}),
    (
        "spec.network.vpc.subnets.private[0].id",
        "spec.network.vpc",
        {"id": "vpc-0a1b2c3d", "subnets": {"private": ["sub-1"]}},
    ),
    ("spec.network.natGateways", "spec.network.natGateways", "none"),
    ("spec.network.podCidr", "spec.network.podCidr", "10.99.128.0/17"),
    ("spec.network.serviceCidr", "spec.network.serviceCidr", "192.168.10.0/24"),
    ("spec.network.serviceCidr", "spec.network.serviceCidr", "10.99.0.0/20"),
    ("spec.network.serviceCidr", "spec.network.serviceCidr", "8.8.0.0/16"),
    ("spec.cni.name", "spec.cni.name", "flannel"),
    ("spec.cni.kubeProxyReplacement", "spec.cni", {"name": "calico", "kubeProxyReplacement": True}),
    ("spec.cni.mode", "spec.cni", {"name": "cilium", "mode": "operator"}),
    ("spec.network.podCidr", "spec.cni", {"name": "cilium"}),  # ENI mode: pods on VPC addresses
    ("spec.cni.name", "spec.cni.name", "weave"),
    ("spec.cni.version", "spec.cni.version", "v3.0.0"),
    ("spec.cni.mode", "spec.cni", {"name": "aws-vpc-cni", "mode": "manifest"}),
    ("spec.network.podCidr", "spec.cni", {"name": "aws-vpc-cni"}),
    # No node groups: a control plane alone, where an overlay CNI's controllers could never run.
    ("spec.cni.name", "spec.nodeGroups", []),
    ("spec.nodeGroups", "spec.nodeGroups", {"name": "workers"}),
    ("spec.nodeGroups[0].maxSize", "spec.nodeGroups[0].maxSize", 2),
    ("spec.nodeGroups[0].desiredSize", "spec.nodeGroups[0].minSize", 4),
    ("spec.nodeGroups[0].desiredSize", "spec.nodeGroups[0].desiredSize", "3"),
    ("spec.nodeGroups[0].desiredSize", "spec.nodeGroups[0].desiredSize", DELETE),
    ("spec.nodeGroups[0].zones[1]", "spec.nodeGroups[0].zones", ["eu-west-1a", "eu-west-1d"]),
    ("spec.nodeGroups[0].instanceTypes[0]", "spec.nodeGroups[0].instanceTypes", ["t3medium"]),
    ("spec.nodeGroups[0].instanceTypes[1]", "spec.nodeGroups[0].instanceTypes", ["m7g.large", "m7i.large"]),
    ("spec.nodeGroups[0].diskSizeGiB", "spec.nodeGroups[0].diskSizeGiB", 10),
    ("spec.nodeGroups[0].capacityType", "spec.nodeGroups[0].capacityType", "reserved"),
    ("spec.nodeGroups[0].taints[0].effect", "spec.nodeGroups[0].taints", [{"key": "a", "effect": "Never"}]),
    ("spec.nodeGroups[0].labels.kubernetes.io/role", "spec.nodeGroups[0].labels", {"kubernetes.io/role": "x"}),
    ("spec.nodeGroups[0].sshKeyName", "spec.nodeGroups[0].sshKeyName", ""),
    ("spec.addons[0]", "spec.addons", ["istio"]),
    ("spec.addons[1]", "spec.addons", ["ebs-csi", "ebs-csi"]),
    ("spec.deletionPolicy", "spec.deletionPolicy", "keep"),
    ("spec.nodeReadyTimeoutMinutes", "spec.nodeReadyTimeoutMinutes", 0),
    ("spec.notifications.emails[0]", "spec.notifications.emails", ["ops-at-example"]),
    ("spec", "spec", DELETE),
    ("spec.region", "spec.region", DELETE),
]


@pytest.mark.parametrize(
    ("expected", "where", "value"), MALFORMED, ids=[f"{m[0]}#{i}" for i, m in enumerate(MALFORMED)]
)
def test_malformed_spec_names_the_path(full_spec: dict[str, Any], expected: str, where: str, value: Any) -> None:
    set_path(full_spec, where, value)
    problems = _problems(full_spec)
    assert expected in problems, problems


def test_at_least_forty_malformed_cases() -> None:
    assert len(MALFORMED) >= 40


def test_duplicate_node_group_is_reported_at_its_later_occurrence(full_spec: dict[str, Any]) -> None:
    group = full_spec["spec"]["nodeGroups"][0]
    full_spec["spec"]["nodeGroups"].append(dict(group))
    problems = _problems(full_spec)
    later = f"spec.nodeGroups[{len(full_spec['spec']['nodeGroups']) - 1}].name"
    assert list(problems) == [later]
    assert "first at spec.nodeGroups[0]" in problems[later]


def test_cidr_overlap_is_reported_at_the_later_field(full_spec: dict[str, Any]) -> None:
    # vpc.cidr, podCidr, serviceCidr all equal: the two later ones are named, the VPC is not.
    for field in ("vpc.cidr", "podCidr", "serviceCidr"):
        set_path(full_spec, f"spec.network.{field}", "10.99.0.0/16")
    problems = _problems(full_spec)
    assert "spec.network.vpc.cidr" not in problems
    assert "overlaps spec.network.vpc.cidr" in problems["spec.network.podCidr"]
    assert "overlaps spec.network.vpc.cidr" in problems["spec.network.serviceCidr"]


def test_flannel_on_eks_says_why(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.cni", {"name": "flannel"})
    message = _problems(full_spec)["spec.cni.name"]
    assert "pod CIDR" in message
    assert "EKS" in message


def test_unknown_field_suggests_the_known_one(full_spec: dict[str, Any]) -> None:
    full_spec["spec"]["nodeGroups"][0]["maxsize"] = 6
    full_spec["spec"]["netwrok"] = {}
    problems = _problems(full_spec)
    assert "did you mean 'maxSize'?" in problems["spec.nodeGroups[0].maxsize"]
    assert "did you mean 'network'?" in problems["spec.netwrok"]


def test_every_problem_is_reported_at_once(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "metadata.name", "Bad Name")
    set_path(full_spec, "spec.nodeGroups[0].diskSizeGiB", 5)
    set_path(full_spec, "spec.controlPlane.logging", ["everything"])
    problems = _problems(full_spec)
    assert {"metadata.name", "spec.nodeGroups[0].diskSizeGiB", "spec.controlPlane.logging[0]"} <= set(problems)


def test_semantic_problems_are_all_reported_too(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.kubernetesVersion", "1.10")
    set_path(full_spec, "spec.nodeGroups[0].maxSize", 1)
    set_path(full_spec, "spec.network.zones", ["eu-west-1a", "eu-west-1a"])
    problems = _problems(full_spec)
    assert {"spec.kubernetesVersion", "spec.nodeGroups[0].maxSize", "spec.network.zones[1]"} <= set(problems)


def test_unquoted_version_is_explained(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.kubernetesVersion", 1.3)
    assert "quoted string" in _problems(full_spec)["spec.kubernetesVersion"]


def test_yaml_errors_carry_line_and_column() -> None:
    text = (EXAMPLES[0].parent / "calico-ha.yaml").read_text()
    text = text.replace("maxSize: 6", "maxSize: 2").replace("diskSizeGiB: 50", "diskSizeGiB: five")
    lines = text.splitlines()
    with pytest.raises(SpecInvalid) as info:
        validate(load(text.encode()))
    by_path = {p.path: p for p in info.value.problems}
    disk = by_path["spec.nodeGroups[0].diskSizeGiB"]
    assert disk.line is not None
    assert disk.column is not None
    assert lines[disk.line - 1][disk.column - 1 :].startswith("five")
    # The semantic rule is reported where the offending value stands, too.
    size = by_path["spec.nodeGroups[0].maxSize"]
    assert size.line is not None
    assert "maxSize: 2" in lines[size.line - 1]


def test_unknown_field_points_at_the_key() -> None:
    text = (EXAMPLES[0].parent / "quickstart.yaml").read_text().replace("desiredSize:", "desired:")
    with pytest.raises(SpecInvalid) as info:
        validate(load(text.encode()))
    problem = next(p for p in info.value.problems if p.path.endswith(".desired"))
    assert problem.line is not None
    assert problem.column is not None
    assert text.splitlines()[problem.line - 1][problem.column - 1 :].startswith("desired:")
    assert "did you mean 'desiredSize'?" in problem.message


def test_existing_vpc_subnet_zones_are_checked(full_spec: dict[str, Any]) -> None:
    set_path(
        full_spec,
        "spec.network.vpc",
        {
            "id": "vpc-0a1b2c3d",
            "subnets": {
                "private": [
                    {"id": "subnet-0a1b2c3d", "zone": "eu-west-1a"},
                    {"id": "subnet-1a1b2c3d", "zone": "eu-west-2a"},
                ],
                "public": [{"id": "subnet-0a1b2c3d", "zone": "eu-west-1a"}],
            },
        },
    )
    set_path(full_spec, "spec.network.natGateways", DELETE)
    problems = _problems(full_spec)
    assert "spec.network.vpc.subnets.private[1].zone" in problems
    assert "listed twice" in problems["spec.network.vpc.subnets.public[0].id"]


def test_a_pruned_field_causes_no_spurious_rule(full_spec: dict[str, Any]) -> None:
    # The VPC CIDR is malformed; its default must not be compared with the pod CIDR.
    set_path(full_spec, "spec.network.vpc.cidr", "10.99.0.1/16")
    set_path(full_spec, "spec.network.podCidr", "10.0.0.0/16")
    problems = _problems(full_spec)
    assert list(problems) == ["spec.network.vpc.cidr"]
    assert "host bits" in problems["spec.network.vpc.cidr"]


def test_nodes_all_tainted_against_the_system_workloads_are_refused(full_spec: dict[str, Any]) -> None:
    system = full_spec["spec"]["nodeGroups"][1]
    system["taints"] = [{"key": "team", "value": "infra", "effect": "NoExecute"}]
    problems = _problems(full_spec)
    assert list(problems) == ["spec.nodeGroups"]
    message = problems["spec.nodeGroups"]
    assert message.startswith(
        "no node group can run the system workloads (CoreDNS, calico-kube-controllers, ebs-csi, metrics-server)"
    )
    assert "workers: dedicated=db:NoSchedule; system: team=infra:NoExecute" in message
    assert "Add a node group without taints, or one tainted only {key: CriticalAddonsOnly" in message


@pytest.mark.parametrize(
    "taints",
    [
        [],
        [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}],
        [{"key": "CriticalAddonsOnly", "effect": "NoExecute"}, {"key": "spot", "effect": "PreferNoSchedule"}],
    ],
    ids=["untainted", "critical-addons-only", "critical-and-a-preference"],
)
def test_one_group_the_system_workloads_tolerate_is_enough(full_spec: dict[str, Any], taints: list[Any]) -> None:
    full_spec["spec"]["nodeGroups"][1]["taints"] = taints
    _validate(full_spec)


def test_a_system_capable_group_without_nodes_does_not_count(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.nodeGroups[1].desiredSize", 0)
    set_path(full_spec, "spec.nodeGroups[1].minSize", 0)
    assert "no node group can run the system workloads" in _problems(full_spec)["spec.nodeGroups"]


@pytest.mark.parametrize(
    ("running", "wanted", "expected"),
    [
        ("1.34", "1.34", None),
        ("1.34", "1.35", None),
        ("1.34", "1.36", "1.34 → 1.36 skips a minor version: EKS upgrades one minor at a time. Set 1.35 first"),
        ("1.35", "1.34", "1.34 is older than 1.35, the version the cluster runs: EKS cannot downgrade"),
    ],
)
def test_a_control_plane_moves_one_minor_at_a_time_and_never_back(
    running: str, wanted: str, expected: str | None
) -> None:
    from clusterdrop.spec.validate import upgrade_problem

    problem = upgrade_problem(running, wanted)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert problem.path == "spec.kubernetesVersion"
        assert problem.message.startswith(expected)


def test_whether_the_spec_names_its_version_is_kept(full_spec: dict[str, Any]) -> None:
    assert load_spec(yaml.safe_dump(full_spec).encode()).version_given is True
    set_path(full_spec, "spec.kubernetesVersion", DELETE)
    loaded = load_spec(yaml.safe_dump(full_spec).encode())
    assert loaded.version_given is False
    assert loaded.cluster.spec.kubernetes_version == facts.DEFAULT_KUBERNETES_VERSION


def test_node_group_tags_and_update_config_are_checked(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.nodeGroups[0].tags", {"clusterdrop:x": "y", "ok": "fine"})
    set_path(full_spec, "spec.nodeGroups[0].updateConfig", {"maxUnavailable": 2, "maxUnavailablePercentage": 50})
    set_path(full_spec, "spec.nodeGroups[1].updateConfig", {})
    problems = _problems(full_spec)
    assert problems["spec.nodeGroups[0].tags.clusterdrop:x"] == (
        "tag keys starting with 'clusterdrop:' are set by clusterdrop itself"
    )
    assert (
        problems["spec.nodeGroups[0].updateConfig"] == "set exactly one of maxUnavailable and maxUnavailablePercentage"
    )
    assert (
        problems["spec.nodeGroups[1].updateConfig"] == "set exactly one of maxUnavailable and maxUnavailablePercentage"
    )
    set_path(full_spec, "spec.nodeGroups[0].tags", {f"k{i}": "v" for i in range(40)})  # 41 with metadata's team
    del full_spec["spec"]["nodeGroups"][0]["updateConfig"]
    del full_spec["spec"]["nodeGroups"][1]["updateConfig"]
    assert _problems(full_spec) == {"spec.nodeGroups[0].tags": "41 tags with metadata.tags; at most 40 on a resource"}


def test_broken_required_fields_hide_no_other_problem(full_spec: dict[str, Any]) -> None:
    # A bad name, a missing region, a group without its required sizes and types: the rules that
    # do not depend on them still run (a duplicate group, sizes out of order, NAT), each reported once.
    set_path(full_spec, "metadata.name", "Bad_Name")
    set_path(full_spec, "spec.region", DELETE)
    set_path(full_spec, "spec.nodeGroups[0].desiredSize", DELETE)
    set_path(full_spec, "spec.nodeGroups[0].instanceTypes", "t3.medium")
    set_path(full_spec, "spec.nodeGroups[0].minSize", 5)
    set_path(full_spec, "spec.nodeGroups[0].maxSize", 1)
    full_spec["spec"]["nodeGroups"].append({"name": full_spec["spec"]["nodeGroups"][0]["name"], "desiredSize": 1})
    set_path(full_spec, "spec.network.natGateways", "none")
    problems = _problems(full_spec)
    assert problems["spec.region"] == "required field is missing"
    assert problems["spec.nodeGroups[0].instanceTypes"] == "write a list, even of one: [t3.medium]"
    assert problems["spec.nodeGroups[0].maxSize"] == "maxSize (1) is less than minSize (5)"
    assert "duplicate" in problems[f"spec.nodeGroups[{len(full_spec['spec']['nodeGroups']) - 1}].name"]
    assert "NAT" in problems["spec.network.natGateways"]
    # The stand-in region is never compared with the spec's zones.
    assert not any("zone" in path for path in problems)


def test_values_outside_a_set_are_answered_by_name(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.cni.name", "Calico")
    set_path(full_spec, "spec.nodeGroups[0].capacityType", "reserved")
    problems = _problems(full_spec)
    assert problems["spec.cni.name"] == "'Calico' is not allowed; did you mean 'calico'?"
    assert problems["spec.nodeGroups[0].capacityType"] == "'reserved' is not allowed; use one of: on-demand, spot"
    set_path(full_spec, "spec.cni.name", "Weave")
    weave = _problems(full_spec)["spec.cni.name"]
    assert "no longer maintained" in weave
    assert "calico" in weave
    assert "flannel" not in weave  # flannel cannot run on EKS either


def test_a_field_in_the_wrong_place_is_sent_home(full_spec: dict[str, Any]) -> None:
    full_spec["metadata"]["region"] = full_spec["spec"].pop("region")
    problems = _problems(full_spec)
    assert problems["metadata.region"] == "unknown field 'region'; it belongs at spec.region"


def test_references_are_validated_for_their_shape_offline_and_their_rules_wait(full_spec: dict[str, Any]) -> None:
    from clusterdrop.spec import references

    set_path(full_spec, "spec.network.vpc", {"cidr": {"fromSsm": "/clusterdrop/net/cidr"}})
    set_path(full_spec, "spec.controlPlane.adminCidrs", [{"fromExport": "office-cidr"}, "198.51.100.0/24"])
    # The pod CIDR would overlap the stand-in for the VPC CIDR; the rule waits for the real value.
    set_path(full_spec, "spec.network.podCidr", "10.4.0.0/16")
    loaded = load_spec(yaml.safe_dump(full_spec).encode())
    assert loaded.resolved is None
    assert [(r.kind, r.name, r.many) for r in loaded.references] == [
        ("fromExport", "office-cidr", False),
        ("fromSsm", "/clusterdrop/net/cidr", False),
    ]
    assert "spec.network.vpc.cidr ← SSM parameter /clusterdrop/net/cidr (resolved at Validate spec" in "\n".join(
        loaded.reference_lines()
    )
    # Resolved, the same spec is checked whole: the overlap is reported.
    values = {r.path: "10.4.0.0/16" if r.kind == "fromSsm" else "203.0.113.0/24" for r in loaded.references}
    with pytest.raises(SpecInvalid) as info:
        load_spec(yaml.safe_dump(full_spec).encode(), resolve=lambda refs: values)
    assert "overlaps spec.network.vpc.cidr" in str(info.value)
    # Where no reference is taken, or a malformed one, is named.
    bad = copy.deepcopy(full_spec)
    set_path(bad, "metadata.name", {"fromSsm": "/x"})
    set_path(bad, "spec.network.serviceCidr", {"fromSsm": "no spaces allowed"})
    with pytest.raises(SpecInvalid) as info:
        references.find(bad)
    problems = {p.path: p.message for p in info.value.problems}
    assert problems["metadata.name"].startswith(
        "a reference (fromSsm) is not taken here; it is taken at spec.network.vpc.id"
    )
    assert problems["spec.network.serviceCidr"] == "'no spaces allowed' is not a valid SSM parameter name"


AUTO = (REPO / "examples" / "auto-mode.yaml").read_text()


def test_auto_mode_needs_no_node_groups_and_defaults_to_both_built_in_pools() -> None:
    data = yaml.safe_load(AUTO)
    del data["spec"]["nodePools"]
    spec = _validate(data).spec
    assert (spec.compute_mode, spec.node_groups, spec.node_pools) == ("auto", [], ["general-purpose", "system"])
    assert spec.cni.version is None  # EKS Auto Mode's own VPC CNI
    # Without Auto Mode and node groups: a control plane alone (as eksctl creates one); no node pools.
    del data["spec"]["computeMode"]
    data["spec"].pop("addons", None)
    assert _validate(data).spec.node_groups == []
    data["spec"]["nodePools"] = ["system"]
    assert "spec.nodePools" in _problems(data)


def test_a_control_plane_alone_refuses_what_would_wait_for_nodes_forever() -> None:
    data = yaml.safe_load((REPO / "examples" / "calico-ha.yaml").read_text())
    for group in data["spec"]["nodeGroups"]:  # groups scaled to nothing: no nodes either
        group["desiredSize"] = 0
        group.pop("minSize", None)
    data["spec"]["addons"] = ["pod-identity-agent", "metrics-server"]
    problems = _problems(data)
    assert "calico's controllers run on nodes and the cluster has no nodes" in problems["spec.cni.name"]
    assert "metrics-server runs on nodes" in problems["spec.addons[1]"]
    assert "spec.addons[0]" not in problems  # the Pod Identity agent is a DaemonSet: no pods yet, no wait
    data["spec"]["nodeGroups"][0]["desiredSize"] = 1
    assert "spec.cni.name" not in _problems(data)


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"cni": {"name": "calico"}}, "spec.cni.name", "runs the AWS VPC CNI"),
        ({"cni": {"name": "aws-vpc-cni", "version": "v1.23.1"}}, "spec.cni", "leave out its version"),
        ({"network": {"podCidr": "10.64.0.0/16"}}, "spec.network.podCidr", "VPC addresses"),
        ({"addons": ["ebs-csi"]}, "spec.addons[0]", "block storage"),
        ({"addons": ["metrics-server", "pod-identity-agent"]}, "spec.addons[1]", "Pod Identity agent"),
        (
            {"nodeGroups": [{"name": "a", "instanceTypes": ["m5.large"], "desiredSize": 1}]},
            "spec.nodeGroups",
            "node pools",
        ),
    ],
)
def test_auto_mode_refuses_what_eks_runs_itself(change: dict[str, Any], path: str, words: str) -> None:
    data = yaml.safe_load(AUTO)
    data["spec"].update(change)
    problems = _problems(data)
    assert words in problems[path], problems


def test_an_add_on_version_is_pinned_only_for_an_add_on_the_cluster_runs(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.addonVersions", {"coredns": "v1.12.2-eksbuild.1", "metrics-server": "v0.7.2-eksbuild.1"})
    assert _validate(copy.deepcopy(full_spec)).spec.addon_versions["coredns"] == "v1.12.2-eksbuild.1"
    set_path(full_spec, "spec.addons", [])
    assert _problems(copy.deepcopy(full_spec)) == {
        "spec.addonVersions.metrics-server": "the cluster has no metrics-server add-on to pin (add it to spec.addons)"
    }
    set_path(full_spec, "spec.addonVersions", {"coredns": "1.12"})
    assert "an EKS add-on version such as v1.12.2-eksbuild.1" in _problems(full_spec)["spec.addonVersions.coredns"]


# --- CNI releases and the Kubernetes versions their makers test them on -------------------------


@pytest.mark.parametrize(
    ("name", "kubernetes", "pinned", "running", "expected"),
    [
        ("cilium", "1.33", None, None, "1.19.6"),  # both tested: the newest
        ("cilium", "1.33", None, "1.18.12", "1.18.12"),  # a running release tested there stays
        ("cilium", "1.34", None, "1.18.12", "1.19.6"),  # 1.18 is not tested on 1.34; 1.19 is
        ("cilium", "1.36", None, "1.18.12", "1.18.12"),  # none is tested on 1.36: nothing better to move to
        ("cilium", "1.34", None, "1.17.0", "1.19.6"),  # no longer in the catalog
        ("cilium", "1.34", "1.18.12", None, "1.18.12"),  # a pin is a pin (checked by pin_problem)
        ("calico", "1.33", None, None, "v3.32.1"),  # the one release, tested or not
        ("flannel", "1.33", None, "v0.28.9", "v0.28.9"),  # flannel publishes no tested versions
    ],
)
def test_the_cni_release_follows_the_kubernetes_versions_its_makers_test(
    name: str, kubernetes: str, pinned: str | None, running: str | None, expected: str
) -> None:
    from clusterdrop.cni import catalog

    chosen = catalog.choose(name, kubernetes, pinned=pinned, running=running)
    assert chosen is not None
    assert chosen.version == expected


def test_a_pinned_cni_release_not_tested_on_the_version_is_refused_when_another_is(
    full_spec: dict[str, Any],
) -> None:
    from clusterdrop.cni import catalog

    set_path(full_spec, "spec.cni", {"name": "cilium", "version": "1.18.12", "mode": "overlay"})
    set_path(full_spec, "spec.nodeGroups[0].taints", [])  # a group Cilium's operator can run on
    set_path(full_spec, "spec.kubernetesVersion", "1.34")
    problems = _problems(full_spec)
    assert problems["spec.cni.version"].startswith(
        "cilium 1.18.12 is tested by its makers on Kubernetes 1.30 to 1.33 "
        "(https://docs.cilium.io/en/v1.18/network/kubernetes/compatibility/), not on 1.34; cilium 1.19.6 is"
    )
    set_path(full_spec, "spec.kubernetesVersion", "1.33")
    assert _validate(full_spec).spec.cni.version == "1.18.12"
    # Nothing in the catalog is tested on 1.36: a pin there is warned about, not refused.
    set_path(full_spec, "spec.kubernetesVersion", "1.36")
    assert _validate(full_spec).spec.cni.version == "1.18.12"
    warning = catalog.untested("cilium", "1.18.12", "1.36")
    assert warning is not None
    assert "no release in clusterdrop's catalog is: it runs untested" in warning
    assert catalog.untested("cilium", "1.19.6", "1.35") is None
    assert catalog.untested("flannel", "v0.28.9", "1.36") is None


def test_an_unpinned_cni_takes_the_newest_release_tested_on_the_version(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.cni", {"name": "cilium", "mode": "overlay"})
    set_path(full_spec, "spec.nodeGroups[0].taints", [])  # a group Cilium's operator can run on
    loaded = load_spec(yaml.safe_dump(full_spec).encode())
    assert loaded.cni_version_given is False
    assert loaded.cluster.spec.cni.version == "1.19.6"
    set_path(full_spec, "spec.cni.version", "1.19.6")
    assert load_spec(yaml.safe_dump(full_spec).encode()).cni_version_given is True


def test_validate_warns_of_a_cni_release_untested_on_the_version(tmp_path: Path) -> None:
    import io
    import json

    from clusterdrop.cli import main

    out = io.StringIO()
    older = tmp_path / "calico-on-1.33.yaml"  # Calico 3.32 is tested on 1.34 to 1.36
    older.write_text((REPO / "examples" / "calico-ha.yaml").read_text().replace('"1.35"', '"1.33"', 1))
    files = [str(older), str(REPO / "examples" / "cilium.yaml")]
    assert main(["validate", "--json", *files], out=out, err=io.StringIO()) == 0
    results = {r["cluster"]: r["warnings"] for r in json.loads(out.getvalue())["files"]}
    assert any(w.startswith("calico v3.32.1 is not tested by its makers on Kubernetes 1.33") for w in results["demo"])
    assert not any("not tested by its makers" in w for w in results["cilium"])


def test_cilium_needs_a_node_group_its_operator_tolerates(full_spec: dict[str, Any]) -> None:
    """Cilium's chart gives its operator no toleration for CriticalAddonsOnly (unlike CoreDNS)."""
    set_path(full_spec, "spec.cni", {"name": "cilium", "mode": "overlay"})
    taint = [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}]
    for i in range(len(full_spec["spec"]["nodeGroups"])):
        set_path(full_spec, f"spec.nodeGroups[{i}].taints", taint)
    problems = _problems(full_spec)
    assert problems["spec.nodeGroups"].startswith("no node group can run Cilium's operator")
    set_path(full_spec, "spec.cni", {"name": "calico"})
    assert _validate(full_spec).spec.cni.name == "calico"  # Calico's workloads tolerate the taint


@pytest.mark.parametrize(
    ("group_version", "problem"),
    [
        ("1.35", None),  # the control plane's
        ("1.34", None),  # the minor before: held back while the control plane upgrades
        ("1.33", "1.33 is not the control plane's 1.35 or the minor before it (1.34)"),
        ("1.36", "1.36 is not the control plane's 1.35 or the minor before it (1.34)"),
    ],
)
def test_a_node_group_may_stay_one_minor_behind_its_control_plane(
    full_spec: dict[str, Any], group_version: str, problem: str | None
) -> None:
    set_path(full_spec, "spec.kubernetesVersion", "1.35")
    set_path(full_spec, "spec.nodeGroups[0].kubernetesVersion", group_version)
    if problem is None:
        assert _validate(full_spec).spec.node_groups[0].kubernetes_version == group_version
    else:
        assert _problems(full_spec)["spec.nodeGroups[0].kubernetesVersion"].startswith(problem)


def test_a_node_group_is_never_taken_back_to_an_older_version(full_spec: dict[str, Any]) -> None:
    from clusterdrop.steps.planning import _node_group_downgrades

    set_path(full_spec, "spec.kubernetesVersion", "1.35")
    set_path(full_spec, "spec.nodeGroups[0].kubernetesVersion", "1.34")
    cluster = _validate(full_spec)
    name = cluster.spec.node_groups[0].name
    (problem,) = _node_group_downgrades(cluster, {name: "1.35"})
    assert problem.path == "spec.nodeGroups[0].kubernetesVersion"
    assert problem.message == f"node group {name} runs 1.35: EKS cannot take a node group back to 1.34"
    assert _node_group_downgrades(cluster, {name: "1.34"}) == []  # held where it is


@pytest.mark.parametrize("path", [*EXAMPLES, REPO / "examples" / "kops" / "classic-ha.yaml"], ids=lambda p: str(p.name))
def test_every_example_runs_a_version_in_standard_support_with_a_tested_cni(path: Path) -> None:
    """What a newcomer copies runs at the standard price, with a CNI its makers test there — on the
    day the calendar was checked, not today's clock."""
    from clusterdrop import facts
    from clusterdrop.cni import catalog

    spec = load_spec(path.read_bytes()).cluster.spec
    version = spec.kubernetes_version or facts.DEFAULT_KUBERNETES_VERSION
    assert facts.in_standard_support(version, facts.CALENDAR_CHECKED), version
    if spec.cni.name != "aws-vpc-cni":
        assert catalog.untested(spec.cni.name, spec.cni.release().version, version) is None
