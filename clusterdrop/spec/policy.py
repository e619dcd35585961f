"""Guardrails: what an upload may ask for, set by the platform team in the deployer's CDK context
(`guardrails`) and enforced at *Validate spec*, before anything is created or changed.

Whoever may put an object under the spec bucket's `clusters/` may create clusters in the account:
the policy bounds what they may ask for, as SCPs bound an account and admission policies a
cluster. Every rule is optional; unset, a rule allows anything — except cluster admins, which
default to principals of the deployer's own account (a role in another account made admin of a
cluster here is refused unless `allowedAdminAccounts` names that account).
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from clusterdrop.errors import Problem
from clusterdrop.spec.models import Cluster


class Policy(BaseModel):
    """The guardrail policy (camelCase in the CDK context and in a policy file)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)

    allowed_admin_accounts: list[str] | None = Field(
        default=None, description="Accounts whose principals may be cluster admins (default: the deployer's own)."
    )
    allowed_admin_principals: list[str] | None = Field(
        default=None, description="Patterns an admin's ARN must match (fnmatch, e.g. arn:aws:iam::*:role/platform-*)."
    )
    endpoint: Literal["public-allowed", "private-only", "public-with-cidrs-only"] = Field(
        default="public-allowed",
        description="private-only: no public endpoint; public-with-cidrs-only: a public endpoint must name its CIDRs.",
    )
    max_public_cidrs: int | None = Field(default=None, ge=1, description="At most this many public endpoint CIDRs.")
    allowed_regions: list[str] | None = None
    allowed_instance_types: list[str] | None = Field(default=None, description="Patterns, e.g. t3.*, m7g.*.")
    max_nodes_per_cluster: int | None = Field(default=None, ge=1, description="Counted at each group's maxSize.")
    max_nodes_per_group: int | None = Field(default=None, ge=1, description="A group's maxSize.")
    allowed_kubernetes_versions: list[str] | None = None
    required_tags: dict[str, list[str] | None] = Field(
        default_factory=dict, description="metadata.tags keys every cluster must have, with their allowed values."
    )
    allow_spot: bool = True
    allowed_cnis: list[str] | None = None
    # Per team (specs under clusters/<team>/): rules that replace these for that team's clusters.
    teams: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _teams_are_policies(self) -> Policy:
        for team, rules in self.teams.items():
            if "teams" in rules:
                raise ValueError(f"teams.{team}: a team's rules cannot name teams")
            Policy.model_validate(rules)
        return self

    def for_team(self, team: str) -> Policy:
        """The rules for a team's clusters: the team's own where it sets them, these elsewhere."""
        rules = self.teams.get(team)
        if not team or rules is None:
            return self
        merged = {**self.model_dump(by_alias=True, exclude={"teams"}), **rules}
        return Policy.model_validate(merged)


def load(path: Path) -> Policy:
    """A policy file (JSON, or YAML beside cdk.json)."""
    import yaml

    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return Policy.model_validate(data or {})


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def check(cluster: Cluster, policy: Policy, *, account: str | None) -> list[Problem]:
    """Every way the spec leaves the policy, each with its field path and the rule that forbids it.
    `account`: the deployer's account (None offline: admins' accounts are then checked only
    against an explicit `allowedAdminAccounts`)."""
    spec = cluster.spec
    problems: list[Problem] = []

    def refuse(path: str, message: str, rule: str) -> None:
        problems.append(Problem(path, f"{message} (guardrail {rule})"))

    accounts = (
        policy.allowed_admin_accounts if policy.allowed_admin_accounts is not None else ([account] if account else None)
    )
    for i, arn in enumerate(spec.control_plane.admins):
        path = f"spec.controlPlane.admins[{i}]"
        if accounts is not None and _account(arn) not in accounts:
            refuse(
                path,
                f"{arn} is in account {_account(arn)}; this deployer allows admins from {', '.join(accounts)} only",
                "allowedAdminAccounts",
            )
        elif policy.allowed_admin_principals is not None and not any(
            fnmatch.fnmatchcase(arn, p) for p in policy.allowed_admin_principals
        ):
            refuse(
                path, f"{arn} matches none of {', '.join(policy.allowed_admin_principals)}", "allowedAdminPrincipals"
            )
    public = spec.control_plane.endpoint_access == "public-and-private"
    cidrs = spec.control_plane.admin_cidrs
    if policy.endpoint == "private-only" and public:
        refuse("spec.controlPlane.endpointAccess", "a public endpoint is not allowed: set private", "endpoint")
    if policy.endpoint == "public-with-cidrs-only" and public and (not cidrs or "0.0.0.0/0" in cidrs):
        refuse(
            "spec.controlPlane.adminCidrs",
            "a public endpoint open to 0.0.0.0/0 is not allowed: name the CIDRs that may reach it",
            "endpoint",
        )
    if policy.max_public_cidrs is not None and public and len(cidrs or ["0.0.0.0/0"]) > policy.max_public_cidrs:
        refuse("spec.controlPlane.adminCidrs", f"at most {policy.max_public_cidrs} CIDRs", "maxPublicCidrs")
    if policy.allowed_regions is not None and spec.region not in policy.allowed_regions:
        refuse("spec.region", f"{spec.region} is not one of {', '.join(policy.allowed_regions)}", "allowedRegions")
    if policy.allowed_kubernetes_versions is not None and spec.kubernetes_version not in (
        policy.allowed_kubernetes_versions
    ):
        refuse(
            "spec.kubernetesVersion",
            f"{spec.kubernetes_version} is not one of {', '.join(policy.allowed_kubernetes_versions)}",
            "allowedKubernetesVersions",
        )
    if policy.allowed_cnis is not None and spec.cni.name not in policy.allowed_cnis:
        refuse("spec.cni.name", f"{spec.cni.name} is not one of {', '.join(policy.allowed_cnis)}", "allowedCnis")
    for key, values in policy.required_tags.items():
        have = cluster.metadata.tags.get(key)
        if have is None:
            refuse("metadata.tags", f"the tag {key!r} is required", "requiredTags")
        elif values is not None and have not in values:
            refuse(f"metadata.tags.{key}", f"{have!r} is not one of {', '.join(values)}", "requiredTags")
    total = 0
    for i, group in enumerate(spec.node_groups):
        path = f"spec.nodeGroups[{i}]"
        most = group.max_size if group.max_size is not None else group.desired_size
        total += most
        if policy.max_nodes_per_group is not None and most > policy.max_nodes_per_group:
            refuse(
                f"{path}.maxSize", f"{most} nodes; at most {policy.max_nodes_per_group} per group", "maxNodesPerGroup"
            )
        for j, instance_type in enumerate(group.instance_types):
            allowed = policy.allowed_instance_types
            if allowed is not None and not any(fnmatch.fnmatchcase(instance_type, p) for p in allowed):
                refuse(
                    f"{path}.instanceTypes[{j}]",
                    f"{instance_type} matches none of {', '.join(allowed)}",
                    "allowedInstanceTypes",
                )
        if not policy.allow_spot and group.capacity_type == "spot":
            refuse(f"{path}.capacityType", "spot capacity is not allowed", "allowSpot")
    if policy.max_nodes_per_cluster is not None and total > policy.max_nodes_per_cluster:
        refuse(
            "spec.nodeGroups",
            f"up to {total} nodes (the groups' maxSize); at most {policy.max_nodes_per_cluster} per cluster",
            "maxNodesPerCluster",
        )
    return problems


def schema() -> dict[str, Any]:
    """The policy's JSON Schema, for a policy file kept beside cdk.json."""
    return Policy.model_json_schema(by_alias=True)
