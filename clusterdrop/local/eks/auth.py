"""Who may use an emulated cluster's API: EKS's authenticator, as the EKS User Guide describes it.

A request carries `Authorization: Bearer k8s-aws-v1.<base64url>`, a presigned STS
GetCallerIdentity URL with the cluster's name in the signed header `x-k8s-aws-id`. EKS calls STS
with it to learn the caller (an assumed-role session counts as its role), accepts a token for 15
minutes from its signing time, and admits the principal only through an access entry of the
cluster; its access policies then decide what it may do (`authorized`). Anything else is 401
Unauthorized, which kubectl prints as "You must be logged in to the server (Unauthorized)".

The caller is found as the embedded STS answers GetCallerIdentity for the token's access key
(moto's backend, in this process). Not checked, and said so: the signature itself (moto keeps no
secret of the embedded administrator's keys), so a token signed for another cluster passes here
where EKS refuses it; and RBAC: an entry's Kubernetes groups grant nothing here (the emulator
evaluates no Role or RoleBinding).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a format marker, not a secret
TOKEN_LIFETIME = timedelta(minutes=15)


class Refused(Exception):
    """Why a request gets 401 (kept by the API server for tests and debugging)."""


def caller(token: str, account: str, region: str, *, now: datetime | None = None) -> str:
    """The IAM principal a bearer token stands for (a role for an assumed-role session)."""
    from moto.sts.models import sts_backends

    if not token.startswith(TOKEN_PREFIX):
        raise Refused("not an EKS token (k8s-aws-v1.…)")
    try:
        url = base64.urlsafe_b64decode(token.removeprefix(TOKEN_PREFIX) + "==").decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Refused("the token is not base64url") from None
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if not (parts.netloc.startswith("sts.") and parts.netloc.endswith(".amazonaws.com")):
        raise Refused(f"the token is not an STS URL ({parts.netloc})")
    if query.get("Action") != "GetCallerIdentity":
        raise Refused("the token is not a GetCallerIdentity request")
    if "x-k8s-aws-id" not in query.get("X-Amz-SignedHeaders", "").split(";"):
        raise Refused("the token does not sign the cluster's name (x-k8s-aws-id)")
    try:
        signed = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except (KeyError, ValueError):
        raise Refused("the token has no signing time") from None
    if (now or datetime.now(UTC)) - signed > TOKEN_LIFETIME:
        raise Refused(f"the token expired (signed {signed:%H:%M:%S} UTC, valid 15 minutes)")
    key = query.get("X-Amz-Credential", "").split("/")[0]
    if not key:
        raise Refused("the token names no access key")
    backend = sts_backends[account]["aws"]
    assumed = backend.get_assumed_role_from_access_key(key)
    if assumed is not None:
        return str(assumed.role_arn)
    _, arn, _ = backend.get_caller_identity(key, region)
    # moto answers an IAM user's identity under sts:; IAM (and EKS's access entries) name it iam:.
    return arn.replace(":sts::", ":iam::", 1) if ":user/" in arn else arn


def admitted(authorization: str | None, entries: Mapping[str, object], account: str, region: str) -> str:
    """The principal, if it has an access entry on the cluster; else Refused."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Refused("no bearer token")
    principal = caller(authorization.removeprefix("Bearer "), account, region)
    if principal not in entries:
        raise Refused(f"{principal} has no access entry on this cluster")
    return principal


# EKS's access policies and the Kubernetes roles they stand for (EKS User Guide, "Review access
# policy permissions"): cluster-admin everything; admin, edit and view only namespaced resources
# (within their scope); edit no RBAC objects; view reads, but not secrets or RBAC objects.
_READ = ("get", "list", "watch")
_RBAC = ("roles", "rolebindings")


def _policy_allows(policy: str, verb: str, group: str, plural: str) -> bool:
    name = policy.rsplit("/", 1)[-1]
    if name == "AmazonEKSClusterAdminPolicy":
        return True
    rbac = group == "rbac.authorization.k8s.io" and plural in _RBAC
    if name == "AmazonEKSAdminPolicy":
        return True
    if name == "AmazonEKSEditPolicy":
        return not rbac
    if name == "AmazonEKSViewPolicy":
        return verb in _READ and not rbac and not (group == "" and plural == "secrets")
    return False


def authorized(entry: Mapping[str, Any], principal: str, verb: str, route: Any, namespaced: bool) -> str | None:
    """None when the entry's access policies allow the request; else the API server's Forbidden
    message, as Kubernetes words it."""
    for policy in entry.get("AccessPolicies") or []:
        scope = policy.get("AccessScope") or {}
        cluster_admin = str(policy.get("PolicyArn", "")).endswith("/AmazonEKSClusterAdminPolicy")
        if not namespaced and not (cluster_admin and scope.get("Type") == "cluster"):
            continue  # cluster-scoped resources: only a cluster-wide cluster admin
        if scope.get("Type") == "namespace" and route.namespace not in (scope.get("Namespaces") or []):
            continue
        if _policy_allows(str(policy.get("PolicyArn", "")), verb, route.group, route.plural):
            return None
    where = f'in the namespace "{route.namespace}"' if route.namespace else "at the cluster scope"
    user = entry.get("Username") or principal  # the entry's Kubernetes user name, when it sets one
    return (
        f'{route.plural} is forbidden: User "{user}" cannot {verb} resource "{route.plural}" in API group '
        f'"{route.group}" {where}'
    )
