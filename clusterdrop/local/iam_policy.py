"""IAM policy evaluation as AWS documents it, for the checks moto does not make: moto records
policies but never evaluates them for CloudFormation's resource handlers, its own authorizer
ignores conditions, and it has no policy simulator (`iam_simulation.py` answers
SimulateCustomPolicy and SimulatePrincipalPolicy with this). The embedded AWS's alone: the product
asks AWS's simulator instead. Pure. This evaluator follows the identity-policy part of AWS's
evaluation logic (IAM User Guide, "Policy evaluation logic"): an explicit Deny wins, then an
Allow is needed, else the request is implicitly denied. Supported: Action/NotAction,
Resource/NotResource with `*` and `?` wildcards (actions case-insensitive, resources
case-sensitive, as IAM matches them), and the condition operators the project's policies use.
A condition operator it does not know makes its statement not apply — an Allow then grants
nothing, so an unknown operator fails a check instead of passing it.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Document = Mapping[str, Any]


@dataclass(frozen=True)
class Request:
    """One authorization: an action on a resource ARN (`*` for actions IAM authorizes only on
    all resources), with the request's condition keys, and — for a resource-based policy — who
    asks (`{"Service": "s3.amazonaws.com"}`, `{"AWS": "arn:…"}`)."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    principal: Mapping[str, str] = field(default_factory=dict)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    regex = fnmatch.translate(pattern.replace("[", "[[]"))
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _resource_matches(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    # A request on `*` (an action with no resource-level permissions) is matched only by `*`.
    return resource != "*" and _wildcard(pattern, resource, case_sensitive=True)


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    wanted = [str(v) for v in _list(expected)]
    if operator == "Null":
        return (key not in context) == (wanted[0].lower() == "true")
    base = operator.removesuffix("IfExists")
    if key not in context:
        return operator.endswith("IfExists") or base.startswith(("StringNot", "ArnNot"))
    actual = context[key]
    match base:
        case "StringEquals" | "ArnEquals":
            return actual in wanted
        case "StringEqualsIgnoreCase":
            return actual.lower() in [w.lower() for w in wanted]
        case "StringNotEquals" | "ArnNotEquals":
            return actual not in wanted
        case "StringLike" | "ArnLike":
            return any(_wildcard(w, actual, case_sensitive=True) for w in wanted)
        case "StringNotLike" | "ArnNotLike":
            return not any(_wildcard(w, actual, case_sensitive=True) for w in wanted)
        case "Bool":
            return actual.lower() in [w.lower() for w in wanted]
    return False  # an operator this evaluator does not know: the statement does not apply


def _principal_matches(statement: Mapping[str, Any], request: Request) -> bool:
    """A resource-based statement names who it is for; an identity policy's statements do not."""
    if "Principal" not in statement:
        return True
    named = statement["Principal"]
    if named == "*":
        return True
    return any(
        "*" in _list(named.get(kind)) or who in _list(named.get(kind)) for kind, who in request.principal.items()
    )


def _statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    if not _principal_matches(statement, request):
        return False

    def named(key: str) -> bool:
        return any(_wildcard(a, request.action, case_sensitive=False) for a in _list(statement.get(key)))

    if "Action" in statement and not named("Action"):
        return False
    if "NotAction" in statement and named("NotAction"):
        return False

    def covers(key: str) -> bool:
        return any(_resource_matches(r, request.resource) for r in _list(statement.get(key)))

    if "Resource" in statement and not covers("Resource"):
        return False
    if "NotResource" in statement and covers("NotResource"):
        return False
    for operator, conditions in (statement.get("Condition") or {}).items():
        for key, expected in conditions.items():
            if not _condition_holds(operator, key, expected, request.context):
                return False
    return True


def statements(documents: Iterable[Document | str]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for document in documents:
        parsed = json.loads(document) if isinstance(document, str) else document
        out.extend(_list(parsed.get("Statement")))
    return out


@dataclass(frozen=True)
class Decision:
    allowed: bool
    explicit_deny: bool = False


def evaluate(documents: Iterable[Document | str], request: Request) -> Decision:
    """Identity-based policies only: deny wins, an allow is needed."""
    allowed = False
    for statement in statements(documents):
        if not _statement_applies(statement, request):
            continue
        if statement.get("Effect") == "Deny":
            return Decision(allowed=False, explicit_deny=True)
        if statement.get("Effect") == "Allow":
            allowed = True
    return Decision(allowed=allowed)


def denial(principal: str, request: Request, decision: Decision) -> str:
    """The message AWS returns for an AccessDenied (the form IAM uses since 2021)."""
    why = (
        "with an explicit deny in an identity-based policy"
        if decision.explicit_deny
        else f"because no identity-based policy allows the {request.action} action"
    )
    return f"{principal} is not authorized to perform: {request.action} on resource: {request.resource} {why}"
