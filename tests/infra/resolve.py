"""Resolve a template's intrinsic functions the way CloudFormation would, offline: Refs and
GetAtts become the names and ARNs CloudFormation generates (`{stack}-{logical}-{suffix}` for an
unnamed resource), parameters their given values. Enough for the templates clusterdrop renders
and the policies the CDK synthesizes; anything else fails loudly."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"
SUFFIX = "1A2B3C4D5E6F"

# Name properties of the types that have one; EC2 resources are named by an ID.
_NAME_PROPERTY = {
    "AWS::IAM::Role": "RoleName",
    "AWS::EKS::Cluster": "Name",
    "AWS::EKS::Nodegroup": "NodegroupName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName",
}
_EC2_PREFIX = {
    "AWS::EC2::VPC": "vpc",
    "AWS::EC2::Subnet": "subnet",
    "AWS::EC2::InternetGateway": "igw",
    "AWS::EC2::RouteTable": "rtb",
    "AWS::EC2::NatGateway": "nat",
    "AWS::EC2::EIP": "eipalloc",
    "AWS::EC2::SecurityGroup": "sg",
    "AWS::EC2::VPCEndpoint": "vpce",
}


@dataclass
class Stack:
    name: str
    template: dict[str, Any]
    region: str
    parameters: dict[str, Any] = field(default_factory=dict)
    account: str = ACCOUNT

    def physical_name(self, logical_id: str) -> str:
        resource = self.template["Resources"][logical_id]
        kind = resource["Type"]
        prop = _NAME_PROPERTY.get(kind)
        if prop and prop in (resource.get("Properties") or {}):
            return str(self.resolve(resource["Properties"][prop]))
        if kind in _EC2_PREFIX:
            return f"{_EC2_PREFIX[kind]}-{abs(hash(logical_id)) % (1 << 64):016x}"
        generated = f"{self.name}-{logical_id}-{SUFFIX}"[:64]
        return generated.lower() if kind == "AWS::S3::Bucket" else generated

    def arn(self, logical_id: str) -> str:
        kind = self.template["Resources"][logical_id]["Type"]
        name = self.physical_name(logical_id)
        service = kind.split("::")[1].lower()
        match kind:
            case "AWS::IAM::Role":
                return f"arn:aws:iam::{self.account}:role/{name}"
            case "AWS::S3::Bucket":
                return f"arn:aws:s3:::{name}"
            case "AWS::Lambda::Function":
                return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
            case "AWS::EKS::Cluster":
                return f"arn:aws:eks:{self.region}:{self.account}:cluster/{name}"
            case "AWS::Logs::LogGroup":
                return f"arn:aws:logs:{self.region}:{self.account}:log-group:{name}:*"
        return f"arn:aws:{service}:{self.region}:{self.account}:{logical_id.lower()}/{name}"

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::StackName": self.name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in (self.template.get("Parameters") or {}):
            declared = self.template["Parameters"][name]
            if "Default" in declared:
                return declared["Default"]
            raise KeyError(f"parameter {name} has no value")
        return self.physical_name(name)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.arn(logical) if attribute == "Arn" else f"{self.physical_name(logical)}.{attribute}"
            if key == "Fn::Join":
                return str(arg[0]).join(str(self.resolve(v)) for v in self.resolve(arg[1]))
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return re.sub(
                    r"\$\{([^}!]+)\}",
                    lambda m: str(extra[m.group(1)] if m.group(1) in extra else self._sub(m.group(1))),
                    text,
                )
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(arg[0])]
            if key == "Fn::Base64":
                return base64.b64encode(str(self.resolve(arg)).encode()).decode()
            if key == "Fn::GetAZs":
                return [f"{self.region}{z}" for z in "abc"]
            if key.startswith("Fn::"):
                raise NotImplementedError(key)
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, name: str) -> Any:
        if "." in name:
            logical, attribute = name.split(".", 1)
            return self.resolve({"Fn::GetAtt": [logical, attribute]})
        return self._ref(name)

    def resources(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(logical id, type, resolved properties) of every resource."""
        return [
            (logical, r["Type"], self.resolve(r.get("Properties") or {}))
            for logical, r in self.template["Resources"].items()
        ]
