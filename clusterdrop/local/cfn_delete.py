"""A deleted stack leaves nothing of its own behind, as on AWS — whatever moto forgets.

moto's CloudFormation deletes a resource through its model's `delete`; models without one (the
Elastic IP and the internet gateway among the types the templates render) are dropped from the
stack and left in the account: the addresses stay allocated and count against the account's
quota, which then refuses the next create — a refusal AWS would not give.

For such a type the resource's delete is derived from AWS's data instead: the provider schema's
delete handler names the API action CloudFormation calls (the first of its permissions that
deletes, releases, terminates or revokes), botocore's model of that action its parameters, and
each parameter takes the model's attribute of the same name (AllocationId → allocation_id), or
its ID for the parameter named after the type (InternetGatewayId). The call goes to the embedded
AWS's own API, as the handler's would. A type whose parameters cannot all be found is left as
moto leaves it; the teardown tests list every resource kind of the account and would show it.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from typing import Any

from clusterdrop.local import cfn_permissions

_VERBS = ("Delete", "Release", "Terminate", "Revoke", "Deregister")
_log = logging.getLogger(__name__)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@functools.cache
def delete_action(resource_type: str) -> str | None:
    """The API action the type's delete handler calls to remove it (`ec2:ReleaseAddress`)."""
    service = resource_type.split("::")[1].lower()
    for permission in cfn_permissions.handler_permissions(resource_type, "delete"):
        prefix, _, action = permission.partition(":")
        if prefix == service and action.startswith(_VERBS):
            return permission
    return None


def _has_own_delete(model: Any) -> bool:
    delete = getattr(type(model), "delete", None)
    dfcj = getattr(type(model), "delete_from_cloudformation_json", None)
    return callable(delete) or (dfcj is not None and not hasattr(dfcj, "__isabstractmethod__"))


def parameters(resource_type: str, operation: Any, model: Any) -> dict[str, Any] | None:
    """The action's parameters from the moto model's attributes, or None when one it requires
    (or every identifying one) is not found."""
    name = resource_type.split("::")[-1]
    out: dict[str, Any] = {}
    for member in operation.input_shape.members:
        if member == "DryRun":
            continue
        value = getattr(model, _snake(member), None)
        if value is None and member.lower() == f"{name}id".lower():
            value = getattr(model, "id", None)
        if value is not None and operation.input_shape.members[member].type_name == "string":
            out[member] = str(value)
    required = operation.input_shape.required_members
    if any(r not in out for r in required) or not out:
        return None
    return out


def release(resource_type: str, model: Any, region: str) -> None:
    """Delete what moto's model of this type cannot delete itself, through the embedded API."""
    import boto3

    permission = delete_action(resource_type)
    if permission is None:
        return
    service, action = permission.split(":", 1)
    client = boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{os.environ['MOTO_PORT']}",
        region_name=region,
        aws_access_key_id="local",  # the embedded infrastructure's own key (iam_enforce: not a role)
        aws_secret_access_key="local",  # noqa: S106 - moto's default key, no secret
    )
    operation = client.meta.service_model.operation_model(action)
    params = parameters(resource_type, operation, model)
    if params is None:
        # A part of another resource (a route, a rule) goes with it; anything else would show in
        # the teardown tests' listing of the account.
        _log.debug("%s: no parameters for %s from moto's model; left as moto leaves it", resource_type, action)
        return
    getattr(client, _snake(action))(**params)


def install() -> None:
    from moto.cloudformation.parsing import ResourceMap

    if getattr(ResourceMap, "_clusterdrop_deletes", False):  # moto is patched once per process
        return
    ResourceMap._clusterdrop_deletes = True  # type: ignore[attr-defined]
    original = ResourceMap._delete_resource

    def delete_resource(self: Any, parsed_resource: Any, resource_json: Any) -> None:
        original(self, parsed_resource, resource_json)
        if not isinstance(parsed_resource, str) and not _has_own_delete(parsed_resource):
            release(resource_json["Type"], parsed_resource, self._region_name)

    ResourceMap._delete_resource = delete_resource  # type: ignore[method-assign]
