"""moto in server mode, reached over real HTTP by botocore clients."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import botocore.session
import pytest
from moto.core.config import default_user_config
from moto.server import ThreadedMotoServer

from clusterdrop.local import iam_simulation
from clusterdrop.local import quotas as embedded_quotas
from clusterdrop.quotas import QUOTAS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# An account whose quotas were all raised far past what the tests use: the tests that are about
# quotas set the ones they need (and reset them). moto answers Service Quotas through the
# embedded package, which fills in what moto lacks there (GetAWSDefaultServiceQuota, EC2's and
# EKS's limits).
RAISED = dict.fromkeys(QUOTAS, 100000.0)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    embedded_quotas.install(embedded_quotas.AccountQuotas(applied=dict(RAISED)))
    iam_simulation.install()  # moto has no policy simulator; Plan asks it about key policies
    # AWS's managed policies exist in every account; moto has them when asked (before its IAM starts).
    default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def moto_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the CLI and boto3 read: dummy credentials, the region, moto's endpoint."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": moto_url,
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


def client(service: str, url: str) -> object:
    return botocore.session.get_session().create_client(service, region_name="eu-west-1", endpoint_url=url)
