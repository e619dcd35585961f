"""The emulator's state: resource types (built-in and from CRDs) and objects, with the rules
of the real API server that catch ordering and shape bugs."""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clusterdrop.local.kubeapi import merge
from clusterdrop.local.kubeapi.errors import ApiError
from clusterdrop.local.kubeapi.selectors import parse_field_selector, parse_label_selector

Obj = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_VERBS = ["create", "delete", "get", "list", "patch", "update"]


@dataclass
class ResourceType:
    group: str
    versions: list[str]
    plural: str
    kind: str
    namespaced: bool
    has_status: bool = True
    short_names: list[str] = field(default_factory=list)
    name_rule: str = "subdomain"  # subdomain | label | path (RBAC names may hold ':')
    established: bool = True

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def matches_api_version(self, api_version: str) -> bool:
        return any(api_version == self.api_version(v) for v in self.versions)


RBAC = "rbac.authorization.k8s.io"
ADMISSION = "admissionregistration.k8s.io"


def _builtin(group: str, version: str, plural: str, kind: str, namespaced: bool, **kw: Any) -> ResourceType:
    return ResourceType(group=group, versions=[version], plural=plural, kind=kind, namespaced=namespaced, **kw)


BUILTINS: list[ResourceType] = [
    _builtin("", "v1", "namespaces", "Namespace", False, name_rule="label", short_names=["ns"]),
    _builtin("", "v1", "nodes", "Node", False, short_names=["no"]),
    _builtin("", "v1", "pods", "Pod", True, short_names=["po"]),
    _builtin("", "v1", "services", "Service", True, name_rule="label", short_names=["svc"]),
    _builtin("", "v1", "configmaps", "ConfigMap", True, has_status=False, short_names=["cm"]),
    _builtin("", "v1", "secrets", "Secret", True, has_status=False),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", True, has_status=False, short_names=["sa"]),
    _builtin("", "v1", "endpoints", "Endpoints", True, has_status=False, short_names=["ep"]),
    _builtin("", "v1", "events", "Event", True, has_status=False, short_names=["ev"]),
    _builtin("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, short_names=["pvc"]),
    _builtin("", "v1", "persistentvolumes", "PersistentVolume", False, short_names=["pv"]),
    _builtin("apps", "v1", "daemonsets", "DaemonSet", True, short_names=["ds"]),
    _builtin("apps", "v1", "deployments", "Deployment", True, short_names=["deploy"]),
    _builtin("apps", "v1", "replicasets", "ReplicaSet", True, short_names=["rs"]),
    _builtin("apps", "v1", "statefulsets", "StatefulSet", True, short_names=["sts"]),
    _builtin(RBAC, "v1", "clusterroles", "ClusterRole", False, has_status=False, name_rule="path"),
    _builtin(RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", False, has_status=False, name_rule="path"),
    _builtin(RBAC, "v1", "roles", "Role", True, has_status=False, name_rule="path"),
    _builtin(RBAC, "v1", "rolebindings", "RoleBinding", True, has_status=False, name_rule="path"),
    _builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, short_names=["pdb"]),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=["crd", "crds"],
    ),
    _builtin("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, has_status=False, short_names=["sc"]),
    _builtin(
        "scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, has_status=False, short_names=["pc"]
    ),
    _builtin(
        ADMISSION, "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False, has_status=False
    ),
    _builtin(ADMISSION, "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False, has_status=False),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease", True, has_status=False),
    _builtin("apiregistration.k8s.io", "v1", "apiservices", "APIService", False),
]

# What a DELETE answers with the object rather than a Status: kinds a real API server does not
# remove at once (the registry's Delete reports them not deleted immediately).
_DELETED_GRACEFULLY = {("", "pods"), ("", "persistentvolumeclaims")}

# The namespaces every new cluster starts with.
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

Key = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace or "", name)


def kubernetes_service(service_cidr: str) -> Obj:
    """The `kubernetes` Service in `default`, which the API server makes for itself: the first
    address of the service CIDR, port 443 (kube-apiserver's "default/kubernetes" Service; EKS's
    service CIDR is 10.100.0.0/16 or 172.20.0.0/16, kubeadm's 10.96.0.0/12)."""
    import ipaddress

    first = str(next(ipaddress.ip_network(service_cidr).hosts()))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": first,
            "clusterIPs": [first],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}],
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
        },
    }


def _secret_as_stored(secret: Obj) -> None:
    """What the API server makes of a Secret on a write (core/v1's defaults and conversion): the
    type defaults to Opaque, and stringData is merged into data, base64-encoded, and never stored
    ("stringData … is never output when reading from the API")."""
    import base64

    string_data = secret.pop("stringData", None) or {}
    if string_data:
        data = secret.setdefault("data", {}) or {}
        secret["data"] = {**data, **{k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()}}
    if not secret.get("type"):
        secret["type"] = "Opaque"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_part(obj: Obj) -> Obj:
    """What counts for metadata.generation: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class Store:
    """Resource types and objects; every method is thread-safe."""

    def __init__(self, *, crd_establish_delay: float = 0.0, service_cidr: str = "10.96.0.0/12"):
        self.lock = threading.RLock()
        self.types: dict[Key, ResourceType] = {(t.group, t.plural): copy.deepcopy(t) for t in BUILTINS}
        self.objects: dict[Key, dict[ObjKey, Obj]] = {k: {} for k in self.types}
        self.applied: dict[tuple[Key, ObjKey, str], Obj] = {}
        self.revision = 0
        self.crd_establish_delay = crd_establish_delay
        self.listeners: list[Callable[[str, ResourceType, Obj], None]] = []
        # Called with ("CREATE" | "UPDATE", type, object) before a write is stored; raising an
        # ApiError refuses it, as an admission webhook's answer does.
        self.admission: list[Callable[[str, ResourceType, Obj], None]] = []
        # What every real cluster starts with.
        namespaces = self.types[("", "namespaces")]
        for name in INITIAL_NAMESPACES:
            self.create(namespaces, "v1", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        self.create(self.types[("", "services")], "v1", "default", kubernetes_service(service_cidr))

    # --- types and discovery -------------------------------------------------------------

    def resource_type(self, group: str, version: str, plural: str) -> ResourceType:
        with self.lock:
            rtype = self.types.get((group, plural))
            if rtype is None or version not in rtype.versions or not rtype.established:
                gv = f"{group}/{version}" if group else version
                raise ApiError(404, "NotFound", f"the server could not find the requested resource ({plural}.{gv})")
            return rtype

    def group_versions(self) -> dict[str, list[str]]:
        with self.lock:
            out: dict[str, list[str]] = {}
            for rtype in self.types.values():
                if rtype.established:
                    for version in rtype.versions:
                        if version not in out.setdefault(rtype.group, []):
                            out[rtype.group].append(version)
            return out

    def resources_in(self, group: str, version: str) -> list[ResourceType]:
        with self.lock:
            return [t for t in self.types.values() if t.group == group and version in t.versions and t.established]

    # --- helpers ---------------------------------------------------------------------------

    def _next_revision(self) -> str:
        self.revision += 1
        return str(self.revision)

    def _check_name(self, rtype: ResourceType, name: str) -> None:
        ok = {
            "subdomain": len(name) <= 253 and bool(_SUBDOMAIN.match(name)),
            "label": len(name) <= 63 and bool(_LABEL.match(name)),
            "path": name not in (".", "..") and "/" not in name and "%" not in name and bool(name),
        }[rtype.name_rule]
        if not ok:
            raise ApiError(
                422,
                "Invalid",
                f'{rtype.kind} "{name}" is invalid: metadata.name: Invalid value: "{name}": a lowercase RFC 1123 '
                "name must consist of lower case alphanumeric characters, '-' or '.'",
                {"name": name, "kind": rtype.singular},
            )

    def _check_namespace_exists(self, namespace: str) -> None:
        if ("", namespace) not in self.objects[("", "namespaces")]:
            raise ApiError(
                404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"}
            )

    def _not_found(self, rtype: ResourceType, name: str) -> ApiError:
        what = f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural
        return ApiError(
            404, "NotFound", f'{what} "{name}" not found', {"name": name, "group": rtype.group, "kind": rtype.plural}
        )

    def _check_body(self, rtype: ResourceType, version: str, body: Any, namespace: str | None) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be an object")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if not api_version or not kind:
            raise ApiError(
                400,
                "BadRequest",
                "Object 'Kind' is missing in the request body" if not kind else "Object 'apiVersion' is missing",
            )
        if kind != rtype.kind or not rtype.matches_api_version(api_version):
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({api_version}) and kind ({kind}) do not match the URL "
                f"({rtype.api_version(version)}, {rtype.kind})",
            )
        metadata = body.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        if rtype.namespaced:
            given = metadata.get("namespace")
            if given is not None and given != namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        if rtype.group == "" and rtype.kind == "Secret":
            _secret_as_stored(body)
        return body

    def _admit(self, operation: str, rtype: ResourceType, obj: Obj) -> None:
        for check in list(self.admission):
            check(operation, rtype, obj)

    def _emit(self, event: str, rtype: ResourceType, obj: Obj) -> None:
        for listener in list(self.listeners):
            listener(event, rtype, obj)

    # --- reads -------------------------------------------------------------------------------

    def get(self, rtype: ResourceType, version: str, namespace: str | None, name: str) -> Obj:
        with self.lock:
            obj = self.objects[(rtype.group, rtype.plural)].get((namespace or "", name))
            if obj is None:
                raise self._not_found(rtype, name)
            return self._out(rtype, version, obj)

    def _out(self, rtype: ResourceType, version: str, obj: Obj) -> Obj:
        # Keys starting with "_" are the emulator's own bookkeeping (a node's registration time), not served.
        out = copy.deepcopy({k: v for k, v in obj.items() if not k.startswith("_")})
        out["apiVersion"] = rtype.api_version(version)
        return out

    def list(
        self,
        rtype: ResourceType,
        version: str,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Obj:
        labels = parse_label_selector(label_selector or "")
        fields = parse_field_selector(field_selector or "")
        with self.lock:
            items = [
                obj
                for (ns, _), obj in sorted(self.objects[(rtype.group, rtype.plural)].items())
                if (namespace is None or ns == namespace) and labels(obj) and fields(obj)
            ]
            start = 0
            if continue_token:
                try:
                    start = int(json.loads(base64.urlsafe_b64decode(continue_token))["start"])
                except (ValueError, KeyError, TypeError):
                    raise ApiError(400, "BadRequest", "invalid continue token") from None
            page = items[start:]
            metadata: Obj = {"resourceVersion": str(self.revision)}
            if limit and limit > 0 and len(page) > limit:
                page = page[:limit]
                token = json.dumps({"start": start + limit, "rv": self.revision}).encode()
                metadata["continue"] = base64.urlsafe_b64encode(token).decode()
                metadata["remainingItemCount"] = len(items) - start - limit
            return {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version(version),
                "metadata": metadata,
                "items": [self._out(rtype, version, o) | {"kind": rtype.kind} for o in page],
            }

    # --- writes --------------------------------------------------------------------------------

    def create(self, rtype: ResourceType, version: str, namespace: str | None, body: Any, *, manager: str = "") -> Obj:
        with self.lock:
            obj = self._check_body(rtype, version, copy.deepcopy(body), namespace)
            meta = obj["metadata"]
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
            name = meta.get("name")
            if not name:
                raise ApiError(
                    422, "Invalid", f"{rtype.kind}.metadata.name: Required value: name or generateName is required"
                )
            self._check_name(rtype, name)
            if rtype.namespaced:
                self._check_namespace_exists(namespace or "")
            store = self.objects[(rtype.group, rtype.plural)]
            if (namespace or "", name) in store:
                what = f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural
                raise ApiError(
                    409, "AlreadyExists", f'{what} "{name}" already exists', {"name": name, "kind": rtype.plural}
                )
            if rtype.has_status and rtype.plural not in ("nodes", "pods", "namespaces"):
                obj.pop("status", None)  # the status subresource owns it
            if rtype.plural == "namespaces":
                obj["status"] = {"phase": "Active"}
                obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            meta.update(
                uid=str(uuid.uuid4()),
                creationTimestamp=_now(),
                resourceVersion=self._next_revision(),
                generation=1,
            )
            if manager:
                meta["managedFields"] = [self._managed_entry(rtype, version, manager, "Update")]
            self._admit("CREATE", rtype, obj)
            if rtype.plural == "customresourcedefinitions":
                self._register_crd(obj)
            store[(namespace or "", name)] = obj
            self._emit("ADDED", rtype, obj)
            return self._out(rtype, version, obj)

    def _managed_entry(self, rtype: ResourceType, version: str, manager: str, operation: str) -> Obj:
        return {
            "manager": manager,
            "operation": operation,
            "apiVersion": rtype.api_version(version),
            "time": _now(),
            "fieldsType": "FieldsV1",
            "fieldsV1": {},
        }

    def _commit(self, rtype: ResourceType, version: str, old: Obj, new: Obj, *, subresource: str | None) -> Obj:
        """Store new in place of old, keeping what the endpoint may not change."""
        meta = new.setdefault("metadata", {})
        for fixed in ("uid", "creationTimestamp", "name", "namespace"):
            if fixed in old["metadata"]:
                meta[fixed] = old["metadata"][fixed]
            else:
                meta.pop(fixed, None)
        new["kind"] = rtype.kind
        new["apiVersion"] = rtype.api_version(version)
        if subresource == "status":
            new = {**copy.deepcopy(old), "status": new.get("status")}
        elif rtype.has_status and rtype.plural not in ("nodes", "pods"):
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        meta = new["metadata"]
        comparable_old = {
            **old,
            "metadata": {
                k: v for k, v in old["metadata"].items() if k not in ("resourceVersion", "generation", "managedFields")
            },
        }
        comparable_new = {
            **new,
            "metadata": {k: v for k, v in meta.items() if k not in ("resourceVersion", "generation", "managedFields")},
        }
        if comparable_old == comparable_new:
            return self._out(rtype, version, old)  # a no-op write changes nothing, not even the version
        if subresource is None:
            self._admit("UPDATE", rtype, new)
        meta["generation"] = old["metadata"].get("generation", 1) + (1 if _spec_part(old) != _spec_part(new) else 0)
        meta["resourceVersion"] = self._next_revision()
        meta.setdefault("managedFields", old["metadata"].get("managedFields", []))
        key = (meta.get("namespace", ""), meta["name"])
        self.objects[(rtype.group, rtype.plural)][key] = new
        if rtype.plural == "customresourcedefinitions" and subresource is None:
            self._register_crd(new)
        self._emit("MODIFIED", rtype, new)
        return self._out(rtype, version, new)

    def _existing(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.objects[(rtype.group, rtype.plural)].get((namespace or "", name))
        if obj is None:
            raise self._not_found(rtype, name)
        return obj

    def replace(
        self,
        rtype: ResourceType,
        version: str,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
    ) -> Obj:
        with self.lock:
            old = self._existing(rtype, namespace, name)
            new = self._check_body(rtype, version, copy.deepcopy(body), namespace)
            if new["metadata"].get("name") not in (None, name):
                raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
            new["metadata"]["name"] = name
            given_rv = new["metadata"].get("resourceVersion")
            if given_rv and given_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {rtype.plural} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                )
            return self._commit(rtype, version, old, new, subresource=subresource)

    def patch(
        self,
        rtype: ResourceType,
        version: str,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        *,
        subresource: str | None = None,
        manager: str | None = None,
    ) -> Obj:
        with self.lock:
            if content_type == "application/apply-patch+yaml":
                return self._apply(rtype, version, namespace, name, patch, manager, subresource)
            old = self._existing(rtype, namespace, name)
            current = self._out(rtype, version, old)
            try:
                if content_type == "application/json-patch+json":
                    new = merge.json_patch(current, patch)
                elif content_type == "application/merge-patch+json":
                    new = merge.merge_patch(current, patch)
                elif content_type == "application/strategic-merge-patch+json":
                    if rtype.group not in ("", "apps", "policy", "rbac.authorization.k8s.io", "storage.k8s.io"):
                        raise ApiError(
                            415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources"
                        )
                    new = merge.strategic_merge(current, patch)
                else:
                    raise ApiError(
                        415,
                        "UnsupportedMediaType",
                        f"unsupported patch type {content_type!r}; accepted: application/json-patch+json, "
                        "application/merge-patch+json, application/strategic-merge-patch+json, "
                        "application/apply-patch+yaml",
                    )
            except merge.PatchError as exc:
                raise ApiError(422, "Invalid", str(exc)) from None
            if not isinstance(new, dict):
                raise ApiError(422, "Invalid", "the patched object is not an object")
            return self._commit(rtype, version, old, new, subresource=subresource)

    def _apply(
        self,
        rtype: ResourceType,
        version: str,
        namespace: str | None,
        name: str,
        body: Any,
        manager: str | None,
        subresource: str | None,
    ) -> Obj:
        if not manager:
            raise ApiError(
                400,
                "BadRequest",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
            )
        config = self._check_body(rtype, version, copy.deepcopy(body), namespace)
        if config["metadata"].get("name") not in (None, name):
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        config["metadata"]["name"] = name
        store = self.objects[(rtype.group, rtype.plural)]
        key = (namespace or "", name)
        applied_key = ((rtype.group, rtype.plural), key, manager)
        if key not in store:
            if subresource:
                raise self._not_found(rtype, name)
            self.create(rtype, version, namespace, config)
            store[key]["metadata"]["managedFields"] = [self._managed_entry(rtype, version, manager, "Apply")]
            self.applied[applied_key] = config
            return self._out(rtype, version, store[key])
        old = store[key]
        current = self._out(rtype, version, old)
        previous = self.applied.get(applied_key, {})
        pruned = merge.prune_unapplied(current, previous, config)
        new = merge.strategic_merge(pruned, config)
        result = self._commit(rtype, version, old, new, subresource=subresource)
        entries = [e for e in store[key]["metadata"].get("managedFields", []) if e.get("manager") != manager]
        if (
            not any(e.get("manager") == manager for e in old["metadata"].get("managedFields", []))
            or result["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]
        ):
            store[key]["metadata"]["managedFields"] = [*entries, self._managed_entry(rtype, version, manager, "Apply")]
        self.applied[applied_key] = config
        return self._out(rtype, version, store[key])

    def delete(self, rtype: ResourceType, version: str, namespace: str | None, name: str) -> Obj:
        with self.lock:
            store = self.objects[(rtype.group, rtype.plural)]
            obj = store.pop((namespace or "", name), None)
            if obj is None:
                raise self._not_found(rtype, name)
            self.applied = {
                k: v for k, v in self.applied.items() if k[:2] != ((rtype.group, rtype.plural), (namespace or "", name))
            }
            if rtype.plural == "namespaces":
                for objects in self.objects.values():
                    for k in [k for k in objects if k[0] == name]:
                        del objects[k]
            if rtype.plural == "customresourcedefinitions":
                self._unregister_crd(obj)
            self._emit("DELETED", rtype, obj)
            if (rtype.group, rtype.plural) in _DELETED_GRACEFULLY:
                # Not gone at once on a real API server (a pod's grace period, a claim's
                # pvc-protection finalizer): the answer is the object, marked for deletion.
                obj["metadata"]["deletionTimestamp"] = _now()
                return self._out(rtype, version, obj)
            return {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": name, "group": rtype.group, "kind": rtype.plural},
            }

    # --- CRDs ----------------------------------------------------------------------------------

    def _register_crd(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
        if not (group and plural and kind) or crd["metadata"]["name"] != f"{plural}.{group}":
            raise ApiError(
                422,
                "Invalid",
                f'CustomResourceDefinition "{crd["metadata"]["name"]}" is invalid: '
                'metadata.name: must be spec.names.plural+"."+spec.group',
            )
        versions = [v["name"] for v in spec.get("versions") or [] if v.get("served", True)]
        has_status = any("status" in (v.get("subresources") or {}) for v in spec.get("versions") or [])
        key = (group, plural)
        delay = self.crd_establish_delay
        established = delay <= 0 or (key in self.types and self.types[key].established)
        self.types[key] = ResourceType(
            group=group,
            versions=versions,
            plural=plural,
            kind=kind,
            namespaced=spec.get("scope") == "Namespaced",
            has_status=has_status,
            short_names=list(names.get("shortNames") or []),
            established=established,
        )
        self.objects.setdefault(key, {})
        crd["status"] = self._crd_status(names, established)
        if not established:
            timer = threading.Timer(delay, self._establish, args=(key, crd["metadata"]["name"]))
            timer.daemon = True
            timer.start()

    @staticmethod
    def _crd_status(names: Obj, established: bool) -> Obj:
        now = _now()
        return {
            "acceptedNames": copy.deepcopy(names),
            "storedVersions": [],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "lastTransitionTime": now},
                {
                    "type": "Established",
                    "status": "True" if established else "False",
                    "reason": "InitialNamesAccepted" if established else "Installing",
                    "lastTransitionTime": now,
                },
            ],
        }

    def _establish(self, key: Key, crd_name: str) -> None:
        with self.lock:
            if key not in self.types:
                return
            self.types[key].established = True
            crd = self.objects[("apiextensions.k8s.io", "customresourcedefinitions")].get(("", crd_name))
            if crd is not None:
                crd["status"] = self._crd_status(crd["spec"]["names"], True)
                crd["metadata"]["resourceVersion"] = self._next_revision()

    def _unregister_crd(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        self.types.pop(key, None)
        self.objects.pop(key, None)
