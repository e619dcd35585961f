"""IAM enforced in the embedded AWS for every caller that holds a role, as AWS enforces it.

Each Lambda function runs with the credentials of its own execution role, assumed through the
embedded STS as the Lambda service does (`runtime.py`). Every request signed with such
credentials is authorized here against the role's identity policies before moto handles it;
a refusal is the error AWS returns, naming the action and the resource. Requests signed with
any other key (the CLI, the tests, the embedded infrastructure: an administrator of the embedded
account) are not checked.

moto has an authorizer of its own, but it is off by default, ignores conditions, and authorizes
everything but S3 on `*` — a policy scoped to ARNs (as every policy here is) would refuse every
call. This module replaces it: the resource of each request is derived from the request (the
table, the stack, the cluster, the function …), and an action the Service Authorization
Reference lists without resource types is authorized on `*`. Also as AWS does:

- S3 answers a GetObject/HeadObject of a missing key with 403 AccessDenied, not 404, to a caller
  without s3:ListBucket on the bucket (S3 User Guide, "How Amazon S3 authorizes a request":
  without ListBucket a caller may not learn whether a key exists).
- CloudFormation calls that pass a service role (RoleARN) need iam:PassRole on it.
- sts:GetCallerIdentity needs no permission.

Known gaps, each stated here: resource-based policies (bucket, queue, topic, function, key
policies) are not evaluated — only identity policies are; the state machines' own role is not
enforced at run time (moto's Step Functions engine calls with its own client; the synthesized
role is checked offline instead); permissions boundaries, SCPs and session policies are not
modelled (nothing here uses them).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from clusterdrop.local import cfn_permissions
from clusterdrop.local.iam_policy import Decision, Request, denial, evaluate

_FILLER_ID = "00000000-0000-0000-0000-000000000000"
_EC2_KINDS = {
    "subnet": "subnet",
    "vpc": "vpc",
    "sg": "security-group",
    "rtb": "route-table",
    "igw": "internet-gateway",
    "nat": "natgateway",
    "eni": "network-interface",
}
# The signing name of a request is the IAM prefix, except for these.
_PREFIX = {"monitoring": "cloudwatch"}
# The embedded endpoint is plain HTTP on the loopback; it stands for the HTTPS every SDK uses on
# AWS, so requests carry aws:SecureTransport "true" (the TLS-only policies' condition key).
TLS = {"aws:SecureTransport": "true"}
_refused: list[str] = []  # every refusal of this process, newest last
_allowed: dict[tuple[str, str], Request] = {}  # (role, action) → the first request allowed
_lock = threading.Lock()


def refusals() -> list[str]:
    with _lock:
        return list(_refused)


def allowed() -> dict[tuple[str, str], Request]:
    """What each role was allowed to do in this process (one request per role and action):
    the evidence that every function's calls went through the check."""
    with _lock:
        return dict(_allowed)


class AccessDenied(Exception):
    def __init__(self, message: str, action: str):
        super().__init__(message)
        self.message, self.action = message, action


# --- who is calling -----------------------------------------------------------------------------


def _access_key(headers: Any) -> str:
    auth = headers.get("Authorization") or ""
    found = re.search(r"Credential=([^/]+)/", auth)
    if found:
        return found.group(1)
    return ""


def assume(account: str, region: str, role_arn: str, session: str, hours: int) -> tuple[str, str, str]:
    """The (access key, secret key, session token) of the role, assumed through the embedded STS as
    an AWS service assumes it for the code it runs; requests signed with them are the role's here."""
    from moto.sts.models import sts_backends

    assumed = sts_backends[account]["aws"].assume_role(
        region_name=region,
        role_session_name=session[:64],
        role_arn=role_arn,
        policy="",
        duration=hours * 3600,
        external_id="",
    )
    return str(assumed.access_key_id), str(assumed.secret_access_key), str(assumed.session_token)


def caller_role(account: str, headers: Any, query: dict[str, list[str]] | None = None) -> tuple[str, str] | None:
    """(role ARN, assumed-role ARN) when the request is signed with credentials from AssumeRole."""
    from moto.sts.models import sts_backends

    key = _access_key(headers) or ((query or {}).get("X-Amz-Credential", [""])[0].split("/")[0])
    if not key:
        return None
    assumed = sts_backends[account]["aws"].get_assumed_role_from_access_key(key)
    if assumed is None:
        return None
    return str(assumed.role_arn), str(assumed.arn)


def role_documents(account: str, role_arn: str) -> list[Any]:
    """The role's identity policies; none once the role is gone (its sessions then get nothing
    done, as on AWS where a deleted role's credentials stop working)."""
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account]["aws"].get_role(role_arn.rsplit("/", 1)[-1])
    except Exception:  # noqa: BLE001 - moto's NoSuchEntity
        return []
    documents: list[Any] = list(role.policies.values())
    for policy in role.managed_policies.values():
        documents.extend(v.document for v in policy.versions if v.is_default)
    return documents


# --- what is asked ------------------------------------------------------------------------------


def _fill(service: str, kind: str, names: dict[str, str]) -> str:
    pattern = cfn_permissions.arn_pattern(service, kind)
    return re.sub(r"\$\{([^}]+)\}", lambda m: names.get(m.group(1), _FILLER_ID), pattern)


def _stack_arn(account: str, region: str, name_or_id: str) -> str:
    if name_or_id.startswith("arn:"):
        return name_or_id
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[account][region]
    for stack in [*backend.stacks.values(), *backend.deleted_stacks.values()]:
        if stack.name == name_or_id:
            return str(stack.stack_id)
    return f"arn:aws:cloudformation:{region}:{account}:stack/{name_or_id}/{_FILLER_ID}"


def _secret_arn(account: str, region: str, secret_id: str) -> str:
    if secret_id.startswith("arn:"):
        return secret_id
    from moto.secretsmanager.models import secretsmanager_backends

    secrets = secretsmanager_backends[account][region].secrets
    for secret in secrets.values():
        if getattr(secret, "name", None) == secret_id:
            return str(secret.arn)
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}-AbCdEf"


def _role_arn(account: str, name: str) -> str:
    """A role's ARN with its path, as IAM authorizes a call on it; a role that does not exist is
    authorized on its name alone (IAM cannot know a path it was never given)."""
    from moto.iam.models import iam_backends

    for role in iam_backends[account]["aws"].get_roles():
        if role.name.lower() == name.lower():
            return str(role.arn)
    return f"arn:aws:iam::{account}:role/{name}"


def _eks_names(path: str) -> dict[str, str]:
    parts = [unquote(p) for p in path.strip("/").split("/")]
    names: dict[str, str] = {}
    if len(parts) >= 2 and parts[0] == "clusters":
        names["ClusterName"] = parts[1]
        if len(parts) >= 4 and parts[2] == "addons":
            names["AddonName"] = parts[3]
        if len(parts) >= 4 and parts[2] == "node-groups":
            names["NodegroupName"] = parts[3]
        if len(parts) >= 4 and parts[2] == "access-entries":
            principal = parts[3]
            names["IamIdentityType"] = "role" if ":role/" in principal else "user"
            names["IamIdentityAccountID"] = principal.split(":")[4] if principal.count(":") >= 5 else ""
            names["IamIdentityName"] = principal.rsplit("/", 1)[-1]
    return names


def resources(service: str, action: str, params: dict[str, Any], path: str, account: str, region: str) -> list[str]:
    """The ARNs IAM authorizes this request on (`*` where the action has no resource types)."""
    full = f"{service}:{action}"
    try:
        kinds = [r["name"] for r in cfn_permissions.action_details(full)["resourceTypes"]]
    except cfn_permissions.UnknownAction:
        return ["*"]
    if not kinds:
        return ["*"]
    p = {k: v for k, v in params.items() if isinstance(v, str)}
    match service:
        case "dynamodb" if "TableName" in p:
            return [_fill("dynamodb", "table", {"Region": region, "Account": account, "Partition": "aws", **p})]
        case "states":
            arn = p.get("executionArn") or p.get("stateMachineArn")
            return [arn] if arn else ["*"]
        case "sns" if "TopicArn" in p:
            return [p["TopicArn"]]
        case "cloudformation" if "StackName" in p:
            return [_stack_arn(account, region, p["StackName"])]
        case "ssm" if "Name" in p:
            # A parameter's ARN drops the name's leading "/" (SSM User Guide, "Working with parameter hierarchies").
            return [f"arn:aws:ssm:{region}:{account}:parameter/{p['Name'].lstrip('/')}"]
        case "kms" if "KeyId" in p:
            key = p["KeyId"]
            return [key if key.startswith("arn:") else f"arn:aws:kms:{region}:{account}:key/{key}"]
        case "secretsmanager" if "SecretId" in p:
            return [_secret_arn(account, region, p["SecretId"])]
        case "lambda":
            found = re.search(r"/functions/([^/]+)", path)
            if found:
                name = unquote(found.group(1))
                if not name.startswith("arn:"):
                    name = f"arn:aws:lambda:{region}:{account}:function:{name}"
                return [name]
        case "ec2" if action == "CreateVolume":
            # The volume it creates (SAR: CreateVolume's volume resource type; a snapshot's too
            # when it names one).
            made = [f"arn:aws:ec2:{region}:{account}:volume/*"]
            if "SnapshotId" in p:
                made.append(f"arn:aws:ec2:{region}::snapshot/{p['SnapshotId']}")
            return made
        case "ec2" if "VolumeId" in p:
            return [f"arn:aws:ec2:{region}:{account}:volume/{p['VolumeId']}"]
        case "ec2" if any(k.startswith("ResourceId.") for k in p):
            ids = [v for k, v in sorted(p.items()) if k.startswith("ResourceId.")]
            return [f"arn:aws:ec2:{region}:{account}:{_EC2_KINDS.get(i.split('-')[0], 'resource')}/{i}" for i in ids]
        case "iam" if "PolicyArn" in p:
            return [p["PolicyArn"]]
        case "iam" if "RoleName" in p:
            return [_role_arn(account, p["RoleName"])]
        case "eks" if path.startswith("/tags/"):
            return [unquote(path.removeprefix("/tags/"))]  # Tag/Untag/ListTagsForResource name the ARN
        case "eks":
            names = {"Partition": "aws", "Region": region, "Account": account, **_eks_names(path)}
            for kind in ("addon", "nodegroup", "access-entry", "cluster"):
                needed = re.findall(r"\$\{([^}]+)\}", cfn_permissions.arn_pattern("eks", kind))
                if kind in kinds and all(n in names or n == "UUID" for n in needed):
                    return [_fill("eks", kind, names)]
    return ["*"]


def _params(response: Any) -> dict[str, Any]:
    """The request's parameters, whatever its protocol (query string, form or JSON body)."""
    out: dict[str, Any] = {}
    query = getattr(response, "querystring", None) or {}
    for key, values in query.items():
        out[key] = values[0] if isinstance(values, list) and values else values
    body = getattr(response, "body", None)
    if isinstance(body, dict):  # moto's DynamoDB keeps the parsed parameters there
        out.update(body)
        return out
    body = getattr(response, "raw_body", None) or body
    if isinstance(body, (bytes, str)) and body:
        text = body.decode() if isinstance(body, bytes) else body
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = {k: v[0] for k, v in parse_qs(text).items()}
        if isinstance(parsed, dict):
            out.update(parsed)
    return out


def _ec2_request_tags(params: dict[str, Any]) -> dict[str, str]:
    """aws:RequestTag/KEY of an EC2 request: its TagSpecification.N.Tag.M.Key/Value (query form)."""
    tags: dict[str, str] = {}
    for key, value in params.items():
        found = re.fullmatch(r"(TagSpecification\.\d+\.Tag\.\d+)\.Key", key)
        if found and isinstance(value, str):
            tags[f"aws:RequestTag/{value}"] = str(params.get(f"{found.group(1)}.Value", ""))
    return tags


def _ec2_resource_tags(account: str, region: str, resource_id: str) -> dict[str, str]:
    """ec2:ResourceTag/KEY of an existing EC2 resource: the tags it carries now."""
    from moto.ec2.models import ec2_backends

    found = ec2_backends[account][region].describe_tags(filters={"resource-id": [resource_id]})
    return {f"ec2:ResourceTag/{t['key']}": str(t["value"]) for t in found}


def requests_for(
    service: str, action: str, params: dict[str, Any], path: str, account: str, region: str
) -> list[Request]:
    context: dict[str, str] = dict(TLS)
    if service == "ec2":
        # The tag condition keys EC2 authorizes with (EC2 User Guide, "Tag your resources on
        # creation": aws:RequestTag on the create, ec2:ResourceTag on an existing resource).
        context.update(_ec2_request_tags(params))
        if isinstance(params.get("VolumeId"), str):
            context.update(_ec2_resource_tags(account, region, params["VolumeId"]))
    out = [
        Request(f"{service}:{action}", arn, context)
        for arn in resources(service, action, params, path, account, region)
    ]
    if service == "ec2" and action.startswith("Create") and any(k.startswith("TagSpecification.") for k in params):
        # Tags given on a create are authorized as ec2:CreateTags with ec2:CreateAction the create
        # ("Grant permission to tag resources during creation").
        for arn in out[:1]:
            out.append(Request("ec2:CreateTags", arn.resource, {**context, "ec2:CreateAction": action}))
    role = params.get("RoleARN")
    if service == "cloudformation" and isinstance(role, str) and role:
        # Passing a service role to CloudFormation is itself authorized (IAM User Guide,
        # "Granting a user permissions to pass a role to an AWS service").
        out.append(Request("iam:PassRole", role, {"iam:PassedToService": "cloudformation.amazonaws.com"}))
    return out


def check(principal: str, documents: Iterable[Any], requests: list[Request], role: str) -> None:
    docs = list(documents)
    for request in requests:
        decision: Decision = evaluate(docs, request)
        if not decision.allowed:
            message = denial(f"User: {principal}", request, decision)
            with _lock:
                _refused.append(message)
            raise AccessDenied(message, request.action)
        with _lock:
            _allowed.setdefault((role, request.action), request)


# --- answering as the service does --------------------------------------------------------------


def _denied_response(service: str, exc: AccessDenied) -> Any:
    from werkzeug.exceptions import HTTPException
    from werkzeug.wrappers import Response

    if service in ("dynamodb", "states", "secretsmanager", "eks", "lambda"):  # the JSON protocols
        body = json.dumps({"__type": "AccessDeniedException", "message": exc.message, "Message": exc.message})
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": "AccessDeniedException"}
    else:
        code = {"ec2": "UnauthorizedOperation", "sns": "AuthorizationError"}.get(service, "AccessDenied")
        message = exc.message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{_FILLER_ID}</RequestId></ErrorResponse>"
        )
        headers = {"Content-Type": "text/xml"}
    error = HTTPException(description=body, response=Response(body, status=403, headers=headers))
    error.code = 403
    return error


def install() -> None:
    """Replace moto's authorizer (S3's and every other service's) with this one."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.s3.exceptions import S3ClientError

    if getattr(ActionAuthenticatorMixin, "_clusterdrop", False):
        return
    ActionAuthenticatorMixin._clusterdrop = True  # type: ignore[attr-defined]

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        account = self.current_account
        caller = caller_role(account, self.headers, parse_qs(urlparse(self.uri).query))
        if caller is None:
            return
        role_arn, principal = caller
        auth = self.headers.get("Authorization") or ""
        scope = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/", auth)
        region, signing = (scope.group(1), scope.group(2)) if scope else (self.region, "s3")
        service = _PREFIX.get(signing, signing)
        action = self._get_action()
        action = action[0] if isinstance(action, list) else action
        if f"{service}:{action}" == "sts:GetCallerIdentity":
            return
        documents = role_documents(account, role_arn)
        if service == "s3":
            requests = [Request(f"s3:{action}", resource, TLS)]
            try:
                check(principal, documents, requests, role_arn)
                _missing_key_without_list_bucket(account, (role_arn, principal), documents, action, resource)
            except AccessDenied as exc:
                raise S3ClientError("AccessDenied", exc.message) from None
            return
        path = urlparse(self.uri).path
        try:
            requests = requests_for(service, action, _params(self), path, account, region)
            check(principal, documents, requests, role_arn)
        except AccessDenied as exc:
            raise _denied_response(service, exc) from None

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]


def _missing_key_without_list_bucket(
    account: str, caller: tuple[str, str], documents: list[Any], action: str, resource: str
) -> None:
    """S3's 403 for a missing key: only a caller who may list the bucket learns it is missing."""
    if action not in ("GetObject", "GetObjectVersion") or "/" not in resource.removeprefix("arn:aws:s3:::"):
        return
    from moto.s3.models import s3_backends

    bucket_name, key = resource.removeprefix("arn:aws:s3:::").split("/", 1)
    bucket = s3_backends[account]["aws"].buckets.get(bucket_name)
    if bucket is not None and bucket.keys.get(key) is None:
        role_arn, principal = caller
        check(principal, documents, [Request("s3:ListBucket", f"arn:aws:s3:::{bucket_name}")], role_arn)
