"""`clusterdrop local kube-api`'s cluster behaves as the embedded EKS's clusters do: nodes NotReady
until a CNI's agent runs on them, the scheduler binding pods by selectors and taints (Pending with
its message), and callers admitted by access entries — 401 without one, 403 where its policy does
not reach. Over HTTP with the official client, as a user's tools reach it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from clusterdrop.cli import main
from clusterdrop.kube.connect import for_server
from clusterdrop.local.standalone import StandaloneCluster
from tests.conftest import FIXTURES
from tests.conftest import until as _until


@pytest.fixture
def standalone() -> Iterator[StandaloneCluster]:
    with StandaloneCluster(nodes_wanted=2, node_ready_delay=0) as cluster:
        yield cluster


def _ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def _deployment(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec},
            },
        },
    }


def _pod_of(core: Any, app: str) -> Any:
    pods = core.list_namespaced_pod("default", label_selector=f"app={app}").items
    return pods[0] if pods else None


def test_nodes_turn_ready_with_a_cni_and_pods_are_scheduled_as_on_eks(
    standalone: StandaloneCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = standalone.grant("alice", "cluster-admin")
    api = for_server(standalone.url, token=token, ca_data=standalone.ca_data)
    core: Any = client.CoreV1Api(api)
    nodes = _until(lambda: len(core.list_node().items) == 2 and core.list_node().items)
    assert not any(_ready(n) for n in nodes)  # no CNI yet: the kubelet reports NotReady
    assert all(n.spec.pod_cidr for n in nodes)  # the controller manager's node CIDRs, which flannel needs

    monkeypatch.setenv("CLUSTERDROP_CNI_MIRROR", str(FIXTURES / "cni"))
    out, err = io.StringIO(), io.StringIO()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(standalone.kubeconfig()))
    argv = ["cni", "apply", "flannel", "--provider", "generic", "--kubeconfig", str(kubeconfig), "--context", "alice"]
    assert main([*argv, "--timeout", "60"], out=out, err=err) == 0, err.getvalue()
    _until(lambda: all(_ready(n) for n in core.list_node().items))

    apps: Any = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", _deployment("picky", {"nodeSelector": {"disk": "ssd"}}))
    pending = _until(lambda: (p := _pod_of(core, "picky")) and p.status.conditions and p)
    assert pending.status.phase == "Pending"
    [unschedulable] = [c for c in pending.status.conditions if c.type == "PodScheduled"]
    assert unschedulable.reason == "Unschedulable"
    assert "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector" in unschedulable.message
    chosen = core.list_node().items[1].metadata.name
    core.patch_node(chosen, {"metadata": {"labels": {"disk": "ssd"}}})
    running = _until(lambda: (p := _pod_of(core, "picky")) and p.status.phase == "Running" and p)
    assert running.spec.node_name == chosen

    for node in core.list_node().items:
        core.patch_node(
            node.metadata.name, {"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}}
        )
    apps.create_namespaced_deployment("default", _deployment("plain", {}))
    waiting = _until(lambda: (p := _pod_of(core, "plain")) and p.status.conditions and p)
    [condition] = [c for c in waiting.status.conditions if c.type == "PodScheduled"]
    assert "2 node(s) had untolerated taint {dedicated: db}" in condition.message


def test_callers_are_admitted_by_access_entry_as_eks_admits_them(standalone: StandaloneCluster) -> None:
    viewer = standalone.grant("viewer", "view", ["apps"])
    nobody = standalone.grant("nobody", "none")

    def status(token: str | None, call: Callable[[Any], Any]) -> int:
        try:
            call(client.CoreV1Api(for_server(standalone.url, token=token, ca_data=standalone.ca_data)))
        except ApiException as exc:
            return int(exc.status)
        return 200

    assert status(None, lambda core: core.list_namespace()) == 401  # no access entry's token
    assert status("made-up", lambda core: core.list_namespace()) == 401
    assert status(viewer, lambda core: core.list_namespaced_pod("apps")) == 200
    assert status(viewer, lambda core: core.list_namespaced_pod("default")) == 403  # outside its scope
    body = {"metadata": {"name": "c"}, "data": {"a": "b"}}
    assert status(viewer, lambda core: core.create_namespaced_config_map("apps", body)) == 403  # view only reads
    assert status(nobody, lambda core: core.list_namespaced_pod("apps")) == 403  # an entry with no policy
    with pytest.raises(ApiException) as secrets:  # EKS's view policy reads no secrets
        client.CoreV1Api(for_server(standalone.url, token=viewer, ca_data=standalone.ca_data)).list_namespaced_secret(
            "apps"
        )
    assert 'User "viewer" cannot list resource "secrets"' in json.loads(str(secrets.value.body))["message"]


def test_local_kube_api_prints_its_url_and_tokens_and_admits_only_them() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "clusterdrop", "local", "kube-api", "--nodes", "1", "--user", "dev=edit:apps"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")
        admin = process.stdout.readline().rsplit(": ", 1)[1].strip()
        assert process.stdout.readline().startswith("# token of dev (edit in apps): ")
        said = process.stdout.readline()
        assert said.startswith("# kubeconfig: ")
        kubeconfig = Path(said.removeprefix("# kubeconfig: ").split(" (")[0])
        assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"
        written = json.loads(kubeconfig.read_text())
        assert [c["name"] for c in written["contexts"]] == ["admin", "dev"]
        ca = written["clusters"][0]["cluster"]["certificate-authority-data"]
        with pytest.raises(ApiException) as refused:
            client.CoreV1Api(for_server(url, ca_data=ca)).list_namespace()
        assert refused.value.status == 401
        core: Any = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context="admin"))
        assert "kube-system" in {n.metadata.name for n in core.list_namespace().items}
        assert len(_until(lambda: core.list_node().items)) == 1
        dev: Any = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context="dev"))
        assert dev.list_namespaced_pod("apps").items == []
        assert admin in kubeconfig.read_text()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0  # SIGTERM stops it as Ctrl-C does
    assert not kubeconfig.exists()  # and its temporary kubeconfig goes with it
