"""EKS for the embedded mode (placeholder until the EKS models land)."""

from __future__ import annotations

from typing import Any


class _Nothing:
    def stop(self) -> None:
        pass


def install(aws: Any) -> _Nothing:
    return _Nothing()
