"""What `kubectl apply` needs to validate without --validate=false: the OpenAPI v3 discovery
(/openapi/v3 and one document per group-version) saying that every kind's PATCH takes the
`fieldValidation` query parameter — kubectl then leaves validation to the server and sends
`fieldValidation=Strict` — and the server's strict field validation itself: a field the kind
does not have is refused (400, `strict decoding error: unknown field "spec.replicass"`), as the
API server does (Kubernetes API concepts, "Field validation").

The kinds' fields come from the official `kubernetes` client's models (each model's
`attribute_map` and `openapi_types`, generated from the API's OpenAPI): built-in kinds only. A
custom resource's fields are its CRD's schema, which this emulator does not check.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from clusterdrop.local.kubeapi.errors import ApiError

Obj = dict[str, Any]

_LIST = re.compile(r"^list\[(.+)\]$", re.IGNORECASE)
_DICT = re.compile(r"^dict\[str, *(.+)\]$|^dict\(str, *(.+)\)$", re.IGNORECASE)


def model_of(api_version: str, kind: str) -> Any:
    """The client's model class of a built-in kind (apps/v1 Deployment → V1Deployment), or None."""
    import kubernetes.client

    version = api_version.rsplit("/", 1)[-1]
    return getattr(kubernetes.client, f"{version[:1].upper()}{version[1:]}{kind}", None)


def _model(name: str) -> Any:
    import kubernetes.client

    return getattr(kubernetes.client, name, None) if name[:1] == "V" else None


def unknown_fields(value: Any, type_name: str, path: str = "") -> list[str]:
    """The paths of fields in `value` that the type does not have (directives of a strategic
    merge patch, `$patch` and the like, are not fields)."""
    if value is None:
        return []
    if match := _LIST.match(type_name):
        inner = match.group(1)
        return [
            f
            for i, item in enumerate(value if isinstance(value, list) else [])
            for f in unknown_fields(item, inner, f"{path}[{i}]")
        ]
    if match := _DICT.match(type_name):
        inner = match.group(1) or match.group(2)
        items = value.items() if isinstance(value, dict) else []
        return [f for key, item in items for f in unknown_fields(item, inner, f"{path}.{key}")]
    model = _model(type_name)
    if model is None or not isinstance(value, dict):
        return []  # a scalar, or `object` (free-form: raw extensions, a CRD's schema)
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    found = []
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key.startswith("$"):
            continue
        attr = by_json.get(key)
        if attr is None:
            found.append(where)
            continue
        found += unknown_fields(item, model.openapi_types[attr], where)
    return found


def check_fields(body: Any, field_validation: str | None) -> None:
    """Refuse a body with fields its kind does not have, when the client asked for Strict."""
    if (field_validation or "").lower() != "strict" or not isinstance(body, dict):
        return
    model = model_of(str(body.get("apiVersion", "")), str(body.get("kind", "")))
    if model is None:
        return
    unknown = unknown_fields(body, model.__name__)
    if unknown:
        shown = ", ".join(f'unknown field "{f}"' for f in unknown)
        raise ApiError(400, "BadRequest", f"strict decoding error: {shown}")


def _path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def root(group_versions: dict[str, list[str]]) -> Obj:
    """/openapi/v3: where each group-version's document is."""
    paths = {}
    for group, versions in sorted(group_versions.items()):
        for version in versions:
            key = _path(group, version)
            digest = hashlib.sha256(key.encode()).hexdigest()[:16].upper()
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def document(group: str, version: str, types: list[Any]) -> Obj:
    """/openapi/v3/<group-version>: each kind's object path, its PATCH taking fieldValidation."""
    paths: Obj = {}
    for rtype in types:
        where = f"/{_path(group, version)}/" + ("namespaces/{namespace}/" if rtype.namespaced else "")
        gvk = {"group": group, "version": version, "kind": rtype.kind}
        parameter = {
            "name": "fieldValidation",
            "in": "query",
            "description": "Ignore, Warn or Strict: how the server treats unknown and duplicate fields",
            "schema": {"type": "string", "uniqueItems": True},
        }
        paths[f"{where}{rtype.plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{rtype.kind}",
                "parameters": [parameter],
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes API emulator", "version": version},
        "paths": paths,
        "components": {"schemas": {}},
    }
