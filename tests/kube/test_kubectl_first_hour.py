"""What kubectl users try first against the emulator: `create namespace` and `create configmap`
(which kubectl sends as protobuf), `auth can-i` (a SelfSubjectAccessReview, protobuf too), and the
`kubernetes` Service every cluster has in `default`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from kubernetes import client

from clusterdrop.kube.connect import for_server
from clusterdrop.local.kubeapi import KubeApiServer, Store

PROTOBUF = "application/vnd.kubernetes.protobuf"
# Bodies as kubectl 1.32 sends them (captured from `kubectl create namespace demo`, `kubectl
# create configmap c --from-literal=a=b` and `kubectl auth can-i create pods -n apps`).
NAMESPACE = (
    b'k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x1c\n\x14\n\x04demo\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00'
    b'\x12\x00\x1a\x02\n\x00\x1a\x00"\x00'
)
CONFIGMAP = (
    b'k8s\x00\n\x0f\n\x02v1\x12\tConfigMap\x12\x1b\n\x11\n\x01c\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00'
    b'\x12\x06\n\x01a\x12\x01b\x1a\x00"\x00'
)
CAN_I = (
    b"k8s\x00\n2\n\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12<\n\x10\n\x00\x12\x00\x1a\x00"
    b'"\x00*\x002\x008\x00B\x00\x12\x1e\n\x1c\n\x04apps\x12\x06create\x1a\x00"\x00*\x04pods2\x00:\x00\x1a\x08'
    b'\x08\x00\x12\x00\x1a\x00 \x00\x1a\x00"\x00'
)
# `kubectl create secret generic t --type=kubernetes.io/basic-auth --from-literal=username=u`.
SECRET = (
    b'k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12<\n\x11\n\x01t\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12\r\n\x08username'
    b'\x12\x01u\x1a\x18kubernetes.io/basic-auth\x1a\x00"\x00'
)
# A Deployment's envelope (what `kubectl create deployment` sends): a kind this emulator does not decode.
DEPLOYMENT_PROTOBUF = b"k8s\x00\n\x15\n\x07apps/v1\x12\nDeployment\x12\x05\n\x03\n\x01d"


def _post(server: KubeApiServer, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        server.url + path, data=body, method="POST", headers={"Content-Type": PROTOBUF, "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_kubectl_create_namespace_and_configmap_in_protobuf(kube_api: KubeApiServer, core: Any) -> None:
    code, created = _post(kube_api, "/api/v1/namespaces?fieldManager=kubectl-create&fieldValidation=Strict", NAMESPACE)
    assert code == 201, created
    assert core.read_namespace("demo").metadata.name == "demo"
    code, created = _post(kube_api, "/api/v1/namespaces/demo/configmaps?fieldManager=kubectl-create", CONFIGMAP)
    assert code == 201, created
    assert core.read_namespaced_config_map("c", "demo").data == {"a": "b"}


def test_kubectl_create_secret_and_the_api_servers_secret_defaults(kube_api: KubeApiServer, core: Any) -> None:
    code, created = _post(kube_api, "/api/v1/namespaces/default/secrets?fieldManager=kubectl-create", SECRET)
    assert code == 201, created
    secret = core.read_namespaced_secret("t", "default")
    assert (secret.type, secret.data) == ("kubernetes.io/basic-auth", {"username": "dQ=="})
    # As the API server stores any Secret: Opaque unless typed, stringData merged into data.
    plain = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "p"}, "data": {"a": "YQ=="}}
    core.create_namespaced_secret("default", {**plain, "stringData": {"b": "bee"}})
    stored = core.read_namespaced_secret("p", "default")
    assert (stored.type, stored.data, stored.string_data) == ("Opaque", {"a": "YQ==", "b": "YmVl"}, None)


def test_a_protobuf_kind_it_cannot_read_is_refused_saying_what_works(kube_api: KubeApiServer, core: Any) -> None:
    code, status = _post(kube_api, "/apis/apps/v1/namespaces/default/deployments", DEPLOYMENT_PROTOBUF)
    assert code == 415
    assert "not Deployment: send JSON (kubectl create -f or apply -f a manifest)" in status["message"]
    code, status = _post(kube_api, "/api/v1/namespaces", b"k8s\x00\n\xff")
    assert code == 400
    assert "cannot decode the protobuf body" in status["message"]


def test_auth_can_i_answers_from_the_callers_access() -> None:
    """Decided as the request itself would be: a caller that may read but not write is told so."""

    def read_only(principal: str, verb: str, route: Any, namespaced: bool) -> str | None:
        return None if verb in ("get", "list") else f'{route.plural} is forbidden: User "{principal}" cannot {verb}'

    with KubeApiServer(authenticate=lambda header: "viewer", authorize=read_only) as server:
        api = client.AuthorizationV1Api(for_server(server.url))

        def can_i(verb: str) -> Any:
            review = client.V1SelfSubjectAccessReview(
                spec=client.V1SelfSubjectAccessReviewSpec(
                    resource_attributes=client.V1ResourceAttributes(verb=verb, resource="pods", namespace="apps")
                )
            )
            return api.create_self_subject_access_review(review).status

        assert can_i("list").allowed is True
        refused = can_i("create")
        assert refused.allowed is False
        assert "cannot create" in refused.reason
        code, answered = _post(server, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", CAN_I)
        assert code == 201
        assert answered["spec"]["resourceAttributes"] == {"namespace": "apps", "verb": "create", "resource": "pods"}
        assert answered["status"]["allowed"] is False


def test_auth_can_i_is_discovered(api_client: client.ApiClient) -> None:
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert "authorization.k8s.io" in groups


@pytest.mark.parametrize(("cidr", "address"), [(None, "10.96.0.1"), ("172.20.0.0/16", "172.20.0.1")])
def test_every_cluster_has_the_kubernetes_service(cidr: str | None, address: str) -> None:
    store = Store(service_cidr=cidr) if cidr else Store()
    with KubeApiServer(store=store) as server:
        service = client.CoreV1Api(for_server(server.url)).read_namespaced_service("kubernetes", "default")
    spec = service.spec
    assert spec is not None
    assert spec.cluster_ip == address
    assert [(p.name, p.port, p.protocol) for p in spec.ports or []] == [("https", 443, "TCP")]


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
        },
    },
}


def test_openapi_v3_tells_kubectl_the_server_validates_fields(api_client: client.ApiClient) -> None:
    """kubectl looks for the `fieldValidation` parameter on the kind's PATCH in the group's
    OpenAPI v3 document; found, it sends fieldValidation=Strict instead of needing schemas."""
    from tests.kube.test_kubeapi import _call

    index = _call(api_client, "GET", "/openapi/v3")
    assert {"api/v1", "apis/apps/v1"} <= set(index["paths"])
    document = _call(api_client, "GET", index["paths"]["apis/apps/v1"]["serverRelativeURL"].split("?")[0])
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert {"name": "fieldValidation", "in": "query"}.items() <= patch["parameters"][0].items()
    nodes = _call(api_client, "GET", "/openapi/v3/api/v1")["paths"]
    assert "/api/v1/nodes/{name}" in nodes  # cluster-scoped: no namespace in its path


def _send(server: KubeApiServer, method: str, path: str, body: Any, content_type: str) -> tuple[int, Any]:
    """A JSON body as kubectl sends it (the official client's models would refuse a typo first)."""
    request = urllib.request.Request(
        server.url + path, data=json.dumps(body).encode(), method=method, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_strict_field_validation_refuses_a_field_the_kind_does_not_have(kube_api: KubeApiServer) -> None:
    import copy

    deployments = "/apis/apps/v1/namespaces/default/deployments"
    typo = copy.deepcopy(DEPLOYMENT)
    typo["spec"]["replicass"] = typo["spec"].pop("replicas")
    typo["spec"]["template"]["spec"]["containers"][0]["imagee"] = "nginx"
    code, refused = _send(kube_api, "POST", f"{deployments}?fieldValidation=Strict", typo, "application/json")
    assert code == 400
    assert 'unknown field "spec.replicass"' in refused["message"]
    assert 'unknown field "spec.template.spec.containers[0].imagee"' in refused["message"]
    # Without Strict the server takes it, as the API server does (it drops what it does not know).
    code, _ = _send(kube_api, "POST", deployments, {**typo, "metadata": {"name": "lax"}}, "application/json")
    assert code == 201
    code, _ = _send(kube_api, "POST", f"{deployments}?fieldValidation=Strict", DEPLOYMENT, "application/json")
    assert code == 201
    merge = "application/strategic-merge-patch+json"
    code, refused = _send(
        kube_api, "PATCH", f"{deployments}/web?fieldValidation=Strict", {"spec": {"replica": 3}}, merge
    )
    assert code == 400
    assert 'unknown field "spec.replica"' in refused["message"]
    code, patched = _send(
        kube_api, "PATCH", f"{deployments}/web?fieldValidation=Strict", {"spec": {"replicas": 3}}, merge
    )
    assert code == 200
    assert patched["spec"]["replicas"] == 3


def test_kubectl_get_services_prints_its_columns(api_client: client.ApiClient) -> None:
    from tests.kube.test_kubeapi import _table

    table = _table(api_client, "/api/v1/namespaces/default/services")
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Type",
        "Cluster-IP",
        "External-IP",
        "Port(s)",
        "Age",
    ]
    assert table["rows"][0]["cells"][:5] == ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]


def test_kubectl_logs_says_the_pod_is_emulated(core: Any) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]},
    }
    core.create_namespaced_pod("default", pod)
    log = core.read_namespaced_pod_log("p", "default", container="b")
    assert "pod default/p, container b" in log
    assert "runs no containers" in log
    with pytest.raises(client.ApiException) as unnamed:
        core.read_namespaced_pod_log("p", "default")
    assert unnamed.value.status == 400
    assert "choose one of: [a b]" in str(unnamed.value.body)
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_pod_log("nope", "default")
    assert missing.value.status == 404
