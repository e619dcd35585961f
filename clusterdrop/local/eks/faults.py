"""Failures as CloudFormation reports them: the injected faults (`stack-failure`,
`delete-failed`, `rollback-failed`, `update-rollback`) end in the statuses and events AWS shows."""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.cloudformation import models as cfn_models

from clusterdrop.local.eks.emulation import (
    SimulatedFailure,
    active,
    current,
)

DEPENDENCY_VIOLATION = (
    'Resource handler returned message: "resource {id} has a dependent object (Service: Ec2, Status Code: 400, '
    'Request ID: {request})" (RequestToken: {token}, HandlerErrorCode: GeneralServiceException)'
)


def delete_refusal(resource_type: str, logical_id: str, physical_id: str) -> SimulatedFailure | None:
    """The `delete-failed` fault: the cluster's control-plane security group refuses to go, as a
    security group still used by a network interface does (an ENI a load balancer or the VPC
    CNI left behind), with the reason CloudFormation records."""
    if active() is None or not current().settings.faults & {"delete-failed", "rollback-failed"}:
        return None
    if resource_type != "AWS::EC2::SecurityGroup" or logical_id != "ControlPlaneSecurityGroup":
        return None
    reason = DEPENDENCY_VIOLATION.format(id=physical_id, request=uuid.uuid4(), token=uuid.uuid4())
    return SimulatedFailure(logical_id, resource_type, reason)


def resource_event(stack: Any, failure: SimulatedFailure, status: str) -> None:
    """A resource's event in a stack's history, with the reason AWS records."""
    stack.events.append(
        cfn_models.Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=failure.logical_id,
            physical_resource_id="",
            resource_type=failure.resource_type,
            resource_status=status,
            resource_status_reason=failure.reason,
            resource_properties=None,
        )
    )


def _rollback_refusal(template: Any) -> SimulatedFailure | None:
    """The `rollback-failed` fault: the rollback of a failed create cannot delete the cluster's
    control-plane security group (the same dependency `delete-failed` simulates)."""
    if active() is None or "rollback-failed" not in current().settings.faults:
        return None
    if isinstance(template, str):
        template = json.loads(template)
    for logical_id, resource in (template.get("Resources") or {}).items():
        refusal = delete_refusal(resource.get("Type", ""), logical_id, f"sg-{uuid.uuid4().hex[:17]}")
        if refusal is not None:
            return refusal
    return None


def install() -> None:
    """A SimulatedFailure while a stack is created ends as AWS ends it: the resource
    CREATE_FAILED with its reason, the stack rolled back (ROLLBACK_COMPLETE). Executed change
    sets get their stack's outputs, as on AWS."""
    backend_cls = cfn_models.CloudFormationBackend
    original_execute = backend_cls.execute_change_set
    original_create = cfn_models.Stack.create_resources

    def _fail(stack: Any, failure: SimulatedFailure, *, update: bool = False, template: Any = None) -> None:
        """Create: the resource CREATE_FAILED, the stack ROLLBACK_COMPLETE. Update: the resource
        UPDATE_FAILED, the stack UPDATE_ROLLBACK_COMPLETE (back on its previous template)."""
        resource_event(stack, failure, "UPDATE_FAILED" if update else "CREATE_FAILED")
        verb, prefix = ("update", "UPDATE_") if update else ("create", "")
        stack._add_stack_event(
            f"{prefix}ROLLBACK_IN_PROGRESS",
            resource_status_reason=(
                f"The following resource(s) failed to {verb}: [{failure.logical_id}]. Rollback requested by user."
            ),
        )
        # The template being created: a change set's (moto does not parse it into the stack).
        stuck = _rollback_refusal(template or stack.template) if not update else None
        if stuck is not None:
            # The rollback deletes what the create made; a resource that refuses leaves the stack
            # ROLLBACK_FAILED, which only a delete (retaining that resource) gets out of.
            resource_event(stack, stuck, "DELETE_FAILED")
            stack._add_stack_event(
                "ROLLBACK_FAILED",
                resource_status_reason=f"The following resource(s) failed to delete: [{stuck.logical_id}]. ",
            )
            stack.status = "ROLLBACK_FAILED"
            return
        stack._add_stack_event(f"{prefix}ROLLBACK_COMPLETE")
        stack.status = f"{prefix}ROLLBACK_COMPLETE"

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name
        )
        try:
            original_execute(self, change_set_name, stack_name)
        except SimulatedFailure as failure:
            update = change_set.change_set_type == "UPDATE"
            _fail(self.stacks[change_set.stack_id], failure, update=update, template=change_set.template)
            return
        # moto computes a stack's outputs on create_stack and update, not on a change set.
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()  # moto sets the change set's template but does not parse it
        stack.output_map = stack._create_output_map()

    def create_resources(self: Any) -> None:
        try:
            original_create(self)
        except SimulatedFailure as failure:
            _fail(self, failure)

    backend_cls.execute_change_set = execute_change_set  # type: ignore[method-assign]
    cfn_models.Stack.create_resources = create_resources  # type: ignore[method-assign]
