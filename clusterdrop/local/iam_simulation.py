"""IAM's policy simulator in the embedded AWS: SimulateCustomPolicy and SimulatePrincipalPolicy.

moto has no simulator. The product asks AWS's (at *Plan*: may EC2 Auto Scaling's service-linked
role use a node volume's KMS key, given the key policy?) rather than evaluating policies itself;
here the emulator's own evaluator (`iam_policy.py`) answers, as the IAM API reference describes
the two calls: the identity policies (given, or the principal's attached and inline ones) and an
optional resource-based policy, evaluated for each action on each resource with the context
entries given; `CallerArn` is the principal the resource policy's Principal element is matched
against. For a principal of the resource's own account either kind of policy may allow; an
explicit Deny in either wins (IAM User Guide, "Policy evaluation logic"). Each result is
`allowed`, `explicitDeny` or `implicitDeny`.
"""

from __future__ import annotations

import json
from typing import Any

from clusterdrop.local.iam_policy import Request, evaluate


def _context(entries: list[dict[str, Any]] | None) -> dict[str, str]:
    out = {}
    for entry in entries or []:
        values = entry.get("ContextKeyValues") or []
        if values:
            out[str(entry["ContextKeyName"])] = str(values[0])
    return out


def results(
    identity: list[Any],
    actions: list[str],
    resources: list[str],
    resource_policy: str | None,
    caller: str | None,
    context: dict[str, str],
) -> list[dict[str, Any]]:
    out = []
    for action in actions:
        for resource in resources or ["*"]:
            request = Request(action, resource, context, {"AWS": caller} if caller else {})
            by_identity = evaluate(identity, request)
            by_resource = evaluate([json.loads(resource_policy)], request) if resource_policy else None
            if by_identity.explicit_deny or (by_resource is not None and by_resource.explicit_deny):
                decision = "explicitDeny"
            elif by_identity.allowed or (by_resource is not None and by_resource.allowed):
                decision = "allowed"
            else:
                decision = "implicitDeny"
            out.append(
                {
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": decision,
                    "MatchedStatements": [],
                    "MissingContextValues": [],
                }
            )
    return out


def _principal_policies(backend: Any, arn: str) -> list[Any]:
    """A role's or user's inline and attached policies, as moto's IAM holds them."""
    name = arn.rsplit("/", 1)[-1]
    entity = backend.get_role(name) if ":role/" in arn else backend.get_user(name)
    documents: list[Any] = list(entity.policies.values())
    for policy in entity.managed_policies.values():
        documents.extend(v.document for v in policy.versions if v.is_default)
    return documents


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse

    if getattr(IamResponse, "_clusterdrop_simulator", False):  # moto is patched once per process
        return
    IamResponse._clusterdrop_simulator = True  # type: ignore[attr-defined]

    def simulate(self: Any, identity: list[Any]) -> Any:
        found = results(
            identity,
            list(self._get_param("ActionNames") or []),
            list(self._get_param("ResourceArns") or []),
            self._get_param("ResourcePolicy"),
            self._get_param("CallerArn"),
            _context(self._get_param("ContextEntries")),
        )
        return ActionResult({"EvaluationResults": found, "IsTruncated": False})

    def simulate_custom_policy(self: Any) -> Any:
        return simulate(self, list(self._get_param("PolicyInputList") or []))

    def simulate_principal_policy(self: Any) -> Any:
        identity = _principal_policies(self.backend, str(self._get_param("PolicySourceArn")))
        identity += list(self._get_param("PolicyInputList") or [])
        return simulate(self, identity)

    IamResponse.simulate_custom_policy = simulate_custom_policy  # type: ignore[attr-defined]
    IamResponse.simulate_principal_policy = simulate_principal_policy  # type: ignore[attr-defined]
