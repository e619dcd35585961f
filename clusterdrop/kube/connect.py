"""Connecting to a cluster without kubeconfig files, subprocesses or the aws CLI.

On EKS the bearer token is a presigned STS GetCallerIdentity URL bound to the cluster name
(`x-k8s-aws-id`), base64url-encoded behind `k8s-aws-v1.`: presigning is local, nothing calls STS.
EKS accepts a token for 15 minutes; it is refreshed before 14 run out. The endpoint is
injectable, so the same code talks to the embedded Kubernetes API.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a format marker, not a secret
TOKEN_LIFETIME_SECONDS = 14 * 60  # EKS accepts 15; refresh with a minute to spare
CLUSTER_ID_HEADER = "x-k8s-aws-id"


@dataclass
class Token:
    value: str
    expires_at: float


def eks_token(cluster_name: str, region: str, credentials: Any, *, now: Callable[[], float] = time.time) -> Token:
    """A bearer token for an EKS cluster from botocore credentials (no call to STS)."""
    from botocore.hooks import HierarchicalEmitter
    from botocore.model import ServiceId
    from botocore.signers import RequestSigner

    emitter = HierarchicalEmitter()  # the signer keeps only a weak reference to it
    signer = RequestSigner(ServiceId("sts"), region, "sts", "v4", credentials, emitter)
    request = {
        "method": "GET",
        "url": f"https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
        "body": {},
        "headers": {CLUSTER_ID_HEADER: cluster_name},
        "context": {},
    }
    presigned = signer.generate_presigned_url(request, region_name=region, expires_in=60, operation_name="")
    encoded = base64.urlsafe_b64encode(presigned.encode()).decode().rstrip("=")
    return Token(value=TOKEN_PREFIX + encoded, expires_at=now() + TOKEN_LIFETIME_SECONDS)


def _configuration(endpoint: str, ca_data: str | None) -> Configuration:
    configuration = Configuration()
    configuration.host = endpoint
    if ca_data:
        configuration.ssl_ca_cert = str(ca_file(ca_data))
    return configuration


def ca_file(ca_data: str) -> Path:
    """The client wants the CA (base64 in DescribeCluster) as a file: one file per authority, named
    by its digest, so that a warm Lambda's /tmp (kept between invocations) or a person's machine
    holds one per cluster, not one per connection. Written beside and renamed into place, so a
    concurrent reader never sees half a file."""
    pem = base64.b64decode(ca_data)
    path = Path(tempfile.gettempdir()) / f"cluster-ca-{hashlib.sha256(pem).hexdigest()[:16]}.crt"
    if not path.exists() or path.read_bytes() != pem:
        handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=".cluster-ca-", delete=False)  # noqa: SIM115
        with handle:
            handle.write(pem)
        Path(handle.name).replace(path)
    return path


def for_eks(
    endpoint: str,
    ca_data: str | None,
    cluster_name: str,
    region: str,
    credentials: Any,
    *,
    now: Callable[[], float] = time.time,
) -> ApiClient:
    """An API client whose token refreshes itself before it expires."""
    configuration = _configuration(endpoint, ca_data)
    state: dict[str, Token] = {}

    def refresh(conf: Configuration) -> None:
        token = state.get("token")
        if token is None or now() >= token.expires_at:
            token = state["token"] = eks_token(cluster_name, region, credentials, now=now)
            conf.api_key["authorization"] = token.value
            conf.api_key_prefix["authorization"] = "Bearer"

    # The client calls this hook before every request; its stub types it as None.
    configuration.refresh_api_key_hook = refresh  # type: ignore[assignment]
    refresh(configuration)
    return ApiClient(configuration)


def for_server(server: str, *, token: str | None = None, ca_data: str | None = None) -> ApiClient:
    """A client for a plain URL (the embedded API, or a cluster reached with a token)."""
    configuration = _configuration(server, ca_data)
    if token:
        configuration.api_key["authorization"] = token
        configuration.api_key_prefix["authorization"] = "Bearer"
    return ApiClient(configuration)


def for_kubeconfig(path: str, context: str | None = None) -> ApiClient:
    api_client: ApiClient = kube_config.new_client_from_config(config_file=path, context=context)
    return api_client
