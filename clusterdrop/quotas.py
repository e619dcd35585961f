"""Service quotas: what a cluster consumes of the account's quotas, and whether it fits.

Pure. `consumption` reads a rendered plan (what the stacks will create) and the spec's node
groups; `assess` sets each need against the quota's value, the account's usage and what creates
under way have reserved. The workflow's Plan step feeds it from Service Quotas and the Describe
calls (`aws/quotas.py`); `clusterdrop plan` shows the needs offline.

The quotas and their codes are AWS's (Service Quotas console, "AWS services"); the defaults are
those of a new account, which the embedded AWS enforces. EC2's running-instance quotas count vCPUs
per instance-family group, separately for On-Demand and Spot. AWS sets a new account's vCPU
quotas per account (and raises them with use): the default here is what `local up` starts with,
and a real deployment always reads the account's own value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from clusterdrop.spec.models import Cluster

# A quota is "close" once the create leaves it this full (the plan and the notification warn).
WARN_AT = 0.8


@dataclass(frozen=True)
class Quota:
    key: str  # clusterdrop's name for it: `local up --quota KEY=VALUE`, the plan's listing
    service: str  # Service Quotas' service code
    code: str  # Service Quotas' quota code
    name: str  # as the Service Quotas console names it
    default: float  # a new account's value (the embedded AWS's)
    per: str = "region"  # "region", "zone", "cluster" or "node group": what one value covers
    unit: str = ""  # "vCPUs" for the running-instance quotas

    def console_url(self, region: str) -> str:
        return f"https://{region}.console.aws.amazon.com/servicequotas/home/services/{self.service}/quotas/{self.code}"

    @property
    def shared(self) -> bool:
        """Used by every cluster of the account (region or zone), not by one cluster alone."""
        return self.per in ("region", "zone")


# Instance-family groups of EC2's vCPU quotas: (group, label, On-Demand code, Spot code, a new
# account's vCPUs). Standard is A, C, D, H, I, M, R, T, Z; accelerated families start at 0.
_VCPU_GROUPS: tuple[tuple[str, str, str, str, float], ...] = (
    ("standard", "Standard (A, C, D, H, I, M, R, T, Z)", "L-1216C47A", "L-34B43A08", 32),
    ("g-vt", "G and VT", "L-DB2E81BA", "L-3819A6DF", 0),
    ("p", "P", "L-417A185B", "L-7212CCBC", 0),
    ("x", "X", "L-7295265B", "L-E3A00192", 0),
    ("inf", "Inf", "L-1945791B", "L-B5D1601B", 0),
    ("f", "F", "L-74FC7D96", "L-88CF9481", 0),
    ("trn", "Trn", "L-2C3B7624", "L-6B0D517C", 0),
    ("dl", "DL", "L-6E869C2A", "L-85EED4F7", 0),
)


def _vcpu_quotas() -> list[Quota]:
    out = []
    for group, label, on_demand, spot, default in _VCPU_GROUPS:
        out.append(
            Quota(f"vcpus-{group}", "ec2", on_demand, f"Running On-Demand {label} instances", default, unit="vCPUs")
        )
        out.append(
            Quota(f"spot-vcpus-{group}", "ec2", spot, f"All {label} Spot Instance Requests", default, unit="vCPUs")
        )
    return out


QUOTAS: dict[str, Quota] = {
    q.key: q
    for q in (
        Quota("vpcs", "vpc", "L-F678F1CE", "VPCs per Region", 5),
        Quota("internet-gateways", "vpc", "L-A4707A72", "Internet gateways per Region", 5),
        Quota("nat-gateways", "vpc", "L-FE5A380F", "NAT gateways per Availability Zone", 5, per="zone"),
        Quota("elastic-ips", "ec2", "L-0263D0A3", "EC2-VPC Elastic IPs", 5),
        Quota("security-groups", "vpc", "L-E79EC296", "VPC security groups per Region", 2500),
        Quota("clusters", "eks", "L-1194D53C", "Clusters", 100),
        Quota("node-groups", "eks", "L-6D54EA21", "Managed node groups per cluster", 30, per="cluster"),
        Quota("nodes", "eks", "L-BD136A63", "Nodes per managed node group", 450, per="node group"),
        *_vcpu_quotas(),
    )
}


def by_code(code: str) -> Quota | None:
    return next((q for q in QUOTAS.values() if q.code == code), None)


# --- instance types -------------------------------------------------------------------------

_SIZES = {"nano": 1, "micro": 1, "small": 1, "medium": 1, "large": 2}
_XLARGE = re.compile(r"^(\d*)xlarge$")


def estimated_vcpus(instance_type: str) -> int | None:
    """vCPUs from the size in the type's name, as EC2's current families size them (large 2,
    xlarge 4, Nxlarge 4N; medium and smaller 1, but 2 on T3/T4g/T3a). For `clusterdrop plan`
    offline: the Plan step asks EC2 (DescribeInstanceTypes). None for a size the rule does not
    cover (metal)."""
    family, _, size = instance_type.partition(".")
    match = _XLARGE.match(size)
    if match:
        return 4 * int(match.group(1) or 1)
    if size in _SIZES:
        if family.startswith("t") and family != "t2" and size != "large":
            return 2
        if family == "t2":
            return 2 if size in ("medium", "large") else 1
        return _SIZES[size]
    return None


_FAMILY = re.compile(r"^([a-z]+)\d")
_GROUP_OF_PREFIX = {"inf": "inf", "trn": "trn", "dl": "dl", "vt": "g-vt", "g": "g-vt", "p": "p", "x": "x", "f": "f"}


def vcpu_group(instance_type: str) -> str | None:
    """The vCPU quota group of an instance type (None: a family no quota here covers, such as HPC,
    Mac or High Memory — not checked)."""
    match = _FAMILY.match(instance_type)
    if not match:
        return None
    letters = match.group(1)
    if letters in _GROUP_OF_PREFIX:
        return _GROUP_OF_PREFIX[letters]
    if letters in ("hpc", "mac", "u"):
        return None
    return "standard" if letters[0] in "acdhimrtz" else None


# --- what a cluster consumes -------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    quota: Quota
    amount: int
    where: str = ""  # the zone, cluster or node group the quota is counted in ("" for the region)

    @property
    def key(self) -> str:
        return f"{self.quota.key}@{self.where}" if self.where else self.quota.key

    def as_dict(self) -> dict[str, Any]:
        return {
            "quota": self.quota.key,
            "name": self.quota.name,
            "code": self.quota.code,
            "service": self.quota.service,
            "amount": self.amount,
            **({"where": self.where} if self.where else {}),
            **({"unit": self.quota.unit} if self.quota.unit else {}),
        }


@dataclass
class Consumption:
    needs: list[Need] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be counted, and why

    def by_key(self) -> dict[str, Need]:
        return {n.key: n for n in self.needs}


def _count(templates: Iterable[dict[str, Any]], resource_type: str) -> int:
    return sum(1 for t in templates for r in t.get("Resources", {}).values() if r.get("Type") == resource_type)


def consumption(
    cluster: Cluster,
    templates: Iterable[dict[str, Any]],
    zone_labels: list[str],
    vcpus: Callable[[str], int | None] = estimated_vcpus,
) -> Consumption:
    """What creating the cluster from its rendered `templates` takes of each quota. `zone_labels`
    are the cluster's zones in template order (the NAT gateways' zones: one per zone, or the first
    alone); `vcpus` gives an instance type's vCPUs."""
    templates = list(templates)
    out = Consumption()
    name = cluster.metadata.name

    def add(key: str, amount: int, where: str = "") -> None:
        if amount > 0:
            out.needs.append(Need(QUOTAS[key], amount, where))

    vpcs = _count(templates, "AWS::EC2::VPC")
    add("vpcs", vpcs)
    add("internet-gateways", _count(templates, "AWS::EC2::InternetGateway"))
    add("elastic-ips", _count(templates, "AWS::EC2::EIP"))
    nats = _count(templates, "AWS::EC2::NatGateway")
    for zone in zone_labels[:nats]:  # the templates put NAT gateway n in zone n
        add("nat-gateways", 1, zone)
    # Every VPC comes with its default security group, and EKS makes a cluster security group
    # of its own for every cluster: both count against the Region's quota.
    clusters = _count(templates, "AWS::EKS::Cluster")
    add("security-groups", _count(templates, "AWS::EC2::SecurityGroup") + vpcs + clusters)
    add("clusters", clusters)
    groups = cluster.spec.node_groups
    if cluster.spec.compute_mode == "auto":
        # EKS Auto Mode starts its instances as pods need them: nothing to count before.
        out.notes.append("EKS Auto Mode: its nodes count against the vCPU quotas as EKS starts them, not at Plan")
    add("node-groups", len(groups), name)
    by_group: dict[str, int] = {}
    for g in groups:
        add("nodes", max(g.desired_size, g.max_size or 0), g.name)
        sizes = {t: vcpus(t) for t in g.instance_types}
        unknown = sorted(t for t, n in sizes.items() if n is None)
        if unknown:
            out.notes.append(f"node group {g.name}: vCPUs of {', '.join(unknown)} unknown, not counted")
            continue
        families = {vcpu_group(t) for t in g.instance_types}
        if None in families or len(families) != 1:
            out.notes.append(f"node group {g.name}: instance types outside EC2's vCPU quota groups, not counted")
            continue
        # The group launches desiredSize instances of any of its types: count the largest.
        largest = max(n for n in sizes.values() if n is not None)
        prefix = "spot-vcpus" if g.capacity_type == "spot" else "vcpus"
        key = f"{prefix}-{families.pop()}"
        by_group[key] = by_group.get(key, 0) + g.desired_size * largest
    for key, amount in sorted(by_group.items()):
        add(key, amount)
    return out


def added(new: Consumption, old: Consumption) -> Consumption:
    """What an update adds: the shared quotas by their growth; a cluster's own quotas (node groups
    per cluster, nodes per group) by their new totals, which are checked against the value alone."""
    before = old.by_key()
    needs = []
    for need in new.needs:
        if not need.quota.shared:
            needs.append(need)
            continue
        grown = need.amount - (before[need.key].amount if need.key in before else 0)
        if grown > 0:
            needs.append(Need(need.quota, grown, need.where))
    return Consumption(needs, list(new.notes))


# --- does it fit --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """One need against its quota: the value, what is used and what other creates reserved."""

    need: Need
    limit: float
    used: int = 0
    reserved: int = 0

    @property
    def after(self) -> int:
        return self.used + self.reserved + self.need.amount

    @property
    def short(self) -> bool:
        return self.after > self.limit

    @property
    def close(self) -> bool:
        return not self.short and self.limit > 0 and self.after >= math.ceil(WARN_AT * self.limit)

    def sentence(self, region: str, *, embedded: bool = False) -> str:
        """One line for a person; `embedded`: an embedded account has no console to raise a quota
        in, its quotas are what `local up --quota` set."""
        q = self.need.quota
        unit = f" {q.unit}" if q.unit else ""
        where = f" in {self.need.where}" if self.need.where and q.per == "zone" else ""
        if not q.shared:
            what = f"{self.need.where} needs {self.need.amount}{unit}, over the quota of {self.limit:g}"
            if not self.short:
                what = f"{self.need.where} takes {self.need.amount}{unit} of {self.limit:g}"
        else:
            held = f", {self.reserved} more reserved by creates under way" if self.reserved else ""
            verb = "needs" if self.short else "takes"
            what = f"the cluster {verb} {self.need.amount}{unit}{where}; {self.used} of {self.limit:g} in use{held}"
        todo = ""
        if self.short and embedded:
            todo = (
                f": the embedded account's quota; start it with more: clusterdrop local up (or run) --quota {q.key}=N"
            )
        elif self.short:
            todo = f": request an increase at {q.console_url(region)}"
        return f"{q.name} ({q.service} {q.code}): {what}{todo}"

    def as_dict(self) -> dict[str, Any]:
        return {**self.need.as_dict(), "used": self.used, "reserved": self.reserved, "limit": self.limit}


def assess(
    needs: Iterable[Need],
    limits: dict[str, float],
    used: dict[str, int],
    reserved: dict[str, int] | None = None,
) -> list[Standing]:
    """Each need against its quota: `limits` by quota code, `used` and `reserved` by need key
    (`Need.key`: the quota's key, with `@zone` for a per-zone quota). A cluster's own quotas
    (node groups per cluster, nodes per group) have no usage beside the need."""
    reserved = reserved or {}
    out = []
    for need in needs:
        limit = limits.get(need.quota.code, need.quota.default)
        if need.quota.shared:
            out.append(Standing(need, limit, used.get(need.key, 0), reserved.get(need.key, 0)))
        else:
            out.append(Standing(need, limit))
    return out
