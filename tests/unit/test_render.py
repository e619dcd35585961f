"""The offline plan: what the rendered templates contain, and that they lint clean."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint

from clusterdrop import facts
from clusterdrop.errors import SpecInvalid
from clusterdrop.render.plan import format_summary, make_plan
from clusterdrop.spec.loader import Document
from clusterdrop.spec.models import Cluster
from clusterdrop.spec.source import load_spec
from clusterdrop.spec.validate import validate
from tests.conftest import DELETE, EKSCTL_FIXTURES, EXAMPLES, FIXTURES, REPO, example_network, set_path


def _cluster(data: dict[str, Any]) -> Cluster:
    return validate(Document(data=data, is_yaml=False))


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == kind}


def _convertible_eksctl() -> list[Path]:
    out = []
    for path in EKSCTL_FIXTURES:
        try:
            load_spec(path.read_bytes())
        except Exception:  # noqa: BLE001 - the refusals are tested in test_eksctl
            continue
        out.append(path)
    return out


LINTED = [*EXAMPLES, *_convertible_eksctl()]


@pytest.mark.parametrize("path", LINTED, ids=lambda p: p.name)
def test_every_template_lints_without_errors(path: Path) -> None:
    cluster = load_spec(path.read_bytes()).cluster
    for stack in make_plan(cluster).stacks:
        matches = lint(json.dumps(stack.template), regions=[cluster.spec.region])
        errors = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id.startswith("E")]
        assert errors == [], stack.name


def test_three_eksctl_fixtures_at_least_are_linted() -> None:
    assert len(LINTED) - len(EXAMPLES) >= 3


def test_new_vpc_with_nat_per_zone(full_spec: dict[str, Any]) -> None:
    plan = make_plan(_cluster(full_spec))
    cluster_stack, nodegroup_stack, system_stack = plan.stacks
    assert cluster_stack.name == "clusterdrop-demo"
    assert nodegroup_stack.name == "clusterdrop-demo-ng-workers"
    assert system_stack.name == "clusterdrop-demo-ng-system"
    template = cluster_stack.template
    subnets = _resources(template, "AWS::EC2::Subnet")
    assert len(subnets) == 6
    assert len(_resources(template, "AWS::EC2::NatGateway")) == 3
    private = [p for k, p in subnets.items() if k.startswith("Private")]
    public = [p for k, p in subnets.items() if k.startswith("Public")]
    assert [p["AvailabilityZone"] for p in private] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    for props in private:
        tags = {t["Key"]: t["Value"] for t in props["Tags"]}
        assert tags["kubernetes.io/role/internal-elb"] == "1"
        assert tags["kubernetes.io/cluster/demo"] == "shared"
        assert tags["clusterdrop:cluster"] == "demo"
        assert tags["team"] == "platform"
    for props in public:
        tags = {t["Key"]: t["Value"] for t in props["Tags"]}
        assert tags["kubernetes.io/role/elb"] == "1"
        assert props["MapPublicIpOnLaunch"] is False  # private topology
    # Each private subnet routes through the NAT gateway of its own zone.
    routes = _resources(template, "AWS::EC2::Route")
    assert sorted(r["NatGatewayId"]["Ref"] for r in routes.values() if "NatGatewayId" in r) == [
        "NatGateway1",
        "NatGateway2",
        "NatGateway3",
    ]
    endpoint = _resources(template, "AWS::EC2::VPCEndpoint")["S3GatewayEndpoint"]
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert len(endpoint["RouteTableIds"]) == 4


@pytest.mark.parametrize(("mode", "nats", "routes"), [("single", 1, 2), ("per-zone", 3, 4)])
def test_nat_modes(full_spec: dict[str, Any], mode: str, nats: int, routes: int) -> None:
    set_path(full_spec, "spec.network.natGateways", mode)
    template = make_plan(_cluster(full_spec)).stacks[0].template
    assert len(_resources(template, "AWS::EC2::NatGateway")) == nats
    assert len(_resources(template, "AWS::EC2::Route")) == routes


def test_no_nat_in_public_topology(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.network.natGateways", "none")
    set_path(full_spec, "spec.network.topology", "public")
    plan = make_plan(_cluster(full_spec))
    template = plan.stacks[0].template
    assert _resources(template, "AWS::EC2::NatGateway") == {}
    assert _resources(template, "AWS::EC2::EIP") == {}
    public = [p for k, p in _resources(template, "AWS::EC2::Subnet").items() if k.startswith("Public")]
    assert all(p["MapPublicIpOnLaunch"] is True for p in public)
    node_subnets = template["Outputs"]["NodeSubnetIds"]["Value"]["Fn::Join"][1]
    assert [r["Ref"] for r in node_subnets] == ["PublicSubnet1", "PublicSubnet2", "PublicSubnet3"]


def test_eks_cluster_properties(full_spec: dict[str, Any]) -> None:
    template = make_plan(_cluster(full_spec)).stacks[0].template
    eks = _resources(template, "AWS::EKS::Cluster")["Cluster"]
    assert eks["Name"] == "demo"
    assert eks["Version"] == "1.35"
    assert eks["BootstrapSelfManagedAddons"] is False  # calico: no VPC CNI from EKS
    assert eks["AccessConfig"]["AuthenticationMode"] == "API"
    vpc_config = eks["ResourcesVpcConfig"]
    assert vpc_config["EndpointPrivateAccess"] is True
    assert vpc_config["EndpointPublicAccess"] is True
    assert vpc_config["PublicAccessCidrs"] == ["203.0.113.0/24"]
    assert [s["Ref"] for s in vpc_config["SubnetIds"]] == ["PrivateSubnet1", "PrivateSubnet2", "PrivateSubnet3"]
    assert eks["KubernetesNetworkConfig"] == {"ServiceIpv4Cidr": "172.20.0.0/16"}
    assert [t["Type"] for t in eks["Logging"]["ClusterLogging"]["EnabledTypes"]] == ["api", "audit"]
    entries = _resources(template, "AWS::EKS::AccessEntry")
    principals = [e["PrincipalArn"] for e in entries.values()]
    assert {"Fn::GetAtt": ["AgentRole", "Arn"]} in principals
    assert "arn:aws:iam::123456789012:role/platform-admin" in principals
    for entry in entries.values():
        [policy] = entry["AccessPolicies"]
        assert policy["PolicyArn"]["Fn::Sub"].endswith("AmazonEKSClusterAdminPolicy")
        assert policy["AccessScope"] == {"Type": "cluster"}


def test_vpc_cni_keeps_the_self_managed_addons(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.cni", {"name": "aws-vpc-cni"})
    set_path(full_spec, "spec.network.podCidr", DELETE)
    template = make_plan(_cluster(full_spec)).stacks[0].template
    assert _resources(template, "AWS::EKS::Cluster")["Cluster"]["BootstrapSelfManagedAddons"] is True
    node_role = _resources(template, "AWS::IAM::Role")["NodeRole"]
    assert any("AmazonEKS_CNI_Policy" in p["Fn::Sub"] for p in node_role["ManagedPolicyArns"])


def test_private_endpoint_has_no_public_cidrs(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.controlPlane.endpointAccess", "private")
    set_path(full_spec, "spec.controlPlane.adminCidrs", DELETE)
    template = make_plan(_cluster(full_spec)).stacks[0].template
    vpc_config = _resources(template, "AWS::EKS::Cluster")["Cluster"]["ResourcesVpcConfig"]
    assert vpc_config["EndpointPublicAccess"] is False
    assert "PublicAccessCidrs" not in vpc_config


def test_agent_lambda_lives_in_the_private_subnets(full_spec: dict[str, Any]) -> None:
    template = make_plan(_cluster(full_spec)).stacks[0].template
    agent = _resources(template, "AWS::Lambda::Function")["AgentFunction"]
    assert agent["FunctionName"] == "clusterdrop-demo-agent"
    assert agent["Architectures"] == ["arm64"]
    assert agent["Code"] == {"S3Bucket": {"Ref": "AgentCodeBucket"}, "S3Key": {"Ref": "AgentCodeKey"}}
    assert [s["Ref"] for s in agent["VpcConfig"]["SubnetIds"]] == ["PrivateSubnet1", "PrivateSubnet2", "PrivateSubnet3"]
    assert agent["VpcConfig"]["SecurityGroupIds"] == [{"Ref": "AgentSecurityGroup"}]
    ingress = _resources(template, "AWS::EC2::SecurityGroupIngress")["ControlPlaneIngressFromAgent"]
    assert (ingress["FromPort"], ingress["ToPort"]) == (443, 443)
    assert ingress["SourceSecurityGroupId"] == {"Ref": "AgentSecurityGroup"}
    assert ingress["GroupId"] == {"Ref": "ControlPlaneSecurityGroup"}
    assert set(template["Parameters"]) == {"AgentCodeBucket", "AgentCodeKey", "ArtifactsBucket"}


def test_node_group_stack(full_spec: dict[str, Any]) -> None:
    """With the VPC CNI: disk and SSH key on the node group, the ENI-derived pod limit left to EKS."""
    set_path(full_spec, "spec.cni", {"name": "aws-vpc-cni"})
    set_path(full_spec, "spec.network.podCidr", DELETE)
    template = make_plan(_cluster(full_spec)).stacks[1].template
    assert set(template["Resources"]) == {"NodeGroup"}
    group = _resources(template, "AWS::EKS::Nodegroup")["NodeGroup"]
    assert group["ScalingConfig"] == {"MinSize": 3, "DesiredSize": 3, "MaxSize": 6}
    assert group["InstanceTypes"] == ["t3.medium"]
    assert group["CapacityType"] == "ON_DEMAND"
    assert group["AmiType"] == "AL2023_x86_64_STANDARD"
    assert group["DiskSize"] == 50
    assert group["Labels"] == {"role": "worker"}
    assert group["Taints"] == [{"Key": "dedicated", "Value": "db", "Effect": "NO_SCHEDULE"}]
    assert group["RemoteAccess"] == {"Ec2SshKey": "ops"}
    assert group["Version"] == "1.35"
    assert group["Tags"]["clusterdrop:cluster"] == "demo"
    assert group["Subnets"] == {"Ref": "SubnetIds"}
    summary = make_plan(_cluster(full_spec)).summary()
    assert summary["nodeGroups"][0]["maxPods"] == 17  # t3.medium: 3 ENIs x (6 - 1) + 2


def test_overlay_node_groups_get_calicos_max_pods_through_a_launch_template(full_spec: dict[str, Any]) -> None:
    """Calico's pods use no VPC addresses: the kubelet's maxPods is Calico's EKS guide's 100, in an
    AL2023 nodeadm NodeConfig; disk and SSH key move to the launch template (EKS refuses them on a
    node group that has one)."""
    template = make_plan(_cluster(full_spec)).stacks[1].template
    group = _resources(template, "AWS::EKS::Nodegroup")["NodeGroup"]
    assert "DiskSize" not in group
    assert "RemoteAccess" not in group
    assert group["LaunchTemplate"] == {
        "Id": {"Ref": "LaunchTemplate"},
        "Version": {"Fn::GetAtt": ["LaunchTemplate", "LatestVersionNumber"]},
    }
    data = _resources(template, "AWS::EC2::LaunchTemplate")["LaunchTemplate"]["LaunchTemplateData"]
    assert data["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 50
    assert data["KeyName"] == "ops"
    user_data = data["UserData"]["Fn::Base64"]
    assert "Content-Type: application/node.eks.aws" in user_data
    node_config = yaml.safe_load(user_data.split("---\n", 1)[1].split("\n--//", 1)[0])
    assert node_config["kind"] == "NodeConfig"
    assert node_config["spec"]["kubelet"]["config"]["maxPods"] == 100
    summary = make_plan(_cluster(full_spec)).summary()
    assert {g["maxPods"] for g in summary["nodeGroups"]} == {100}


def test_arm_spot_node_group(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.nodeGroups[0].instanceTypes", ["m7g.large", "c7g.large"])
    set_path(full_spec, "spec.nodeGroups[0].capacityType", "spot")
    group = _resources(make_plan(_cluster(full_spec)).stacks[1].template, "AWS::EKS::Nodegroup")["NodeGroup"]
    assert group["AmiType"] == "AL2023_ARM_64_STANDARD"
    assert group["CapacityType"] == "SPOT"


def test_existing_vpc_creates_no_network_and_plans_subnet_tags() -> None:
    path = next(p for p in EXAMPLES if p.name == "existing-vpc.yaml")
    plan = make_plan(load_spec(path.read_bytes(), resolve=example_network).cluster)
    template = plan.stacks[0].template
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert not kinds & {"AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::NatGateway", "AWS::EC2::InternetGateway"}
    eks = _resources(template, "AWS::EKS::Cluster")["Cluster"]
    assert eks["ResourcesVpcConfig"]["SubnetIds"][0] == "subnet-0aa11bb22cc33dd44"
    sg = _resources(template, "AWS::EC2::SecurityGroup")["AgentSecurityGroup"]
    assert sg["VpcId"] == "vpc-0a1b2c3d4e5f60718"
    assert {
        "subnet": "subnet-0aa11bb22cc33dd44",
        "tag": "kubernetes.io/cluster/payments",
        "value": "shared",
    } in plan.subnet_tags
    assert {"subnet": "subnet-0dd44ee55ff660077", "tag": "kubernetes.io/role/elb", "value": "1"} in plan.subnet_tags
    assert [s.name for s in plan.stacks] == [
        "clusterdrop-payments",
        "clusterdrop-payments-ng-system",
        "clusterdrop-payments-ng-batch",
    ]


def test_zones_picked_at_deploy_time_use_get_azs() -> None:
    path = next(p for p in EXAMPLES if p.name == "quickstart.yaml")
    plan = make_plan(load_spec(path.read_bytes()).cluster)
    subnets = _resources(plan.stacks[0].template, "AWS::EC2::Subnet")
    assert subnets["PrivateSubnet2"]["AvailabilityZone"] == {"Fn::Select": [1, {"Fn::GetAZs": ""}]}
    summary = plan.summary()
    assert summary["zones"] == ["zone 1", "zone 2", "zone 3"]
    assert summary["zonesPickedAtDeploy"] is True
    assert summary["resourceTotals"]["AWS::EKS::Nodegroup"] == 1
    assert summary["steps"][0] == "Validate spec"


def test_subnet_cidrs_fit_inside_the_vpc(full_spec: dict[str, Any]) -> None:
    import ipaddress

    set_path(full_spec, "spec.network.vpc.cidr", "10.20.0.0/24")
    set_path(full_spec, "spec.network.podCidr", DELETE)
    subnets = _resources(make_plan(_cluster(full_spec)).stacks[0].template, "AWS::EC2::Subnet")
    nets = [ipaddress.IPv4Network(p["CidrBlock"]) for p in subnets.values()]
    vpc = ipaddress.IPv4Network("10.20.0.0/24")
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


def test_deployer_admins_join_the_specs_each_entry_named_by_its_principal(full_spec: dict[str, Any]) -> None:
    spec_admin, platform = "arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/platform"
    full_spec["spec"]["controlPlane"]["admins"] = [spec_admin]
    cluster = _cluster(full_spec)
    template = make_plan(cluster, admins=[platform, spec_admin]).stacks[0].template
    entries = {k: p["PrincipalArn"] for k, p in _resources(template, "AWS::EKS::AccessEntry").items() if "Admin" in k}
    assert sorted(entries.values()) == [spec_admin, platform]  # the spec's admin once, the deployer's beside it
    # Adding an admin leaves the others' entries where they were (a moved logical ID recreates one).
    alone = make_plan(cluster).stacks[0].template
    kept = {k: p["PrincipalArn"] for k, p in _resources(alone, "AWS::EKS::AccessEntry").items() if "Admin" in k}
    assert kept.items() <= entries.items()


def test_a_node_group_carries_its_own_tags_and_update_config(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.nodeGroups[0].tags", {"cost-center": "db"})
    set_path(full_spec, "spec.nodeGroups[0].updateConfig", {"maxUnavailablePercentage": 34})
    set_path(full_spec, "spec.nodeGroups[1].updateConfig", {"maxUnavailable": 2})
    plan = make_plan(_cluster(full_spec))
    _, workers, system = plan.stacks
    group = workers.template["Resources"]["NodeGroup"]["Properties"]
    assert group["Tags"] == {
        "clusterdrop:cluster": "demo",
        "team": "platform",
        "cost-center": "db",
        "clusterdrop:nodegroup": "workers",
    }
    assert group["UpdateConfig"] == {"MaxUnavailablePercentage": 34}
    template_tags = workers.template["Resources"]["LaunchTemplate"]["Properties"]["TagSpecifications"][0]["Tags"]
    assert {"Key": "cost-center", "Value": "db"} in template_tags
    assert system.template["Resources"]["NodeGroup"]["Properties"]["UpdateConfig"] == {"MaxUnavailable": 2}
    assert "NodeRepairConfig" not in group  # EKS's default: off
    set_path(full_spec, "spec.nodeGroups[1].nodeRepair", {"enabled": True})
    _, workers, system = make_plan(_cluster(full_spec)).stacks
    assert system.template["Resources"]["NodeGroup"]["Properties"]["NodeRepairConfig"] == {"Enabled": True}
    # CloudFormation's schema takes both forms of UpdateConfig (cfn-lint errors would say otherwise).
    for stack in (workers, system):
        assert [m for m in lint(json.dumps(stack.template)) if m.rule.id.startswith("E")] == []


def test_a_scaling_tier_reaches_the_cluster_and_cfn_lint_takes_it(full_spec: dict[str, Any]) -> None:
    cluster_stack = make_plan(_cluster(full_spec)).stacks[0].template
    assert "ControlPlaneScalingConfig" not in cluster_stack["Resources"]["Cluster"]["Properties"]  # EKS's default
    set_path(full_spec, "spec.controlPlane.scalingTier", "tier-2xl")
    cluster_stack = make_plan(_cluster(full_spec)).stacks[0].template
    assert cluster_stack["Resources"]["Cluster"]["Properties"]["ControlPlaneScalingConfig"] == {"Tier": "tier-2xl"}
    assert [m for m in lint(json.dumps(cluster_stack)) if m.rule.id.startswith("E")] == []


def test_zonal_shift_and_the_upgrade_policy_reach_the_cluster(full_spec: dict[str, Any]) -> None:
    properties = make_plan(_cluster(full_spec)).stacks[0].template["Resources"]["Cluster"]["Properties"]
    assert "ZonalShiftConfig" not in properties  # EKS's defaults: off, extended support
    assert "UpgradePolicy" not in properties
    set_path(full_spec, "spec.controlPlane.zonalShift", True)
    set_path(full_spec, "spec.controlPlane.supportType", "standard")
    plan = make_plan(_cluster(full_spec))
    template = plan.stacks[0].template
    assert template["Resources"]["Cluster"]["Properties"]["ZonalShiftConfig"] == {"Enabled": True}
    assert template["Resources"]["Cluster"]["Properties"]["UpgradePolicy"] == {"SupportType": "STANDARD"}
    assert [m for m in lint(json.dumps(template)) if m.rule.id.startswith("E")] == []
    line = (
        "control plane: logs api, audit to CloudWatch, kept forever (EKS's group); zonal shift on; "
        "EKS upgrades the version itself when its standard support ends"
    )
    assert line in format_summary(plan.summary())


def test_a_log_retention_makes_the_log_group_before_the_cluster(full_spec: dict[str, Any]) -> None:
    assert "ControlPlaneLogGroup" not in make_plan(_cluster(full_spec)).stacks[0].template["Resources"]
    set_path(full_spec, "spec.controlPlane.logRetentionDays", 90)
    plan = make_plan(_cluster(full_spec))
    resources = plan.stacks[0].template["Resources"]
    group = resources["ControlPlaneLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["LogGroupName"] == "/aws/eks/demo/cluster"
    assert group["Properties"]["RetentionInDays"] == 90
    # Made first: EKS would otherwise make the group itself, without retention.
    assert resources["Cluster"]["DependsOn"] == "ControlPlaneLogGroup"
    assert [m for m in lint(json.dumps(plan.stacks[0].template)) if m.rule.id.startswith("E")] == []
    assert "logs api, audit to CloudWatch, kept 90 days" in format_summary(plan.summary())
    set_path(full_spec, "spec.controlPlane.logRetentionDays", 45)
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    assert [p.path for p in refused.value.problems] == ["spec.controlPlane.logRetentionDays"]


def test_a_secrets_key_encrypts_secrets_and_must_be_of_the_clusters_region(full_spec: dict[str, Any]) -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    set_path(full_spec, "spec.controlPlane.secretsKey", key)
    template = make_plan(_cluster(full_spec)).stacks[0].template
    assert template["Resources"]["Cluster"]["Properties"]["EncryptionConfig"] == [
        {"Provider": {"KeyArn": key}, "Resources": ["secrets"]}
    ]
    assert [m for m in lint(json.dumps(template)) if m.rule.id.startswith("E")] == []
    set_path(full_spec, "spec.controlPlane.secretsKey", key.replace("eu-west-1", "us-east-1"))
    with pytest.raises(
        SpecInvalid, match=r"spec.controlPlane.secretsKey: the KMS key is in us-east-1; EKS takes a key"
    ):
        _cluster(full_spec)
    set_path(full_spec, "spec.controlPlane.secretsKey", "arn:aws:kms:eu-west-1:123456789012:alias/secrets")
    with pytest.raises(SpecInvalid, match=r"spec.controlPlane.secretsKey: .*a KMS key ARN"):
        _cluster(full_spec)


def test_a_volume_goes_through_a_launch_template_and_ebs_limits_are_checked(full_spec: dict[str, Any]) -> None:
    """calico-ha's groups already have a launch template (maxPods); the quickstart's get one for the volume."""
    key = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    quickstart = yaml.safe_load((EXAMPLES[0].parent / "quickstart.yaml").read_text())
    group_path = "spec.nodeGroups[0].volume"
    set_path(quickstart, group_path, {"type": "gp3", "iops": 4000, "throughput": 250, "kmsKeyId": key})
    template = make_plan(_cluster(quickstart)).stacks[1].template
    properties = template["Resources"]["NodeGroup"]["Properties"]
    assert "DiskSize" not in properties  # EKS refuses it beside a launch template
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["BlockDeviceMappings"] == [
        {
            "DeviceName": "/dev/xvda",
            "Ebs": {"VolumeSize": 80, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True,
                    "Iops": 4000, "Throughput": 250, "KmsKeyId": key},
        }
    ]  # fmt: skip
    assert "UserData" not in data  # the VPC CNI: EKS sets maxPods itself
    assert [m for m in lint(json.dumps(template)) if m.rule.id.startswith("E")] == []
    for volume, problem in (
        ({"type": "gp2", "iops": 3000}, r"volume.iops: gp2 volumes have no provisioned IOPS"),
        ({"type": "io2"}, r"volume.iops: io2 volumes need provisioned IOPS"),
        ({"type": "io1", "iops": 5000, "sizeGiB": 50}, r"volume.iops: 5000 IOPS on 50 GiB; io1 allows 50 per GiB"),
        ({"type": "gp3", "throughput": 1000}, r"volume.throughput: 1000 MiB/s needs at least 4000 IOPS on gp3"),
        ({"type": "gp2", "throughput": 200}, r"volume.throughput: only gp3 volumes take a throughput"),
        ({"encrypted": False, "kmsKeyId": key}, r"volume.kmsKeyId: a KMS key encrypts"),
        ({"kmsKeyId": key.replace("eu-west-1", "us-east-1")}, r"volume.kmsKeyId: the KMS key is in us-east-1"),
    ):
        set_path(quickstart, group_path, volume)
        with pytest.raises(SpecInvalid, match=r"spec.nodeGroups\[0\]." + problem):
            _cluster(quickstart)


def test_bottlerocket_groups_take_their_ami_type_toml_settings_and_data_volume(full_spec: dict[str, Any]) -> None:
    """calico-ha: an overlay CNI, so the groups have a launch template carrying maxPods."""
    set_path(full_spec, "spec.nodeGroups[0].amiFamily", "bottlerocket")
    set_path(full_spec, "spec.nodeGroups[0].instanceTypes", ["m7g.large"])
    plan = make_plan(_cluster(full_spec))
    template = plan.stacks[1].template
    assert template["Resources"]["NodeGroup"]["Properties"]["AmiType"] == "BOTTLEROCKET_ARM_64"
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    settings = tomllib.loads(data["UserData"]["Fn::Base64"])
    assert settings["settings"]["kubernetes"]["max-pods"] > 0
    assert [m["DeviceName"] for m in data["BlockDeviceMappings"]] == ["/dev/xvdb"]  # Bottlerocket's data volume
    assert [m for m in lint(json.dumps(template)) if m.rule.id.startswith("E")] == []
    other = plan.stacks[2].template  # still AL2023
    assert other["Resources"]["NodeGroup"]["Properties"]["AmiType"] == "AL2023_x86_64_STANDARD"
    assert ", Bottlerocket, min" in format_summary(plan.summary())


def test_pod_identities_get_associations_roles_and_the_agent(full_spec: dict[str, Any]) -> None:
    s3 = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    existing = "arn:aws:iam::123456789012:role/payments-app"
    full_spec["spec"]["podIdentities"] = [
        {"namespace": "payments", "serviceAccount": "api", "roleArn": existing},
        {"namespace": "default", "serviceAccount": "reader", "policyArns": [s3]},
    ]
    cluster = _cluster(full_spec)
    assert "pod-identity-agent" in cluster.spec.addons  # the agent comes with the associations
    resources = make_plan(cluster).stacks[0].template["Resources"]
    associations = {
        (r["Properties"]["Namespace"], r["Properties"]["ServiceAccount"]): r["Properties"]["RoleArn"]
        for r in resources.values()
        if r["Type"] == "AWS::EKS::PodIdentityAssociation"
    }
    assert associations[("payments", "api")] == existing
    made = associations[("default", "reader")]["Fn::GetAtt"][0]
    role = resources[made]["Properties"]
    assert role["ManagedPolicyArns"] == [s3]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    template = make_plan(cluster).stacks[0].template
    assert [m for m in lint(json.dumps(template)) if m.rule.id.startswith("E")] == []
    full_spec["spec"]["podIdentities"] = [
        {"namespace": "default", "serviceAccount": "reader", "policyArns": [s3], "roleArn": existing},
        {"namespace": "default", "serviceAccount": "reader", "roleArn": existing},
    ]
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    assert "spec.podIdentities[0]: set roleArn, or policyArns and/or policy" in str(refused.value)
    assert "spec.podIdentities[1]: duplicate 'default/reader'" in str(refused.value)


def test_access_entries_carry_their_policies_scopes_and_groups(full_spec: dict[str, Any]) -> None:
    dev = "arn:aws:iam::123456789012:role/dev"
    full_spec["spec"]["access"] = [
        {"principal": dev, "policies": [{"policy": "view", "namespaces": ["team-a"]}, {"policy": "edit"}],
         "groups": ["developers"]},
    ]  # fmt: skip
    resources = make_plan(_cluster(full_spec)).stacks[0].template["Resources"]
    [entry] = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::EKS::AccessEntry" and r["Properties"]["PrincipalArn"] == dev
    ]
    assert [(p["PolicyArn"]["Fn::Sub"].rsplit("/", 1)[1], p["AccessScope"]) for p in entry["AccessPolicies"]] == [
        ("AmazonEKSViewPolicy", {"Type": "namespace", "Namespaces": ["team-a"]}),
        ("AmazonEKSEditPolicy", {"Type": "cluster"}),
    ]
    assert entry["KubernetesGroups"] == ["developers"]
    admin = full_spec["spec"]["controlPlane"]["admins"][0]
    full_spec["spec"]["access"] = [
        {"principal": admin, "policies": [{"policy": "view"}]},
        {"principal": dev},
        {"principal": dev, "groups": ["system:masters"]},
    ]
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    text = str(refused.value)
    assert "spec.access[0].principal: already in controlPlane.admins" in text
    assert "spec.access[1]: grants nothing" in text
    assert "spec.access[2].groups[0]: system: groups are Kubernetes' own" in text
    assert "spec.access[2].principal: duplicate" in text


def test_the_ebs_csi_driver_gets_its_permissions_through_pod_identity_not_the_node_role(
    full_spec: dict[str, Any],
) -> None:
    """calico-ha asks for ebs-csi: its controller's service account gets a role of its own."""
    cluster = _cluster(full_spec)
    assert "pod-identity-agent" in cluster.spec.addons
    resources = make_plan(cluster).stacks[0].template["Resources"]
    node_policies = json.dumps(resources["NodeRole"]["Properties"]["ManagedPolicyArns"])
    assert "AmazonEBSCSIDriverPolicy" not in node_policies
    association = resources["EbsCsiPodIdentity"]["Properties"]
    assert (association["Namespace"], association["ServiceAccount"]) == ("kube-system", "ebs-csi-controller-sa")
    assert association["RoleArn"] == {"Fn::GetAtt": ["EbsCsiRole", "Arn"]}
    assert "AmazonEBSCSIDriverPolicy" in json.dumps(resources["EbsCsiRole"]["Properties"]["ManagedPolicyArns"])
    full_spec["spec"]["podIdentities"] = [
        {
            "namespace": "kube-system",
            "serviceAccount": "ebs-csi-controller-sa",
            "roleArn": "arn:aws:iam::123456789012:role/x",
        }
    ]
    with pytest.raises(SpecInvalid, match=r"spec.podIdentities\[0\]: kube-system/ebs-csi-controller-sa is the EBS CSI"):
        _cluster(full_spec)


def test_an_oidc_identity_provider_is_associated_with_the_cluster(full_spec: dict[str, Any]) -> None:
    provider = {
        "name": "corp-sso",
        "issuerUrl": "https://login.example.com/oauth2",
        "clientId": "kubernetes",
        "groupsClaim": "groups",
        "groupsPrefix": "sso:",
        "requiredClaims": {"hd": "example.com"},
    }
    set_path(full_spec, "spec.identityProviders", [provider])
    plan = make_plan(_cluster(full_spec))
    [(logical_id, config)] = [
        (k, r)
        for k, r in plan.stacks[0].template["Resources"].items()
        if r["Type"] == "AWS::EKS::IdentityProviderConfig"
    ]
    assert logical_id.startswith("IdentityProvider")
    assert config["Properties"]["ClusterName"] == {"Ref": "Cluster"}
    assert config["Properties"]["IdentityProviderConfigName"] == "corp-sso"
    assert config["Properties"]["Type"] == "oidc"
    assert config["Properties"]["Oidc"] == {
        "IssuerUrl": "https://login.example.com/oauth2",
        "ClientId": "kubernetes",
        "GroupsClaim": "groups",
        "GroupsPrefix": "sso:",
        "RequiredClaims": [{"Key": "hd", "Value": "example.com"}],
    }
    assert [m for m in lint(json.dumps(plan.stacks[0].template)) if m.rule.id.startswith("E")] == []
    assert "corp-sso: https://login.example.com/oauth2 (client kubernetes)" in format_summary(plan.summary())


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"issuerUrl": "http://login.example.com"}, "spec.identityProviders[0].issuerUrl", "https://"),
        ({"issuerUrl": "https://login.example.com/?tenant=1"}, "spec.identityProviders[0].issuerUrl", "no query"),
        ({"groupsPrefix": "system:sso:"}, "spec.identityProviders[0].groupsPrefix", "system:"),
        ({"usernamePrefix": "system:"}, "spec.identityProviders[0].usernamePrefix", "system:"),
    ],
)
def test_an_identity_provider_is_refused_as_eks_would(
    full_spec: dict[str, Any], change: dict[str, str], path: str, message: str
) -> None:
    provider = {"name": "corp-sso", "issuerUrl": "https://login.example.com", "clientId": "kubernetes", **change}
    set_path(full_spec, "spec.identityProviders", [provider])
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    [problem] = refused.value.problems
    assert (problem.path, message in problem.message) == (path, True)


def test_a_cluster_takes_one_identity_provider(full_spec: dict[str, Any]) -> None:
    provider = {"name": "a", "issuerUrl": "https://login.example.com", "clientId": "kubernetes"}
    set_path(full_spec, "spec.identityProviders", [provider, {**provider, "name": "b"}])
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    assert [p.path for p in refused.value.problems] == ["spec.identityProviders"]


def test_auto_mode_renders_eks_compute_storage_and_load_balancing_with_their_roles() -> None:
    cluster = load_spec((REPO / "examples" / "auto-mode.yaml").read_bytes()).cluster
    plan = make_plan(cluster)
    assert [s.role for s in plan.stacks] == ["cluster"]  # no node-group stacks
    resources = plan.stacks[0].template["Resources"]
    properties = resources["Cluster"]["Properties"]
    assert properties["ComputeConfig"] == {
        "Enabled": True,
        "NodePools": ["general-purpose", "system"],
        "NodeRoleArn": {"Fn::GetAtt": ["NodeRole", "Arn"]},
    }
    assert properties["StorageConfig"] == {"BlockStorage": {"Enabled": True}}
    assert properties["KubernetesNetworkConfig"]["ElasticLoadBalancing"] == {"Enabled": True}
    assert properties["BootstrapSelfManagedAddons"] is False
    cluster_role = resources["ClusterRole"]["Properties"]
    assert cluster_role["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    attached = [p["Fn::Sub"].rsplit("/", 1)[1] for p in cluster_role["ManagedPolicyArns"]]
    assert attached == ["AmazonEKSClusterPolicy", *facts.AUTO_MODE_CLUSTER_POLICIES]
    node_role = [p["Fn::Sub"].rsplit("/", 1)[1] for p in resources["NodeRole"]["Properties"]["ManagedPolicyArns"]]
    assert node_role == ["AmazonEKSWorkerNodeMinimalPolicy", "AmazonEC2ContainerRegistryPullOnly"]
    assert [m for m in lint(json.dumps(plan.stacks[0].template)) if m.rule.id.startswith("E")] == []
    summary = format_summary(plan.summary())
    assert "CNI aws-vpc-cni (EKS Auto Mode's)" in summary
    assert "Compute: EKS Auto Mode, node pools general-purpose, system" in summary
    assert "Node groups:" not in summary
    assert "EKS Auto Mode: its nodes count against the vCPU quotas as EKS starts them, not at Plan" in summary


def test_a_pod_identity_role_with_an_inline_policy_chained_to_another_accounts_role(full_spec: dict[str, Any]) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    identity = {
        "namespace": "payments",
        "serviceAccount": "api",
        "policy": policy,
        "targetRoleArn": "arn:aws:iam::444455556666:role/reader",
        "disableSessionTags": True,
        "createServiceAccount": True,
        "labels": {"team": "pay"},
    }
    set_path(full_spec, "spec.podIdentities", [identity])
    plan = make_plan(_cluster(full_spec))
    resources = plan.stacks[0].template["Resources"]
    [role] = [r for k, r in resources.items() if k.startswith("PodIdentityRole")]
    assert role["Properties"]["Policies"] == [{"PolicyName": "pod-identity", "PolicyDocument": policy}]
    assert "ManagedPolicyArns" not in role["Properties"]
    [association] = [r for r in resources.values() if r["Type"] == "AWS::EKS::PodIdentityAssociation"
                     and r["Properties"]["Namespace"] == "payments"]  # fmt: skip
    assert association["Properties"]["TargetRoleArn"] == "arn:aws:iam::444455556666:role/reader"
    assert association["Properties"]["DisableSessionTags"] is True
    assert [m for m in lint(json.dumps(plan.stacks[0].template)) if m.rule.id.startswith("E")] == []
    assert (
        "payments/api: made for an inline policy, then arn:aws:iam::444455556666:role/reader; service account created"
        in format_summary(plan.summary())
    )


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"policy": {"Statement": []}}, "spec.podIdentities[0].policy", "Version 2012-10-17"),
        ({"policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}},
         "spec.podIdentities[0].policy.Statement[0]", "Action and Resource"),
        ({"labels": {"a": "b"}}, "spec.podIdentities[0].labels", "createServiceAccount"),
        ({"roleArn": "arn:aws:iam::123456789012:role/x"}, "spec.podIdentities[0]", "set roleArn, or"),
        ({"roleName": "has space"}, "spec.podIdentities[0].roleName", "an IAM role name"),
        ({"roleName": "r" * 65}, "spec.podIdentities[0].roleName", "an IAM role name"),
        ({"permissionsBoundaryArn": "arn:aws:iam:11111:policy/entity/boundary"},
         "spec.podIdentities[0].permissionsBoundaryArn", "an IAM policy ARN"),
    ],
)  # fmt: skip
def test_a_pod_identity_is_refused_by_field(
    full_spec: dict[str, Any], change: dict[str, Any], path: str, words: str
) -> None:
    identity: dict[str, Any] = {
        "namespace": "payments",
        "serviceAccount": "api",
        "policyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        **change,
    }
    set_path(full_spec, "spec.podIdentities", [identity])
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    problems = {p.path: p.message for p in refused.value.problems}
    assert words in problems[path], problems


def test_a_node_group_placed_apart_gets_the_other_subnets_and_named_instances() -> None:
    from clusterdrop.steps.planning import nodegroup_parameters

    cluster = load_spec((FIXTURES / "eksctl" / "03-two-nodegroups.yaml").read_bytes()).cluster
    plan = make_plan(cluster)
    main = plan.stacks[0].template
    assert main["Resources"]["PublicSubnet1"]["Properties"]["MapPublicIpOnLaunch"] is True
    assert main["Outputs"]["PrivateNodeSubnetIds"]["Value"] == {
        "Fn::Join": [",", [{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}, {"Ref": "PrivateSubnet3"}]]
    }
    outputs = {
        "NodeSubnetIds": "subnet-pub1,subnet-pub2",
        "NodeSubnetZones": "eu-north-1a,eu-north-1b",
        "PrivateNodeSubnetIds": "subnet-priv1,subnet-priv2",
        "PrivateNodeSubnetZones": "eu-north-1a,eu-north-1b",
    }
    assert nodegroup_parameters(cluster, "ng1-public", outputs)["SubnetIds"] == "subnet-pub1,subnet-pub2"
    assert nodegroup_parameters(cluster, "ng2-private", outputs)["SubnetIds"] == "subnet-priv1,subnet-priv2"
    named = next(s for s in plan.stacks if s.name.endswith("ng1-public")).template["Resources"]
    tags = named["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["TagSpecifications"]
    assert tags == [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "custom-node-name"}]}]
    for stack in plan.stacks:
        assert [m for m in lint(json.dumps(stack.template)) if m.rule.id.startswith("E")] == []


def test_a_node_group_placed_apart_needs_the_subnets_it_names(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.network.topology", "public")
    set_path(full_spec, "spec.network.natGateways", "none")
    set_path(full_spec, "spec.nodeGroups[0].topology", "private")
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    assert "spec.nodeGroups[0].topology" in {p.path for p in refused.value.problems}


def test_a_pod_identity_role_may_be_named_and_bounded(full_spec: dict[str, Any]) -> None:
    boundary = "arn:aws:iam::123456789012:policy/boundary"
    identity = {
        "namespace": "payments",
        "serviceAccount": "api",
        "policyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "roleName": "payments-api",
        "permissionsBoundaryArn": boundary,
    }
    set_path(full_spec, "spec.podIdentities", [identity])
    plan = make_plan(_cluster(full_spec))
    [role] = [r for k, r in plan.stacks[0].template["Resources"].items() if k.startswith("PodIdentityRole")]
    # The name is the user's; the path is clusterdrop's, where its deployer may make roles.
    assert (role["Properties"]["RoleName"], role["Properties"]["Path"]) == ("payments-api", "/clusterdrop/")
    assert role["Properties"]["PermissionsBoundary"] == boundary
    assert [m for m in lint(json.dumps(plan.stacks[0].template)) if m.rule.id.startswith("E")] == []
    assert f"payments/api: made as /clusterdrop/payments-api for ReadOnlyAccess, bounded by {boundary}" in (
        format_summary(plan.summary())
    )


@pytest.mark.parametrize(
    ("identities", "path", "words"),
    [
        # A role given by ARN is not made: nothing to name or bound.
        ([{"roleArn": "arn:aws:iam::123456789012:role/x", "roleName": "x"}], "spec.podIdentities[0].roleName",
         "with roleArn it makes none"),
        ([{"roleArn": "arn:aws:iam::123456789012:role/x",
           "permissionsBoundaryArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
         "spec.podIdentities[0].permissionsBoundaryArn", "with roleArn it makes none"),
        # IAM role names are unique in the account whatever their case.
        ([{"policyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"], "roleName": "App"},
          {"serviceAccount": "other", "policyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"], "roleName": "app"}],
         "spec.podIdentities[1].roleName", "podIdentities[0] names its role"),
    ],
)  # fmt: skip
def test_a_named_role_is_refused_where_iam_would(
    full_spec: dict[str, Any], identities: list[dict[str, Any]], path: str, words: str
) -> None:
    set_path(
        full_spec, "spec.podIdentities", [{"namespace": "payments", "serviceAccount": "api", **i} for i in identities]
    )
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    problems = {p.path: p.message for p in refused.value.problems}
    assert words in problems[path], problems


def test_add_on_tags_are_checked_beside_the_cluster_tags(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.addons", ["metrics-server"])
    set_path(full_spec, "spec.addonTags", {"metrics-server": {"team": "obs"}})
    plan = make_plan(_cluster(full_spec))
    assert "  metrics-server tagged team=obs" in format_summary(plan.summary()).splitlines()
    set_path(full_spec, "spec.addonTags", {"ebs-csi": {"team": "obs"}, "metrics-server": {"aws:team": "x"}})
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    problems = {p.path: p.message for p in refused.value.problems}
    assert "the cluster has no ebs-csi add-on to tag" in problems["spec.addonTags.ebs-csi"]
    assert "reserved by AWS" in problems["spec.addonTags.metrics-server.aws:team"]
    many = {f"k{i}": "v" for i in range(30)}
    set_path(full_spec, "metadata.tags", many)
    set_path(full_spec, "spec.addonTags", {"metrics-server": {f"o{i}": "v" for i in range(30)}})
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    assert (
        "tags with metadata.tags"
        in {p.path: p.message for p in refused.value.problems}["spec.addonTags.metrics-server"]
    )


def test_an_access_entry_may_name_its_kubernetes_user(full_spec: dict[str, Any]) -> None:
    from clusterdrop.local.eks import resources

    entry = {"principal": "arn:aws:iam::123456789012:user/ana", "username": "ana"}
    set_path(full_spec, "spec.access", [entry])
    resources_ = make_plan(_cluster(full_spec)).stacks[0].template["Resources"]
    [rendered] = [r for r in resources_.values() if r["Type"] == "AWS::EKS::AccessEntry"
                  and r["Properties"]["PrincipalArn"] == entry["principal"]]  # fmt: skip
    assert rendered["Properties"]["Username"] == "ana"
    assert "Policies" not in rendered["Properties"]
    # EKS keeps names beginning system:, eks:, aws:, amazon:, iam: — refused here, and by the emulated EKS.
    set_path(full_spec, "spec.access", [{**entry, "username": "eks:ana"}])
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    assert "spec.access[0].username" in {p.path for p in refused.value.problems}
    with pytest.raises(Exception, match="username eks:ana may not begin with"):
        resources._check_access_entry("Entry", {**rendered["Properties"], "Username": "eks:ana"})


def test_the_vpc_cni_add_on_is_pinned_like_the_others_and_the_plan_says_whose_version(
    full_spec: dict[str, Any],
) -> None:
    set_path(full_spec, "spec.cni", {"name": "aws-vpc-cni"})
    set_path(full_spec, "spec.network.podCidr", DELETE)
    summary = format_summary(make_plan(_cluster(full_spec)).summary())
    assert "CNI aws-vpc-cni (the EKS add-on vpc-cni, at EKS's default version for the cluster)" in summary
    set_path(full_spec, "spec.addonVersions", {"vpc-cni": "v1.23.1-eksbuild.2"})
    summary = format_summary(make_plan(_cluster(full_spec)).summary())
    assert "CNI aws-vpc-cni (the EKS add-on vpc-cni, v1.23.1-eksbuild.2)" in summary
    set_path(full_spec, "spec.cni", {"name": "calico"})
    set_path(full_spec, "spec.network.podCidr", "10.48.0.0/16")
    with pytest.raises(SpecInvalid) as refused:
        _cluster(full_spec)
    assert (
        "the cluster's CNI is calico"
        in {p.path: p.message for p in refused.value.problems}["spec.addonVersions.vpc-cni"]
    )


@pytest.mark.parametrize(
    ("family", "instance", "ami"),
    [
        ("al2023", "g5.xlarge", "AL2023_x86_64_NVIDIA"),
        ("al2023", "g5g.xlarge", "AL2023_ARM_64_NVIDIA"),
        ("al2023", "inf2.xlarge", "AL2023_x86_64_NEURON"),
        ("bottlerocket", "p5.48xlarge", "BOTTLEROCKET_x86_64_NVIDIA"),
        ("al2023", "m7g.large", "AL2023_ARM_64_STANDARD"),
    ],
)
def test_accelerated_instances_get_the_ami_type_with_their_drivers(
    full_spec: dict[str, Any], family: str, instance: str, ami: str
) -> None:
    """Review finding: GPU groups got *_STANDARD AMI types, which carry no NVIDIA driver."""
    from clusterdrop.render.nodegroup import render_nodegroup

    set_path(full_spec, "spec.nodeGroups[0].instanceTypes", [instance])
    set_path(full_spec, "spec.nodeGroups[0].amiFamily", family)
    cluster = load_spec(yaml.safe_dump(full_spec).encode()).cluster
    template = render_nodegroup(cluster, cluster.spec.node_groups[0])
    assert template["Resources"]["NodeGroup"]["Properties"]["AmiType"] == ami


def test_a_group_mixing_accelerators_or_neuron_on_bottlerocket_is_refused(full_spec: dict[str, Any]) -> None:
    set_path(full_spec, "spec.nodeGroups[0].instanceTypes", ["g5.xlarge", "m5.xlarge"])
    with pytest.raises(SpecInvalid, match=r"instanceTypes\[1\]: m5\.xlarge has no accelerators but g5\.xlarge has"):
        load_spec(yaml.safe_dump(full_spec).encode())
    set_path(full_spec, "spec.nodeGroups[0].instanceTypes", ["inf2.xlarge"])
    set_path(full_spec, "spec.nodeGroups[0].amiFamily", "bottlerocket")
    with pytest.raises(SpecInvalid, match=r"amiFamily: inf2\.xlarge needs the Neuron driver"):
        load_spec(yaml.safe_dump(full_spec).encode())


def test_auto_mode_without_built_in_pools_gives_the_node_role_its_access_entry() -> None:
    """Review finding: with nodePools [] EKS makes no access entry for the node role, and a custom
    node class's nodes could not join."""
    text = (REPO / "examples" / "auto-mode.yaml").read_text()
    for pools, expected in (("[general-purpose, system]", False), ("[]", True)):
        cluster = load_spec(
            text.replace("nodePools: [general-purpose, system]", f"nodePools: {pools}").encode()
        ).cluster
        resources = make_plan(cluster).stacks[0].template["Resources"]
        entry = resources.get("AutoNodeAccessEntry")
        assert (entry is not None) is expected, pools
        if entry is not None:
            assert entry["Properties"]["Type"] == "EC2"
            assert entry["Properties"]["PrincipalArn"] == {"Fn::GetAtt": ["NodeRole", "Arn"]}
            [policy] = entry["Properties"]["AccessPolicies"]
            assert policy["PolicyArn"]["Fn::Sub"].endswith("cluster-access-policy/AmazonEKSAutoNodePolicy")
