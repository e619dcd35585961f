"""An emulated Kubernetes API per test, reached over HTTP by the official client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from clusterdrop.kube.client import Kube
from clusterdrop.kube.connect import for_server
from clusterdrop.local.kubeapi import KubeApiServer


@pytest.fixture
def kube_api() -> Iterator[KubeApiServer]:
    with KubeApiServer() as server:
        yield server


@pytest.fixture
def api_client(kube_api: KubeApiServer) -> client.ApiClient:
    return for_server(kube_api.url)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def kube(api_client: client.ApiClient) -> Kube:
    return Kube(api_client, crd_timeout=10)
