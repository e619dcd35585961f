"""The JSON Schema of the native spec, generated from the models, for editors."""

from __future__ import annotations

from typing import Any

from clusterdrop import facts
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
    return schema
