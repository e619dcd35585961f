"""The Kubernetes API emulator, through the official client: what it serves and what it refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from clusterdrop.local.kubeapi import KubeApiServer, Store


def _ns(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _cm(name: str, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def _error(call: Any) -> client.ApiException:
    with pytest.raises(client.ApiException) as info:
        call()
    return info.value


CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}}}],
    },
}


def test_starts_with_the_system_namespaces(core: Any) -> None:
    names = {n.metadata.name for n in core.list_namespace().items}
    assert names == {"default", "kube-system", "kube-public", "kube-node-lease"}


def test_create_sets_server_fields(core: Any) -> None:
    core.create_namespace(_ns("apps"))
    created = core.create_namespaced_config_map("apps", _cm("one"))
    assert created.metadata.uid
    assert created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.metadata.namespace == "apps"
    again = core.read_namespaced_config_map("one", "apps")
    assert again.metadata.uid == created.metadata.uid
    assert _error(lambda: core.create_namespaced_config_map("apps", _cm("one"))).status == 409


def test_refuses_objects_in_a_missing_namespace(core: Any) -> None:
    error = _error(lambda: core.create_namespaced_config_map("nowhere", _cm("x")))
    assert error.status == 404
    assert json.loads(error.body or "{}")["message"] == 'namespaces "nowhere" not found'


def test_refuses_invalid_names_and_shapes(core: Any) -> None:
    assert _error(lambda: core.create_namespaced_config_map("default", _cm("Bad_Name"))).status == 422
    mismatch = _cm("x", namespace="kube-system")
    assert _error(lambda: core.create_namespaced_config_map("default", mismatch)).status == 400
    no_kind = {"apiVersion": "v1", "metadata": {"name": "x"}}
    assert _error(lambda: core.create_namespaced_config_map("default", no_kind)).status == 400


def test_custom_resources_need_an_established_crd(api_client: client.ApiClient) -> None:
    custom: Any = client.CustomObjectsApi(api_client)
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}
    assert (
        _error(lambda: custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget)).status
        == 404
    )
    ext: Any = client.ApiextensionsV1Api(api_client)
    crd = ext.create_custom_resource_definition(CRD)
    assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
    custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget)
    got = custom.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")
    assert got["spec"] == {"size": 1}


def test_crd_establishment_can_lag_and_discovery_follows() -> None:
    with KubeApiServer(store=Store(crd_establish_delay=1.0)) as server:
        api_client = client.ApiClient(client.Configuration(host=server.url))
        dynamic = DynamicClient(api_client)
        crds = dynamic.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
        dynamic.server_side_apply(crds, body=CRD, field_manager="test")
        status = crds.get(name="widgets.example.com").to_dict()["status"]
        assert {c["type"]: c["status"] for c in status["conditions"]}["Established"] == "False"
        # Fresh discovery: the client caches it in a file keyed by the server's URL, and a port
        # used by an earlier run may have left one that already lists the group.
        dynamic.resources.invalidate_cache()
        with pytest.raises(ResourceNotFoundError):
            dynamic.resources.get(api_version="example.com/v1", kind="Widget")
        import time

        time.sleep(1.2)
        dynamic.resources.invalidate_cache()
        assert dynamic.resources.get(api_version="example.com/v1", kind="Widget").namespaced


def test_label_selectors_and_pagination(core: Any) -> None:
    for i in range(7):
        core.create_namespaced_config_map("default", _cm(f"cm-{i}", app="a" if i % 2 else "b", tier=str(i)))
    assert len(core.list_namespaced_config_map("default", label_selector="app=a").items) == 3
    assert len(core.list_namespaced_config_map("default", label_selector="app!=a").items) == 4
    assert len(core.list_namespaced_config_map("default", label_selector="tier in (1,2,3),app=a").items) == 2
    assert len(core.list_namespaced_config_map("default", label_selector="!tier").items) == 0
    names, cont, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map("default", limit=3, _continue=cont)
        pages += 1
        names += [c.metadata.name for c in page.items]
        cont = page.metadata._continue
        if not cont:
            break
    assert pages == 3
    assert names == [f"cm-{i}" for i in range(7)]


def test_put_checks_resource_version(core: Any) -> None:
    created = core.create_namespaced_config_map("default", _cm("x"))
    stale = client.V1ConfigMap(
        api_version="v1",
        kind="ConfigMap",
        metadata=client.V1ObjectMeta(name="x", resource_version="1"),
        data={"k": "new"},
    )
    assert _error(lambda: core.replace_namespaced_config_map("x", "default", stale)).status == 409
    fresh = client.V1ConfigMap(
        api_version="v1",
        kind="ConfigMap",
        metadata=client.V1ObjectMeta(name="x", resource_version=created.metadata.resource_version),
        data={"k": "new"},
    )
    replaced = core.replace_namespaced_config_map("x", "default", fresh)
    assert replaced.data == {"k": "new"}
    assert replaced.metadata.resource_version != created.metadata.resource_version


def test_node_status_conditions_merge_by_type(core: Any) -> None:
    core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    ready = {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "cni plugin not initialized"}
    pressure = {"type": "MemoryPressure", "status": "False"}
    core.patch_node_status("n1", {"status": {"conditions": [ready, pressure]}})
    core.patch_node_status(
        "n1", {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}
    )
    conditions = {c.type: c for c in core.read_node("n1").status.conditions}
    assert conditions["Ready"].status == "True"
    assert conditions["Ready"].message == "cni plugin not initialized"  # merged, not replaced
    assert conditions["MemoryPressure"].status == "False"


def _ds_status(ready: int) -> dict[str, int]:
    return {
        "numberReady": ready,
        "desiredNumberScheduled": ready,
        "currentNumberScheduled": ready,
        "numberMisscheduled": 0,
    }


def test_status_subresource_owns_status(api_client: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api_client)
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}}},
        "status": _ds_status(99),
    }
    created = apps.create_namespaced_daemon_set("default", ds)
    assert created.status is None or not created.status.number_ready
    apps.patch_namespaced_daemon_set_status("d", "default", {"status": _ds_status(2)})
    apps.patch_namespaced_daemon_set("d", "default", {"status": _ds_status(0), "metadata": {"labels": {"x": "y"}}})
    current = apps.read_namespaced_daemon_set("d", "default")
    assert current.status.number_ready == 2
    assert current.metadata.labels == {"x": "y"}


def test_json_and_merge_patches(api_client: client.ApiClient, core: Any) -> None:
    core.create_namespaced_config_map("default", _cm("p"))
    dynamic = DynamicClient(api_client)
    cms = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    ops = [{"op": "add", "path": "/data/extra", "value": "1"}, {"op": "remove", "path": "/data/k"}]
    dynamic.patch(cms, body=ops, name="p", namespace="default", content_type="application/json-patch+json")
    assert core.read_namespaced_config_map("p", "default").data == {"extra": "1"}
    merge = {"data": {"extra": None, "other": "2"}}
    dynamic.patch(cms, body=merge, name="p", namespace="default", content_type="application/merge-patch+json")
    assert core.read_namespaced_config_map("p", "default").data == {"other": "2"}
    bad = [{"op": "remove", "path": "/data/missing"}]
    error = _error(
        lambda: dynamic.patch(cms, body=bad, name="p", namespace="default", content_type="application/json-patch+json")
    )
    assert error.status == 422


def test_server_side_apply_creates_is_idempotent_and_prunes(api_client: client.ApiClient) -> None:
    dynamic = DynamicClient(api_client)
    cms = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "s", "namespace": "default"},
        "data": {"a": "1", "b": "2"},
    }
    first = dynamic.server_side_apply(cms, body=body, field_manager="clusterdrop").to_dict()
    second = dynamic.server_side_apply(cms, body=body, field_manager="clusterdrop").to_dict()
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert second["metadata"]["managedFields"][0]["manager"] == "clusterdrop"
    trimmed = {**body, "data": {"a": "1"}}
    third = dynamic.server_side_apply(cms, body=trimmed, field_manager="clusterdrop").to_dict()
    assert third["data"] == {"a": "1"}  # the field the manager stopped applying is gone
    error = _error(lambda: dynamic.server_side_apply(cms, body=body))
    assert error.status == 400  # apply needs a field manager


def test_deleting_a_namespace_deletes_its_objects(core: Any) -> None:
    core.create_namespace(_ns("gone"))
    core.create_namespaced_config_map("gone", _cm("x"))
    core.delete_namespace("gone")
    assert _error(lambda: core.read_namespaced_config_map("x", "gone")).status == 404
    assert _error(lambda: core.read_namespace("gone")).status == 404


def test_discovery_lists_crd_groups(api_client: client.ApiClient) -> None:
    extensions: Any = client.ApiextensionsV1Api(api_client)
    extensions.create_custom_resource_definition(CRD)
    apis: Any = client.ApisApi(api_client)
    groups = {g.name for g in apis.get_api_versions().groups}
    assert {"apps", "apiextensions.k8s.io", "example.com"} <= groups
    resources = DynamicClient(api_client).request("get", "/apis/example.com/v1").to_dict()
    assert {r["name"] for r in resources["resources"]} == {"widgets", "widgets/status"}


def test_watch_is_refused_clearly(core: Any) -> None:
    error = _error(lambda: core.list_namespace(watch=True, _preload_content=False))
    assert error.status == 405


TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"  # what `kubectl get` sends


def _call(api_client: client.ApiClient, method: str, path: str, body: Any = None, **headers: str) -> Any:
    """A raw request through the official client (its typed models would drop a Table)."""
    method, url, header_params, serialized, _ = api_client.param_serialize(
        method, path, header_params=dict(headers), body=body
    )
    response = api_client.call_api(method, url, header_params=header_params, body=serialized)
    response.read()
    return json.loads(response.data or b"null")


def _table(api_client: client.ApiClient, path: str) -> Any:
    return _call(api_client, "GET", path, Accept=TABLE)


def test_kubectl_get_receives_the_servers_columns(api_client: client.ApiClient, core: Any) -> None:
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "ip-10-0-1-10", "labels": {"node-role.kubernetes.io/worker": ""}}}  # fmt: skip
    core.create_node(node)
    status = {"status": {
        "conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.34.0-eks"},
        "addresses": [{"type": "InternalIP", "address": "10.0.1.10"}]}}  # fmt: skip
    # Through call_api: the typed client refuses to parse a node whose nodeInfo is partial.
    _call(
        api_client,
        "PATCH",
        "/api/v1/nodes/ip-10-0-1-10/status",
        status,
        **{"Content-Type": "application/merge-patch+json"},
    )
    core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ip-10-0-1-11"}})
    table = _table(api_client, "/api/v1/nodes")
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    names = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert names == ["Name", "Status", "Roles", "Age", "Version"]
    wide = {c["name"]: i for i, c in enumerate(table["columnDefinitions"])}
    rows = {r["cells"][0]: r for r in table["rows"]}
    assert rows["ip-10-0-1-10"]["cells"][1:3] == ["Ready", "worker"]
    assert rows["ip-10-0-1-10"]["cells"][4] == "v1.34.0-eks"
    assert rows["ip-10-0-1-10"]["cells"][wide["Internal-IP"]] == "10.0.1.10"
    assert rows["ip-10-0-1-11"]["cells"][1:3] == ["Unknown", "<none>"]
    assert rows["ip-10-0-1-10"]["object"]["metadata"]["uid"]  # kubectl reads names and namespaces here

    core.create_namespaced_config_map("default", _cm("settings"))
    single = _table(api_client, "/api/v1/namespaces/default/configmaps/settings")
    assert [c["name"] for c in single["columnDefinitions"]] == ["Name", "Age"]  # any other kind
    assert single["rows"][0]["cells"][0] == "settings"
    assert single["rows"][0]["cells"][1].endswith("s")  # seconds old
    plain = _call(api_client, "GET", "/api/v1/nodes")
    assert plain["kind"] == "NodeList"  # without as=Table, the objects themselves


def test_ages_read_like_the_api_servers() -> None:
    from datetime import UTC, datetime, timedelta

    from clusterdrop.local.kubeapi.tables import age

    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def made(ago: timedelta) -> dict[str, Any]:
        return {"metadata": {"creationTimestamp": (now - ago).strftime("%Y-%m-%dT%H:%M:%SZ")}}

    seen = [age(made(timedelta(seconds=s)), now) for s in (45, 200, 600, 2 * 3600 + 60, 5 * 3600 + 720, 30 * 3600, 3 * 86400 + 4 * 3600, 120 * 86400)]  # fmt: skip
    assert seen == ["45s", "3m20s", "10m", "121m", "5h12m", "30h", "3d4h", "120d"]
    assert age({"metadata": {}}) == "<unknown>"
