"""EKS bearer tokens: presigned locally, bound to the cluster, refreshed before they expire."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.credentials import Credentials
from kubernetes import client

from clusterdrop.kube import connect
from clusterdrop.kube.connect import TOKEN_PREFIX, Token, eks_token, for_eks
from clusterdrop.local.kubeapi import KubeApiServer

CREDENTIALS = Credentials("AKIDEXAMPLE", "secret", "session-token")


def _decode(token: str) -> str:
    assert token.startswith(TOKEN_PREFIX)
    body = token[len(TOKEN_PREFIX) :]
    assert "=" not in body  # padding stripped, as EKS expects
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_token_is_a_presigned_get_caller_identity() -> None:
    token = eks_token("demo", "eu-west-1", CREDENTIALS, now=lambda: 1000.0)
    url = urlsplit(_decode(token.value))
    query = parse_qs(url.query)
    assert url.netloc == "sts.eu-west-1.amazonaws.com"
    assert query["Action"] == ["GetCallerIdentity"]
    assert query["X-Amz-Expires"] == ["60"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert token.expires_at == 1000.0 + 14 * 60


def test_tokens_differ_per_cluster() -> None:
    a = _decode(eks_token("a", "eu-west-1", CREDENTIALS).value)
    b = _decode(eks_token("b", "eu-west-1", CREDENTIALS).value)
    assert parse_qs(urlsplit(a).query)["X-Amz-Signature"] != parse_qs(urlsplit(b).query)["X-Amz-Signature"]


def test_client_sends_the_token_and_refreshes_it(kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []

    def counting(*args: Any, **kwargs: Any) -> Token:
        token = eks_token(*args, **kwargs)
        token.value += f"-{len(made)}"  # tell the tokens apart (the real ones differ by signing time)
        made.append(token.value)
        return token

    monkeypatch.setattr(connect, "eks_token", counting)
    clock = [0.0]
    api_client = for_eks(kube_api.url, None, "demo", "eu-west-1", CREDENTIALS, now=lambda: clock[0])
    core = client.CoreV1Api(api_client)
    core.list_namespace()
    clock[0] = 13 * 60
    core.list_namespace()
    assert kube_api.authorizations[-2:] == [f"Bearer {made[0]}"] * 2
    assert len(made) == 1
    clock[0] = 14 * 60 + 1
    core.list_namespace()
    assert len(made) == 2
    assert kube_api.authorizations[-1] == f"Bearer {made[1]}"


def test_a_clusters_authority_is_one_file_whatever_the_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28: a file per connection filled a warm Lambda's /tmp (about 300 in an afternoon)."""
    import base64
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    one, other = base64.b64encode(b"-----CA one-----").decode(), base64.b64encode(b"-----CA two-----").decode()
    paths = {connect.ca_file(one) for _ in range(5)} | {connect.ca_file(other) for _ in range(3)}
    assert len(paths) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    assert {p.read_bytes() for p in paths} == {b"-----CA one-----", b"-----CA two-----"}
