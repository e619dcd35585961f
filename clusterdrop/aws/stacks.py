"""CloudFormation: change sets (the plan), their execution, status and deletion.

Every stack is created with the dedicated CloudFormation service role, so the workflow's own
Lambdas never hold EC2, EKS or IAM creation rights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from clusterdrop.errors import ReplacementRefused
from clusterdrop.render.common import NAME_PREFIX

MAX_TEMPLATE_BODY = 51_200  # CloudFormation's limit for an inline template
# A cluster stack makes IAM roles, some named by the spec (podIdentities[].roleName): CloudFormation
# refuses such a template unless CAPABILITY_NAMED_IAM is acknowledged.
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
_GENERIC_REASONS = (
    "Resource creation cancelled",
    "Resource update cancelled",
    "The following resource(s) failed",
    "Resource deletion cancelled",
)
DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
FAILED = {
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_FAILED",
    "DELETE_FAILED",
    "IMPORT_ROLLBACK_COMPLETE",
}


@dataclass
class Change:
    action: str  # Add | Modify | Remove
    logical_id: str
    resource_type: str
    replacement: str = "False"  # True | False | Conditional
    # What changes on a modified resource, property by property ("Version: 1.34 → 1.35").
    properties: list[str] = field(default_factory=list)


@dataclass
class StackPlan:
    stack: str
    role: str
    change_type: str  # CREATE | UPDATE | DELETE | NONE
    change_set: str | None = None
    status: str = "PENDING"  # PENDING | READY | NO_CHANGES | FAILED
    reason: str = ""
    changes: list[Change] = field(default_factory=list)
    # The template's property changes per resource, against the stack's current template.
    property_changes: dict[str, list[str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "add": sum(c.action == "Add" for c in self.changes),
            "modify": sum(c.action == "Modify" and c.replacement == "False" for c in self.changes),
            "replace": sum(c.action == "Modify" and c.replacement != "False" for c in self.changes),
            "remove": sum(c.action == "Remove" for c in self.changes),
        }

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "counts": self.counts()}


def status(cfn: Any, stack: str) -> str | None:
    """The stack's status, or None when it does not exist (or is fully deleted)."""
    try:
        stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except cfn.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    value: str | None = stacks[0]["StackStatus"] if stacks else None
    return None if value == "DELETE_COMPLETE" else value


def outputs(cfn: Any, stack: str) -> dict[str, str]:
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def change_set_name(execution: str, stack: str) -> str:
    """One name per execution and stack: nothing can take one stack's change set for another's."""
    return NAME_PREFIX + hashlib.sha256(f"{execution}/{stack}".encode()).hexdigest()[:20]


def _template_args(s3: Any, bucket: str, region: str, stack: str, template: dict[str, Any]) -> dict[str, str]:
    body = json.dumps(template, separators=(",", ":"))
    if len(body) <= MAX_TEMPLATE_BODY:
        return {"TemplateBody": body}
    key = f"templates/{stack}/{hashlib.sha256(body.encode()).hexdigest()}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return {"TemplateURL": f"https://{bucket}.s3.{region}.amazonaws.com/{key}"}


def create_change_set(
    cfn: Any,
    s3: Any,
    *,
    stack: str,
    role: str,
    template: dict[str, Any],
    parameters: dict[str, str],
    role_arn: str,
    tags: dict[str, str],
    execution: str,
    templates_bucket: str,
    region: str,
) -> StackPlan:
    current = status(cfn, stack)
    change_type = "UPDATE" if current not in (None, "REVIEW_IN_PROGRESS") else "CREATE"
    name = change_set_name(execution, stack)
    try:
        cfn.create_change_set(
            StackName=stack,
            ChangeSetName=name,
            ChangeSetType=change_type,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())],
            Capabilities=CAPABILITIES,
            RoleARN=role_arn,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            Description=f"clusterdrop execution {execution}"[:1024],
            **_template_args(s3, templates_bucket, region, stack, template),
        )
    except cfn.exceptions.ClientError as exc:
        # AWS reports an unchanged stack on the change set (FAILED, "didn't contain changes");
        # some implementations refuse the call instead. Both mean: nothing to do here.
        if "No updates are to be performed" not in str(exc):
            raise
        return StackPlan(stack=stack, role=role, change_type=change_type, change_set=None, status="NO_CHANGES")
    changed = property_changes(_current_template(cfn, stack), template) if change_type == "UPDATE" else {}
    return StackPlan(stack=stack, role=role, change_type=change_type, change_set=name, property_changes=changed)


def _current_template(cfn: Any, stack: str) -> dict[str, Any]:
    body = cfn.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    return body if isinstance(body, dict) else dict(json.loads(body))


SHOWN_CHARS = 60  # a long value (a user data blob, a policy) is cut in a notification


def current_resources(cfn: Any, stack: str) -> set[str]:
    """The logical IDs of the stack's current template."""
    return set(_current_template(cfn, stack).get("Resources", {}))


def named_roles(cfn: Any, stack: str) -> set[str]:
    """The names (lower case) of the IAM roles the stack's current template names."""
    resources = _current_template(cfn, stack).get("Resources", {}).values()
    return {
        str(r["Properties"]["RoleName"]).lower()
        for r in resources
        if r.get("Type") == "AWS::IAM::Role" and "RoleName" in (r.get("Properties") or {})
    }


def _shown(properties: dict[str, Any], name: str) -> str:
    if name not in properties:
        return "(none)"
    value = properties[name]
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def property_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[str]]:
    """Per resource present in both templates, each top-level property whose value changes, as
    `Name: old → new` (`(none)` for one added or removed). Parameters are shown unresolved."""
    out: dict[str, list[str]] = {}
    old_resources, new_resources = before.get("Resources", {}), after.get("Resources", {})
    for logical_id in sorted(set(old_resources) & set(new_resources)):
        old = old_resources[logical_id].get("Properties") or {}
        new = new_resources[logical_id].get("Properties") or {}
        lines = [
            f"{name}: {_shown(old, name)} → {_shown(new, name)}"
            for name in sorted(set(old) | set(new))
            if old.get(name) != new.get(name)
        ]
        if lines:
            out[logical_id] = lines
    return out


def describe_change_set(cfn: Any, plan: StackPlan) -> StackPlan:
    """Fill in status and changes; a change set is READY, NO_CHANGES, FAILED or still PENDING."""
    described = cfn.describe_change_set(StackName=plan.stack, ChangeSetName=plan.change_set)
    state, reason = described.get("Status", ""), described.get("StatusReason", "") or ""
    if state in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
        plan.status = "PENDING"
        return plan
    if state == "FAILED":
        no_changes = "didn't contain changes" in reason or "No updates are to be performed" in reason
        plan.status, plan.reason = ("NO_CHANGES", "") if no_changes else ("FAILED", reason)
        return plan
    plan.status = "READY" if described.get("Changes") else "NO_CHANGES"
    plan.changes = [
        Change(
            action=c["ResourceChange"]["Action"],
            logical_id=c["ResourceChange"]["LogicalResourceId"],
            resource_type=c["ResourceChange"]["ResourceType"],
            replacement=str(c["ResourceChange"].get("Replacement", "False")),
            properties=plan.property_changes.get(c["ResourceChange"]["LogicalResourceId"], []),
        )
        for c in described.get("Changes", [])
        if c.get("Type") == "Resource"
    ]
    return plan


def refuse_cluster_replacement(plans: list[StackPlan]) -> None:
    """A replaced AWS::EKS::Cluster would be a new, empty control plane — and cannot happen at all
    under the same name: the cluster is named (Name), and CloudFormation fails an update that must
    replace a custom-named resource. Refused here, allowed or not, before the stack is touched.
    (`spec.controlPlane.allowReplacement` allows the changes that replace the cluster's network
    around it, not the cluster resource itself.)"""
    for plan in plans:
        for change in plan.changes:
            replaced = change.action == "Modify" and change.replacement in ("True", "Conditional")
            if change.resource_type == "AWS::EKS::Cluster" and replaced:
                what = ", ".join(change.properties) or "a create-only property"
                raise ReplacementRefused(
                    f"this change would replace the EKS cluster ({plan.stack}/{change.logical_id}: {what}): a new "
                    "control plane, every workload gone, and CloudFormation cannot replace a resource that has a "
                    "name of its own. Create a new cluster with these settings instead."
                )


def execute(cfn: Any, plan: StackPlan) -> None:
    if plan.status == "READY" and plan.change_set:
        cfn.execute_change_set(StackName=plan.stack, ChangeSetName=plan.change_set)


def discard(cfn: Any, plan: StackPlan) -> None:
    """Drop a change set that will not be executed (a plan-only run); a stack that a CREATE
    change set left in REVIEW_IN_PROGRESS goes too, so a plan leaves nothing behind."""
    if plan.change_set:
        with contextlib.suppress(cfn.exceptions.ClientError):  # already gone
            cfn.delete_change_set(StackName=plan.stack, ChangeSetName=plan.change_set)
    if status(cfn, plan.stack) == "REVIEW_IN_PROGRESS":
        cfn.delete_stack(StackName=plan.stack)


def delete(cfn: Any, stack: str, role_arn: str) -> bool:
    """Start deleting a stack; False when there is none."""
    if status(cfn, stack) is None:
        return False
    cfn.delete_stack(StackName=stack, RoleARN=role_arn)
    return True


def first_cause(events: list[dict[str, Any]]) -> dict[str, str] | None:
    """The earliest failure whose reason is the real one, not "Resource creation cancelled"."""
    chronological = sorted(events, key=lambda e: str(e.get("Timestamp", "")))
    failures = [e for e in chronological if str(e.get("ResourceStatus", "")).endswith("FAILED")]
    for event in failures:
        reason = str(event.get("ResourceStatusReason") or "")
        if reason and not reason.startswith(_GENERIC_REASONS):
            return {
                "stack": str(event.get("StackName", "")),
                "logicalId": str(event.get("LogicalResourceId", "")),
                "type": str(event.get("ResourceType", "")),
                "status": str(event.get("ResourceStatus", "")),
                "reason": reason,
            }
    if failures:
        event = failures[0]
        return {
            "stack": str(event.get("StackName", "")),
            "logicalId": str(event.get("LogicalResourceId", "")),
            "type": str(event.get("ResourceType", "")),
            "status": str(event.get("ResourceStatus", "")),
            "reason": str(event.get("ResourceStatusReason") or "no reason given"),
        }
    return None


def stack_events(cfn: Any, stack: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StackName": stack}
    while True:
        try:
            page = cfn.describe_stack_events(**kwargs)
        except cfn.exceptions.ClientError:
            return events
        events += page.get("StackEvents", [])
        if not page.get("NextToken"):
            return events
        kwargs["NextToken"] = page["NextToken"]


# A stack whose delete failed (a resource still in use, a refused permission) is asked again this
# many times in all; then the workflow stops, says what is left and why, and leaves it to a person.
DELETE_ATTEMPTS = 3


def console_link(region: str, stack_id: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudformation/home?region={region}"
        f"#/stacks/resources?stackId={stack_id}"
    )


def left_behind(cfn: Any, stack: str, region: str) -> list[dict[str, str]]:
    """The resources a DELETE_FAILED stack kept: each one's latest failure, reason and link."""
    latest: dict[str, dict[str, Any]] = {}
    for event in sorted(stack_events(cfn, stack), key=lambda e: str(e.get("Timestamp", ""))):
        if event.get("LogicalResourceId") != event.get("StackName"):
            latest[str(event.get("LogicalResourceId"))] = event
    kept = [e for e in latest.values() if e.get("ResourceStatus") == "DELETE_FAILED"]
    stack_id = str(next(iter(latest.values()), {}).get("StackId", stack))
    return [
        {
            "stack": stack,
            "resource": str(e.get("LogicalResourceId", "")),
            "type": str(e.get("ResourceType", "")),
            "reason": str(e.get("ResourceStatusReason") or "no reason given"),
            "link": console_link(region, str(e.get("StackId") or stack_id)),
        }
        for e in kept
    ] or [
        {"stack": stack, "resource": stack, "type": "AWS::CloudFormation::Stack", "reason": "DELETE_FAILED", "link": ""}
    ]


@dataclass
class Deletion:
    """Where an incremental deletion stands: stacks still deleting, the delete requests made so
    far per stack, and what was given up on (DELETE_FAILED after DELETE_ATTEMPTS requests)."""

    pending: list[str]
    attempts: dict[str, int]
    leftovers: list[dict[str, str]]
    blocked: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.pending


def delete_in_order(
    cfn: Any, groups: list[str], main: str | None, role_arn: str, attempts: dict[str, int], region: str
) -> Deletion:
    """One step of deleting node-group stacks, then (once they are gone) the cluster stack. A
    DELETE_FAILED stack is asked again up to DELETE_ATTEMPTS times in all, then left with its
    resources and reasons; the cluster stack is not deleted while a node-group stack remains."""
    asked = dict(attempts)
    pending: list[str] = []
    leftovers: list[dict[str, str]] = []

    def step(name: str) -> str:
        current = status(cfn, name)
        if current is None:
            return "gone"
        if current.endswith("_IN_PROGRESS"):
            return "deleting"
        if current == "DELETE_FAILED" and asked.get(name, 0) >= DELETE_ATTEMPTS:
            leftovers.extend(left_behind(cfn, name, region))
            return "given-up"
        cfn.delete_stack(StackName=name, RoleARN=role_arn)
        asked[name] = asked.get(name, 0) + 1
        return "deleting" if status(cfn, name) is not None else "gone"

    outcomes = {name: step(name) for name in groups}
    pending += [n for n, o in outcomes.items() if o == "deleting"]
    blocked: list[str] = []
    if main is not None:
        if pending:
            if status(cfn, main) is not None:
                pending.append(main)
        elif any(o == "given-up" for o in outcomes.values()):
            blocked.append(main)  # EKS refuses to delete a cluster that still has node groups
        elif step(main) == "deleting":
            pending.append(main)
    return Deletion(pending=pending, attempts=asked, leftovers=leftovers, blocked=blocked)
