"""One embedded deployer per test session: synthesized once, deployed once into moto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clusterdrop.local import session
from tests.conftest import FIXTURES


@pytest.fixture(scope="session")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[session.LocalDeployer]:
    session.quiet_logs()
    # Calico's manifests come from the official files beside the repository, as from a mirror;
    # notifications also land in an inbox directory, as `local up` leaves them. The scenarios
    # keep some twenty clusters' networks and nodes in one account: its network and standard vCPU
    # quotas are raised, as a test account's would be (test_quotas.py sets the ones it is about).
    deployer = session.up(
        mirror=str(FIXTURES / "cni"),
        inbox=tmp_path_factory.mktemp("inbox"),
        pages=tmp_path_factory.mktemp("pages"),
        quotas={
            "vpcs": 50,
            "internet-gateways": 50,
            "elastic-ips": 100,
            "nat-gateways": 50,
            "vcpus-standard": 1000,
            "spot-vcpus-standard": 1000,
        },
    )
    yield deployer
    deployer.stop()
