"""The KMS keys a spec names, checked at *Plan* before anything is created: a key that cannot
serve would otherwise fail the create half-way — EKS refusing the cluster (a missing, disabled or
asymmetric secrets key), or EC2 Auto Scaling never starting a node (a volume key its
service-linked role may not use: `Client.InvalidKMSKey.InvalidState`)."""

from __future__ import annotations

import json
from typing import Any

from clusterdrop.errors import Problem
from clusterdrop.spec.models import Cluster

# EC2 Auto Scaling launches a managed node group's instances as this role, which has no KMS
# permissions of its own: only the key's policy (or a grant) lets it use a customer managed key
# ("Required AWS KMS key policy for use with encrypted volumes", EC2 Auto Scaling User Guide).
AUTOSCALING_ROLE = (
    "arn:{partition}:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
)
# What it does with the key: a grant for the instance's volumes, and the data keys under it.
AUTOSCALING_ACTIONS = ("kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom")


def check(kms: Any, iam: Any, cluster: Cluster) -> list[Problem]:
    """Every key of the spec, by the field that names it."""
    return resolve(kms, iam, cluster)[1]


def resolve(kms: Any, iam: Any, cluster: Cluster) -> tuple[Cluster, list[Problem]]:
    """Every key of the spec checked, by the field that names it, and a volume key given by ID or
    alias resolved to its key's ARN (what the templates and the plan then name: an alias can be
    pointed at another key later; the cluster keeps the key it was planned with)."""
    problems: list[Problem] = []
    spec = cluster.spec
    if spec.control_plane.secrets_key:
        found = _usable(kms, iam, spec.control_plane.secrets_key, "spec.controlPlane.secretsKey", autoscaling=False)
        problems += [] if isinstance(found, str) else found
    groups = list(spec.node_groups)
    for i, group in enumerate(groups):
        if group.volume is not None and group.volume.kms_key_id:
            path = f"spec.nodeGroups[{i}].volume.kmsKeyId"
            found = _usable(kms, iam, group.volume.kms_key_id, path, autoscaling=True)
            if isinstance(found, str):
                volume = group.volume.model_copy(update={"kms_key_id": found})
                groups[i] = group.model_copy(update={"volume": volume})
            else:
                problems += found
    resolved = cluster.model_copy(update={"spec": spec.model_copy(update={"node_groups": groups})})
    return resolved, problems


# The Auto Scaling role's own policy (AutoScalingServiceRolePolicy) grants no KMS action: only the
# key policy can allow it. IAM's simulator needs an identity policy, so it gets one that allows
# nothing asked here.
_NO_KMS = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "autoscaling:Describe*", "Resource": "*"}]}
)


def _key_policy_allows(iam: Any, policy: str, arn: str, role: str) -> bool:
    """Whether the key policy lets the Auto Scaling role act with the key, as IAM's policy simulator
    answers it (SimulateCustomPolicy with the key policy as the resource policy, the role as the
    caller, and the condition key KMS sets on a grant for an AWS resource)."""
    answer = iam.simulate_custom_policy(
        PolicyInputList=[_NO_KMS],
        ActionNames=list(AUTOSCALING_ACTIONS),
        ResourceArns=[arn],
        ResourcePolicy=policy,
        CallerArn=role,
        ContextEntries=[
            {"ContextKeyName": "kms:GrantIsForAWSResource", "ContextKeyValues": ["true"], "ContextKeyType": "boolean"}
        ],
    )
    return all(r["EvalDecision"] == "allowed" for r in answer["EvaluationResults"])


def _usable(kms: Any, iam: Any, given: str, path: str, *, autoscaling: bool) -> list[Problem] | str:
    """The problems of the key `given` names (its ID, alias, ARN or alias ARN), or its ARN."""
    try:
        key = kms.describe_key(KeyId=given)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        return [Problem(path, f"no KMS key {given}")]
    except kms.exceptions.ClientError as exc:
        return [Problem(path, f"the deployer cannot read KMS key {given}: {exc.response['Error']['Message']}")]
    arn = str(key["Arn"])
    if key.get("KeyState") != "Enabled":
        return [Problem(path, f"KMS key {_named(given, arn)} is {key.get('KeyState')}; it must be Enabled")]
    # SYMMETRIC_DEFAULT keys are the encrypting kind (asymmetric and HMAC keys have other specs).
    if key.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        return [
            Problem(
                path, f"KMS key {_named(given, arn)} is {key.get('KeySpec')}; EKS and EBS encrypt with symmetric keys"
            )
        ]
    if not autoscaling:
        return arn
    partition, account = arn.split(":")[1], arn.split(":")[4]
    role = AUTOSCALING_ROLE.format(partition=partition, account=account)
    policy = kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]
    allowed = _key_policy_allows(iam, policy, arn, role)
    granted = any(g.get("GranteePrincipal") == role for g in kms.list_grants(KeyId=arn).get("Grants", []))
    if allowed or granted:
        return arn
    return [
        Problem(
            path,
            f"KMS key {_named(given, arn)}: its key policy does not let {role.rsplit('/', 1)[1]} (EC2 Auto Scaling, "
            "which starts the nodes) use it, and no grant does: no node would start "
            "(Client.InvalidKMSKey.InvalidState). "
            f"Allow {role} kms:CreateGrant, kms:Decrypt, kms:GenerateDataKey* and kms:ReEncrypt* in the key policy",
        )
    ]


def _named(given: str, arn: str) -> str:
    """The key as the spec names it, and which key that is when it names it otherwise."""
    return arn if given == arn else f"{given} ({arn})"
