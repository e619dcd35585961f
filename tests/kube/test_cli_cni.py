"""`clusterdrop cni list|apply` from the command line (`local kube-api`: tests/kube/test_standalone.py)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from clusterdrop.cli import main
from clusterdrop.local.kubeapi import KubeApiServer, controllers
from tests.conftest import FIXTURES


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTERDROP_CNI_MIRROR", str(FIXTURES / "cni"))


def test_cni_list_prints_catalog() -> None:
    code, out, _ = run("cni", "list")
    assert code == 0
    assert "calico v3.32.1" in out
    assert "sha256:c2ab4f9a4ecde01d66e6f040d6745cd7f174d5ded573164c809ffb9f40a9d566" in out
    code, out, _ = run("cni", "list", "--json")
    assert {(r["name"], r["version"]) for r in json.loads(out)} == {
        ("aws-vpc-cni", "v1.23.1"),
        ("calico", "v3.32.1"),
        ("flannel", "v0.28.9"),
        ("cilium", "1.18.12"),
        ("cilium", "1.19.6"),
    }
    tested = {(r["name"], r["version"]): r["testedKubernetes"] for r in json.loads(out)}
    assert tested[("cilium", "1.19.6")] == ["1.32", "1.33", "1.34", "1.35"]
    assert tested[("flannel", "v0.28.9")] == []  # flannel publishes none
    code, out, _ = run("cni", "list")
    assert "tested on Kubernetes 1.30 to 1.33 (https://docs.cilium.io/en/v1.18/" in out
    assert "chart cilium-1.19.6.tgz  sha256:21c43cf53841f9ab0375047d95aa4c64051ea52bbd2c679416e6408f5f1c9179" in out


def test_cni_apply_waits_for_readiness(kube_api: KubeApiServer, mirror: None) -> None:
    controllers.attach(kube_api.store)
    code, out, err = run(
        "cni", "apply", "calico", "--pod-cidr", "10.10.0.0/16", "--server", kube_api.url, "--timeout", "30"
    )
    assert code == 0, err
    assert "CustomResourceDefinition: 23" in out
    assert "ready  DaemonSet kube-system/calico-node" in out
    assert out.rstrip().endswith("calico v3.32.1 is ready.")


def test_cni_apply_not_ready_exits_1(kube_api: KubeApiServer, mirror: None) -> None:
    code, out, err = run("cni", "apply", "aws-vpc-cni", "--server", kube_api.url, "--timeout", "0")
    assert code == 1
    assert "NOT READY  DaemonSet kube-system/aws-node" in out
    assert "not ready after 0s" in err


def test_cni_apply_no_wait(kube_api: KubeApiServer, mirror: None) -> None:
    code, out, _ = run("cni", "apply", "flannel", "--provider", "generic", "--server", kube_api.url, "--no-wait")
    assert code == 0
    assert "Namespace: 1" in out


def test_cni_apply_refuses_a_tampered_mirror(
    kube_api: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "flannel.yaml"
    shutil.copy(FIXTURES / "cni" / "flannel-v0.28.9.yaml", copy)
    copy.write_text(copy.read_text().replace("10.244.0.0/16", "10.245.0.0/16"))
    monkeypatch.setenv("CLUSTERDROP_CNI_MIRROR", str(tmp_path))
    code, _, err = run("cni", "apply", "flannel", "--server", kube_api.url)
    assert code == 1
    assert "e875824be2f552b45711dbda91af81b17eb961d00025d914d9fef18fad8f09c0" in err
    assert "kube-flannel.yml" in err
    assert kube_api.request_log == []  # nothing touched the cluster


def test_cni_apply_usage_errors(kube_api: KubeApiServer, mirror: None) -> None:
    assert run("cni", "apply", "calico", "--version", "v0.1", "--server", kube_api.url)[0] == 1
    assert run("cni", "apply", "calico", "--mode", "helm", "--server", kube_api.url)[0] == 1
    assert run("cni", "apply", "calico", "--pod-cidr", "nope", "--server", kube_api.url)[0] == 1
    assert run("cni", "apply", "calico")[0] == 2  # no --server or --kubeconfig
