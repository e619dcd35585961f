"""The JSON Schema of the native spec, generated from the models, for editors."""

from __future__ import annotations

from typing import Any

from clusterdrop import facts
from clusterdrop.spec import references
from clusterdrop.spec.models import Cluster

SCHEMA_ID = "https://clusterdrop.io/schemas/cluster-v1alpha1.json"


# An example of each field that examples/*.yaml leaves out (docs/generate.py shows the examples'
# own values for the others), put in the schema as `examples` for editors and the reference page.
# A test sets each into the quickstart and validates it: an example shown is one that is accepted.
_ACCOUNT = "123456789012"
EXAMPLES: dict[str, Any] = {
    "metadata.tags": {"team": "platform"},
    "spec.controlPlane.admins": [f"arn:aws:iam::{_ACCOUNT}:role/platform-admin"],
    "spec.controlPlane.logRetentionDays": 90,
    "spec.controlPlane.allowReplacement": False,
    "spec.controlPlane.scalingTier": "tier-xl",
    "spec.controlPlane.secretsKey": f"arn:aws:kms:eu-west-1:{_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "spec.controlPlane.zonalShift": True,
    "spec.controlPlane.supportType": "standard",
    "spec.network.vpc.id": "vpc-0a1b2c3d4e5f67890",
    "spec.network.vpc.subnets.private": [
        {"id": "subnet-0a1b2c3d4e5f67890", "zone": "eu-west-1a"},
        {"id": "subnet-0b2c3d4e5f6789012", "zone": "eu-west-1b"},
    ],
    "spec.network.vpc.subnets.public": [
        {"id": "subnet-0f9e8d7c6b5a43210", "zone": "eu-west-1a"},
        {"id": "subnet-0e8d7c6b5a4321098", "zone": "eu-west-1b"},
    ],
    "spec.cni.kubeProxyReplacement": True,
    "spec.nodeGroups[].topology": "public",
    "spec.nodeGroups[].labels": {"role": "web"},
    "spec.nodeGroups[].taints": [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}],
    "spec.nodeGroups[].instanceName": "web-node",
    "spec.nodeGroups[].amiFamily": "bottlerocket",
    "spec.nodeGroups[].volume.type": "gp3",
    "spec.nodeGroups[].volume.sizeGiB": 100,
    "spec.nodeGroups[].volume.iops": 4000,
    "spec.nodeGroups[].volume.throughput": 250,
    "spec.nodeGroups[].volume.encrypted": True,
    "spec.nodeGroups[].volume.kmsKeyId": "alias/ebs-nodes",
    "spec.nodeGroups[].tags": {"cost-center": "1234"},
    "spec.nodeGroups[].updateConfig.maxUnavailable": 1,
    "spec.nodeGroups[].updateConfig.maxUnavailablePercentage": 25,
    "spec.nodeGroups[].nodeRepair.enabled": True,
    "spec.nodeGroups[].kubernetesVersion": "1.35",
    "spec.addonVersions": {"coredns": "v1.12.2-eksbuild.1"},
    "spec.addonTags": {"coredns": {"team": "platform"}},
    "spec.access[].principal": f"arn:aws:iam::{_ACCOUNT}:role/developers",
    "spec.access[].policies[].policy": "edit",
    "spec.access[].policies[].namespaces": ["apps"],
    "spec.access[].username": "developer",
    "spec.access[].groups": ["developers"],
    "spec.podIdentities[].namespace": "apps",
    "spec.podIdentities[].serviceAccount": "reader",
    "spec.podIdentities[].roleArn": f"arn:aws:iam::{_ACCOUNT}:role/apps-reader",
    "spec.podIdentities[].policyArns": ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
    "spec.podIdentities[].policy": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
    },
    "spec.podIdentities[].roleName": "apps-reader",
    "spec.podIdentities[].permissionsBoundaryArn": f"arn:aws:iam::{_ACCOUNT}:policy/boundary",
    "spec.podIdentities[].targetRoleArn": "arn:aws:iam::210987654321:role/reports-reader",
    "spec.podIdentities[].disableSessionTags": True,
    "spec.podIdentities[].createServiceAccount": True,
    "spec.podIdentities[].labels": {"app": "reader"},
    "spec.identityProviders[].name": "corp",
    "spec.identityProviders[].issuerUrl": "https://login.example.com",
    "spec.identityProviders[].clientId": "kubernetes",
    "spec.identityProviders[].usernameClaim": "email",
    "spec.identityProviders[].usernamePrefix": "corp:",
    "spec.identityProviders[].groupsClaim": "groups",
    "spec.identityProviders[].groupsPrefix": "corp:",
    "spec.identityProviders[].requiredClaims": {"hd": "example.com"},
    "spec.nodeReadyTimeoutMinutes": 30,
    "spec.upgradePolicy.force": False,
}


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
    for path, example in EXAMPLES.items():
        _property(schema, path)["examples"] = [example]
    return schema


def _property(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The property schema at a dotted path (`[]` for list items), $refs followed to its parent."""
    *parents, name = path.replace("[]", ".*").split(".")
    parent = _node(schema, tuple(parents))
    prop: dict[str, Any] = parent["properties"][name]
    return prop


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
