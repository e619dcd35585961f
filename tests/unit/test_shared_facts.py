"""Facts the product and the embedded AWS each keep: every pair compared, both sources named.

The emulator keeps its own copy (`clusterdrop/local/aws_facts.py` and the modules named below),
read from AWS's machine-readable data where there is some here; the product keeps the one it
acts on. A disagreement fails here — and says which two copies disagree — instead of passing on
both sides of every other test.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from clusterdrop import facts, quotas
from clusterdrop.aws import eks as product_eks
from clusterdrop.aws import keys
from clusterdrop.kube import disruptions, nodes
from clusterdrop.local import aws_facts
from clusterdrop.local.eks import api as emulated_eks
from clusterdrop.local.kubeapi import selectors


def test_the_zones_where_eks_places_no_control_plane() -> None:
    assert facts.EKS_UNSUPPORTED_ZONE_IDS == aws_facts.EKS_UNSUPPORTED_ZONE_IDS, (
        "clusterdrop/facts.py vs clusterdrop/local/aws_facts.py (EKS's troubleshooting guide)"
    )


def test_the_control_plane_log_types_are_botocores() -> None:
    assert aws_facts.eks_log_types() == facts.LOG_TYPES, "clusterdrop/facts.py vs botocore's EKS LogType enum"


def test_the_vpc_cnis_pod_limits_are_ec2s_network_limits() -> None:
    """The product's ENI table against EC2's DescribeInstanceTypes data (moto's copy). A type EC2's
    data does not have is named here, so that no new entry goes unchecked."""
    unverifiable = []
    for instance_type, (interfaces, addresses) in facts.ENI_LIMITS.items():
        limits = aws_facts.network_limits(instance_type)
        if limits is None:
            unverifiable.append(instance_type)
            continue
        assert (interfaces, addresses) == limits, f"{instance_type}: clusterdrop/facts.py vs EC2's instance data"
        assert facts.vpc_cni_max_pods(instance_type) == aws_facts.eks_ami_max_pods(instance_type)
    assert sorted(unverifiable) == ["p3.2xlarge", "p3.8xlarge"]  # in EKS's eni-max-pods.txt, not in moto's data
    assert aws_facts.eks_ami_max_pods("t3.medium") == 17  # EKS's AMI on a t3.medium


def test_the_nodegroup_label() -> None:
    assert nodes.NODEGROUP_LABEL == aws_facts.NODEGROUP_LABEL


def test_what_auto_scaling_needs_of_a_volume_key() -> None:
    assert keys.AUTOSCALING_ROLE.format(partition="aws", account="1") == aws_facts.AUTOSCALING_ROLE.format(account="1")
    assert set(keys.AUTOSCALING_ACTIONS) == set(aws_facts.AUTOSCALING_KEY_ACTIONS)


def test_a_new_accounts_quotas() -> None:
    assert set(quotas.QUOTAS) == set(aws_facts.NEW_ACCOUNT_QUOTAS)
    for key, product in quotas.QUOTAS.items():
        emulated = aws_facts.NEW_ACCOUNT_QUOTAS[key]
        assert (product.service, product.code, product.name, product.default) == (
            emulated.service,
            emulated.code,
            emulated.name,
            emulated.default,
        ), f"{key}: clusterdrop/quotas.py vs clusterdrop/local/aws_facts.py"


def test_the_vpc_defaults_are_moto_s_service_quotas_defaults() -> None:
    """For the VPC quotas a third copy exists: the defaults moto's Service Quotas serves."""
    from moto.servicequotas.resources.default_quotas.vpc import VPC_DEFAULT_QUOTAS

    served = {q["QuotaCode"]: q["Value"] for q in VPC_DEFAULT_QUOTAS}
    for quota in aws_facts.NEW_ACCOUNT_QUOTAS.values():
        if quota.service == "vpc" and quota.code in served:
            assert served[quota.code] == quota.default, quota


def test_every_instance_type_counts_against_the_same_vcpu_bucket_on_both_sides() -> None:
    """Over all of EC2's instance types (its data as moto ships it), the product's estimate of
    vCPUs where it has no DescribeInstanceTypes, and both bucket rules."""
    types = list(aws_facts._instance_types())
    assert len(types) > 500
    for instance_type in types:
        assert quotas.vcpu_group(instance_type) == aws_facts.vcpu_bucket(instance_type), instance_type
    for instance_type in ("t3.medium", "m5.large", "m5.2xlarge", "c6i.xlarge", "g5.xlarge"):
        assert quotas.estimated_vcpus(instance_type) == aws_facts.instance_vcpus(instance_type), instance_type


def test_the_add_ons_eks_moves_one_minor_at_a_time() -> None:
    assert set(emulated_eks.ONE_MINOR_AT_A_TIME) == product_eks.ONE_MINOR_AT_A_TIME


_KEYS = st.sampled_from(["app", "tier", "team"])
_VALUES = st.sampled_from(["a", "b", "c"])
_EXPRESSION = st.fixed_dictionaries(
    {"key": _KEYS, "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"])},
    optional={"values": st.lists(_VALUES, max_size=2)},
)
_SELECTOR = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "matchLabels": st.dictionaries(_KEYS, _VALUES, max_size=2),
            "matchExpressions": st.lists(_EXPRESSION, max_size=2),
        },
    ),
)


@given(_SELECTOR, st.dictionaries(_KEYS, _VALUES, max_size=3))
def test_a_budget_selects_the_same_pods_on_both_sides(selector: dict[str, Any] | None, labels: dict[str, str]) -> None:
    """The product's selector (which pods a budget blocks, at Plan) and the emulated disruption
    controller's, on any selector and labels."""
    product = disruptions.selects(selector, labels)
    assert product == selectors.selector_matches(selector, labels), json.dumps([selector, labels])


def test_the_accelerated_families_are_ec2s() -> None:
    """Which instance types need EKS's NVIDIA or Neuron AMI types: the product's family rule
    against EC2's GpuInfo and NeuronInfo, over every instance type of EC2's data."""
    disagree = [
        (t, facts.accelerator(t), aws_facts.accelerator(t))
        for t in aws_facts._instance_types()
        if facts.accelerator(t) != aws_facts.accelerator(t)
    ]
    # Trn2 UltraServers carry Trainium2 (EC2 User Guide, "Amazon EC2 Trn2 instances and UltraServers");
    # EC2's data here lists no NeuronInfo for them.
    assert disagree == [("trn2u.48xlarge", "NEURON", None)], "clusterdrop/facts.py accelerator() vs EC2's data"
    assert aws_facts.accelerator("g5.xlarge") == "NVIDIA"
    assert aws_facts.accelerator("inf2.xlarge") == "NEURON"


def test_the_cilium_operator_is_granted_every_call_its_start_up_makes() -> None:
    """The emulated operator's start-up calls (local/eks/in_cluster.py, from Cilium's ENI
    documentation) against the operator's policy the product grants (cni/catalog.py, from the same
    documentation): a call the product leaves out would crash-loop the operator on AWS."""
    from clusterdrop.cni.catalog import CILIUM_ENI_PRIVILEGES
    from clusterdrop.local.eks.in_cluster import CILIUM_ENI_STARTUP

    assert {f"ec2:{action}" for action, _ in CILIUM_ENI_STARTUP} <= set(CILIUM_ENI_PRIVILEGES)
