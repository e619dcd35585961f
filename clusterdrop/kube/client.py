"""clusterdrop's reads and writes through the official Kubernetes client (connect.py builds the
client, apply.py does server-side apply, agent.py maps its errors).

Reads return plain dicts (parsed straight from JSON: for 2,000 nodes that is several times
faster than the client's model objects), writes go through server-side apply.
"""

from __future__ import annotations

import contextlib
import json
from functools import cached_property
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api, VersionApi
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from clusterdrop.kube.apply import Applier

Obj = dict[str, Any]


class Kube:
    def __init__(self, api_client: ApiClient, *, crd_timeout: float = 60.0):
        self.api_client = api_client
        self.core = CoreV1Api(api_client)
        self.crd_timeout = crd_timeout

    @cached_property
    def dynamic(self) -> DynamicClient:
        return DynamicClient(self.api_client)

    @cached_property
    def applier(self) -> Applier:
        return Applier(self.dynamic, crd_timeout=self.crd_timeout)

    def server_version(self) -> str:
        """The API server's minor version, "1.35" (EKS reports the minor as "35+")."""
        info: Any = VersionApi(self.api_client).get_code()
        return f"{info.major}.{''.join(c for c in str(info.minor) if c.isdigit())}"

    def list_nodes(self, *, limit: int, cont: str | None) -> tuple[list[Obj], str | None]:
        # _preload_content=False returns the raw HTTP response, not a V1NodeList.
        response: Any = self.core.list_node(limit=limit, _continue=cont, _preload_content=False)
        body = json.loads(response.data)
        return body.get("items") or [], (body.get("metadata") or {}).get("continue") or None

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        """One object, or None when it (or its kind) does not exist."""
        try:
            resource = self.dynamic.resources.get(api_version=api_version, kind=kind)
            found: Obj = resource.get(name=name, namespace=namespace).to_dict()
        except (NotFoundError, ResourceNotFoundError):
            return None
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]:
        try:
            resource = self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return []
        items: list[Obj] = []
        cont: str | None = None
        while True:
            page = resource.get(namespace=namespace, label_selector=label_selector, limit=500, _continue=cont).to_dict()
            items += page.get("items") or []
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return items

    def merge_patch(self, api_version: str, kind: str, name: str, patch: Obj, namespace: str | None = None) -> None:
        resource = self.dynamic.resources.get(api_version=api_version, kind=kind)
        self.dynamic.patch(
            resource, body=patch, name=name, namespace=namespace, content_type="application/merge-patch+json"
        )

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        resource = self.dynamic.resources.get(api_version=api_version, kind=kind)
        with contextlib.suppress(NotFoundError):
            resource.delete(name=name, namespace=namespace)
