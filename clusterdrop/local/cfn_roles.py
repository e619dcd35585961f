"""The embedded CloudFormation runs a stack's resources with the stack's service role, as AWS does.

moto's CloudFormation records a stack's RoleARN and ignores it: every resource is created,
updated and deleted whatever the role allows. On AWS, CloudFormation calls each resource's
handler with the role's credentials, and a handler whose permission the role lacks fails the
resource with the AccessDenied message of the service it called: the stack rolls back (create,
update) or ends DELETE_FAILED (delete). Here every resource of a stack that has a role is
checked, before moto touches it, against the handler permissions of its provider schema
(`cfn_permissions`), evaluated on the role's policies as moto's IAM holds them. Stacks without a
role (the deployer's own, deployed by an administrator) are not checked, as on AWS where they run
with the caller's rights.

The same hook on deletes serves the `delete-failed` fault (`eks.delete_refusal`): a resource that
refuses to go ends the stack DELETE_FAILED exactly as a refused permission does.

Known gaps: the policies evaluated are the role's identity policies (inline and attached); a
permissions boundary, SCPs and session policies are not modelled (the roles here have none). A
failed update marks the stack UPDATE_ROLLBACK_COMPLETE, but resources moto already modified in
that update keep their new state.
"""

from __future__ import annotations

import threading
from typing import Any

from clusterdrop.local import cfn_permissions
from clusterdrop.local.eks import SimulatedFailure, delete_refusal, resource_event

_active = threading.local()  # the role of the stack operation running on this thread
_resolved: dict[tuple[str, str], dict[str, Any]] = {}  # (stack id, logical id) → resolved properties


def _role() -> str | None:
    return getattr(_active, "role", None)


def _documents(account_id: str, role_arn: str) -> list[Any]:
    """The role's identity policies, as moto's IAM holds them (inline, then attached)."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["aws"]
    role = backend.get_role(role_arn.rsplit("/", 1)[-1])
    documents: list[Any] = list(role.policies.values())
    for policy in role.managed_policies.values():
        documents.extend(v.document for v in policy.versions if v.is_default)
    return documents


def _check(
    handler: str,
    logical_id: str,
    resource_type: str,
    properties: dict[str, Any],
    physical: str,
    account: str,
    region: str,
) -> None:
    role = _role()
    if not role:
        return
    resource = cfn_permissions.Resource(resource_type, properties, physical, account, region)
    try:
        documents = _documents(account, role)
    except Exception:  # noqa: BLE001 - moto raises its own NoSuchEntity: the role is gone
        raise SimulatedFailure(
            logical_id,
            resource_type,
            f"Role {role} is invalid or cannot be assumed (CloudFormation could not assume the stack's role)",
        ) from None
    refused = cfn_permissions.refusals(documents, resource, handler)
    if refused:
        raise SimulatedFailure(logical_id, resource_type, cfn_permissions.failure_reason(role, refused[0]))


def install() -> None:
    from moto.cloudformation import models, parsing

    if getattr(parsing, "_clusterdrop_roles", False):  # moto is patched once per process
        return
    parsing._clusterdrop_roles = True  # type: ignore[attr-defined]

    original_create = parsing.parse_and_create_resource
    original_update = parsing.parse_and_update_resource
    original_parse = parsing.parse_resource_and_generate_name

    def parse(logical_id: str, resource_json: Any, resources_map: Any) -> Any:
        """Resolving a resource's properties is the last step before moto creates or updates
        it: the handler's permissions are checked here, on the resolved properties."""
        parsed = original_parse(logical_id, resource_json, resources_map)
        handler = getattr(_active, "handler", None)
        if parsed and handler and _role():
            _, resolved_json, physical = parsed
            properties = resolved_json.get("Properties") or {}
            account, region = resources_map._account_id, resources_map._region_name
            _check(handler, logical_id, resolved_json["Type"], properties, physical, account, region)
            _resolved[(resources_map.stack_id, logical_id)] = properties
        return parsed

    def with_handler(handler: str, original: Any) -> Any:
        def run(logical_id: str, resource_json: Any, resources_map: Any, account_id: str, region_name: str) -> Any:
            _active.handler = handler
            try:
                return original(logical_id, resource_json, resources_map, account_id, region_name)
            finally:
                _active.handler = None

        return run

    parsing.parse_resource_and_generate_name = parse
    parsing.parse_and_create_resource = with_handler("create", original_create)
    parsing.parse_and_update_resource = with_handler("update", original_update)

    original_delete_resource = parsing.ResourceMap._delete_resource

    def delete_resource(self: Any, parsed_resource: Any, resource_json: Any) -> None:
        logical_id = getattr(parsed_resource, "logical_resource_id", "")
        injected = delete_refusal(
            resource_json["Type"], logical_id, str(getattr(parsed_resource, "physical_resource_id", ""))
        )
        if injected is not None:
            _active.refusals = [*getattr(_active, "refusals", []), injected]
            raise injected
        if _role():
            logical_id = getattr(parsed_resource, "logical_resource_id", "")
            properties = _resolved.get((self.stack_id, logical_id), resource_json.get("Properties") or {})
            physical = str(getattr(parsed_resource, "physical_resource_id", logical_id))
            try:
                _check(
                    "delete",
                    logical_id,
                    resource_json["Type"],
                    properties,
                    physical,
                    self._account_id,
                    self._region_name,
                )
            except SimulatedFailure as failure:
                _active.refusals.append(failure)
                raise
        original_delete_resource(self, parsed_resource, resource_json)

    parsing.ResourceMap._delete_resource = delete_resource  # type: ignore[method-assign]

    backend_cls = models.CloudFormationBackend
    original_execute = backend_cls.execute_change_set
    original_create_resources = models.Stack.create_resources
    original_delete_stack = backend_cls.delete_stack

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name), None
        )
        _active.role = (change_set.role_arn or change_set.stack.role_arn) if change_set else None
        try:
            original_execute(self, change_set_name, stack_name)
        finally:
            _active.role = None

    def create_resources(self: Any) -> None:
        _active.role = self.role_arn
        try:
            original_create_resources(self)
        finally:
            _active.role = None

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        stack = next(
            (s for s in self.stacks.values() if name_or_stack_id in (s.name, s.stack_id)),
            None,
        )
        _active.role = stack.role_arn if stack is not None else None
        _active.refusals = []
        try:
            original_delete_stack(self, name_or_stack_id)
        except Exception:
            if stack is None or not _active.refusals:
                raise
            _delete_failed(self, stack, _active.refusals)
        finally:
            _active.role = None

    backend_cls.execute_change_set = execute_change_set  # type: ignore[method-assign]
    models.Stack.create_resources = create_resources  # type: ignore[method-assign]
    backend_cls.delete_stack = delete_stack  # type: ignore[method-assign]


def _delete_failed(backend: Any, stack: Any, refusals: list[SimulatedFailure]) -> None:
    """What AWS shows when a resource refuses to go: the resource DELETE_FAILED with its reason,
    the stack DELETE_FAILED and still there (what did delete stays deleted)."""
    backend.stacks[stack.stack_id] = stack
    for failure in {f.logical_id: f for f in refusals}.values():
        resource_event(stack, failure, "DELETE_FAILED")
    names = ", ".join(sorted({f.logical_id for f in refusals}))
    stack._add_stack_event(
        "DELETE_FAILED", resource_status_reason=f"The following resource(s) failed to delete: [{names}]. "
    )
    stack.status = "DELETE_FAILED"
