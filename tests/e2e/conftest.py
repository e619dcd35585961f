"""One embedded deployer per test session: synthesized once, deployed once into moto."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import pytest

from clusterdrop.local import session


@pytest.fixture(scope="session")
def local() -> Iterator[session.LocalDeployer]:
    warnings.filterwarnings("ignore")
    for name in ("werkzeug", "moto"):
        logging.getLogger(name).setLevel(logging.ERROR)
    deployer = session.up()
    yield deployer
    deployer.stop()
