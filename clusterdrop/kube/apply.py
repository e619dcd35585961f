"""Server-side apply of manifests in dependency order.

Namespaces and CRDs go first; each CRD must be Established (and discovery refreshed) before
any custom resource of it is applied. Server-side apply carries objects of any size (one Calico
CRD is ~645 KB, past what client-side apply's last-applied annotation can hold) and makes a
re-apply of the same objects a no-op.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

from clusterdrop.errors import KubernetesOperationFailed, NotReadyYet

Obj = dict[str, Any]
FIELD_MANAGER = "clusterdrop"

# Install order for the kinds CNIs ship (Helm's order, trimmed): what others refer to first.
_ORDER = [
    "Namespace",
    "CustomResourceDefinition",
    "PriorityClass",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "PodDisruptionBudget",
    "DaemonSet",
    "Deployment",
    "StatefulSet",
]


def _rank(obj: Obj) -> int:
    kind = obj.get("kind", "")
    return _ORDER.index(kind) if kind in _ORDER else len(_ORDER)


def order(objects: list[Obj]) -> list[Obj]:
    """Dependency order; the manifest's own order within a kind (a stable sort)."""
    return sorted(objects, key=_rank)


def crd_established(crd: Obj) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def describe(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


class Applier:
    """Applies objects through the dynamic client (discovery-driven, so CRDs applied at run time
    are usable once discovery is refreshed)."""

    def __init__(
        self,
        dynamic: DynamicClient,
        *,
        crd_timeout: float = 60.0,
        poll_interval: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.dynamic = dynamic
        self.crd_timeout = crd_timeout
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.clock = clock

    def _resource(self, obj: Obj) -> Any:
        try:
            return self.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        except ResourceNotFoundError:
            raise KubernetesOperationFailed(
                f"{describe(obj)}: the API server does not serve {obj['apiVersion']} {obj['kind']}"
            ) from None

    def apply_one(self, obj: Obj) -> Obj:
        resource = self._resource(obj)
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or ("default" if resource.namespaced else None)
        try:
            result = self.dynamic.server_side_apply(
                resource,
                body=obj,
                name=meta.get("name"),
                namespace=namespace,
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
            )
        except (ApiException, DynamicApiError) as exc:
            if exc.status in (401, 403):
                raise  # refused credentials, not a refused object: the agent says what that means
            raise KubernetesOperationFailed(f"{describe(obj)}: {_reason(exc)}") from None
        applied: Obj = result.to_dict()
        return applied

    def wait_established(self, names: list[str]) -> None:
        crds = self.dynamic.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
        deadline = self.clock() + self.crd_timeout
        pending = list(names)
        while pending:
            pending = [n for n in pending if not crd_established(crds.get(name=n).to_dict())]
            if not pending:
                break
            if self.clock() >= deadline:
                raise NotReadyYet(f"CRDs not Established after {self.crd_timeout:.0f}s: {', '.join(pending)}")
            self.sleep(self.poll_interval)
        # Newly served kinds appear in discovery only once established.
        self.dynamic.resources.invalidate_cache()

    def apply(self, objects: list[Obj]) -> Counter[str]:
        """Apply in order and return the count of objects applied, by kind."""
        ordered = order(objects)
        applied: Counter[str] = Counter()
        early = [o for o in ordered if o.get("kind") in ("Namespace", "CustomResourceDefinition")]
        rest = [o for o in ordered if o.get("kind") not in ("Namespace", "CustomResourceDefinition")]
        for obj in early:
            self.apply_one(obj)
            applied[obj["kind"]] += 1
        crd_names = [o["metadata"]["name"] for o in early if o["kind"] == "CustomResourceDefinition"]
        if crd_names:
            self.wait_established(crd_names)
        for obj in rest:
            self.apply_one(obj)
            applied[obj["kind"]] += 1
        return applied


def _reason(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None) or getattr(exc, "summary", lambda: "")()
    text = body.decode() if isinstance(body, bytes) else str(body)
    try:
        import json

        message = json.loads(text).get("message", text)
    except ValueError:
        message = text
    return f"HTTP {status}: {message}"
