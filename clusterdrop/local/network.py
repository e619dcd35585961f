"""A network of the seed's shape for the embedded mode, standing in for the one a platform team
made with Terraform: a VPC with a public and a private subnet in each of three zones, one NAT
gateway, an S3 gateway endpoint, and its IDs published as SSM parameters under
`/clusterdrop/network/NAME/` (what `aws_ssm_parameter` resources publish) and as CloudFormation
exports `NAME-network-…`. A spec that references them (examples/existing-vpc.yaml) can then be
tried offline: `local run` deploys the network a spec's references name before it submits it.

Deployed with the embedded account's administrator, as the network's own pipeline would be: it is
not part of clusterdrop and never deployed to AWS by it.
"""

from __future__ import annotations

import json
import re
from typing import Any

PARAMETER_ROOT = "/clusterdrop/network/"
_NAMED = re.compile(r"^/clusterdrop/network/([a-z0-9-]{1,40})/")


def stack_name(name: str) -> str:
    return f"{name}-network"


def names_referenced(documents: list[Any]) -> set[str]:
    """The seed networks the specs' `fromSsm` references name (/clusterdrop/network/NAME/…)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            reference = value.get("fromSsm")
            if isinstance(reference, str) and (match := _NAMED.match(reference)):
                found.add(match.group(1))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for document in documents:
        walk(document)
    return found


def template(name: str, region: str, zones: list[str], cidr: str = "10.60.0.0/16") -> dict[str, Any]:
    """The network stack: three zones' subnets (/20 each, private after public), NAT, S3 endpoint,
    and its outputs as SSM parameters and exports."""
    base = cidr.split(".")[:2]
    resources: dict[str, Any] = {
        "Vpc": {
            "Type": "AWS::EC2::VPC",
            "Properties": {"CidrBlock": cidr, "EnableDnsHostnames": True, "EnableDnsSupport": True},
        },
        "Igw": {"Type": "AWS::EC2::InternetGateway"},
        "IgwAttachment": {
            "Type": "AWS::EC2::VPCGatewayAttachment",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "InternetGatewayId": {"Ref": "Igw"}},
        },
        "PublicRoutes": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
        "PublicDefault": {
            "Type": "AWS::EC2::Route",
            "DependsOn": "IgwAttachment",
            "Properties": {
                "RouteTableId": {"Ref": "PublicRoutes"},
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": {"Ref": "Igw"},
            },
        },
        "PrivateRoutes": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
        "NatIp": {"Type": "AWS::EC2::EIP", "Properties": {"Domain": "vpc"}},
        "Nat": {
            "Type": "AWS::EC2::NatGateway",
            "Properties": {"AllocationId": {"Fn::GetAtt": ["NatIp", "AllocationId"]}, "SubnetId": {"Ref": "Public1"}},
        },
        "PrivateDefault": {
            "Type": "AWS::EC2::Route",
            "Properties": {
                "RouteTableId": {"Ref": "PrivateRoutes"},
                "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": {"Ref": "Nat"},
            },
        },
        "S3Endpoint": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "ServiceName": f"com.amazonaws.{region}.s3",
                "VpcEndpointType": "Gateway",
                "RouteTableIds": [{"Ref": "PrivateRoutes"}],
            },
        },
    }
    for kind, offset in (("Public", 0), ("Private", 3)):
        for i, zone in enumerate(zones, 1):
            resources[f"{kind}{i}"] = {
                "Type": "AWS::EC2::Subnet",
                "Properties": {
                    "VpcId": {"Ref": "Vpc"},
                    "CidrBlock": f"{base[0]}.{base[1]}.{(offset + i - 1) * 16}.0/20",
                    "AvailabilityZone": zone,
                    "MapPublicIpOnLaunch": kind == "Public",
                },
            }
            resources[f"{kind}{i}Routes"] = {
                "Type": "AWS::EC2::SubnetRouteTableAssociation",
                "Properties": {"SubnetId": {"Ref": f"{kind}{i}"}, "RouteTableId": {"Ref": f"{kind}Routes"}},
            }
    values = {
        "vpc-id": {"Ref": "Vpc"},
        "private-subnet-ids": {"Fn::Join": [",", [{"Ref": f"Private{i}"} for i in range(1, len(zones) + 1)]]},
        "public-subnet-ids": {"Fn::Join": [",", [{"Ref": f"Public{i}"} for i in range(1, len(zones) + 1)]]},
    }
    outputs: dict[str, Any] = {}
    for key, value in values.items():
        logical = "".join(part.title() for part in key.split("-"))
        resources[f"{logical}Parameter"] = {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": f"{PARAMETER_ROOT}{name}/{key}",
                "Type": "String" if key == "vpc-id" else "StringList",
                "Value": value,
            },
        }
        outputs[logical] = {"Value": value, "Export": {"Name": f"{name}-network-{logical}"}}
    return {"Description": f"The {name} network (embedded stand-in for a Terraform network)", "Resources": resources,
            "Outputs": outputs}  # fmt: skip


def deploy(cfn: Any, ssm: Any, name: str, region: str, zones: list[str]) -> bool:
    """Deploy the named network unless its parameters already exist; whether it was deployed."""
    try:
        ssm.get_parameter(Name=f"{PARAMETER_ROOT}{name}/vpc-id")
        return False
    except ssm.exceptions.ParameterNotFound:
        pass
    cfn.create_stack(StackName=stack_name(name), TemplateBody=json.dumps(template(name, region, zones)))
    status = cfn.describe_stacks(StackName=stack_name(name))["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        raise RuntimeError(f"the {name} network stack ended in {status}")
    return True
