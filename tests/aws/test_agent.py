"""The agent as the workflow calls it: operations against the emulated Kubernetes API, CNI
artifacts read from the artifacts bucket (moto over HTTP), errors raised by class name."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as kube_client

from clusterdrop.cni import catalog
from clusterdrop.cni.fetch import stage
from clusterdrop.cni.s3mirror import S3Mirror
from clusterdrop.errors import (
    ArtifactUnavailable,
    ClusterAccessPending,
    ClusterValidationFailed,
    NodesNotReady,
    NotReadyYet,
)
from clusterdrop.kube import agent
from clusterdrop.kube.client import Kube
from clusterdrop.kube.connect import for_server
from clusterdrop.kube.nodes import NODEGROUP_LABEL
from clusterdrop.local.kubeapi import KubeApiServer, controllers
from tests.aws.conftest import client
from tests.conftest import FIXTURES

BUCKET = "artifacts"


@pytest.fixture
def kube_api() -> Iterator[KubeApiServer]:
    with KubeApiServer() as server:
        controllers.attach(server.store)
        yield server


@pytest.fixture
def mirror(moto_url: str, aws_env: None) -> S3Mirror:
    s3: Any = client("s3", moto_url)
    existing = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    if BUCKET not in existing:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return S3Mirror(s3, BUCKET)


def _seed(mirror: S3Mirror, name: str, mode: str) -> None:
    """What the staging step outside the VPC does: verified files into the bucket."""
    from clusterdrop.cni.fetch import DirectoryMirror

    release = catalog.find(name, None)
    assert release is not None
    for staged in stage(release, mode, DirectoryMirror(FIXTURES / "cni")):
        mirror.put(staged.artifact, staged.data)


def _event(kube_api: KubeApiServer, operation: str, **extra: Any) -> dict[str, Any]:
    return {
        "operation": operation,
        "cluster": {"name": "demo", "region": "eu-west-1", "endpoint": kube_api.url},
        **extra,
    }


def _ctx(mirror: S3Mirror) -> agent.AgentContext:
    return agent.AgentContext(kube_for=lambda c: Kube(for_server(c.endpoint)), mirror=mirror)


CALICO = {"name": "calico", "version": "v3.32.1", "mode": "manifest", "podCidr": "192.168.0.0/16"}


def test_apply_cni_from_the_artifacts_bucket(kube_api: KubeApiServer, mirror: S3Mirror) -> None:
    _seed(mirror, "calico", "manifest")
    result = agent.run(_event(kube_api, "apply_cni", cni=CALICO), _ctx(mirror))
    assert result["applied"]["CustomResourceDefinition"] == 23
    ready = agent.run(_event(kube_api, "check_cni", cni=CALICO), _ctx(mirror))
    assert ready["ready"] is True
    assert set(ready["workloads"]) == {
        "DaemonSet kube-system/calico-node",
        "Deployment kube-system/calico-kube-controllers",
    }


def test_agent_never_downloads(kube_api: KubeApiServer, mirror: S3Mirror) -> None:
    flannel = {"name": "flannel", "version": "v0.28.9"}
    with pytest.raises(ArtifactUnavailable, match="Seed the mirror") as info:
        agent.run(_event(kube_api, "apply_cni", cni=flannel), _ctx(mirror))
    # The command that seeds it, as it works from a machine with internet access.
    assert f"`clusterdrop cni mirror flannel --version v0.28.9 --bucket {BUCKET}`" in str(info.value)


def _nodes(kube_api: KubeApiServer, count: int, ready: int) -> None:
    nodes = kube_api.store.types[("", "nodes")]
    for i in range(count):
        condition = {"type": "Ready", "status": "True" if i < ready else "False", "reason": "KubeletNotReady"}
        kube_api.store.create(
            nodes,
            "v1",
            None,
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n{i}", "labels": {NODEGROUP_LABEL: "workers"}},
             "status": {"conditions": [condition]}},
        )  # fmt: skip


def test_nodes_ready_reports_progress_then_fails_at_the_deadline(kube_api: KubeApiServer, mirror: S3Mirror) -> None:
    _nodes(kube_api, 3, ready=2)
    progress = agent.run(_event(kube_api, "wait_for_nodes_ready", nodeGroups={"workers": 3}), _ctx(mirror))
    assert progress["done"] is False
    assert (progress["expected"], progress["registered"], progress["ready"]) == (3, 3, 2)
    assert progress["notReady"] == [{"name": "n2", "group": "workers", "reason": "KubeletNotReady"}]
    late = {"nodeGroups": {"workers": 3}, "waitStartedAt": "2020-01-01T00:00:00Z", "deadlineMinutes": 20}
    with pytest.raises(NodesNotReady, match="n2 \\(workers\\): KubeletNotReady"):
        agent.run(_event(kube_api, "wait_for_nodes_ready", **late), _ctx(mirror))
    recent = {**late, "waitStartedAt": "2999-01-01T00:00:00Z"}
    assert agent.run(_event(kube_api, "wait_for_nodes_ready", **recent), _ctx(mirror))["done"] is False


def test_validate_cluster_fails_with_the_table(kube_api: KubeApiServer, mirror: S3Mirror) -> None:
    _nodes(kube_api, 2, ready=2)
    with pytest.raises(ClusterValidationFailed) as info:
        agent.run(_event(kube_api, "validate_cluster", nodeGroups={"workers": 2}), _ctx(mirror))
    assert "Deployment kube-system/coredns: not found" in str(info.value)
    assert "KIND" in str(info.value)


def test_addons_set_gp3_as_default(kube_api: KubeApiServer, mirror: S3Mirror) -> None:
    store = kube_api.store
    classes = store.types[("storage.k8s.io", "storageclasses")]
    gp2 = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "gp2", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "kubernetes.io/aws-ebs",
    }
    store.create(classes, "v1", None, gp2)
    with pytest.raises(NotReadyYet, match="ebs-csi-controller: not found"):
        # Configured, but the EKS add-on's workloads are not there yet: the state machine retries.
        agent.run(_event(kube_api, "configure_addons", addons=["ebs-csi"]), _ctx(mirror))
    annotations = store.objects[("storage.k8s.io", "storageclasses")]
    assert annotations[("", "gp3")]["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert annotations[("", "gp2")]["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "false"
    deployments = kube_api.store.types[("apps", "deployments")]
    daemonsets = kube_api.store.types[("apps", "daemonsets")]
    for rtype, name in ((deployments, "ebs-csi-controller"), (daemonsets, "ebs-csi-node")):
        kube_api.store.create(
            rtype, "v1", "kube-system", {"apiVersion": "apps/v1", "kind": rtype.kind, "metadata": {"name": name}}
        )
    result = agent.run(_event(kube_api, "configure_addons", addons=["ebs-csi"]), _ctx(mirror))
    assert result["ready"] is True
    assert result["done"] == ["StorageClass gp3 applied as the default"]  # gp2 already done


def test_configure_addons_creates_the_service_accounts_pod_identity_asks_for(
    kube_api: KubeApiServer, mirror: S3Mirror
) -> None:
    store = kube_api.store
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}}
    store.create(store.types[("", "namespaces")], "v1", None, namespace)
    accounts = [
        {"namespace": "payments", "name": "api", "labels": {"team": "pay"}},  # its namespace exists
        {"namespace": "backend-apps", "name": "s3-reader", "labels": {}},  # and one that does not
    ]
    result = agent.run(_event(kube_api, "configure_addons", serviceAccounts=accounts), _ctx(mirror))
    assert result["done"] == [
        "ServiceAccount payments/api applied (Pod Identity)",
        "ServiceAccount backend-apps/s3-reader applied (Pod Identity)",
    ]
    made = store.objects[("", "serviceaccounts")]
    assert made[("payments", "api")]["metadata"]["labels"] == {
        "team": "pay",
        "app.kubernetes.io/managed-by": "clusterdrop",
    }
    assert ("backend-apps", "s3-reader") in made
    assert ("", "backend-apps") in store.objects[("", "namespaces")]
    again = agent.run(_event(kube_api, "configure_addons", serviceAccounts=accounts), _ctx(mirror))
    assert again["ready"] is True  # applied again on the next upload: nothing changes


def test_delete_load_balancers(kube_api: KubeApiServer, mirror: S3Mirror) -> None:
    services = kube_api.store.types[("", "services")]
    for name, kind in (("web", "LoadBalancer"), ("db", "ClusterIP")):
        kube_api.store.create(
            services,
            "v1",
            "default",
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"type": kind}},
        )
    result = agent.run(_event(kube_api, "delete_load_balancers"), _ctx(mirror))
    assert result == {"deleted": ["default/web"]}
    assert ("default", "db") in kube_api.store.objects[("", "services")]


def test_unknown_operation_is_named(kube_api: KubeApiServer, mirror: S3Mirror) -> None:
    with pytest.raises(Exception, match="unknown agent operation 'reboot'"):
        agent.run(_event(kube_api, "reboot"), _ctx(mirror))


def test_handler_builds_its_context_from_the_environment(
    kube_api: KubeApiServer, mirror: S3Mirror, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lambdas.agent as handler_module

    _seed(mirror, "aws-vpc-cni", "manifest")
    monkeypatch.setenv("ARTIFACTS_BUCKET", BUCKET)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    handler_module._context.cache_clear()
    event = _event(kube_api, "apply_cni", cni={"name": "aws-vpc-cni", "version": "v1.23.1"})
    result = handler_module.handler(event, None)
    assert result["applied"]["DaemonSet"] == 1
    handler_module._context.cache_clear()


def test_a_new_clusters_401_window_is_a_temporary_error_naming_the_access_entry(mirror: S3Mirror) -> None:
    with KubeApiServer(access_delay=0.5) as server:
        event = _event(server, "wait_for_nodes_ready", nodeGroups={"workers": 1})
        with pytest.raises(ClusterAccessPending) as info:
            agent.run(event, _ctx(mirror))
        message = str(info.value)
        assert message.startswith("the API of cluster demo answered 401 Unauthorized to the agent")
        assert "aws eks list-access-entries --cluster-name demo" in message
        assert server.refused >= 1
        time.sleep(0.6)  # the window passes: the state machine's retry succeeds
        assert agent.run(event, _ctx(mirror))["expected"] == 1


def client_version(url: str) -> Any:
    return kube_client.VersionApi(for_server(url)).get_code()


def test_the_api_reports_the_clusters_version() -> None:
    with KubeApiServer(version="1.34") as server:
        info = client_version(server.url)
    assert (info.major, info.minor) == ("1", "34+")
    assert info.git_version.startswith("v1.34.")


def test_a_refusal_in_the_middle_of_an_apply_is_the_access_window_too(mirror: S3Mirror) -> None:
    """Discovery answered, then the window: the apply's 401 is ClusterAccessPending, not a refused object."""
    _seed(mirror, "calico", "manifest")
    with KubeApiServer() as server:
        kube = Kube(for_server(server.url))
        assert kube.get("v1", "Namespace", "kube-system") is not None  # discovery done before the window
        server.access_delay, server.access_from = 5.0, time.monotonic()
        ctx = agent.AgentContext(kube_for=lambda _: kube, mirror=mirror)
        with pytest.raises(ClusterAccessPending, match="answered 401"):
            agent.run(_event(server, "apply_cni", cni=CALICO), ctx)
