"""One embedded deployer per test session: synthesized once, deployed once into moto."""

from __future__ import annotations

import os
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
    # The EC2 key pair examples/calico-ha.yaml names, as the test account holds it (Plan refuses a
    # node group whose key pair does not exist; test_aws_rules.py checks that refusal).
    session.import_key_pair(deployer.aws.client("ec2"), "ops")
    yield deployer
    deployer.stop()


# `make test` runs this suite as two processes side by side, each with its own embedded deployer
# (CLUSTERDROP_E2E_SHARD=1 and 2): most of its time is the workflow's polls and the emulators'
# delays, not CPU, so the two halves take little more than the longer one. Shard 1 is
# test_embedded.py but for its two longest stand-alone scenarios; shard 2 is the rest, and any new
# file. Without the variable, every test runs.
_SHARD_TWO = {
    "test_cni_digest_fault_from_the_command_line",
    "test_nodes_that_never_turn_ready_fail_and_retain_keeps_everything",
}


def _shard(item: pytest.Item) -> str:
    name = getattr(item, "originalname", item.name)
    return "1" if item.path.name == "test_embedded.py" and name not in _SHARD_TWO else "2"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = os.environ.get("CLUSTERDROP_E2E_SHARD")
    if not wanted:
        return
    config.hook.pytest_deselected(items=[i for i in items if _shard(i) != wanted])
    items[:] = [i for i in items if _shard(i) == wanted]
