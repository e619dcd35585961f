"""The account's side of the quota check: each quota's value (Service Quotas), what is in use (the
Describe and List calls AWS counts by) and what creates under way have reserved (one item in the
cluster registry, written with a conditional put so that two Plans cannot both take the last of a
quota)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from typing import Any

from clusterdrop import quotas
from clusterdrop.errors import LockBusy, QuotaExceeded
from clusterdrop.render.common import CLUSTER_TAG

# The registry item that holds every reservation ("#" is not a character of a cluster's name).
RESERVATIONS = "#quota-reservations"
# A reservation lapses after this even if its execution never released it (as the lock does).
RESERVATION_TTL_SECONDS = 3 * 60 * 60
_ATTEMPTS = 8


def values(sq: Any, wanted: Iterable[quotas.Quota]) -> dict[str, float]:
    """Each quota's value by code: the applied value, or — where Service Quotas has none for the
    account (GetServiceQuota: "If the applied quota value is not available for a quota, the quota
    is not retrieved") — AWS's default."""
    out: dict[str, float] = {}
    for q in {q.code: q for q in wanted}.values():
        try:
            answer = sq.get_service_quota(ServiceCode=q.service, QuotaCode=q.code)
        except sq.exceptions.NoSuchResourceException:
            answer = sq.get_aws_default_service_quota(ServiceCode=q.service, QuotaCode=q.code)
        out[q.code] = float(answer["Quota"]["Value"])
    return out


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        out += page.get(key, [])
    return out


def usage(ec2: Any, eks: Any, needs: Iterable[quotas.Need], *, exclude: Collection[str] = ()) -> dict[str, int]:
    """What the account uses of each shared quota the needs name, by need key. Resources of the
    clusters in `exclude` (creates holding a reservation: counted by it) are left out."""
    keys = {n.quota.key for n in needs if n.quota.shared}

    def mine(resource: dict[str, Any]) -> bool:
        return _tags(resource).get(CLUSTER_TAG) in exclude

    out: dict[str, int] = {}
    if "vpcs" in keys:
        out["vpcs"] = sum(1 for v in _pages(ec2, "describe_vpcs", "Vpcs") if not mine(v))
    if "internet-gateways" in keys:
        gateways = _pages(ec2, "describe_internet_gateways", "InternetGateways")
        out["internet-gateways"] = sum(1 for g in gateways if not mine(g))
    if "elastic-ips" in keys:
        addresses = ec2.describe_addresses(Filters=[{"Name": "domain", "Values": ["vpc"]}]).get("Addresses", [])
        out["elastic-ips"] = sum(1 for a in addresses if not mine(a))
    if "security-groups" in keys:
        groups = _pages(ec2, "describe_security_groups", "SecurityGroups")
        out["security-groups"] = sum(1 for g in groups if not mine(g))
    if "nat-gateways" in keys:
        # Pending and available gateways count; a deleted one no longer does.
        states = [{"Name": "state", "Values": ["pending", "available"]}]
        gateways = [g for g in _pages(ec2, "describe_nat_gateways", "NatGateways", Filters=states) if not mine(g)]
        subnet_ids = sorted({g["SubnetId"] for g in gateways})
        zones = (
            {s["SubnetId"]: s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]}
            if subnet_ids
            else {}
        )
        for zone, n in Counter(zones.get(g["SubnetId"], "") for g in gateways).items():
            out[f"nat-gateways@{zone}"] = n
    if "clusters" in keys:
        names = [c for page in eks.get_paginator("list_clusters").paginate() for c in page.get("clusters", [])]
        out["clusters"] = sum(1 for c in names if c not in exclude)
    if any(k.startswith(("vcpus-", "spot-vcpus-")) for k in keys):
        out.update(_vcpus_in_use(ec2, exclude))
    return out


def _vcpus_in_use(ec2: Any, exclude: Collection[str]) -> dict[str, int]:
    """Running and pending instances' vCPUs by quota: Spot requests count against the Spot quota,
    the rest against On-Demand (EC2's vCPU-based limits). Nodes EKS launched carry eks:cluster-name."""
    running = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    of_type = instance_vcpus(ec2)
    out: Counter[str] = Counter()
    for reservation in _pages(ec2, "describe_instances", "Reservations", Filters=running):
        for instance in reservation.get("Instances", []):
            tags = _tags(instance)
            if tags.get("eks:cluster-name") in exclude or tags.get(CLUSTER_TAG) in exclude:
                continue
            group = quotas.vcpu_group(instance.get("InstanceType", ""))
            if group is None:
                continue
            # The instance's own CPU options (set at launch) or, where not reported, its type's.
            cpu = instance.get("CpuOptions") or {}
            vcpus = (
                int(cpu["CoreCount"]) * int(cpu.get("ThreadsPerCore", 1))
                if "CoreCount" in cpu
                else of_type(instance["InstanceType"]) or 0
            )
            prefix = "spot-vcpus" if instance.get("InstanceLifecycle") == "spot" else "vcpus"
            out[f"{prefix}-{group}"] += vcpus
    return dict(out)


def instance_vcpus(ec2: Any) -> Callable[[str], int | None]:
    """An instance type's vCPUs as EC2 describes it (None for a type EC2 does not know)."""
    known: dict[str, int | None] = {}

    def vcpus(instance_type: str) -> int | None:
        if instance_type not in known:
            try:
                types = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
            except ec2.exceptions.ClientError as exc:
                if "InvalidInstanceType" not in str(exc):
                    raise
                types = []
            known[instance_type] = int(types[0]["VCpuInfo"]["DefaultVCpus"]) if types else None
        return known[instance_type]

    return vcpus


# --- reservations ---------------------------------------------------------------------------------


def _read(table: Any, now: float) -> tuple[dict[str, dict[str, Any]], int]:
    item = table.get_item(Key={"cluster": RESERVATIONS}, ConsistentRead=True).get("Item") or {}
    holds = {c: h for c, h in (item.get("holds") or {}).items() if int(h.get("expiresAt", 0)) > now}
    return holds, int(item.get("version", 0))


def reserve(
    table: Any,
    cluster: str,
    execution: str,
    check: Callable[[dict[str, int], set[str]], list[quotas.Standing]],
    *,
    now: Callable[[], float] = time.time,
) -> list[quotas.Standing]:
    """Check and reserve in one step: `check(reserved, holders)` assesses the cluster's needs with
    what other creates hold (and leaves their resources out of the usage), raising QuotaExceeded
    when one is short; what passes is written as this cluster's reservation, on condition that no
    other Plan wrote in between (else all again)."""
    for _ in range(_ATTEMPTS):
        current = now()
        holds, version = _read(table, current)
        others = {c: h for c, h in holds.items() if c != cluster}
        standings = check(_sum(others), set(others))
        needs = {s.need.key: s.need.amount for s in standings if s.need.quota.shared}
        hold = {"execution": execution, "expiresAt": int(current) + RESERVATION_TTL_SECONDS, "needs": needs}
        try:
            table.put_item(
                Item={"cluster": RESERVATIONS, "version": version + 1, "holds": {**others, cluster: hold}},
                ConditionExpression="attribute_not_exists(#c) OR #v = :v",
                ExpressionAttributeNames={"#c": "cluster", "#v": "version"},
                ExpressionAttributeValues={":v": version},
            )
        except table.meta.client.exceptions.ConditionalCheckFailedException:
            continue
        return standings
    raise LockBusy("the quota reservations kept changing under this plan; trying again")


def _sum(holds: dict[str, dict[str, Any]]) -> dict[str, int]:
    reserved: Counter[str] = Counter()
    for hold in holds.values():
        reserved.update({k: int(v) for k, v in (hold.get("needs") or {}).items()})
    return dict(reserved)


def held_by_others(
    table: Any, cluster: str, *, now: Callable[[], float] = time.time
) -> tuple[dict[str, int], set[str]]:
    """What the other clusters' reservations hold, by need key, and which clusters hold them."""
    others = {c: h for c, h in _read(table, now())[0].items() if c != cluster}
    return _sum(others), set(others)


def release(table: Any, cluster: str, execution: str) -> bool:
    """Drop the cluster's reservation if this execution made it (its stacks exist now, or it
    ended). The version moves on, so that a Plan that read the reservation writes again."""
    try:
        table.update_item(
            Key={"cluster": RESERVATIONS},
            UpdateExpression="SET #v = #v + :one REMOVE holds.#c",
            ConditionExpression="holds.#c.execution = :e",
            ExpressionAttributeNames={"#v": "version", "#c": cluster},
            ExpressionAttributeValues={":one": 1, ":e": execution},
        )
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def reservations(table: Any, *, now: Callable[[], float] = time.time) -> dict[str, dict[str, Any]]:
    """The reservations in force, by cluster (for `clusterdrop status` and tests)."""
    return _read(table, now())[0]


def account_standing(sq: Any, ec2: Any, eks: Any, table: Any) -> list[quotas.Standing]:
    """Every shared quota of the account in the region: its value, what is in use and what creates
    under way reserved (a need of 0: what is free is value - used - reserved). The vCPU quotas of
    accelerated families appear where the account has some."""
    wanted = [q for q in quotas.QUOTAS.values() if q.shared]
    limits = values(sq, wanted)
    reserved, _ = held_by_others(table, "")
    used = usage(ec2, eks, [quotas.Need(q, 0) for q in wanted])
    out = []
    for q in wanted:
        if q.per == "zone":
            keys = sorted(k for k in {*used, *reserved} if k.startswith(f"{q.key}@")) or [q.key]
            needs = [quotas.Need(q, 0, k.partition("@")[2]) for k in keys]
        else:
            needs = [quotas.Need(q, 0)]
        for need in needs:
            standing = quotas.Standing(need, limits[q.code], used.get(need.key, 0), reserved.get(need.key, 0))
            if q.unit and not (standing.limit or standing.used or standing.reserved) and "standard" not in q.key:
                continue  # an accelerated family the account has no quota for, and no use of
            out.append(standing)
    return out


def short_of(standings: list[quotas.Standing], region: str, *, embedded: bool = False) -> QuotaExceeded | None:
    short = [s for s in standings if s.short]
    if not short:
        return None
    return QuotaExceeded([s.sentence(region, embedded=embedded) for s in short], [s.as_dict() for s in short])
