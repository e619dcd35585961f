"""kops files in: every value of a kops Cluster and its InstanceGroups carried to the native
spec, said, or refused by its kops path and line — never dropped silently."""

from __future__ import annotations

import contextlib
import copy
import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterdrop.cli import main
from clusterdrop.errors import SpecInvalid, UnsupportedFields
from clusterdrop.spec import kops
from clusterdrop.spec.importer import Conversion
from clusterdrop.spec.loader import load
from clusterdrop.spec.source import load_spec
from tests.conftest import FIXTURES, REPO

CLASSIC = REPO / "examples" / "kops" / "classic-ha.yaml"
KOPS_FIXTURES = sorted((FIXTURES / "kops").glob("*.yaml"))


def _documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def _dump(documents: list[dict[str, Any]]) -> bytes:
    return yaml.safe_dump_all(documents, sort_keys=False).encode()


def _convert(raw: bytes, **kwargs: Any) -> Conversion:
    return kops.convert(load(raw), **kwargs)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list) and value:
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))]
    return [path]


def _resolve(spec: dict[str, Any], target: str) -> bool:
    """Whether the native path a row names (`spec.nodeGroups[0].zones`, `[*]` any item) is there."""
    head = target.split(" ")[0].split(":")[0].rstrip(",")
    parts = [p for p in re.split(r"\.|(\[[^\]]+\])", head) if p]
    nodes = [spec]
    for part in parts:
        found = []
        for node in nodes:
            if part == "[*]" and isinstance(node, list):
                found += node
            elif part.startswith("[") and isinstance(node, list):
                index = int(part[1:-1])
                found += [node[index]] if index < len(node) else []
            elif isinstance(node, dict) and part in node:
                found.append(node[part])
        nodes = found
    return bool(nodes)


def _accounted(raw: bytes, conversion: Conversion) -> None:
    """Every leaf of every document lies under a row of the table; every carried row's target
    is in the converted spec; every refusal has a line."""
    documents = [d for d in yaml.safe_load_all(raw.decode()) if d is not None]
    rows = conversion.table
    for index, document in enumerate(documents):
        for leaf in _leaves(document):
            if leaf in (("apiVersion",), ("kind",)):
                continue
            covering = [r for r in rows if r.document == index and leaf[: len(r.path)] == r.path]
            assert covering, f"document {index}: {leaf} is in no row of the table"
    for row in rows:
        if row.outcome == "carried" and conversion.spec:
            assert _resolve(conversion.spec, row.detail), f"{row.source} carried to {row.detail}, not in the spec"
        if row.outcome == "refused":
            assert row.line is not None, row.source
    assert len(conversion.unsupported) == len([r for r in rows if r.outcome == "refused"])


@pytest.mark.parametrize("path", KOPS_FIXTURES, ids=lambda p: p.name)
def test_every_kops_fixture_is_accounted_for_value_by_value(path: Path) -> None:
    raw = path.read_bytes()
    conversion = _convert(raw)
    _accounted(raw, conversion)
    # kops's test files sit in its test region (us-test-1), which no AWS region is: refused by
    # the subnet's zone and line, never turned into a region of clusterdrop's choosing.
    zones = [p for p in conversion.unsupported if p.path.endswith(".zone")]
    assert zones
    assert all("not an availability zone" in p.message or "needs its" in p.message for p in zones)
    assert "region" not in conversion.spec.get("spec", {})
    with pytest.raises(UnsupportedFields):
        load_spec(raw)


def test_the_classic_ha_file_converts_whole_and_validates() -> None:
    raw = CLASSIC.read_bytes()
    conversion = _convert(raw)
    assert conversion.unsupported == []
    _accounted(raw, conversion)
    spec = conversion.spec["spec"]
    assert conversion.spec["metadata"] == {"name": "classic"}
    assert spec["region"] == "eu-west-1"
    assert spec["kubernetesVersion"] == "1.35"
    assert spec["network"]["topology"] == "private"
    assert spec["network"]["zones"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    vpc = spec["network"]["vpc"]
    assert vpc["id"] == "vpc-0a1b2c3d4e5f60718"
    assert [s["zone"] for s in vpc["subnets"]["private"]] == spec["network"]["zones"]
    assert len(vpc["subnets"]["public"]) == 3
    assert "natGateways" not in spec["network"]  # the user's NAT gateways, left alone
    assert spec["cni"] == {"name": "calico"}
    [group] = spec["nodeGroups"]
    assert group == {
        "name": "nodes",
        "instanceTypes": ["t2.medium"],
        "minSize": 3,
        "desiredSize": 3,
        "maxSize": 3,
        "sshKeyName": "ops",
    }
    said = {r.source: r.detail for r in conversion.table if r.outcome == "said"}
    assert "EKS runs the control plane" in said["InstanceGroup/control-plane-eu-west-1b"]
    assert "EKS runs etcd" in said["spec.etcdClusters"]
    assert any("classic.example.com is a DNS name" in n for n in conversion.notes)
    loaded = load_spec(raw)
    assert loaded.source_format == "kops"
    assert loaded.cluster.spec.network.vpc.id == "vpc-0a1b2c3d4e5f60718"


def test_the_same_file_as_v1alpha3_and_with_a_kops_banner() -> None:
    documents = _documents(CLASSIC.read_text())
    cluster = documents[0]
    cluster["apiVersion"] = "kops.k8s.io/v1alpha3"
    spec = cluster["spec"]
    cni = spec.pop("networking")
    spec["networking"] = {
        **{k: spec.pop(k) for k in ("networkID", "networkCIDR", "subnets", "topology", "nonMasqueradeCIDR")},
        **cni,
    }
    spec["api"]["access"] = spec.pop("kubernetesApiAccess")
    for group in documents[1:]:
        group["apiVersion"] = "kops.k8s.io/v1alpha3"
        group["spec"]["role"] = "ControlPlane" if group["spec"]["role"] == "Master" else "Node"
    banner = b"// kops get cluster --full\n// the defaults filled in\n"
    raw = banner + _dump(documents)
    conversion = _convert(raw)
    assert conversion.unsupported == []
    _accounted(raw[len(banner) :], _convert(_dump(documents)))
    assert conversion.spec == _convert(CLASSIC.read_bytes()).spec


def test_refusals_name_the_kops_path_and_line() -> None:
    documents = _documents(CLASSIC.read_text())
    documents[0]["spec"]["networking"] = {"weave": {}}
    documents[0]["spec"]["kubeAPIServer"] = {"auditLogMaxAge": 10}
    documents[-1]["spec"]["additionalUserData"] = [{"name": "x.sh", "content": "echo"}]
    bastion = copy.deepcopy(documents[-1])
    bastion["metadata"]["name"] = "bastions"
    bastion["spec"]["role"] = "Bastion"
    raw = _dump([*documents, bastion])
    conversion = _convert(raw)
    _accounted(raw, conversion)
    lines = raw.decode().splitlines()
    refused = {p.path: p for p in conversion.unsupported}
    assert set(refused) == {
        "spec.networking.weave",
        "spec.kubeAPIServer",
        "InstanceGroup/nodes/spec.additionalUserData",
        "InstanceGroup/bastions",
    }
    assert "Weave Net is no longer maintained" in refused["spec.networking.weave"].message
    assert "flannel" not in refused["spec.networking.weave"].message  # flannel cannot run on EKS either
    assert "SSM Session Manager" in refused["InstanceGroup/bastions"].message
    for problem in conversion.unsupported:
        assert problem.line is not None
        word = {"InstanceGroup/bastions": "role"}.get(problem.path, problem.path.rsplit(".", 1)[-1])
        assert word in lines[problem.line - 1], (problem.path, lines[problem.line - 1])
    with pytest.raises(UnsupportedFields):
        load_spec(raw)
    # --allow-partial: the refused are dropped, said, and the rest still converts.
    partial = load_spec(raw, allow_partial=True)
    assert partial.cluster.spec.cni.name == "aws-vpc-cni"
    assert [p.path for p in partial.dropped] == [p.path for p in conversion.unsupported]


@pytest.mark.parametrize(
    ("networking", "reason"),
    [
        ("flannel", "EKS assigns no pod CIDRs"),
        ("canal", "flannel needs node pod CIDRs"),
        ("kubenet", "route tables"),
        ("kuberouter", "kube-router"),
        ("kindnet", "kind's minimal CNI"),
        ("cni", "install a CNI yourself"),
    ],
)
def test_each_cni_eks_cannot_run_is_refused_with_its_reason(networking: str, reason: str) -> None:
    documents = _documents(CLASSIC.read_text())
    documents[0]["spec"]["networking"] = {networking: {}}
    [problem] = _convert(_dump(documents)).unsupported
    assert problem.path == f"spec.networking.{networking}"
    assert reason in problem.message


@pytest.mark.parametrize(
    ("networking", "cni"),
    [
        ({"amazonvpc": {}}, {"name": "aws-vpc-cni"}),
        ({"cilium": {"ipam": "eni"}}, {"name": "cilium", "mode": "eni"}),
        ({"cilium": {"enableNodePort": True}}, {"name": "cilium", "mode": "overlay", "kubeProxyReplacement": True}),
    ],
)
def test_the_cnis_eks_runs_carry_their_options(networking: dict[str, Any], cni: dict[str, Any]) -> None:
    documents = _documents(CLASSIC.read_text())
    documents[0]["spec"]["networking"] = networking
    conversion = _convert(_dump(documents))
    assert conversion.unsupported == []
    assert conversion.spec["spec"]["cni"] == cni


def test_a_node_group_carries_labels_taints_volume_spot_and_its_image() -> None:
    documents = _documents(CLASSIC.read_text())
    documents.append(copy.deepcopy(documents[-1]))
    documents[-1]["metadata"]["name"] = "system"  # untainted: CoreDNS and Calico's controllers run there
    nodes = documents[-2]["spec"]
    nodes.update(
        subnets=["eu-west-1a", "eu-west-1b"],
        nodeLabels={"team": "batch", "kops.k8s.io/instancegroup": "nodes"},
        taints=["dedicated=batch:NoSchedule", "spot:PreferNoSchedule"],
        cloudLabels={"cost-center": "4711"},
        rootVolumeSize=120,
        rootVolumeType="gp3",
        rootVolumeIops=4000,
        rootVolumeEncryption=True,
        image="amazon/bottlerocket-aws-k8s-1.34-x86_64-v1.50.0",
        mixedInstancesPolicy={"instances": ["m6i.large", "m5.large"], "onDemandAboveBase": 0, "onDemandBase": 0},
        maxPrice="0.05",
    )
    raw = _dump(documents)
    conversion = _convert(raw)
    assert conversion.unsupported == []
    _accounted(raw, conversion)
    group, _system = conversion.spec["spec"]["nodeGroups"]
    assert group["zones"] == ["eu-west-1a", "eu-west-1b"]
    assert group["labels"] == {"team": "batch"}
    assert group["taints"] == [
        {"key": "dedicated", "effect": "NoSchedule", "value": "batch"},
        {"key": "spot", "effect": "PreferNoSchedule"},
    ]
    assert group["tags"] == {"cost-center": "4711"}
    assert group["diskSizeGiB"] == 120
    assert group["volume"] == {"type": "gp3", "iops": 4000, "encrypted": True}
    assert group["amiFamily"] == "bottlerocket"
    assert group["instanceTypes"] == ["m6i.large", "m5.large"]
    assert group["capacityType"] == "spot"
    assert load_spec(raw).cluster.spec.node_groups[0].capacity_type == "spot"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"taints": ["dedicated=batch"]}, "InstanceGroup/nodes/spec.taints[0]"),
        ({"mixedInstancesPolicy": {"instances": ["m5.large"], "onDemandAboveBase": 20}},
         "InstanceGroup/nodes/spec.mixedInstancesPolicy.onDemandAboveBase"),
        ({"subnets": ["eu-west-1a", "utility-eu-west-1b"]}, "InstanceGroup/nodes/spec.subnets"),
        ({"subnets": ["eu-west-9z"]}, "InstanceGroup/nodes/spec.subnets[0]"),
        ({"instanceMetadata": {"httpTokens": "optional"}}, "InstanceGroup/nodes/spec.instanceMetadata.httpTokens"),
    ],
)  # fmt: skip
def test_what_a_node_group_cannot_be_is_refused_by_path(change: dict[str, Any], path: str) -> None:
    documents = _documents(CLASSIC.read_text())
    documents[-1]["spec"].update(change)
    conversion = _convert(_dump(documents))
    assert [p.path for p in conversion.unsupported] == [path]


def test_a_new_vpc_gets_the_cidr_and_a_nat_gateway_per_zone() -> None:
    documents = _documents(CLASSIC.read_text())
    spec = documents[0]["spec"]
    del spec["networkID"]
    for subnet in spec["subnets"]:
        del subnet["id"]
        subnet.pop("egress", None)
    raw = _dump(documents)
    conversion = _convert(raw)
    assert conversion.unsupported == []
    _accounted(raw, conversion)
    network = conversion.spec["spec"]["network"]
    assert network["vpc"] == {"cidr": "10.60.0.0/16"}
    assert network["natGateways"] == "per-zone"
    # An existing VPC's subnets without ids: kops would make them; clusterdrop takes existing ones.
    spec["networkID"] = "vpc-0a1b2c3d4e5f60718"
    refused = _convert(_dump(documents)).unsupported
    assert {p.path for p in refused} == {f"spec.subnets[{i}].id" for i in range(6)}


def test_references_take_the_vpc_from_where_the_iac_publishes_it() -> None:
    spec = kops.with_references(_convert(CLASSIC.read_bytes()).spec, "ssm:/clusterdrop/network/classic/")
    vpc = spec["spec"]["network"]["vpc"]
    assert vpc["id"] == {"fromSsm": "/clusterdrop/network/classic/vpc-id"}
    assert vpc["subnets"]["private"] == {"fromSsm": "/clusterdrop/network/classic/private-subnet-ids"}
    assert load_spec(yaml.safe_dump(spec).encode()).references
    exported = kops.with_references(_convert(CLASSIC.read_bytes()).spec, "export:classic-network-")
    assert exported["spec"]["network"]["vpc"]["subnets"]["public"] == {"fromExport": "classic-network-PublicSubnetIds"}
    with pytest.raises(ValueError, match="ssm:/PREFIX/"):
        kops.with_references(_convert(CLASSIC.read_bytes()).spec, "consul:/x")


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_convert_prints_the_spec_and_the_table(tmp_path: Path) -> None:
    code, out, err = _cli("convert", str(CLASSIC), "--name", "payments-eu")
    assert code == 0
    assert yaml.safe_load(out)["metadata"]["name"] == "payments-eu"
    assert "What each field became" in err
    assert re.search(r"spec\.networkID:\d+ → spec\.network\.vpc\.id", err)
    assert re.search(r"InstanceGroup/control-plane-eu-west-1a:\d+ · EKS runs the control plane", err)
    code, out, err = _cli("convert", str(CLASSIC), "--references", "ssm:/clusterdrop/network/classic/", "--no-table")
    assert code == 0
    assert "What each field" not in err
    assert yaml.safe_load(out)["spec"]["network"]["vpc"]["id"] == {"fromSsm": "/clusterdrop/network/classic/vpc-id"}
    code, out, err = _cli("convert", str(FIXTURES / "kops" / "privateflannel.yaml"), "--no-table")
    assert code == 1
    assert out == ""
    assert "privateflannel.yaml:32:5: spec.networking.flannel: flannel does not work on EKS" in err
    code, _, err = _cli("validate", str(CLASSIC))
    assert code == 0
    code, _, err = _cli("convert", str(CLASSIC), "--references", "nope")
    assert code == 2
    assert "ssm:/PREFIX/" in err


def test_a_weave_spec_is_not_told_to_use_flannel() -> None:
    spec = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    spec["spec"]["cni"] = {"name": "weave"}
    with pytest.raises(SpecInvalid) as info:
        load_spec(yaml.safe_dump(spec).encode())
    [problem] = info.value.problems
    assert "Weave Net is no longer maintained" in problem.message
    assert "flannel" not in problem.message


def test_the_docs_show_the_converters_own_table() -> None:
    page = (REPO / "docs" / "reference" / "kops.md").read_text()
    for field, becomes in kops.mapping_table():
        assert f"| `{field}` | {becomes} |" in page, field


# --- generated kops files ---------------------------------------------------------------

_scalar = st.one_of(st.booleans(), st.integers(-5, 500), st.text("abcz-./:=0123456789", max_size=12), st.none())
_value = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("abcdefg", min_size=1, max_size=6), inner,
                                                                max_size=3),
    max_leaves=6,
)  # fmt: skip
_CLUSTER_KEYS = [
    "kubernetesVersion", "networkID", "networkCIDR", "subnets", "topology", "api", "kubernetesApiAccess",
    "sshAccess", "sshKeyName", "networking", "etcdClusters", "iam", "additionalPolicies", "cloudLabels", "kubelet",
    "kubeAPIServer", "authorization", "authentication", "certManager", "nodeTerminationHandler", "cloudConfig",
    "metricsServer", "podCIDR", "somethingNew",
]  # fmt: skip
_GROUP_KEYS = [
    "role", "machineType", "minSize", "maxSize", "subnets", "zones", "image", "nodeLabels", "taints", "cloudLabels",
    "rootVolumeSize", "rootVolumeType", "rootVolumeEncryption", "mixedInstancesPolicy", "maxPrice",
    "instanceMetadata", "additionalUserData", "manager", "somethingNew",
]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cluster=st.dictionaries(st.sampled_from(_CLUSTER_KEYS), _value, max_size=8),
    groups=st.lists(st.dictionaries(st.sampled_from(_GROUP_KEYS), _value, max_size=8), max_size=3),
    base=st.booleans(),
)
def test_generated_kops_files_never_crash_and_never_drop_a_value(
    cluster: dict[str, Any], groups: list[dict[str, Any]], base: bool
) -> None:
    bare: dict[str, Any] = {"apiVersion": "kops.k8s.io/v1alpha2", "kind": "Cluster", "metadata": {"name": "g.io"}}
    documents = _documents(CLASSIC.read_text()) if base else [{**bare, "spec": {}}]
    documents[0]["spec"].update(cluster)
    for i, group in enumerate(groups):
        documents.append(
            {
                "apiVersion": "kops.k8s.io/v1alpha2",
                "kind": "InstanceGroup",
                "metadata": {"name": f"g{i}"},
                "spec": group,
            }
        )
    raw = _dump(documents)
    conversion = _convert(raw)
    _accounted(raw, conversion)
    with contextlib.suppress(SpecInvalid, UnsupportedFields):  # a clear refusal is an answer; a crash is not
        load_spec(raw, allow_partial=True)


def test_plan_and_validate_say_the_conversions_notes_and_the_warnings(tmp_path: Path) -> None:
    from clusterdrop.cli.common import spec_warnings

    warnings = spec_warnings(load_spec(CLASSIC.read_bytes()).cluster.spec)
    code, _, err = _cli("plan", str(CLASSIC), "--out", str(tmp_path))
    assert code == 0
    assert f"{CLASSIC}: note: metadata.name: classic.example.com is a DNS name" in err
    assert all(f"{CLASSIC}: warning: {w}" in err for w in warnings)
    code, out, _ = _cli("validate", str(CLASSIC))
    assert code == 0
    assert "  note: spec.nodeGroups[0] (nodes): desiredSize 3, kops's minSize" in out
