"""The embedded AWS: moto in server mode on 127.0.0.1 with Step Functions execution on, the local
Lambda runtime, the project's additions where moto has gaps, and the CDK app deployed into it
from the synthesized cloud assembly (its assets, its bucket notifications, its environment), so
that the wiring under test is the real wiring."""

from __future__ import annotations

import io
import json
import os
import socket
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterdrop.errors import StackFailed, WaitTimedOut

ACCOUNT = "123456789012"
# Who a person using the embedded mode is: an IAM user of the embedded account (its keys are what
# `local up` exports), made a cluster admin of every cluster by the embedded deployer's
# clusterAdmins, as a platform team names itself.
ADMIN_USER = "local-admin"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/{ADMIN_USER}"
BOOTSTRAP_QUALIFIER = "hnb659fds"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _state_machines_that_run() -> None:
    """moto's AWS::StepFunctions::StateMachine ignores DefinitionSubstitutions, and creates the
    machine in the backend that does not execute: substitute, and create it where the API (with
    execution on) looks for it."""
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    def create(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json["Properties"]
        definition = properties.get("DefinitionString", "")
        location = properties.get("DefinitionS3Location")
        if location:  # DefinitionBody.from_file: the ASL file travels as an asset
            from moto.s3.models import s3_backends

            obj = s3_backends[account_id]["aws"].get_object(location["Bucket"], location["Key"])
            definition = obj.value.decode()  # type: ignore[union-attr]
        for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        backend = stepfunctions_parser_backends[account_id][region_name]
        return backend.create_state_machine(
            name=properties.get("StateMachineName", resource_name),
            definition=definition,
            roleArn=properties.get("RoleArn", ""),
            tags=properties.get("Tags", []),
        )

    StateMachine.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment,arg-type]


# AWS Step Functions, "Handling errors in Step Functions workflows": "The States.ALL error type
# ... can't catch the States.DataLimitExceeded terminal error and runtime error types"; a
# States.Runtime error "isn't retriable, and will always cause the execution to fail". moto's
# interpreter lets a States.ALL Retry or Catch take both.
_TERMINAL_ERRORS = ("States.DataLimitExceeded", "States.Runtime")


def _terminal_errors_end_the_execution() -> None:
    """A States.ALL retrier or catcher does not match Step Functions' terminal errors: the
    execution fails there, as on AWS (no Catch runs: the workflow cannot notify)."""
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl

    original = ErrorEqualsDecl._eval_body

    def terminal_aware(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        wildcard = ErrorEqualsDecl._STATE_ALL_ERROR in self.error_names
        if wildcard and getattr(error_name, "error_name", None) in _TERMINAL_ERRORS:
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    ErrorEqualsDecl._eval_body = terminal_aware  # type: ignore[method-assign]


def _host_is_this_machine() -> None:
    """Inside a container moto looks for its Docker host (by curl on the Docker socket, printing
    a warning to stdout when there is none) to build custom-resource ResponseURLs: the Lambdas
    run on this machine here, so the host is MOTO_HOST."""
    from moto import settings

    settings.moto_server_host = lambda: os.environ.get("MOTO_HOST", "http://127.0.0.1")  # type: ignore[assignment]


def _s3_events_with_versions() -> None:
    """moto's S3 event records lack the object's versionId and sequencer, which AWS includes (and
    which the intake relies on: the execution name comes from the version); and moto sends no
    event for a delete marker."""
    from moto.s3 import notifications

    original = notifications._get_s3_event
    counter = iter(range(1, 1 << 62))

    def event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        built: dict[str, Any] = original(event_name, bucket, key, notification_id)
        obj = built["Records"][0]["s3"]["object"]
        version = getattr(key, "version_id", None)
        if version and version != "null":
            obj["versionId"] = version
        obj["sequencer"] = f"{next(counter):016X}"
        return built

    notifications._get_s3_event = event

    # Deleting an object of a versioned bucket creates a delete marker, and AWS announces it
    # (s3:ObjectRemoved:DeleteMarkerCreated: the teardown's trigger); moto announces nothing.
    from types import SimpleNamespace

    from moto.s3.models import S3Backend

    original_delete = S3Backend.delete_object

    def delete_object(self: Any, bucket_name: str, key_name: str, version_id: str | None = None, **kwargs: Any) -> Any:
        result = original_delete(self, bucket_name, key_name, version_id, **kwargs)
        bucket = self.get_bucket(bucket_name)
        if bucket.is_versioned and version_id is None:
            marker = bucket.keys.getlist(key_name)[-1]
            announced = SimpleNamespace(name=key_name, etag="", size=0, version_id=marker.version_id)
            notifications.send_event(
                self.account_id,
                notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
                bucket,
                announced,
            )
        return result

    S3Backend.delete_object = delete_object  # type: ignore[method-assign,assignment]


def _network_made_as_templated() -> None:
    """moto's AWS::EC2::VPC ignores EnableDnsSupport and EnableDnsHostnames, and its
    AWS::EC2::SubnetRouteTableAssociation records the pair without associating the subnet: a VPC
    a template makes would have DNS hostnames off and every subnet on the main route table. On AWS
    the VPC has the attributes the template sets (CloudFormation, AWS::EC2::VPC) and the
    association routes the subnet through its table (AWS::EC2::SubnetRouteTableAssociation)."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.subnets import SubnetRouteTableAssociation
    from moto.ec2.models.vpcs import VPC

    make_vpc = VPC.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    make_association = SubnetRouteTableAssociation.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def vpc(cls: Any, name: str, template: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        made = make_vpc(cls, name, template, account_id, region_name, **kwargs)
        properties = template.get("Properties") or {}
        for key, attribute in (
            ("EnableDnsSupport", "enable_dns_support"),
            ("EnableDnsHostnames", "enable_dns_hostnames"),
        ):
            if key in properties:
                value = properties[key]
                made_value = value if isinstance(value, bool) else str(value).lower() == "true"
                backend = ec2_backends[account_id][region_name]
                backend.modify_vpc_attribute(made.id, attribute, made_value)  # type: ignore[arg-type]
        return made

    def association(cls: Any, name: str, template: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        made = make_association(cls, name, template, account_id, region_name, **kwargs)
        ec2_backends[account_id][region_name].associate_route_table(made.route_table_id, subnet_id=made.subnet_id)
        return made

    VPC.create_from_cloudformation_json = classmethod(vpc)  # type: ignore[method-assign,assignment,arg-type]
    SubnetRouteTableAssociation.create_from_cloudformation_json = classmethod(association)  # type: ignore[method-assign,assignment,arg-type]


def _tags_as_templated() -> None:
    """An EC2 resource a stack makes carries the template's tags, as the type's provider schema
    says it does (`tagging.tagProperty`, tagOnCreate): moto applies them for some EC2 types and
    drops them for others (the Elastic IP, the internet gateway), which then could be neither found
    by tag nor told apart from another stack's."""
    from moto.cloudformation import parsing
    from moto.ec2.models import ec2_backends

    from clusterdrop.local import cfn_permissions

    if getattr(parsing, "_clusterdrop_tags", False):  # moto is patched once per process
        return
    parsing._clusterdrop_tags = True  # type: ignore[attr-defined]
    original = parsing.parse_and_create_resource

    def tagged(logical_id: str, resource_json: Any, resources_map: Any, account_id: str, region_name: str) -> Any:
        made = original(logical_id, resource_json, resources_map, account_id, region_name)
        kind = resource_json.get("Type", "")
        if made is None or not kind.startswith("AWS::EC2::") or not hasattr(made, "get_tags"):
            return made
        try:
            tagging = cfn_permissions.resource_schema(kind).get("tagging") or {}
        except KeyError:
            return made
        prop = str(tagging.get("tagProperty", "")).removeprefix("/properties/")
        tags = (resource_json.get("Properties") or {}).get(prop) if tagging.get("tagOnCreate") else None
        if isinstance(tags, list) and tags and not made.get_tags():
            resolved = parsing.clean_json(tags, resources_map)
            ec2_backends[account_id][region_name].create_tags([made.id], {t["Key"]: t["Value"] for t in resolved})
        return made

    parsing.parse_and_create_resource = tagged


def _deleted_log_groups_lose_their_tags() -> None:
    """moto keeps a log group's tags by ARN after the group is deleted, so a group made again
    under the name (EKS makes /aws/eks/<name>/cluster itself) shows the tags of the one before. On
    AWS a deleted resource's tags go with it."""
    from moto.logs.models import LogsBackend

    if getattr(LogsBackend, "_clusterdrop_untag", False):  # moto is patched once per process
        return
    LogsBackend._clusterdrop_untag = True  # type: ignore[attr-defined]
    original = LogsBackend.delete_log_group

    def delete_log_group(self: Any, log_group_name: str) -> None:
        group = self.groups.get(log_group_name)
        original(self, log_group_name)
        if group is not None:
            self.tagger.delete_all_tags_for_resource(group.arn)

    LogsBackend.delete_log_group = delete_log_group  # type: ignore[method-assign]


def _deletable_network() -> None:
    """moto's AWS::EC2::VPCEndpoint, NatGateway, VPCGatewayAttachment and
    SubnetRouteTableAssociation cannot be deleted by CloudFormation, so a cluster stack's VPC
    could never go ("has dependencies"): give them the delete AWS has."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.nat_gateways import NatGateway
    from moto.ec2.models.route_tables import RouteTable
    from moto.ec2.models.subnets import SubnetRouteTableAssociation
    from moto.ec2.models.vpcs import VPCEndPoint
    from moto.ec2.models.vpn_gateway import VPCGatewayAttachment

    def delete_endpoint(self: Any, account_id: str, region_name: str) -> None:
        ec2_backends[account_id][region_name].delete_vpc_endpoints([self.id])

    def delete_nat(self: Any, account_id: str, region_name: str) -> None:
        backend = ec2_backends[account_id][region_name]
        backend.delete_nat_gateway(self.id)
        backend.nat_gateways.pop(self.id, None)
        backend.delete_network_interface(self._eni.id)  # AWS releases the gateway's interface too

    def detach(self: Any, account_id: str, region_name: str) -> None:
        backend = ec2_backends[account_id][region_name]
        if self.gateway_id and str(self.gateway_id).startswith("igw-"):
            backend.detach_internet_gateway(self.gateway_id, self.vpc_id)

    def disassociate(self: Any, account_id: str, region_name: str) -> None:
        backend = ec2_backends[account_id][region_name]
        table = backend.route_tables.get(self.route_table_id)
        if table is not None:
            for association_id, target in list(table._associations.items()):
                if target == self.subnet_id:
                    table._associations.pop(association_id)

    def delete_table(self: Any, account_id: str, region_name: str) -> None:
        backend = ec2_backends[account_id][region_name]
        if self.id in backend.route_tables:
            # A table still associated refuses (DependencyViolation, as DeleteRouteTable does on
            # AWS): the stack's delete comes back to it once the associations are gone.
            backend.delete_route_table(self.id)

    from moto.cloudformation.parsing import ResourceMap

    original_delete_resource = ResourceMap._delete_resource

    def delete_resource(self: Any, parsed_resource: Any, resource_json: Any) -> None:
        # Deleting what is already gone succeeds in CloudFormation (a route whose table went first).
        try:
            original_delete_resource(self, parsed_resource, resource_json)
        except Exception as exc:
            if "NotFound" not in type(exc).__name__ and "does not exist" not in str(exc):
                raise

    ResourceMap._delete_resource = delete_resource  # type: ignore[method-assign]
    SubnetRouteTableAssociation.delete = disassociate  # type: ignore[attr-defined]
    RouteTable.delete = delete_table  # type: ignore[attr-defined]
    VPCEndPoint.delete = delete_endpoint  # type: ignore[attr-defined]
    VPCGatewayAttachment.delete = detach  # type: ignore[attr-defined]
    NatGateway.delete = delete_nat  # type: ignore[attr-defined]


def _change_sets_by_stack() -> None:
    """CloudFormation names a change set within its stack: two stacks may hold change sets of
    the same name, and DescribeChangeSet / ExecuteChangeSet / DeleteChangeSet with a StackName
    act on that stack's. moto looks names up across all stacks (the last one found wins): resolve
    (stack, name) to the change set's ARN before moto sees the request."""
    from moto.cloudformation import responses

    def by_stack(self: Any) -> None:
        name, stack = self._get_param("ChangeSetName"), self._get_param("StackName")
        backend = self.cloudformation_backend
        if not name or name.startswith("arn:") or not stack:
            return
        for arn, change_set in backend.change_sets.items():
            if change_set.change_set_name == name and stack in (change_set.stack_name, change_set.stack_id):
                if self.automated_parameter_parsing:
                    self.params["ChangeSetName"] = arn
                else:
                    self.querystring["ChangeSetName"] = [arn]
                return

    for action in ("describe_change_set", "execute_change_set", "delete_change_set"):
        original = getattr(responses.CloudFormationResponse, action)

        def resolved(self: Any, _original: Any = original) -> Any:
            by_stack(self)
            return _original(self)

        setattr(responses.CloudFormationResponse, action, resolved)


def _stack_updates_take_time() -> None:
    """ExecuteChangeSet answers at once and CloudFormation updates the stack afterwards: the stack
    is UPDATE_IN_PROGRESS until every resource's update has stabilized (an EKS version change takes
    minutes), and whoever executed it polls DescribeStacks. moto updates within the request, so a
    caller that did not wait would pass here and fail on AWS: the update runs in a thread of its
    own. (Creates stay synchronous: moto builds a new stack's resources and outputs in place.)"""
    import logging
    import threading

    from moto.cloudformation import models

    backend_cls = models.CloudFormationBackend
    original = backend_cls.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name), None
        )
        if change_set is None or change_set.change_set_type != "UPDATE":
            original(self, change_set_name, stack_name)
            return
        stack = self.stacks[change_set.stack_id]
        stack.status = "UPDATE_IN_PROGRESS"
        change_set.execution_status = "EXECUTE_IN_PROGRESS"

        def run() -> None:
            try:
                original(self, change_set_name, stack_name)
            except Exception as exc:  # what would have been a 500 to the caller: the update fails
                logging.getLogger(__name__).exception("stack %s: update failed in the embedded AWS", stack.name)
                stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE", resource_status_reason=f"embedded AWS: {exc}")
                stack.status = "UPDATE_ROLLBACK_COMPLETE"

        threading.Thread(target=run, name=f"update-{stack.name}", daemon=True).start()

    backend_cls.execute_change_set = execute_change_set  # type: ignore[method-assign]


def _fail_on_unsupported_types() -> None:
    """moto skips resource types it does not know and still reports success: make that a
    failure, so a stack that did not really get its resources never looks created."""
    from moto.cloudformation import parsing

    original = parsing.resource_class_from_type

    def strict(resource_type: str) -> Any:
        found = original(resource_type)
        if found is None and resource_type not in parsing.NULL_MODELS:
            raise NotImplementedError(f"the embedded AWS does not emulate {resource_type}")
        return found

    parsing.resource_class_from_type = strict


def _updates_keep_resources() -> None:
    """A stack update changes a resource's properties in place where AWS's type allows it (tags
    everywhere: "Update requires: No interruption"). For types moto cannot update (AWS::EC2::EIP
    among them) it drops the resource from the stack's map, and every later Fn::GetAtt of it fails
    ("instance of Fn::GetAtt references undefined resource"): keep the resource as it was."""
    from moto.cloudformation import parsing

    original = parsing.parse_and_update_resource

    def keeping(logical_id: str, resource_json: Any, resources_map: Any, account_id: str, region_name: str) -> Any:
        updated = original(logical_id, resource_json, resources_map, account_id, region_name)
        return updated if updated is not None else resources_map[logical_id]

    parsing.parse_and_update_resource = keeping


# CloudFormation, "Acknowledging IAM resources in CloudFormation templates": a template with any of
# these types needs CAPABILITY_IAM or CAPABILITY_NAMED_IAM; one that gives any of them a custom
# name (its name property below) needs CAPABILITY_NAMED_IAM. Otherwise CreateStack, UpdateStack
# and CreateChangeSet fail with InsufficientCapabilitiesException and nothing is created.
_IAM_NAME_PROPERTIES = {
    "AWS::IAM::AccessKey": None,
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Policy": None,
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::UserToGroupAddition": None,
}


def required_capability(template: dict[str, Any]) -> str | None:
    """The capability CloudFormation requires for a template (None: none)."""
    needed = None
    for resource in (template.get("Resources") or {}).values():
        kind = resource.get("Type") if isinstance(resource, dict) else None
        if kind not in _IAM_NAME_PROPERTIES:
            continue
        needed = "CAPABILITY_IAM"
        name_property = _IAM_NAME_PROPERTIES[kind]
        if name_property and name_property in (resource.get("Properties") or {}):
            return "CAPABILITY_NAMED_IAM"
    return needed


def _capabilities_acknowledged() -> None:
    """moto creates any template whatever its Capabilities: refuse as CloudFormation does."""
    from cfnlint.decode import decode_str
    from moto.cloudformation import responses
    from moto.cloudformation.exceptions import CloudFormationError

    class InsufficientCapabilities(CloudFormationError):
        code = "InsufficientCapabilitiesException"

    def check(response: Any) -> None:
        body = response._get_param("TemplateBody")
        url = response._get_param("TemplateURL")
        if body is None and url:
            body = response._get_stack_from_s3_url(url)
        if not body:
            return  # UsePreviousTemplate: acknowledged when that template was given
        template, _ = decode_str(body)
        needed = required_capability(template or {})
        given = set(response._get_param("Capabilities", []) or [])
        if needed == "CAPABILITY_IAM" and given & {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}:
            return
        if needed and needed not in given:
            raise InsufficientCapabilities(f"Requires capabilities : [{needed}]")

    for name in ("create_stack", "create_change_set", "update_stack"):
        original = getattr(responses.CloudFormationResponse, name)

        def checked(self: Any, _original: Any = original) -> Any:
            check(self)
            return _original(self)

        setattr(responses.CloudFormationResponse, name, checked)


def _cfn_args(args: tuple[Any, ...], kwargs: dict[str, Any], template: tuple[str, int]) -> tuple[Any, str, str]:
    """(the resource's template, account, region) of a moto CloudFormation model call, whichever way
    moto passes them (positionally or by name)."""
    name, position = template
    found = kwargs[name] if name in kwargs else args[position]
    account = kwargs["account_id"] if "account_id" in kwargs else args[position + 1]
    region = kwargs["region_name"] if "region_name" in kwargs else args[position + 2]
    return found, str(account), str(region)


def _iam_as_strict() -> None:
    """What IAM does and moto does not: inline policies kept as JSON; role names unique in the
    account whatever their case, and found whatever the case asked (IAM User Guide, "IAM identifiers": names "are not
    distinguished by case"); and a permissions boundary must be a managed policy that exists in the account or an
    AWS managed policy (IAM answers NoSuchEntity, "Scope ARN: … does not exist or is not
    attachable", and creates nothing; PutRolePermissionsBoundary likewise)."""
    from moto.iam.exceptions import EntityAlreadyExists, NotFoundException
    from moto.iam.models import IAMBackend

    def boundary_exists(backend: Any, arn: str | None) -> None:
        if arn and arn not in backend.managed_policies:
            raise NotFoundException(f"Scope ARN: {arn} does not exist or is not attachable.")

    create_role = IAMBackend.create_role
    put_boundary = IAMBackend.put_role_permissions_boundary
    get_role = IAMBackend.get_role

    def case_blind_get_role(self: Any, role_name: str) -> Any:
        for role in self.get_roles():
            if role.name.lower() == role_name.lower():
                return role
        return get_role(self, role_name)  # moto's NoSuchEntity

    def strict_create_role(self: Any, role_name: str, *args: Any, **kwargs: Any) -> Any:
        if any(r.name.lower() == role_name.lower() for r in self.get_roles()):
            raise EntityAlreadyExists(f"Role with name {role_name} already exists.")
        boundary = kwargs.get("permissions_boundary", args[2] if len(args) > 2 else None)
        boundary_exists(self, boundary)
        return create_role(self, role_name, *args, **kwargs)

    def strict_put_boundary(self: Any, role_name: str, permissions_boundary: str) -> None:
        boundary_exists(self, permissions_boundary)
        put_boundary(self, role_name, permissions_boundary)

    IAMBackend.create_role = strict_create_role  # type: ignore[method-assign]
    IAMBackend.get_role = case_blind_get_role  # type: ignore[method-assign]
    IAMBackend.put_role_permissions_boundary = strict_put_boundary  # type: ignore[method-assign]

    # A role's inline policy is a JSON document, as IAM stores it and GetRolePolicy returns it
    # (URL-encoded JSON; IAM API Reference, GetRolePolicy). moto's CloudFormation role keeps a
    # template's Policies as Python objects, and GetRolePolicy then answered their repr.
    from moto.iam.models import Role

    put_policy = Role.put_policy

    def put_json_policy(self: Any, policy_name: str, policy_json: Any) -> None:
        put_policy(self, policy_name, policy_json if isinstance(policy_json, str) else json.dumps(policy_json))

    Role.put_policy = put_json_policy  # type: ignore[method-assign]

    # A template's role gets its ManagedPolicyArns attached, as CloudFormation attaches them
    # (AWS::IAM::Role, ManagedPolicyArns; a policy that does not exist fails the resource with
    # IAM's NoSuchEntity), and an update moves them to the template's list. moto's model ignored
    # the property: the roles the templates made had none of their managed policies.
    def attach_managed(role: Any, arns: list[str], account_id: str, region_name: str) -> None:
        """Attach what the template lists and no longer holds; detach what an earlier version of
        the template listed and this one does not (a policy attached otherwise is left alone)."""
        from moto.iam.models import iam_backends
        from moto.utilities.utils import get_partition

        backend = iam_backends[account_id][get_partition(region_name)]
        listed_before = set(getattr(role, "clusterdrop_managed_arns", []))
        for arn in arns:
            if arn not in role.managed_policies:
                backend.attach_role_policy(arn, role.name)
        for arn in listed_before - set(arns):
            if arn in role.managed_policies:
                backend.detach_role_policy(arn, role.name)
        role.clusterdrop_managed_arns = list(arns)

    create = Role.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update = Role.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_with_managed(cls: Any, *args: Any, **kwargs: Any) -> Any:
        role = create(cls, *args, **kwargs)
        template, account_id, region_name = _cfn_args(args, kwargs, ("cloudformation_json", 1))
        attach_managed(role, template["Properties"].get("ManagedPolicyArns") or [], account_id, region_name)
        return role

    def update_with_managed(cls: Any, *args: Any, **kwargs: Any) -> Any:
        role = update(cls, *args, **kwargs)
        template, account_id, region_name = _cfn_args(args, kwargs, ("cloudformation_json", 2))
        attach_managed(role, template["Properties"].get("ManagedPolicyArns") or [], account_id, region_name)
        return role

    delete = Role.delete_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def delete_with_managed(cls: Any, *args: Any, **kwargs: Any) -> None:
        # CloudFormation detaches a role's managed policies before IAM's DeleteRole, which refuses
        # a role that still has some (DeleteConflict).
        from moto.iam.models import iam_backends
        from moto.utilities.utils import get_partition

        name = kwargs.get("resource_name", args[0] if args else "")
        _, account_id, region_name = _cfn_args(args, kwargs, ("cloudformation_json", 1))
        backend = iam_backends[account_id][get_partition(region_name)]
        for role in list(backend.roles.values()):
            if role.name == name:
                for arn in list(role.managed_policies):
                    backend.detach_role_policy(arn, role.name)
        delete(cls, *args, **kwargs)

    Role.delete_from_cloudformation_json = classmethod(delete_with_managed)  # type: ignore[method-assign,assignment]
    Role.create_from_cloudformation_json = classmethod(create_with_managed)  # type: ignore[method-assign,assignment]
    Role.update_from_cloudformation_json = classmethod(update_with_managed)  # type: ignore[method-assign,assignment]


@dataclass
class EmbeddedAws:
    region: str = "eu-west-1"
    port: int = 0
    runtime_env: dict[str, str] = field(default_factory=dict)
    faults: set[str] = field(default_factory=set)
    node_ready_delay: float = 0.0
    admin_keys: tuple[str, str] = ("local", "local")  # ADMIN_USER's, once started
    # The account's service quotas: a new account's defaults unless set (`local up --quota`).
    quotas: dict[str, float] = field(default_factory=dict)

    def start(self) -> EmbeddedAws:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        from clusterdrop.local import (  # noqa: F401 - models register
            cfn_delete,
            cfn_models,
            cfn_replacement,
            cfn_roles,
            eks,
            events,
            iam_enforce,
            iam_simulation,
            quotas,
            request_checks,
            runtime,
        )

        self.port = self.port or free_port()
        os.environ["MOTO_PORT"] = str(self.port)  # moto's Step Functions engine calls back here
        os.environ["MOTO_HOST"] = "http://127.0.0.1"  # custom resources answer here
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        # AWS's managed policies exist in every account (arn:aws:iam::aws:policy/…); moto leaves
        # them out unless asked, and then GetPolicy, AttachRolePolicy and a boundary naming one
        # would fail where AWS succeeds.
        default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True
        self.runtime = runtime.LocalRuntime(extra_env={"AWS_ENDPOINT_URL": self.url, **self.runtime_env})
        runtime.install(self.runtime)
        iam_enforce.install()  # every function calls with its own role; IAM decides as on AWS
        request_checks.install()  # every request against its botocore input shape, as AWS checks it
        iam_simulation.install()  # IAM's policy simulator, which Plan asks about key policies
        _state_machines_that_run()
        _terminal_errors_end_the_execution()
        events.install()  # Step Functions' status-change events; EventBridge's Lambda targets
        _s3_events_with_versions()
        _network_made_as_templated()
        _deletable_network()
        _tags_as_templated()
        _deleted_log_groups_lose_their_tags()
        cfn_delete.install()  # what moto's models cannot delete, deleted as the schema's handler does
        _fail_on_unsupported_types()
        _capabilities_acknowledged()
        _iam_as_strict()
        _change_sets_by_stack()
        _updates_keep_resources()
        self.eks = eks.install(
            self,
            eks.Settings(faults=set(self.faults), node_ready_delay=self.node_ready_delay, aws_endpoint=self.url),
        )
        cfn_roles.install()  # after eks: a refused resource fails the way its SimulatedFailure does
        cfn_replacement.install()  # after roles: a replacement is created and deleted with the role
        _stack_updates_take_time()  # outermost: the role and the faults go with the update's thread
        self.account_quotas = quotas.AccountQuotas(applied=dict(self.quotas))
        quotas.install(self.account_quotas)
        _host_is_this_machine()
        # verbose would print to stdout, which `local run --json` keeps for its one JSON object.
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        # The person at this machine: an IAM user of the embedded account, with keys of its own,
        # so that STS (and an EKS cluster's authenticator) knows who calls.
        iam = self._client_with("local", "local", "iam")
        iam.create_user(UserName=ADMIN_USER)
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        self.admin_keys = (key["AccessKeyId"], key["SecretAccessKey"])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def session(self) -> Any:
        """As the embedded account's administrator (ADMIN_ARN)."""
        import boto3

        key, secret = self.admin_keys
        return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=self.region)

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.url)

    def _client_with(self, key: str, secret: str, service: str) -> Any:
        import boto3

        session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=self.region)
        return session.client(service, endpoint_url=self.url)

    def stop(self) -> None:
        self.runtime.stop()
        self.eks.stop()
        self.server.stop()

    # --- the CDK app ------------------------------------------------------------------------

    def deploy(self, cdk_out: Path, stack: str = "clusterdrop") -> dict[str, str]:
        """Upload the assembly's assets to the bootstrap bucket, then create the stack."""
        s3 = self.client("s3")
        bucket = f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{ACCOUNT}-{self.region}"
        # us-east-1 is the one region S3 wants no LocationConstraint for.
        where = {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        s3.create_bucket(Bucket=bucket, **where)
        manifest = json.loads((cdk_out / f"{stack}.assets.json").read_text())
        template_key = ""
        for entry in manifest["files"].values():
            source = cdk_out / entry["source"]["path"]
            key = next(iter(entry["destinations"].values()))["objectKey"]
            body = _zipped(source) if entry["source"].get("packaging") == "zip" else source.read_bytes()
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            if entry["source"]["path"] == f"{stack}.template.json":
                template_key = key
        self.client("ssm").put_parameter(
            Name=f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version", Value="30", Type="String"
        )
        cfn = self.client("cloudformation")
        cfn.create_stack(
            StackName=stack,
            TemplateURL=f"https://{bucket}.s3.{self.region}.amazonaws.com/{template_key}",
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        )
        deadline = time.monotonic() + 120
        while True:
            described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
            if not described["StackStatus"].endswith("IN_PROGRESS"):
                break
            if time.monotonic() > deadline:
                raise WaitTimedOut(f"stack {stack} still {described['StackStatus']} after 120 s")
            time.sleep(0.2)
        if described["StackStatus"] != "CREATE_COMPLETE":
            events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
            reasons = [e.get("ResourceStatusReason", "") for e in events if "FAILED" in e["ResourceStatus"]]
            raise StackFailed(f"stack {stack}: {described['StackStatus']}: {'; '.join(r for r in reasons if r)}")
        self._versioning(stack, json.loads((cdk_out / f"{stack}.template.json").read_text()))
        return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}

    def _versioning(self, stack: str, template: dict[str, Any]) -> None:
        """moto's AWS::S3::Bucket ignores VersioningConfiguration: apply it as CloudFormation would."""
        resources = self.client("cloudformation").describe_stack_resources(StackName=stack)["StackResources"]
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if "PhysicalResourceId" in r}
        s3 = self.client("s3")
        for logical_id, resource in template["Resources"].items():
            versioning = (resource.get("Properties") or {}).get("VersioningConfiguration")
            if resource["Type"] == "AWS::S3::Bucket" and versioning and logical_id in physical:
                s3.put_bucket_versioning(
                    Bucket=physical[logical_id], VersioningConfiguration={"Status": versioning["Status"]}
                )


def _zipped(directory: Path) -> bytes:
    """An asset directory zipped as the CDK CLI uploads it; kept beside it (asset directories are
    named by their content's hash, so the zip stays true)."""
    kept = directory.with_name(f"{directory.name}.embedded.zip")
    if kept.is_file():
        return kept.read_bytes()
    body = _zip(directory)
    staging = kept.with_name(f".{kept.name}.{os.getpid()}.{time.monotonic_ns()}")
    staging.write_bytes(body)
    staging.replace(kept)
    return body


def _zip(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()
