"""The KMS keys a spec names, checked at Plan against moto's KMS over HTTP: by their state and kind,
and — for a node volume's key — whether EC2 Auto Scaling's service-linked role may use it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from clusterdrop import steps
from clusterdrop.aws import keys, stacks
from clusterdrop.errors import SpecInvalid
from clusterdrop.spec.loader import Document
from clusterdrop.spec.validate import validate
from tests.aws.test_steps import QUICKSTART, _upload, aws  # noqa: F401 - the fixture

ACCOUNT = "123456789012"
AUTOSCALING = keys.AUTOSCALING_ROLE.format(partition="aws", account=ACCOUNT)


def _cluster(secrets: str | None = None, volume: str | None = None) -> Any:
    data = yaml.safe_load(QUICKSTART)
    if secrets:
        data["spec"]["controlPlane"] = {"secretsKey": secrets}
    if volume:
        data["spec"]["nodeGroups"][0]["volume"] = {"kmsKeyId": volume}
    return validate(Document(data=data, is_yaml=False))


def _policy(*principals: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": p}, "Action": "kms:*", "Resource": "*"} for p in principals
            ],
        }
    )


def test_a_secrets_key_must_exist_be_enabled_and_symmetric(aws: dict[str, Any]) -> None:  # noqa: F811
    kms, iam = aws["session"].client("kms"), aws["session"].client("iam")
    good = kms.create_key()["KeyMetadata"]
    assert keys.check(kms, iam, _cluster(secrets=good["Arn"])) == []
    missing = good["Arn"].rsplit("/", 1)[0] + "/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    [problem] = keys.check(kms, iam, _cluster(secrets=missing))
    assert (problem.path, problem.message) == ("spec.controlPlane.secretsKey", f"no KMS key {missing}")
    disabled = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=disabled["KeyId"])
    [problem] = keys.check(kms, iam, _cluster(secrets=disabled["Arn"]))
    assert problem.message == f"KMS key {disabled['Arn']} is Disabled; it must be Enabled"
    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    [problem] = keys.check(kms, iam, _cluster(secrets=signing["Arn"]))
    assert "is RSA_2048; EKS and EBS encrypt with symmetric keys" in problem.message


def test_a_volume_key_must_let_ec2_auto_scaling_use_it(aws: dict[str, Any]) -> None:  # noqa: F811
    kms, iam = aws["session"].client("kms"), aws["session"].client("iam")
    root = f"arn:aws:iam::{ACCOUNT}:root"
    account_only = kms.create_key(Policy=_policy(root))["KeyMetadata"]["Arn"]
    [problem] = keys.check(kms, iam, _cluster(volume=account_only))
    assert problem.path == "spec.nodeGroups[0].volume.kmsKeyId"
    assert "does not let AWSServiceRoleForAutoScaling (EC2 Auto Scaling, which starts the nodes) use it" in (
        problem.message
    )
    assert f"Allow {AUTOSCALING} kms:CreateGrant" in problem.message
    named = kms.create_key(Policy=_policy(root, AUTOSCALING))["KeyMetadata"]["Arn"]
    assert keys.check(kms, iam, _cluster(volume=named)) == []
    granted = kms.create_key(Policy=_policy(root))["KeyMetadata"]["Arn"]
    kms.create_grant(
        KeyId=granted,
        GranteePrincipal=AUTOSCALING,
        Operations=["Decrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "CreateGrant"],
    )
    assert keys.check(kms, iam, _cluster(volume=granted)) == []


def test_a_volume_key_by_id_or_alias_is_resolved_to_its_arn(aws: dict[str, Any]) -> None:  # noqa: F811
    """EBS takes a key ID, an alias name, a key ARN or an alias ARN; Plan resolves each to the
    key's ARN, which the templates and the plan then name."""
    kms, iam = aws["session"].client("kms"), aws["session"].client("iam")
    root = f"arn:aws:iam::{ACCOUNT}:root"
    key = kms.create_key(Policy=_policy(root, AUTOSCALING))["KeyMetadata"]
    kms.create_alias(AliasName="alias/nodes", TargetKeyId=key["KeyId"])
    alias_arn = key["Arn"].split(":key/")[0] + ":alias/nodes"
    for given in (key["KeyId"], "alias/nodes", key["Arn"], alias_arn):
        resolved, problems = keys.resolve(kms, iam, _cluster(volume=given))
        assert problems == [], given
        volume = resolved.spec.node_groups[0].volume
        assert volume is not None
        assert volume.kms_key_id == key["Arn"], given
    [problem] = keys.check(kms, iam, _cluster(volume="alias/nobody"))
    assert (problem.path, problem.message) == ("spec.nodeGroups[0].volume.kmsKeyId", "no KMS key alias/nobody")
    # Refusals name the key as the spec does, and which key that is.
    locked = kms.create_key(Policy=_policy(root))["KeyMetadata"]
    kms.create_alias(AliasName="alias/locked", TargetKeyId=locked["KeyId"])
    [problem] = keys.check(kms, iam, _cluster(volume="alias/locked"))
    assert problem.message.startswith(f"KMS key alias/locked ({locked['Arn']}): its key policy does not let")


def test_plan_refuses_a_key_that_cannot_serve_by_field_with_nothing_created(aws: dict[str, Any]) -> None:  # noqa: F811
    ports: steps.Ports = aws["ports"]
    name = f"k-{aws['suffix']}"
    key = ports.kms.create_key()["KeyMetadata"]["Arn"]
    text = QUICKSTART.replace("name: quickstart", f"name: {name}").replace(
        "      maxSize: 4\n", f"      maxSize: 4\n      volume: {{kmsKeyId: '{key}'}}\n"
    )
    state = _upload(aws, text, key=f"clusters/{name}.yaml")
    state["validated"] = steps.validate_spec(state, ports)
    with pytest.raises(SpecInvalid, match=r"spec.nodeGroups\[0\].volume.kmsKeyId: KMS key .* does not let"):
        steps.plan(state, ports)
    assert stacks.status(ports.cfn, f"clusterdrop-{name}") is None
