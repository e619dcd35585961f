"""The embedded AWS's rules, on stacks and calls made by hand.

CloudFormation replaces what AWS replaces, for any type, from its provider schema: a create-only
property changed makes a new resource (DescribeChangeSet says Replacement: True) and the old one
goes; a custom-named resource that would need replacing fails the update with CloudFormation's own
message, and the stack rolls back (no rule here is written per type). EKS refuses what its API
reference and user guide say it refuses for node groups and add-ons, and the product's EKS calls
(`clusterdrop.aws.eks`) keep to those rules."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from clusterdrop.local import session


def _settled(cfn: Any, stack: str) -> tuple[str, list[str]]:
    deadline = time.monotonic() + 60
    while True:
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
            return status, [e.get("ResourceStatusReason") or "" for e in events]
        time.sleep(0.2)


def _update(cfn: Any, stack: str, template: dict[str, Any], name: str, **kwargs: Any) -> list[dict[str, Any]]:
    """A change set of the new template: its resource changes, once executed and settled."""
    cfn.create_change_set(
        StackName=stack, ChangeSetName=name, ChangeSetType="UPDATE", TemplateBody=json.dumps(template), **kwargs
    )
    changes = cfn.describe_change_set(StackName=stack, ChangeSetName=name)["Changes"]
    cfn.execute_change_set(StackName=stack, ChangeSetName=name)
    return [c["ResourceChange"] for c in changes]


def test_a_create_only_change_replaces_an_unnamed_resource(local: session.LocalDeployer) -> None:
    cfn, ec2 = local.aws.client("cloudformation"), local.aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]["VpcId"]

    def template(cidr: str, name: str) -> dict[str, Any]:
        subnet = {"VpcId": vpc, "CidrBlock": cidr, "Tags": [{"Key": "Name", "Value": name}]}
        return {"Resources": {"Subnet": {"Type": "AWS::EC2::Subnet", "Properties": subnet}}}

    cfn.create_stack(StackName="replace-subnet", TemplateBody=json.dumps(template("10.91.1.0/24", "a")))
    first = cfn.describe_stack_resource(StackName="replace-subnet", LogicalResourceId="Subnet")
    before = first["StackResourceDetail"]["PhysicalResourceId"]

    [tagged] = _update(cfn, "replace-subnet", template("10.91.1.0/24", "b"), "tags")  # tags: in place
    assert (tagged["Action"], tagged["Replacement"]) == ("Modify", "False")
    assert _settled(cfn, "replace-subnet")[0] == "UPDATE_COMPLETE"
    same = cfn.describe_stack_resource(StackName="replace-subnet", LogicalResourceId="Subnet")
    assert same["StackResourceDetail"]["PhysicalResourceId"] == before

    [moved] = _update(cfn, "replace-subnet", template("10.91.2.0/24", "b"), "cidr")  # CidrBlock: create-only
    assert (moved["Action"], moved["Replacement"]) == ("Modify", "True")
    assert [d["Target"]["Name"] for d in moved["Details"]] == ["CidrBlock"]
    assert _settled(cfn, "replace-subnet")[0] == "UPDATE_COMPLETE"
    after = cfn.describe_stack_resource(StackName="replace-subnet", LogicalResourceId="Subnet")
    new = after["StackResourceDetail"]["PhysicalResourceId"]
    assert new != before
    subnets = {
        s["SubnetId"]: s["CidrBlock"]
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    }
    assert subnets == {new: "10.91.2.0/24"}  # the old subnet went in the clean-up
    cfn.delete_stack(StackName="replace-subnet")
    ec2.delete_vpc(VpcId=vpc)


def test_a_custom_named_resource_that_needs_replacing_fails_the_update(local: session.LocalDeployer) -> None:
    """A named IAM role whose Path changes (create-only): the update fails with CloudFormation's
    message naming the resource, and the role stays as it was."""
    cfn, iam = local.aws.client("cloudformation"), local.aws.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "pods.eks.amazonaws.com"}}]}  # fmt: skip

    def template(path: str, description: str) -> dict[str, Any]:
        role = {"RoleName": "ReplaceMe", "Path": path, "Description": description, "AssumeRolePolicyDocument": trust}
        return {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": role}}}

    caps = {"Capabilities": ["CAPABILITY_NAMED_IAM"]}
    cfn.create_stack(StackName="replace-named", TemplateBody=json.dumps(template("/a/", "one")), **caps)
    [described] = _update(cfn, "replace-named", template("/a/", "two"), "description", **caps)
    assert described["Replacement"] == "False"
    assert _settled(cfn, "replace-named")[0] == "UPDATE_COMPLETE"

    [moved] = _update(cfn, "replace-named", template("/b/", "two"), "path", **caps)
    assert (moved["Replacement"], [d["Target"]["Name"] for d in moved["Details"]]) == ("True", ["Path"])
    status, reasons = _settled(cfn, "replace-named")
    assert status == "UPDATE_ROLLBACK_COMPLETE"
    assert any(
        "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename ReplaceMe" in r
        for r in reasons
    ), reasons
    assert iam.get_role(RoleName="ReplaceMe")["Role"]["Path"] == "/a/"
    cfn.delete_stack(StackName="replace-named")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="ReplaceMe")


def test_a_node_group_is_refused_what_eks_refuses_and_never_replaced_under_its_name(
    local: session.LocalDeployer,
) -> None:
    """The emulated EKS and CloudFormation together, on a node group stack made by hand: a new
    group at a version other than its cluster's (CreateNodegroup's `version`: "the only accepted
    specified value"); a create-only change (InstanceTypes) of a group named by NodegroupName; a
    launch template added to a group created without one (UpdateNodegroupVersion's
    `launchTemplate`). Each fails the stack operation with the reason AWS gives; the group stays."""
    from clusterdrop import facts

    cfn, ec2, eks = local.aws.client("cloudformation"), local.aws.client("ec2"), local.aws.client("eks")
    version = facts.DEFAULT_KUBERNETES_VERSION
    major, minor = version.split(".")
    subnets = _cluster_stack(cfn, ec2, "ng-rules", version, "10.92")

    def group(**changes: Any) -> dict[str, Any]:
        properties = {"ClusterName": "ng-rules", "NodegroupName": "workers", "Version": version,
                      "NodeRole": "arn:aws:iam::123456789012:role/ng-rules-node", "Subnets": subnets,
                      "InstanceTypes": ["t3.medium"], "ScalingConfig": {"MinSize": 1, "DesiredSize": 1, "MaxSize": 2},
                      **changes}  # fmt: skip
        return {"Resources": {"NodeGroup": {"Type": "AWS::EKS::Nodegroup", "Properties": properties}}}

    # An SSH key that is not an EC2 key pair of the region: EKS refuses the group.
    cfn.create_stack(StackName="ng-rules-nokey", TemplateBody=json.dumps(group(RemoteAccess={"Ec2SshKey": "nokey"})))
    status, reasons = _settled(cfn, "ng-rules-nokey")
    assert status == "ROLLBACK_COMPLETE"
    assert any("The key pair 'nokey' does not exist" in r for r in reasons), reasons
    cfn.delete_stack(StackName="ng-rules-nokey")

    behind = f"{major}.{int(minor) - 1}"
    cfn.create_stack(StackName="ng-rules-behind", TemplateBody=json.dumps(group(Version=behind)))
    status, reasons = _settled(cfn, "ng-rules-behind")
    assert status == "ROLLBACK_COMPLETE"
    assert any(f"Requested Nodegroup version {behind} is not the cluster's Kubernetes version" in r for r in reasons)
    cfn.delete_stack(StackName="ng-rules-behind")

    cfn.create_stack(StackName="ng-rules-workers", TemplateBody=json.dumps(group()))
    assert _settled(cfn, "ng-rules-workers")[0] == "CREATE_COMPLETE"
    [moved] = _update(cfn, "ng-rules-workers", group(InstanceTypes=["m5.large"]), "types")
    assert (moved["Replacement"], [d["Target"]["Name"] for d in moved["Details"]]) == ("True", ["InstanceTypes"])
    status, reasons = _settled(cfn, "ng-rules-workers")
    assert status == "UPDATE_ROLLBACK_COMPLETE"
    assert any("custom-named resource requires replacing. Rename workers" in r for r in reasons), reasons
    described = eks.describe_nodegroup(clusterName="ng-rules", nodegroupName="workers")["nodegroup"]
    assert described["instanceTypes"] == ["t3.medium"]

    template = ec2.create_launch_template(
        LaunchTemplateName="ng-rules-lt", LaunchTemplateData={"MetadataOptions": {"HttpTokens": "required"}}
    )["LaunchTemplate"]["LaunchTemplateId"]
    _update(cfn, "ng-rules-workers", group(LaunchTemplate={"Id": template, "Version": "1"}), "template")
    status, reasons = _settled(cfn, "ng-rules-workers")
    assert status == "UPDATE_ROLLBACK_COMPLETE"
    assert any("was not created with a launch template" in r for r in reasons), reasons
    # A version update goes alone: the handler refuses it beside a label change, takes each apart.
    release = described["releaseVersion"]
    _update(cfn, "ng-rules-workers", group(ReleaseVersion=f"{release}.1", Labels={"role": "web"}), "both")
    status, reasons = _settled(cfn, "ng-rules-workers")
    assert status == "UPDATE_ROLLBACK_COMPLETE"
    assert any("Version and ReleaseVersion updates cannot be combined with other updates" in r for r in reasons)
    _update(cfn, "ng-rules-workers", group(Labels={"role": "web"}), "labels")
    assert _settled(cfn, "ng-rules-workers")[0] == "UPDATE_COMPLETE"
    for stack in ("ng-rules-workers", "ng-rules"):
        cfn.delete_stack(StackName=stack)
    assert eks.list_clusters()["clusters"].count("ng-rules") == 0


def _cluster_stack(cfn: Any, ec2: Any, name: str, version: str, cidr: str) -> list[str]:
    vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr}.{i}.0/24", AvailabilityZone=f"eu-west-1{z}")["Subnet"][
            "SubnetId"
        ]
        for i, z in enumerate("ab")
    ]
    cluster = {"Name": name, "Version": version, "RoleArn": f"arn:aws:iam::123456789012:role/{name}-cluster",
               "ResourcesVpcConfig": {"SubnetIds": subnets}}  # fmt: skip
    body = {"Resources": {"Cluster": {"Type": "AWS::EKS::Cluster", "Properties": cluster}}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(body))
    assert _settled(cfn, name)[0] == "CREATE_COMPLETE"
    return subnets


def _active(eks: Any, cluster: str, addon: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        described = eks.describe_addon(clusterName=cluster, addonName=addon)["addon"]
        if described["status"] == "ACTIVE" or time.monotonic() > deadline:
            return str(described["addonVersion"])
        time.sleep(0.1)


def test_vpc_cni_moves_one_minor_at_a_time(local: session.LocalDeployer) -> None:
    """EKS refuses a vpc-cni update of more than one minor; an upgrade's realignment steps one minor
    towards EKS's default, and Plan refuses a pin two minors from what runs, naming the step."""
    from clusterdrop.aws import eks as product_eks
    from clusterdrop.spec.models import Cluster

    cfn, ec2, eks = local.aws.client("cloudformation"), local.aws.client("ec2"), local.aws.client("eks")
    _cluster_stack(cfn, ec2, "cni-steps", "1.33", "10.93")
    offered = product_eks.compatible_versions(eks, "vpc-cni", "1.33")
    assert len({v.split(".")[1] for v in offered}) >= 3, offered  # several minors, as EKS offers
    oldest, newest = offered[-1], offered[0]
    eks.create_addon(clusterName="cni-steps", addonName="vpc-cni", addonVersion=oldest)
    assert _active(eks, "cni-steps", "vpc-cni") == oldest
    with pytest.raises(eks.exceptions.InvalidParameterException, match="can only go up or down 1 minor version"):
        eks.update_addon(clusterName="cni-steps", addonName="vpc-cni", addonVersion=newest)

    moves = product_eks.realignment(eks, "cni-steps", "1.33")
    [(was, step)] = moves.values()
    assert was == oldest
    assert step not in (oldest, newest)
    assert product_eks.minor_gap(oldest, step) == 1
    assert product_eks.realign_addons(eks, "cni-steps", "1.33") == {"vpc-cni": f"{oldest} → {step}"}
    assert _active(eks, "cni-steps", "vpc-cni") == step

    spec = {"apiVersion": "clusterdrop.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "cni-steps"},
            "spec": {"region": "eu-west-1", "kubernetesVersion": "1.33", "cni": {"name": "aws-vpc-cni"},
                     "addonVersions": {"vpc-cni": newest},
                     "nodeGroups": [{"name": "workers", "instanceTypes": ["t3.medium"], "desiredSize": 1}]}}  # fmt: skip
    cluster = Cluster.model_validate(spec)
    assert product_eks.pin_problems(eks, cluster, "1.33", {"vpc-cni": step}) == []  # one minor on: fine
    [problem] = product_eks.pin_problems(eks, cluster, "1.33", {"vpc-cni": oldest})
    assert problem.path == "spec.addonVersions.vpc-cni"
    assert f"pin {step} first, then {newest}" in problem.message
    cfn.delete_stack(StackName="cni-steps")


def test_every_request_is_checked_against_its_botocore_shape(local: session.LocalDeployer) -> None:
    """What botocore's client leaves to the service — lengths, patterns, enums, ranges — refused as
    each protocol refuses it, whatever the service (no check here is written per call)."""
    from botocore.exceptions import ClientError

    iam, cfn, eks = local.aws.client("iam"), local.aws.client("cloudformation"), local.aws.client("eks")
    ec2, sfn = local.aws.client("ec2"), local.aws.client("stepfunctions")
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    refused: list[tuple[Callable[[], object], str, str]] = [
        (lambda: iam.create_role(RoleName="r" * 65, AssumeRolePolicyDocument=trust), "ValidationError",
         "at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64"),
        (lambda: cfn.list_stacks(StackStatusFilter=["HALF_DONE"]), "ValidationError",
         "at 'stackStatusFilter.1.member' failed to satisfy constraint: Member must satisfy enum value set"),
        (lambda: eks.list_nodegroups(clusterName="no-such-cluster", maxResults=500), "ValidationException",
         "at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"),
        (lambda: sfn.list_executions(stateMachineArn="arn:aws:states:eu-west-1:1:stateMachine:x",
                                     statusFilter="HALF_DONE"), "ValidationException",
         "Member must satisfy enum value set: [RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE]"),
    ]  # fmt: skip
    for call, code, text in refused:
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == code, caught.value.response
        assert text in caught.value.response["Error"]["Message"], caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as ec2_refusal:
        ec2.describe_vpcs(MaxResults=1001)
    assert ec2_refusal.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(iam.exceptions.NoSuchEntityException):  # a valid request reaches the service
        iam.get_role(RoleName="r" * 64)


def test_a_deleted_stack_leaves_nothing_of_its_own(local: session.LocalDeployer) -> None:
    """An Elastic IP and an internet gateway (types moto's CloudFormation cannot delete) go with
    their stack, through the delete their provider schema's handler makes; the account's listing of
    every resource kind then finds nothing of the cluster's."""
    cfn = local.aws.client("cloudformation")
    tags = [{"Key": "clusterdrop:cluster", "Value": "leak"}]
    resources = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.94.0.0/16", "Tags": tags}},
        "Gateway": {"Type": "AWS::EC2::InternetGateway", "Properties": {"Tags": tags}},
        "Attachment": {"Type": "AWS::EC2::VPCGatewayAttachment",
                       "Properties": {"VpcId": {"Ref": "Vpc"}, "InternetGatewayId": {"Ref": "Gateway"}}},
        "Address": {"Type": "AWS::EC2::EIP", "DependsOn": "Attachment", "Properties": {"Domain": "vpc", "Tags": tags}},
    }  # fmt: skip
    cfn.create_stack(StackName="clusterdrop-leak", TemplateBody=json.dumps({"Resources": resources}))
    assert _settled(cfn, "clusterdrop-leak")[0] == "CREATE_COMPLETE"
    made = local.leftovers("leak")
    assert {line.split(" ")[0] for line in made} >= {"stack", "address", "internet", "vpc"}, made
    cfn.delete_stack(StackName="clusterdrop-leak")
    assert local.leftovers("leak") == []


def test_an_ec2_access_entry_takes_only_the_auto_node_policy(local: session.LocalDeployer) -> None:
    cfn, ec2 = local.aws.client("cloudformation"), local.aws.client("ec2")
    _cluster_stack(cfn, ec2, "ae-rules", "1.35", "10.95")
    policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKS{}Policy"

    def entry(name: str) -> dict[str, Any]:
        properties = {"ClusterName": "ae-rules", "PrincipalArn": "arn:aws:iam::123456789012:role/ae-nodes",
                      "Type": "EC2", "AccessPolicies": [{"PolicyArn": policy.format(name),
                                                         "AccessScope": {"Type": "cluster"}}]}  # fmt: skip
        return {"Resources": {"Entry": {"Type": "AWS::EKS::AccessEntry", "Properties": properties}}}

    cfn.create_stack(StackName="ae-admin", TemplateBody=json.dumps(entry("ClusterAdmin")))
    status, reasons = _settled(cfn, "ae-admin")
    assert status == "ROLLBACK_COMPLETE"
    assert any("only supports the AmazonEKSAutoNodePolicy" in r for r in reasons), reasons
    cfn.create_stack(StackName="ae-node", TemplateBody=json.dumps(entry("AutoNode")))
    assert _settled(cfn, "ae-node")[0] == "CREATE_COMPLETE"
    for stack in ("ae-admin", "ae-node", "ae-rules"):
        cfn.delete_stack(StackName=stack)
