"""The IAM names a spec gives, checked at *Plan* before anything is created: CloudFormation would
otherwise fail the cluster stack half-way and roll it back.

- A managed policy a pod identity's role gets (`policyArns`, `permissionsBoundaryArn`) must exist
  and be attachable: one of AWS's, or one of the cluster's own account (IAM attaches no other
  account's policy; CreateRole and AttachRolePolicy answer NoSuchEntity, "… does not exist or is
  not attachable").
- A role given by ARN must be of the cluster's account: EKS associates its own account's roles
  (another account's is reached by role chaining, `targetRoleArn`).
- A role the spec names (`roleName`) must not exist already, unless the cluster stack made it:
  role names are unique in an account whatever their path and case (IAM User Guide, "IAM
  identifiers"), and CloudFormation fails a named resource that exists ("already exists").
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from clusterdrop.errors import Problem
from clusterdrop.spec import paths
from clusterdrop.spec.models import Cluster


def check(iam: Any, cluster: Cluster, *, held_roles: set[str], account: str) -> list[Problem]:
    """`held_roles`: the names (lower case) of the roles the cluster stack holds already;
    `account`: the cluster's account ("": not known)."""
    problems: list[Problem] = []
    for i, identity in enumerate(cluster.spec.pod_identities):
        base = ("spec", "podIdentities", i)
        if identity.role_arn and account and identity.role_arn.split(":")[4] != account:
            problems.append(
                Problem(
                    paths.render((*base, "roleArn")),
                    f"{identity.role_arn} is not a role of the cluster's account ({account}): EKS Pod Identity "
                    "associates roles of that account; give another account's role as targetRoleArn, reached "
                    "through a role of this one",
                )
            )
        named: list[tuple[tuple[str | int, ...], str]] = [
            ((*base, "policyArns", j), arn) for j, arn in enumerate(identity.policy_arns or [])
        ]
        if identity.permissions_boundary_arn:
            named.append(((*base, "permissionsBoundaryArn"), identity.permissions_boundary_arn))
        for path, arn in named:
            try:
                iam.get_policy(PolicyArn=arn)
            except ClientError as exc:
                problems.append(
                    Problem(
                        paths.render(path),
                        f"the policy {arn} cannot be attached ({exc.response['Error']['Code']}): IAM attaches AWS's "
                        "managed policies and the cluster account's own, that exist",
                    )
                )
        if identity.role_name and identity.role_name.lower() not in held_roles:
            try:
                found = iam.get_role(RoleName=identity.role_name)["Role"]
            except iam.exceptions.NoSuchEntityException:
                continue
            problems.append(
                Problem(
                    paths.render((*base, "roleName")),
                    f"the role {found['Arn']} exists already (IAM role names are unique in the account, whatever "
                    "the path): name another, or give that role as roleArn",
                )
            )
    return problems
