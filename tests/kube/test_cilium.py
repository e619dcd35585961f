"""Cilium installed as the workflow will install it, against the Kubernetes API emulator over
HTTP: rendered from its official chart, patched, applied, and waited on in its EKS guide's order;
the emulated cluster behaves as Cilium does where that order depends on it (the operator's CRDs
and CiliumNodes, the agent lifting the agent-not-ready taint, ENI pods on VPC addresses, overlay
pods on the pod CIDR)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from clusterdrop.cli import main
from clusterdrop.cni import catalog, install, manifests
from clusterdrop.cni.fetch import DirectoryMirror
from clusterdrop.kube import readiness
from clusterdrop.kube.client import Kube
from clusterdrop.local.kubeapi import KubeApiServer, controllers
from clusterdrop.local.kubeapi.workloads import Reconciler
from tests.conftest import FIXTURES

TAINT = {"key": "node.cilium.io/agent-not-ready", "value": "true", "effect": "NoExecute"}


def _nodes(server: KubeApiServer, count: int) -> None:
    """Nodes as a node group made for Cilium registers them: Ready, with Cilium's taint."""
    nodes = server.store.types[("", "nodes")]
    for i in range(count):
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": f"ng-{i}", "labels": {"kubernetes.io/os": "linux"}},
            "spec": {"taints": [dict(TAINT)]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "addresses": [
                {"type": "InternalIP", "address": f"10.1.0.{10 + i}"}]},
        }  # fmt: skip
        server.store.create(nodes, "v1", None, body)


def _install(kube: Kube, mode: str, nodes: int, tmp_path: Path, **extra: Any) -> install.CniInstall:
    release = catalog.find("cilium", "1.19.6")
    assert release is not None
    (tmp_path / "cilium-1.19.6.tgz").write_bytes((FIXTURES / "cni" / "cilium-1.19.6.tgz").read_bytes())
    name = extra.get("cluster_name", "demo")
    params = manifests.Parameters(pod_cidr=extra.get("pod_cidr"), cluster_name=name, api_host="10.0.0.1", nodes=nodes)
    plan = install.prepare(release, mode, params, DirectoryMirror(tmp_path))
    return install.install(plan, kube.applier)


@pytest.mark.parametrize(("mode", "overlay"), [("eni", False), ("overlay-kpr", True)])
def test_cilium_rolls_out_in_its_guides_order_and_lifts_its_taint(
    kube: Kube, kube_api: KubeApiServer, tmp_path: Path, mode: str, overlay: bool
) -> None:
    _nodes(kube_api, 2)
    plan = _install(kube, mode, 2, tmp_path, pod_cidr="10.48.0.0/16")
    assert readiness.cni_verdicts(plan, kube)["CiliumNode per-node"] == readiness.Verdict(
        False, "missing for ng-0, ng-1"
    )
    reconciler = Reconciler(kube_api.store)
    reconciler.run()
    verdicts = readiness.cni_verdicts(plan, kube)
    order = list(verdicts)
    # The operator first, then the CRDs it makes, then the agents and Envoy, then the nodes.
    assert order[0] == "Deployment kube-system/cilium-operator"
    assert order[1].startswith("CustomResourceDefinition ")
    assert order.index("DaemonSet kube-system/cilium") < order.index("CiliumNode per-node")
    assert order[-1] == "Taint node.cilium.io/agent-not-ready"
    for _ in range(4):
        reconciler.run()
    verdicts = readiness.cni_verdicts(plan, kube)
    assert readiness.all_ready(verdicts), verdicts
    for node in kube.list("v1", "Node"):
        assert TAINT["key"] not in {t["key"] for t in node["spec"].get("taints") or []}
    ciliumnodes = {n["metadata"]["name"]: n["spec"] for n in kube.list("cilium.io/v2", "CiliumNode")}
    assert sorted(ciliumnodes) == ["ng-0", "ng-1"]
    assert ("eni" in ciliumnodes["ng-0"]) is not overlay
    # A pod's address: the VPC's in ENI mode, the pod CIDR's (which EKS's control plane cannot
    # reach) in overlay mode.
    operator_pods = kube.list("v1", "Pod", "kube-system", "io.cilium/app=operator")
    envoy = kube.get("apps/v1", "DaemonSet", "cilium-envoy", "kube-system")
    assert envoy is not None
    assert operator_pods
    config = kube.get("v1", "ConfigMap", "cilium-config", "kube-system")
    assert config is not None
    assert config["data"]["cluster-name"] == "demo"
    web_pod: Any = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
               "spec": {"containers": [{"name": "web", "image": "nginx"}]}}  # fmt: skip
    kube.core.create_namespaced_pod("default", web_pod)
    reconciler.run()
    web = kube.get("v1", "Pod", "web", "default")
    assert web is not None
    assert web["status"]["podIP"].startswith("10.48.") is overlay


def test_cilium_given_a_cluster_name_it_refuses_crash_loops_and_readiness_says_why(
    kube: Kube, kube_api: KubeApiServer, tmp_path: Path
) -> None:
    """A name over 32 characters (EKS takes 100): the operator exits at start-up as Cilium's does,
    and Check CNI's verdict names the operator and its message."""
    _nodes(kube_api, 1)
    plan = _install(kube, "eni", 1, tmp_path, cluster_name="a-cluster-name-of-forty-characters-long")
    reconciler = Reconciler(kube_api.store)
    for _ in range(4):
        reconciler.run()
    verdicts = readiness.cni_verdicts(plan, kube)
    assert not readiness.all_ready(verdicts)
    [operator] = kube.list("v1", "Pod", "kube-system", "io.cilium/app=operator")
    [status] = operator["status"]["containerStatuses"]
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert "must not be more than 32 characters" in status["state"]["waiting"]["message"]
    operator_verdict = verdicts["Deployment kube-system/cilium-operator"]
    assert not operator_verdict.ready
    assert "CrashLoopBackOff: invalid cluster name" in operator_verdict.reason


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cni_apply_installs_cilium_against_local_kube_api(
    kube_api: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`local kube-api`'s stand-in controllers: workloads report rolled out, the operator's CRDs
    and CiliumNodes appear, the taint is lifted — the command waits through each and exits 0."""
    (tmp_path / "cilium-1.19.6.tgz").write_bytes((FIXTURES / "cni" / "cilium-1.19.6.tgz").read_bytes())
    monkeypatch.setenv("CLUSTERDROP_CNI_MIRROR", str(tmp_path))
    _nodes(kube_api, 2)
    controllers.attach(kube_api.store)
    code, out, err = run("cni", "apply", "cilium", "--mode", "overlay", "--kube-proxy-replacement",
                         "--pod-cidr", "10.48.0.0/16", "--cluster-name", "demo", "--server", kube_api.url,
                         "--timeout", "30")  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Applied cilium 1.19.6 (overlay-kpr):"
    assert "ready  CiliumNode per-node: 2 node(s)" in out
    assert "ready  Taint node.cilium.io/agent-not-ready: on no node" in out
    assert lines[-1] == "cilium 1.19.6 is ready."
    # The rendered output was kept in the mirror beside the chart.
    assert any(p.name.endswith("cilium-1.19.6-overlay-kpr.yaml") for p in tmp_path.iterdir())
    code, _, err = run("cni", "apply", "calico", "--kube-proxy-replacement", "--server", kube_api.url)
    assert (code, err) == (1, "clusterdrop: --kube-proxy-replacement is Cilium's\n")
