"""The JSON Schema of the native spec, generated from the models, for editors."""

from __future__ import annotations

from typing import Any

from clusterdrop import facts
from clusterdrop.spec import references
from clusterdrop.spec.models import Cluster

SCHEMA_ID = "https://clusterdrop.io/schemas/cluster-v1alpha1.json"


def json_schema() -> dict[str, Any]:
    schema = Cluster.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "clusterdrop Cluster (clusterdrop.io/v1alpha1)"
    # Editors complete enums; the validator checks the same lists.
    spec = schema["$defs"]["ClusterSpec"]["properties"]
    spec["region"]["enum"] = sorted(facts.REGIONS)
    spec["kubernetesVersion"] = {
        "description": spec["kubernetesVersion"].get("description", ""),
        "enum": list(facts.KUBERNETES_VERSIONS),
        "type": "string",
    }
    _allow_references(schema)
    return schema


def _allow_references(schema: dict[str, Any]) -> None:
    """Where the spec takes a reference (`references.REFERABLE`), the schema takes one too."""
    schema["$defs"]["Reference"] = {
        "description": "A value from elsewhere, resolved at Validate spec: an SSM parameter (a StringList for a "
        "list) or a CloudFormation export (comma-separated for a list).",
        "type": "object",
        "properties": {
            "fromSsm": {"type": "string", "description": "An SSM parameter's name (String, or StringList)."},
            "fromExport": {"type": "string", "description": "A CloudFormation export's name."},
        },
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
    }
    for path in references.REFERABLE:
        parent, key = _node(schema, path[:-1]), path[-1]
        if key == "*":
            parent["items"] = {"anyOf": [parent["items"], {"$ref": "#/$defs/Reference"}]}
        else:
            prop = parent["properties"][key]
            description = prop.pop("description", None)
            parent["properties"][key] = {"anyOf": [prop, {"$ref": "#/$defs/Reference"}]}
            if description:
                parent["properties"][key]["description"] = description


def _node(schema: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    """The object schema at a spec path, following $refs (and `anyOf` with null, for optional fields)."""
    node = schema
    for part in path:
        node = _deref(schema, node)
        node = node["items"] if part == "*" else node["properties"][part]
    return _deref(schema, node)


def _deref(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in node and "properties" not in node:
            node = next(n for n in node["anyOf"] if n.get("type") != "null")
        else:
            return node
