"""What the embedded AWS knows of AWS: its own copy of each fact, from its own source.

The product keeps the same facts where it must act on them before AWS would (`clusterdrop.facts`,
`clusterdrop.quotas`, `clusterdrop.aws.keys` …). The emulator never reads those: a wrong fact
would then pass on both sides, and a test would prove the two agree rather than that either is
right. Where a fact has a machine-readable source here it is read from it (botocore's service
models, EC2's instance-type data as moto ships it); otherwise it is written down with the page it
comes from. tests/unit/test_shared_facts.py compares each with the product's copy and names both.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

# EKS places no control plane in these zones (by zone ID, the same in every account); CreateCluster
# with a subnet there fails with UnsupportedAvailabilityZoneException. EKS User Guide,
# "Troubleshoot problems with Amazon EKS clusters and nodes" → "Insufficient capacity".
EKS_UNSUPPORTED_ZONE_IDS: dict[str, frozenset[str]] = {
    "us-east-1": frozenset({"use1-az3"}),
    "us-west-1": frozenset({"usw1-az2"}),
    "ca-central-1": frozenset({"cac1-az3"}),
}

# The label EKS puts on every node of a managed node group (EKS User Guide, "Managed node groups":
# eks.amazonaws.com/nodegroup=<name>, with eks.amazonaws.com/capacityType).
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"

# EC2 Auto Scaling launches a managed node group's instances as its service-linked role, which
# has no KMS permissions of its own: a customer managed key for their volumes must let it act
# through the key policy or a grant (EC2 Auto Scaling User Guide, "Required AWS KMS key policy
# for use with encrypted volumes").
AUTOSCALING_ROLE = "arn:aws:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
AUTOSCALING_KEY_ACTIONS = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
)

# The kubelet's own limit where nothing sets maxPods (Kubernetes' kubelet configuration default).
KUBELET_DEFAULT_MAX_PODS = 110


@functools.cache
def eks_log_types() -> tuple[str, ...]:
    """EKS's control-plane log types: the LogType enum of botocore's EKS model."""
    import botocore.loaders

    model = botocore.loaders.Loader().load_service_model("eks", "service-2")
    return tuple(model["shapes"]["LogType"]["enum"])


@functools.cache
def _instance_types() -> dict[str, dict[str, object]]:
    """EC2's DescribeInstanceTypes data, as moto ships it for its own EC2."""
    import moto.ec2

    path = Path(moto.ec2.__file__).parent / "resources" / "instance_types.json.gz"
    with gzip.open(path) as data:
        loaded: dict[str, dict[str, object]] = json.load(data)
    return loaded


def network_limits(instance_type: str) -> tuple[int, int] | None:
    """(network interfaces, IPv4 addresses per interface) of an instance type, per EC2."""
    info = _instance_types().get(instance_type)
    network = info.get("NetworkInfo") if info else None
    if not isinstance(network, dict):
        return None
    return int(network["MaximumNetworkInterfaces"]), int(network["Ipv4AddressesPerInterface"])


def eks_ami_max_pods(instance_type: str) -> int:
    """The kubelet's maxPods EKS's AMIs set for the VPC CNI: every pod takes a VPC address, so
    interfaces * (addresses - 1) + 2 (the interfaces' primary addresses are the node's; two pods run
    on the host network). EKS's max-pods calculator and eni-max-pods.txt, amazon-eks-ami."""
    limits = network_limits(instance_type)
    return KUBELET_DEFAULT_MAX_PODS if limits is None else limits[0] * (limits[1] - 1) + 2


# --- a new account's service quotas ---------------------------------------------------------------


@dataclass(frozen=True)
class AccountQuota:
    key: str  # the name `local up --quota KEY=VALUE` takes
    service: str  # Service Quotas' service code
    code: str  # Service Quotas' quota code
    name: str  # as Service Quotas names it
    default: float  # a new account's value


# EC2's running-instance quotas count vCPUs per instance-family bucket, On-Demand and Spot apart
# (EC2 User Guide, "Amazon EC2 service quotas" → "On-Demand Instance quotas", and "Spot Instance
# quotas"): (bucket, the families' first letters as EC2 lists them, On-Demand code, Spot code, a
# new account's vCPUs). Standard is A, C, D, H, I, M, R, T, Z; the others start at 0 until raised.
VCPU_BUCKETS: tuple[tuple[str, str, str, str, float], ...] = (
    ("standard", "Standard (A, C, D, H, I, M, R, T, Z)", "L-1216C47A", "L-34B43A08", 32),
    ("g-vt", "G and VT", "L-DB2E81BA", "L-3819A6DF", 0),
    ("p", "P", "L-417A185B", "L-7212CCBC", 0),
    ("x", "X", "L-7295265B", "L-E3A00192", 0),
    ("inf", "Inf", "L-1945791B", "L-B5D1601B", 0),
    ("f", "F", "L-74FC7D96", "L-88CF9481", 0),
    ("trn", "Trn", "L-2C3B7624", "L-6B0D517C", 0),
    ("dl", "DL", "L-6E869C2A", "L-85EED4F7", 0),
)
_BUCKET_OF_LETTERS = {"inf": "inf", "trn": "trn", "dl": "dl", "vt": "g-vt", "g": "g-vt", "p": "p", "x": "x", "f": "f"}


def vcpu_bucket(instance_type: str) -> str | None:
    """The bucket an instance type's vCPUs count against (None: HPC, Mac, High Memory and other
    families with quotas of their own, not enforced here)."""
    letters = "".join(itertools.takewhile(str.isalpha, instance_type))
    if letters in _BUCKET_OF_LETTERS:
        return _BUCKET_OF_LETTERS[letters]
    if not letters or letters in ("hpc", "mac", "u"):
        return None
    return "standard" if letters[0] in "acdhimrtz" else None


def instance_vcpus(instance_type: str) -> int | None:
    """An instance type's default vCPUs, per EC2's DescribeInstanceTypes data."""
    info = _instance_types().get(instance_type)
    cpu = info.get("VCpuInfo") if info else None
    return int(cpu["DefaultVCpus"]) if isinstance(cpu, dict) else None


def _account_quotas() -> dict[str, AccountQuota]:
    quotas = [
        # Service Quotas → Amazon VPC, Amazon EC2 and Amazon EKS, a new account's defaults (the VPC
        # ones are also moto's own defaults: moto/servicequotas/resources/default_quotas/vpc.py).
        AccountQuota("vpcs", "vpc", "L-F678F1CE", "VPCs per Region", 5),
        AccountQuota("internet-gateways", "vpc", "L-A4707A72", "Internet gateways per Region", 5),
        AccountQuota("nat-gateways", "vpc", "L-FE5A380F", "NAT gateways per Availability Zone", 5),
        AccountQuota("elastic-ips", "ec2", "L-0263D0A3", "EC2-VPC Elastic IPs", 5),
        AccountQuota("security-groups", "vpc", "L-E79EC296", "VPC security groups per Region", 2500),
        AccountQuota("clusters", "eks", "L-1194D53C", "Clusters", 100),
        AccountQuota("node-groups", "eks", "L-6D54EA21", "Managed node groups per cluster", 30),
        AccountQuota("nodes", "eks", "L-BD136A63", "Nodes per managed node group", 450),
    ]
    for bucket, label, on_demand, spot, default in VCPU_BUCKETS:
        quotas.append(
            AccountQuota(f"vcpus-{bucket}", "ec2", on_demand, f"Running On-Demand {label} instances", default)
        )
        quotas.append(AccountQuota(f"spot-vcpus-{bucket}", "ec2", spot, f"All {label} Spot Instance Requests", default))
    return {q.key: q for q in quotas}


NEW_ACCOUNT_QUOTAS: dict[str, AccountQuota] = _account_quotas()


def quota_by_code(code: str) -> AccountQuota | None:
    return next((q for q in NEW_ACCOUNT_QUOTAS.values() if q.code == code), None)


def accelerator(instance_type: str) -> str | None:
    """ "NVIDIA" or "NEURON" when EC2's data gives the type NVIDIA GPUs or Neuron devices."""
    info = _instance_types().get(instance_type) or {}
    gpus = info.get("GpuInfo")
    if isinstance(gpus, dict) and any(g.get("Manufacturer") == "NVIDIA" for g in gpus.get("Gpus", [])):
        return "NVIDIA"
    return "NEURON" if info.get("NeuronInfo") else None
