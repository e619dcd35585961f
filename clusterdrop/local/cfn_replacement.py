"""Replacement as CloudFormation decides it, for every resource type, from its provider schema.

A stack update that changes a property the type's schema lists in `createOnlyProperties` cannot
be applied in place: CloudFormation creates the resource anew (new physical ID, references
repointed), and deletes the old one in the update's clean-up phase. A resource given a custom
name cannot be replaced that way — the new one would take the name the old one still holds — so
the update fails with "CloudFormation cannot update a stack when a custom-named resource requires
replacing" (CloudFormation User Guide, "Name type"; "Update behaviors of stack resources").

moto applies most such changes in place, or not at all. Here the decision is taken before moto's
own update runs: the create-only paths come from cfn-lint's copy of the schemas, the naming
property is the create-only top-level property named `Name` or after the type
(`NodegroupName`, `RoleName`, `LaunchTemplateName` …), the convention the "Name type" page lists.
No per-type code: a type a template starts to render is replaced by these rules from its first use.

Known gap: the replacement's old resource is deleted as soon as the new one exists, within the
update, not after every other resource has been updated.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from typing import Any

from clusterdrop.local import cfn_permissions
from clusterdrop.local.eks import SimulatedFailure

_resolved: dict[tuple[str, str], dict[str, Any]] = {}  # (stack id, logical id) → its properties
_lock = threading.Lock()

_MISSING = object()


@functools.cache
def create_only(resource_type: str) -> tuple[tuple[str, ...], ...]:
    """The type's create-only properties, as paths of property names."""
    try:
        schema = cfn_permissions.resource_schema(resource_type)
    except KeyError:
        return ()
    return tuple(tuple(p.removeprefix("/properties/").split("/")) for p in schema.get("createOnlyProperties") or [])


@functools.cache
def naming_property(resource_type: str) -> str | None:
    """The property that gives a resource of this type a custom name, if the type has one."""
    name = re.sub(r"[^a-z0-9]", "", resource_type.split("::")[-1].lower())
    for path in create_only(resource_type):
        if len(path) == 1 and path[0].lower() in ("name", f"{name}name"):
            return path[0]
    return None


@functools.cache
def name_limit(resource_type: str) -> int | None:
    """The longest name the type's naming property takes (its schema's maxLength)."""
    prop = naming_property(resource_type)
    if prop is None:
        return None
    schema = cfn_permissions.resource_schema(resource_type)
    limit = ((schema.get("properties") or {}).get(prop) or {}).get("maxLength")
    return int(limit) if limit else None


def shortened(name: str, limit: int | None) -> str:
    """A generated physical name within the type's limit, as CloudFormation generates them: the
    stack name and logical ID cut, the random suffix kept ("Name type": "the stack name, the
    logical ID, and a random string", within the resource's length limit)."""
    if limit is None or len(name) <= limit:
        return name
    head, _, suffix = name.rpartition("-")
    return f"{head[: limit - len(suffix) - 1]}-{suffix}"


def _at(properties: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(properties, Mapping) or part not in properties:
            return _MISSING
        properties = properties[part]
    return properties


def changed(resource_type: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The create-only properties whose values differ between two resolved property sets."""
    return ["/".join(p) for p in create_only(resource_type) if _at(before, p) != _at(after, p)]


def _literal(value: Any, parameters: Mapping[str, Any]) -> Any:
    """A template value with Refs to parameters replaced by their values (Refs to resources and
    other functions stay as written: a change set compares templates, not what they resolve to)."""
    if isinstance(value, Mapping):
        if set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]
        return {k: _literal(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v, parameters) for v in value]
    return value


def replacement(
    resource_type: str,
    before: Mapping[str, Any],
    before_parameters: Mapping[str, Any],
    after: Mapping[str, Any],
    after_parameters: Mapping[str, Any],
) -> list[str]:
    """The create-only properties a change set's Modify of one resource changes, comparing the two
    templates' properties (DescribeChangeSet's `Replacement: True` when any)."""
    return changed(resource_type, _literal(before, before_parameters), _literal(after, after_parameters))


def record(stack_id: str, logical_id: str, properties: Mapping[str, Any]) -> None:
    with _lock:
        _resolved[(stack_id, logical_id)] = dict(properties)


def install() -> None:
    """Decide replacement before moto's update of each resource (and keep every resource's
    resolved properties, the "before" of its next update)."""
    from moto.cloudformation import parsing

    if getattr(parsing, "_clusterdrop_replacement", False):  # moto is patched once per process
        return
    parsing._clusterdrop_replacement = True  # type: ignore[attr-defined]

    original_parse = parsing.parse_resource_and_generate_name
    original_update = parsing.parse_and_update_resource

    def parse(logical_id: str, resource_json: Any, resources_map: Any) -> Any:
        parsed = original_parse(logical_id, resource_json, resources_map)
        if parsed:
            record(resources_map.stack_id, logical_id, parsed[1].get("Properties") or {})
        return parsed

    def update(logical_id: str, resource_json: Any, resources_map: Any, account_id: str, region_name: str) -> Any:
        resource_type = resource_json["Type"]
        before = _resolved.get((resources_map.stack_id, logical_id))
        if before is None or not create_only(resource_type):
            return original_update(logical_id, resource_json, resources_map, account_id, region_name)
        after = parsing.clean_json(dict(resource_json.get("Properties") or {}), resources_map)
        paths = changed(resource_type, before, after)
        if not paths:
            return original_update(logical_id, resource_json, resources_map, account_id, region_name)
        name_property = naming_property(resource_type)
        if name_property and after.get(name_property):
            raise SimulatedFailure(
                logical_id,
                resource_type,
                "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                f"Rename {after[name_property]} and update the stack again.",
            )
        old = resources_map[logical_id]
        new = parsing.parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name)
        resources_map._delete_resource(old, {"Type": resource_type, "Properties": before})
        return new

    parsing.parse_resource_and_generate_name = parse
    parsing.parse_and_update_resource = update

    original_generate = parsing.generate_resource_name

    def generate(resource_type: str, stack_name: str, logical_id: str) -> str:
        return shortened(original_generate(resource_type, stack_name, logical_id), name_limit(resource_type))

    parsing.generate_resource_name = generate

    from moto.cloudformation import models

    original_diff = models.ChangeSet.diff

    def diff(self: Any) -> list[Any]:
        """DescribeChangeSet says which Modify replaces its resource, as CloudFormation does:
        `Replacement: True` and the create-only properties in `Scope`/`Details`."""
        changes: list[Any] = original_diff(self)
        old = (self.stack.template_dict or {}).get("Resources") or {}
        new = (self.template_dict or {}).get("Resources") or {}
        for change in changes:
            if change.action != "Modify" or change.logical_resource_id not in old:
                continue
            paths = replacement(
                change.resource_type,
                old[change.logical_resource_id].get("Properties") or {},
                self.stack.parameters or {},
                new[change.logical_resource_id].get("Properties") or {},
                self.parameters or {},
            )
            change.replacement = "True" if paths else "False"
            change.scope = ["Properties"]
            change.details = [
                {
                    "Target": {"Attribute": "Properties", "Name": path.split("/")[0], "RequiresRecreation": "Always"},
                    "Evaluation": "Static",
                    "ChangeSource": "DirectModification",
                }
                for path in paths
            ]
        return changes

    models.ChangeSet.diff = diff  # type: ignore[method-assign]
