"""What a cluster consumes of the account's service quotas, and whether it fits (pure)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from clusterdrop import quotas
from clusterdrop.render.cluster import zones
from clusterdrop.render.plan import make_plan
from clusterdrop.spec.loader import Document
from clusterdrop.spec.models import Cluster
from clusterdrop.spec.validate import validate
from tests.conftest import REPO


def _cluster(changes: dict[str, Any] | None = None, groups: list[dict[str, Any]] | None = None) -> Cluster:
    data: dict[str, Any] = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    data["spec"].setdefault("network", {}).update(changes or {})
    if groups is not None:
        data["spec"]["nodeGroups"] = groups
    return validate(Document(data=data, is_yaml=False))


def _needs(cluster: Cluster) -> dict[str, int]:
    plan = make_plan(cluster)
    labels = [z.label for z in zones(cluster)]
    return {n.key: n.amount for n in quotas.consumption(cluster, [s.template for s in plan.stacks], labels).needs}


@pytest.mark.parametrize(
    ("nat", "zone_names", "eips", "nat_zones"),
    [
        ("single", ["eu-west-1a", "eu-west-1b", "eu-west-1c"], 1, ["eu-west-1a"]),
        ("per-zone", ["eu-west-1a", "eu-west-1b", "eu-west-1c"], 3, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        ("per-zone", ["eu-west-1a", "eu-west-1b"], 2, ["eu-west-1a", "eu-west-1b"]),
        ("none", ["eu-west-1a", "eu-west-1b", "eu-west-1c"], 0, []),
    ],
)
def test_a_new_vpc_takes_a_vpc_a_gateway_and_an_address_per_nat_gateway(
    nat: str, zone_names: list[str], eips: int, nat_zones: list[str]
) -> None:
    topology = {"topology": "public"} if nat == "none" else {}
    needs = _needs(_cluster({"natGateways": nat, "zones": zone_names, **topology}))
    assert needs["vpcs"] == 1
    assert needs["internet-gateways"] == 1
    assert needs.get("elastic-ips", 0) == eips
    assert sorted(k.split("@")[1] for k in needs if k.startswith("nat-gateways@")) == nat_zones
    assert all(needs[f"nat-gateways@{z}"] == 1 for z in nat_zones)
    assert needs["clusters"] == 1


def test_the_counts_are_the_rendered_templates() -> None:
    """The arithmetic reads the templates: what they create is what is counted."""
    cluster = _cluster({"natGateways": "per-zone", "zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"]})
    totals = make_plan(cluster).totals()
    needs = _needs(cluster)
    assert needs["vpcs"] == totals["AWS::EC2::VPC"]
    assert needs["elastic-ips"] == totals["AWS::EC2::EIP"]
    assert sum(v for k, v in needs.items() if k.startswith("nat-gateways@")) == totals["AWS::EC2::NatGateway"]
    # The template's groups, the new VPC's default group and the cluster security group EKS makes.
    assert needs["security-groups"] == totals["AWS::EC2::SecurityGroup"] + 2


def test_an_existing_vpc_takes_no_network_quota() -> None:
    data: dict[str, Any] = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    data["spec"]["network"] = {
        "vpc": {
            "id": "vpc-0a1b2c3d4e5f60718",
            "subnets": {"private": [{"id": "subnet-0aa11bb22cc33dd44"}, {"id": "subnet-0bb22cc33dd44ee55"}]},
        },
        "zones": ["eu-west-1a", "eu-west-1b"],
    }
    needs = _needs(validate(Document(data=data, is_yaml=False)))
    assert not any(k in needs for k in ("vpcs", "internet-gateways", "elastic-ips"))
    assert not any(k.startswith("nat-gateways") for k in needs)
    assert needs["clusters"] == 1


@pytest.mark.parametrize(
    ("instance_types", "capacity", "key", "vcpus"),
    [
        (["t3.medium"], "on-demand", "vcpus-standard", 2),
        (["m5.2xlarge"], "on-demand", "vcpus-standard", 8),
        (["m6g.medium"], "on-demand", "vcpus-standard", 1),
        (["c6i.xlarge", "c6a.xlarge"], "spot", "spot-vcpus-standard", 4),
        (["g5.xlarge"], "on-demand", "vcpus-g-vt", 4),
        (["p3.8xlarge"], "spot", "spot-vcpus-p", 32),
        (["inf2.xlarge"], "on-demand", "vcpus-inf", 4),
        (["x2gd.large"], "on-demand", "vcpus-x", 2),
    ],
)
def test_vcpus_by_instance_family_and_capacity(instance_types: list[str], capacity: str, key: str, vcpus: int) -> None:
    group = {"name": "workers", "instanceTypes": instance_types, "desiredSize": 3, "maxSize": 5}
    needs = _needs(_cluster(groups=[{**group, "capacityType": capacity}]))
    assert needs[key] == 3 * vcpus
    assert needs["nodes@workers"] == 5


def test_groups_of_one_family_add_up_and_a_family_outside_the_quotas_is_noted() -> None:
    cluster = _cluster(
        groups=[
            {"name": "a", "instanceTypes": ["m5.large"], "desiredSize": 2},
            {"name": "b", "instanceTypes": ["t3.xlarge"], "desiredSize": 3},
            {"name": "hpc", "instanceTypes": ["hpc6a.48xlarge"], "desiredSize": 1},
        ]
    )
    plan = make_plan(cluster)
    found = quotas.consumption(cluster, [s.template for s in plan.stacks], [z.label for z in zones(cluster)])
    needs = {n.key: n.amount for n in found.needs}
    assert needs["vcpus-standard"] == 2 * 2 + 3 * 4
    assert needs["node-groups@quickstart"] == 3
    assert any("hpc" in note for note in found.notes)


@pytest.mark.parametrize(
    ("instance_type", "vcpus"),
    [("t3.micro", 2), ("t2.micro", 1), ("m5.large", 2), ("m5.24xlarge", 96), ("c7g.medium", 1), ("m5.metal", None)],
)
def test_vcpus_estimated_from_the_size(instance_type: str, vcpus: int | None) -> None:
    assert quotas.estimated_vcpus(instance_type) == vcpus


def _standings(amount: int, used: int, reserved: int, limit: float) -> quotas.Standing:
    need = quotas.Need(quotas.QUOTAS["vpcs"], amount)
    [standing] = quotas.assess([need], {"L-F678F1CE": limit}, {"vpcs": used}, {"vpcs": reserved})
    return standing


def test_a_quota_is_short_when_use_reservations_and_need_pass_it() -> None:
    assert not _standings(1, 3, 1, 5).short
    assert _standings(1, 3, 2, 5).short
    short = _standings(1, 5, 0, 5)
    assert short.short
    sentence = short.sentence("eu-west-1")
    assert "VPCs per Region (vpc L-F678F1CE)" in sentence
    assert "needs 1; 5 of 5 in use" in sentence
    assert "https://eu-west-1.console.aws.amazon.com/servicequotas/home/services/vpc/quotas/L-F678F1CE" in sentence
    held = _standings(1, 3, 2, 5).sentence("eu-west-1")
    assert "2 more reserved by creates under way" in held


def test_an_embedded_account_is_told_the_option_that_raises_its_quota() -> None:
    """The embedded account has no console: its quotas are the ones `local up --quota` set, and
    the key printed is one that option takes."""
    from clusterdrop.local.quotas import parse

    sentence = _standings(1, 5, 0, 5).sentence("eu-west-1", embedded=True)
    assert "console.aws.amazon.com" not in sentence
    option = sentence.rsplit("--quota ", 1)[1]
    assert option == "vpcs=N"
    assert parse([option.replace("=N", "=10")]) == {"vpcs": 10}


def test_close_to_a_quota_is_80_percent_after_the_create() -> None:
    assert _standings(1, 3, 0, 5).close  # 4 of 5
    assert not _standings(1, 2, 0, 5).close  # 3 of 5
    assert not _standings(1, 4, 1, 5).close  # short, not close


def test_a_cluster_quota_is_the_total_against_the_value() -> None:
    need = quotas.Need(quotas.QUOTAS["nodes"], 500, "workers")
    [standing] = quotas.assess([need], {}, {"nodes@workers": 10_000})
    assert (standing.limit, standing.used, standing.short) == (450, 0, True)
    assert "workers needs 500, over the quota of 450" in standing.sentence("eu-west-1")


def test_an_update_counts_what_it_adds() -> None:
    before = _cluster(groups=[{"name": "workers", "instanceTypes": ["m5.large"], "desiredSize": 2}])
    after = _cluster(
        groups=[
            {"name": "workers", "instanceTypes": ["m5.large"], "desiredSize": 5},
            {"name": "extra", "instanceTypes": ["t3.medium"], "desiredSize": 1},
        ]
    )
    labels = [z.label for z in zones(after)]
    old = quotas.consumption(before, [s.template for s in make_plan(before).stacks], labels)
    new = quotas.consumption(after, [s.template for s in make_plan(after).stacks], labels)
    grown = {n.key: n.amount for n in quotas.added(new, old).needs}
    assert grown["vcpus-standard"] == (5 - 2) * 2 + 1 * 2
    assert not {"vpcs", "clusters", "elastic-ips"} & set(grown)
    # A cluster's own quotas are checked as totals.
    assert grown["node-groups@quickstart"] == 2
    assert grown["nodes@workers"] == 5


def test_every_quota_has_its_own_code() -> None:
    codes = [q.code for q in quotas.QUOTAS.values()]
    assert len(codes) == len(set(codes))
    assert all(q.code.startswith("L-") and len(q.code) == 10 for q in quotas.QUOTAS.values())
