"""Facts about AWS and EKS that validation relies on, kept in one place.

They change with AWS releases; update them with the code's release, not at run time (the
validator must work offline).
"""

from __future__ import annotations

import re
from datetime import date

# EKS Kubernetes versions in standard or extended support as of this release (2026-11),
# newest last. Each minor is in standard support for 14 months after its EKS release, then in
# extended support for 12 more. 1.31 left extended support on 2026-11-26.
KUBERNETES_VERSIONS: tuple[str, ...] = ("1.32", "1.33", "1.34", "1.35", "1.36")
DEFAULT_KUBERNETES_VERSION = KUBERNETES_VERSIONS[-1]

# EKS's support calendar: per minor version, the end of standard support and the end of extended
# support (after which EKS upgrades the control plane itself). Source: the Amazon EKS Kubernetes
# release calendar ("Understand the Kubernetes version lifecycle on EKS", EKS User Guide), as
# recorded for this release; 1.36's dates were not yet published there: no warning for it.
SUPPORT_CALENDAR: dict[str, tuple[date, date]] = {
    "1.31": (date(2025, 11, 26), date(2026, 11, 26)),
    "1.32": (date(2026, 3, 23), date(2027, 3, 23)),
    "1.33": (date(2026, 7, 29), date(2027, 7, 29)),
    "1.34": (date(2026, 12, 2), date(2027, 12, 2)),
    "1.35": (date(2027, 3, 27), date(2028, 3, 27)),
}
# The day the calendar above (and the CNI catalog's tested versions) were last checked: what the
# examples are held to, so that a test of them does not change its verdict with the clock.
CALENDAR_CHECKED = date(2026, 12, 7)


def in_standard_support(version: str, day: date) -> bool:
    """Whether EKS gives `version` standard support on `day` (a version whose dates EKS has not
    published yet is newer than every dated one)."""
    dates = SUPPORT_CALENDAR.get(version)
    return dates is None or day < dates[0]


# What an EKS control plane costs per hour in standard and in extended support (USD, EKS pricing).
CLUSTER_HOUR_USD = (0.10, 0.60)
# How long before the end of standard support clusterdrop starts saying so.
SUPPORT_WARNING_DAYS = 120


def support_warning(version: str, today: date) -> str | None:
    """What a user of `version` should know today about EKS's support calendar, or None."""
    dates = SUPPORT_CALENDAR.get(version)
    if dates is None:
        return None
    standard, extended = dates
    price, extended_price = CLUSTER_HOUR_USD
    minor = version.split(".")
    following = f"{minor[0]}.{int(minor[1]) + 1}"
    if today >= extended:
        return (
            f"Kubernetes {version} left EKS extended support on {extended}: EKS upgrades such control planes "
            f"itself; upgrade to {following}"
        )
    if today >= standard:
        return (
            f"Kubernetes {version} is in EKS extended support since {standard} (until {extended}): the control "
            f"plane costs ${extended_price:.2f} an hour instead of ${price:.2f}; upgrade to {following}"
        )
    if (standard - today).days <= SUPPORT_WARNING_DAYS:
        return (
            f"Kubernetes {version} leaves EKS standard support on {standard} ({(standard - today).days} days); "
            f"extended support then costs ${extended_price:.2f} per cluster hour instead of ${price:.2f}, "
            f"until {extended}; upgrade to {following}"
        )
    return None


def support_cell(version: str, today: date) -> str:
    """Where a cluster's Kubernetes version stands in EKS's support calendar today, in a table's
    cell (`clusterdrop status`, the fleet page)."""
    dates = SUPPORT_CALENDAR.get(version)
    if not version or dates is None:
        return "-"
    standard, extended = dates
    if today >= extended:
        return f"ENDED {extended}: EKS upgrades it itself"
    if today >= standard:
        return f"EXTENDED until {extended} (${CLUSTER_HOUR_USD[1]:.2f}/h)"
    return f"standard until {standard} ({(standard - today).days} days)"


# Commercial regions (partition aws) where EKS runs, mapped to how many zones a new account
# can use. Zones picked at deploy time (no `zones` in the spec) take up to three of them.
REGIONS: dict[str, int] = {
    "us-east-1": 6, "us-east-2": 3, "us-west-1": 2, "us-west-2": 4,
    "af-south-1": 3, "ap-east-1": 3, "ap-east-2": 3, "ap-south-1": 3, "ap-south-2": 3,
    "ap-southeast-1": 3, "ap-southeast-2": 3, "ap-southeast-3": 3, "ap-southeast-4": 3,
    "ap-southeast-5": 3, "ap-southeast-7": 3, "ap-northeast-1": 3, "ap-northeast-2": 4,
    "ap-northeast-3": 3, "ca-central-1": 3, "ca-west-1": 3, "eu-central-1": 3,
    "eu-central-2": 3, "eu-west-1": 3, "eu-west-2": 3, "eu-west-3": 3, "eu-south-1": 3,
    "eu-south-2": 3, "eu-north-1": 3, "il-central-1": 3, "me-south-1": 3, "me-central-1": 3,
    "mx-central-1": 3, "sa-east-1": 3,
}  # fmt: skip

# Zones (by zone ID, the same in every account) where EKS does not place control planes; a
# cluster subnet there fails CreateCluster with UnsupportedAvailabilityZoneException (EKS User
# Guide, "Insufficient capacity" troubleshooting: use1-az3, usw1-az2, cac1-az3). Zone *names*
# map to IDs differently in each account, so only the account's DescribeAvailabilityZones tells
# which name to avoid.
EKS_UNSUPPORTED_ZONE_IDS: dict[str, frozenset[str]] = {
    "us-east-1": frozenset({"use1-az3"}),
    "us-west-1": frozenset({"usw1-az2"}),
    "ca-central-1": frozenset({"cac1-az3"}),
}

# Elastic network interfaces per instance and IPv4 addresses per interface (EC2's instance-type
# networking limits), for the instance types clusterdrop's examples and eksctl's use. The VPC CNI
# gives every pod a VPC address, so a node runs at most ENIs * (addresses - 1) + 2 pods — the
# value EKS's AMIs set as the kubelet's maxPods (17 on a t3.medium).
ENI_LIMITS: dict[str, tuple[int, int]] = {
    "t3.micro": (2, 2),
    "t3.small": (3, 4),
    "t3.medium": (3, 6),
    "t3.large": (3, 12),
    "t3.xlarge": (4, 15),
    "t3.2xlarge": (4, 15),
    "t4g.medium": (3, 6),
    "t4g.large": (3, 12),
    "m5.large": (3, 10),
    "m5.xlarge": (4, 15),
    "m5.2xlarge": (4, 15),
    "m5d.large": (3, 10),
    "m5a.2xlarge": (4, 15),
    "m6a.xlarge": (4, 15),
    "m6g.large": (3, 10),
    "m6i.large": (3, 10),
    "m6i.xlarge": (4, 15),
    "m7g.large": (3, 10),
    "c6a.xlarge": (4, 15),
    "c6i.xlarge": (4, 15),
    "c3.8xlarge": (8, 30),
    "g5.xlarge": (4, 15),
    "p3.2xlarge": (4, 15),
    "p3.8xlarge": (8, 30),
    "p3dn.24xlarge": (15, 50),
}


def vpc_cni_max_pods(instance_type: str) -> int | None:
    """The VPC CNI's pod limit for an instance type (None when the type is not in the table)."""
    limits = ENI_LIMITS.get(instance_type)
    return None if limits is None else limits[0] * (limits[1] - 1) + 2


# EKS control-plane log types (CloudFormation `Logging.ClusterLogging.EnabledTypes`).
LOG_TYPES: tuple[str, ...] = ("api", "audit", "authenticator", "controllerManager", "scheduler")

# EKS needs the service CIDR inside these ranges (CreateCluster `serviceIpv4Cidr`).
PRIVATE_RANGES: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")

# AWS allows 50 tags per resource; clusterdrop adds its own, so users get 40.
MAX_USER_TAGS = 40

# EKS's quota of managed node groups per cluster (Service Quotas "Managed node groups per cluster").
MAX_NODE_GROUPS = 30

_FAMILY = re.compile(r"^[a-z]+(\d+)([a-z-]*)$")


def architecture(instance_type: str) -> str:
    """arm64 or x86_64. Graviton families carry a "g" right after the generation digit (m7g,
    c6gn, t4g, r8gd); node groups of these need an arm64 AMI type."""
    match = _FAMILY.match(instance_type.split(".", 1)[0])
    return "arm64" if match and match.group(2).startswith("g") else "x86_64"


def accelerator(instance_type: str) -> str | None:
    """ "NVIDIA" for the NVIDIA GPU families (G and P, Gr), "NEURON" for AWS's Inferentia and
    Trainium (Inf, Trn), else None. EKS's *_STANDARD AMI types carry neither driver: these need
    the NVIDIA or Neuron AMI types (EKS User Guide, "Use EKS-optimized accelerated AMIs"). G4ad's
    GPUs are AMD's, for which EKS has no AMI type. tests/unit/test_shared_facts.py checks this
    against EC2's instance data (GpuInfo, NeuronInfo) for every instance type."""
    family = instance_type.split(".", 1)[0]
    match = re.match(r"^[a-z]+", family)
    letters = match.group(0) if match else ""
    if family == "g4ad":
        return None
    if letters in ("g", "p", "gr"):
        return "NVIDIA"
    if letters in ("inf", "trn"):
        return "NEURON"
    return None


# What EKS Auto Mode's cluster role needs beside AmazonEKSClusterPolicy ("Amazon EKS Auto Mode
# cluster IAM role", Amazon EKS User Guide).
AUTO_MODE_CLUSTER_POLICIES = (
    "AmazonEKSComputePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
)

# A role the spec names (podIdentities[].roleName) keeps its name and is made under this path:
# the deployer's IAM policies name what is clusterdrop's by the path where the name is the user's.
ROLE_PATH = "/clusterdrop/"
