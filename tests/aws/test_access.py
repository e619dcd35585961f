"""`clusterdrop kubeconfig` / `token`: a kubeconfig whose exec plugin presigns EKS's token, used by
the official client against the Kubernetes API emulator, the cluster described by moto's EKS."""

from __future__ import annotations

import base64
import io
import json
import stat
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import yaml
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from moto.eks import models as eks_models

from clusterdrop.cli import main
from clusterdrop.local.kubeapi import KubeApiServer


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


@pytest.fixture
def cluster(moto_env: None) -> Any:
    """An EKS cluster (moto) whose endpoint is a Kubernetes API emulator."""
    with KubeApiServer() as api:
        eks = boto3.client("eks")
        created = eks.create_cluster(
            name="reach", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={"subnetIds": []}
        )["cluster"]
        # moto's EKS runs in this process: point the cluster at the emulator, as the embedded mode does.
        eks_models.eks_backends["123456789012"]["eu-west-1"].clusters["reach"].endpoint = api.url
        eks_models.eks_backends["123456789012"]["eu-west-1"].clusters["reach"].certificate_authority = {"data": ""}
        yield created, api
        eks.delete_cluster(name="reach")


def test_token_is_an_exec_credential_with_eks_token_and_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code, out, _ = run("token", "--cluster", "demo", "--region", "eu-west-1")
    assert code == 0
    credential = json.loads(out)
    assert (credential["kind"], credential["apiVersion"]) == ("ExecCredential", "client.authentication.k8s.io/v1beta1")
    token = credential["status"]["token"]
    assert token.startswith("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(token.removeprefix("k8s-aws-v1.") + "==").decode()
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).netloc == "sts.eu-west-1.amazonaws.com"
    assert query["Action"] == ["GetCallerIdentity"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0]
    assert credential["status"]["expirationTimestamp"].endswith("Z")


def test_kubeconfig_merges_a_context_the_official_client_uses(cluster: Any, tmp_path: Path) -> None:
    described, api = cluster
    path = tmp_path / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "other", "cluster": {"server": "https://x"}}],
                "users": [],
                "contexts": [],
                "current-context": "other",
            }
        )
    )
    code, out, _ = run("kubeconfig", "reach", "--kubeconfig", str(path), "--set-current")
    assert code == 0, out
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == described["arn"]
    assert {c["name"] for c in config["clusters"]} == {"other", described["arn"]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [user] = [u["user"] for u in config["users"] if u["name"] == described["arn"]]
    assert user["exec"]["args"][-5:] == ["token", "--cluster", "reach", "--region", "eu-west-1"]
    # Written twice: one entry each, not two.
    assert run("kubeconfig", "reach", "--kubeconfig", str(path))[0] == 0
    assert len(yaml.safe_load(path.read_text())["clusters"]) == 2

    # The official client runs the exec plugin and sends EKS's token.
    api_client = kube_config.new_client_from_config(config_file=str(path))
    nodes = kube_client.CoreV1Api(api_client).list_node()
    assert nodes.items == []
    sent = [a for a in api.authorizations if a]
    assert sent
    assert all(a.startswith("Bearer k8s-aws-v1.") for a in sent)


def test_kubeconfig_for_a_cluster_that_is_not_there_says_so(cluster: Any, tmp_path: Path) -> None:
    code, _, err = run("kubeconfig", "nowhere", "--kubeconfig", str(tmp_path / "config"))
    assert code == 1
    assert "no EKS cluster 'nowhere' in eu-west-1" in err
    assert not (tmp_path / "config").exists()


def test_token_without_credentials_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out, err = run("token", "--cluster", "demo", "--region", "eu-west-1")
    assert (code, out) == (2, "")
    assert "no AWS credentials found" in err
