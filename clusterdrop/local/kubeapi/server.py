"""HTTP front of the emulator: Kubernetes URL routing, discovery, and a request log."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from clusterdrop.local.kubeapi import disruption, openapi, protobuf, tables
from clusterdrop.local.kubeapi.errors import ApiError
from clusterdrop.local.kubeapi.store import ResourceType, Store

Obj = dict[str, Any]

SERVER_VERSION = {
    "platform": "linux/amd64",
    "goVersion": "go1.24",
    "compiler": "gc",
    "buildDate": "2026-01-01T00:00:00Z",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
}


@dataclass
class Route:
    group: str
    version: str
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None


# The one API of authorization.k8s.io served: a caller asking what it may do (not stored).
REVIEW_GROUP = "authorization.k8s.io"
SELF_REVIEW_PATH = ["apis", REVIEW_GROUP, "v1", "selfsubjectaccessreviews"]


def rtype_api_version(rtype: ResourceType, version: str) -> str:
    return f"{rtype.group}/{version}" if rtype.group else version


def _verb(method: str, route: Route, query: dict[str, str]) -> str:
    """The Kubernetes verb of a request, as RBAC names it."""
    if method == "GET":
        if route.name is not None:
            return "get"
        return "watch" if query.get("watch") in ("true", "1") else "list"
    if method == "DELETE" and route.name is None:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())


class KubeApiServer:
    """One emulated API server on 127.0.0.1; `url` is what clients use as host."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        store: Store | None = None,
        version: str = "1.36",
        access_delay: float = 0.0,
        authenticate: Callable[[str | None], str] | None = None,
        authorize: Callable[[str, str, Route, bool], str | None] | None = None,
        tls: ssl.SSLContext | None = None,
    ):
        self.store = store or Store()
        # What /version answers: the cluster's Kubernetes version, as EKS builds name it.
        self.version = version
        # EKS refuses a new cluster's first requests (401) while the caller's access entry
        # propagates: for `access_delay` seconds from the first request that needs credentials.
        self.access_delay = access_delay
        self.access_from: float | None = None
        self.refused = 0
        # Who may call (an EKS cluster's authenticator: eks/auth.py, or local/standalone.py's
        # tokens); None admits every caller, as the tests that drive the server alone want. It
        # raises with the reason a request gets 401.
        self.authenticate = authenticate
        # What an authenticated caller may do (an EKS cluster's access policies): the reason a
        # request is refused (403 Forbidden), or None. None admits everything.
        self.authorize = authorize
        self.unauthorized: list[str] = []
        self.requests: Counter[str] = Counter()
        self.request_log: list[tuple[str, str]] = []
        self.authorizations: list[str] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"api": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:  # an EKS cluster's endpoint: HTTPS (tls.py)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    def start(self) -> KubeApiServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="kube-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def record(self, method: str, path: str, authorization: str | None) -> None:
        with self._lock:
            self.requests[method] += 1
            self.request_log.append((method, path))
            if authorization:
                self.authorizations.append(authorization)

    def access_pending(self, parts: list[str]) -> bool:
        """Whether this request falls in the new cluster's 401 window (/version and the health
        checks are public: EKS serves them to anyone)."""
        if not self.access_delay or parts[:1] in (["version"], ["healthz"], ["livez"], ["readyz"]):
            return False
        with self._lock:
            now = time.monotonic()
            if self.access_from is None:
                self.access_from = now
            if now - self.access_from < self.access_delay:
                self.refused += 1
                return True
            return False

    def admits(self, parts: list[str], authorization: str | None) -> tuple[bool, str | None]:
        """Whether the caller may use the API (the public paths need no credentials), and who."""
        if self.authenticate is None or parts[:1] in (["version"], ["healthz"], ["livez"], ["readyz"]):
            return True, None
        try:
            principal = self.authenticate(authorization)
        except Exception as exc:  # noqa: BLE001 - any refusal is a 401, its reason kept
            with self._lock:
                self.unauthorized.append(str(exc))
            return False, None
        return True, principal

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.request_log.clear()
            self.authorizations.clear()

    def review(self, body: Any, principal: str | None) -> Obj:
        """A SelfSubjectAccessReview (`kubectl auth can-i`): whether the caller may do what the
        review's resourceAttributes say, decided as its own request would be. Every authenticated
        user may ask about itself (Kubernetes' system:basic-user role)."""
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            raise ApiError(400, "BadRequest", "a SelfSubjectAccessReview needs a spec")
        attributes = body["spec"].get("resourceAttributes")
        if not isinstance(attributes, dict):
            # nonResourceAttributes (/healthz, /version …): public on EKS.
            allowed, reason = True, "non-resource URLs are served to every caller"
        else:
            group, plural = attributes.get("group") or "", attributes.get("resource") or ""
            namespace = attributes.get("namespace") or None
            known = self.store.types.get((group, plural))
            route = Route(group, attributes.get("version") or "", plural, namespace, attributes.get("name"), None)
            verb = attributes.get("verb") or "get"
            if self.authorize is None or principal is None:
                allowed, reason = True, "this emulator admits every caller"
            else:
                namespaced = known.namespaced if known is not None else namespace is not None
                refusal = self.authorize(principal, verb, route, namespaced)
                allowed, reason = refusal is None, refusal or "allowed by the caller's access entry"
        return {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {"creationTimestamp": None},
            "spec": body["spec"],
            "status": {"allowed": allowed, "reason": reason},
        }

    # --- discovery --------------------------------------------------------------------------

    def discovery(self, parts: list[str]) -> Obj | None:
        store = self.store
        if parts == ["version"]:
            major, _, minor = self.version.partition(".")
            # EKS marks its builds' minor version with a "+" ("35+").
            return {
                "major": major,
                "minor": f"{minor}+",
                "gitVersion": f"v{self.version}.0-eks-emulated",
                **SERVER_VERSION,
            }
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if parts == ["openapi", "v3"]:
            return openapi.root(store.group_versions())
        if parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
            group, version = ("", parts[3]) if parts[2] == "api" else (parts[3], parts[4] if len(parts) == 5 else "")
            types = store.resources_in(group, version)
            return openapi.document(group, version, types) if types else None
        if parts == ["apis"]:
            groups = []
            for group, versions in sorted({**store.group_versions(), REVIEW_GROUP: ["v1"]}.items()):
                if not group:
                    continue
                entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
                groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        if parts == SELF_REVIEW_PATH[:3]:
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{REVIEW_GROUP}/v1",
                "resources": [
                    {
                        "name": "selfsubjectaccessreviews",
                        "singularName": "",
                        "namespaced": False,
                        "kind": "SelfSubjectAccessReview",
                        "verbs": ["create"],
                    }
                ],
            }
        if len(parts) == 2 and parts[0] == "apis":
            group_versions = store.group_versions().get(parts[1]) or (["v1"] if parts[1] == REVIEW_GROUP else None)
            if not group_versions:
                return None
            entries = [{"groupVersion": f"{parts[1]}/{v}", "version": v} for v in group_versions]
            return {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": parts[1],
                "versions": entries,
                "preferredVersion": entries[0],
            }
        if parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"):
            group, version = ("", "v1") if parts[0] == "api" else (parts[1], parts[2])
            types = store.resources_in(group, version)
            if not types:
                return None
            resources: list[Obj] = []
            for t in sorted(types, key=lambda t: t.plural):
                resources.append(
                    {
                        "name": t.plural,
                        "singularName": t.singular,
                        "namespaced": t.namespaced,
                        "kind": t.kind,
                        "verbs": ["create", "delete", "get", "list", "patch", "update"],
                        **({"shortNames": t.short_names} if t.short_names else {}),
                    }
                )
                if t.has_status:
                    resources.append(
                        {
                            "name": f"{t.plural}/status",
                            "singularName": "",
                            "namespaced": t.namespaced,
                            "kind": t.kind,
                            "verbs": ["get", "patch", "update"],
                        }
                    )
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": resources,
            }
        return None

    def route(self, parts: list[str]) -> Route:
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = self.store.types.get((group, rest[2]))
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Route(group, version, plural, namespace, name, sub)


class _Handler(BaseHTTPRequestHandler):
    api: KubeApiServer
    _raw: bytes = b""
    protocol_version = "HTTP/1.1"
    server_version = "clusterdrop-kube-api"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY each response waits for
        # the client's delayed ACK (~40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log and counters say what happened."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _send(self, code: int, body: Obj | str) -> None:
        # A pod's log is plain text, as the kubelet streams it; everything else JSON.
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        raw = self._raw
        if not raw:
            return None
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if "protobuf" in content_type:
            # kubectl's generator commands and `auth can-i` send protobuf, and do not retry in JSON.
            return protobuf.decode(raw)
        try:
            if content_type.endswith("yaml"):
                return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loader
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError(400, "BadRequest", f"cannot decode the request body: {exc}") from None

    def _handle(self, method: str) -> None:
        # Read the body first, whatever happens next: left unread, it would be taken for the
        # start of the next request on this keep-alive connection.
        length = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        self.api.record(method, split.path, self.headers.get("Authorization"))
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        parts = [p for p in split.path.split("/") if p]
        admitted, principal = self.api.admits(parts, self.headers.get("Authorization"))
        if self.api.access_pending(parts) or not admitted:
            self._send(401, ApiError(401, "Unauthorized", "Unauthorized").status())
            return
        try:
            if method == "GET":
                found = self.api.discovery(parts)
                if found is not None:
                    self._send(200, found)
                    return
            if method == "POST" and parts == SELF_REVIEW_PATH:
                self._send(201, self.api.review(self._body(), principal))
                return
            if self.api.authorize is not None and principal is not None:
                route = self.api.route(parts)
                namespaced = self.api.store.resource_type(route.group, route.version, route.plural).namespaced
                refusal = self.api.authorize(principal, _verb(method, route, query), route, namespaced)
                if refusal is not None:
                    raise ApiError(403, "Forbidden", refusal)
            if method == "GET" and len(parts) == 7 and parts[:2] == ["api", "v1"] and parts[6] == "log":
                self._send(200, self._log(parts[3], parts[5], query.get("container")))
                return
            code, body = self._resource(method, parts, query)
            if method == "GET" and tables.wants_table(self.headers.get("Accept")):
                route = self.api.route(parts)  # `kubectl get` prints the server's columns
                body = tables.as_table(route.group, route.plural, body)
            self._send(code, body)
        except ApiError as exc:
            self._send(exc.code, exc.status())
        except Exception as exc:  # noqa: BLE001 - a server answers 500, it does not die
            self._send(500, ApiError(500, "InternalError", f"{type(exc).__name__}: {exc}").status())

    def _log(self, namespace: str, name: str, container: str | None) -> str:
        """`kubectl logs`: no container runs in this emulator, and its log says so — after the
        checks the API server makes (the pod exists; a container is named when it has several)."""
        store = self.api.store
        pod = store.get(store.resource_type("", "v1", "pods"), "v1", namespace, name)
        names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
        if container is None and len(names) > 1:
            raise ApiError(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]",
            )
        chosen = container or (names[0] if names else "")
        if chosen not in names:
            raise ApiError(400, "BadRequest", f"container {chosen} is not valid for pod {name}")
        return (
            f"(emulated: pod {namespace}/{name}, container {chosen} — the Kubernetes API emulator runs no "
            "containers, so there is no log to show)\n"
        )

    def _resource(self, method: str, parts: list[str], query: dict[str, str]) -> tuple[int, Obj]:
        route = self.api.route(parts)
        store = self.api.store
        rtype: ResourceType = store.resource_type(route.group, route.version, route.plural)
        if route.namespace is None and rtype.namespaced and route.name is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if route.subresource == "eviction" and rtype.plural == "pods" and rtype.group == "" and method == "POST":
            # The Eviction API: a drain's way of removing a pod, refused while a budget forbids it.
            assert route.namespace is not None
            assert route.name is not None
            store.get(rtype, route.version, route.namespace, route.name)  # 404 for a pod that is not there
            disruption.evict(store, route.namespace, route.name)
            return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        if route.subresource not in (None, "status"):
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({route.subresource})")
        if route.subresource == "status" and not rtype.has_status:
            raise ApiError(404, "NotFound", "the server could not find the requested resource (status)")
        v, ns = route.version, route.namespace
        if query.get("watch") in ("true", "1"):
            raise ApiError(405, "MethodNotAllowed", "watch is not supported by this emulator; poll with list")
        if route.name is None:
            if method == "GET":
                limit = int(query["limit"]) if query.get("limit", "").isdigit() else None
                return 200, store.list(
                    rtype,
                    v,
                    ns,
                    label_selector=query.get("labelSelector"),
                    field_selector=query.get("fieldSelector"),
                    limit=limit,
                    continue_token=query.get("continue"),
                )
            if method == "POST":
                if rtype.namespaced and ns is None:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                body = self._body()
                openapi.check_fields(body, query.get("fieldValidation"))
                return 201, store.create(rtype, v, ns, body, manager=query.get("fieldManager", ""))
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on a collection here")
        name = route.name
        if method == "GET":
            return 200, store.get(rtype, v, ns, name)
        if method == "PUT":
            body = self._body()
            openapi.check_fields(body, query.get("fieldValidation"))
            return 200, store.replace(rtype, v, ns, name, body, subresource=route.subresource)
        if method == "PATCH":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            existed = True
            if content_type == "application/apply-patch+yaml":
                try:
                    store.get(rtype, v, ns, name)
                except ApiError:
                    existed = False
            body = self._body()
            if content_type != "application/json-patch+json":  # a JSON patch is operations, not fields
                with_kind = {"apiVersion": rtype_api_version(rtype, v), "kind": rtype.kind, **(body or {})}
                openapi.check_fields(with_kind, query.get("fieldValidation"))
            result = store.patch(
                rtype,
                v,
                ns,
                name,
                body,
                content_type,
                subresource=route.subresource,
                manager=query.get("fieldManager"),
            )
            return (200 if existed else 201), result
        if method == "DELETE":
            return 200, store.delete(rtype, v, ns, name)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")
