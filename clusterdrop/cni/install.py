"""Installing a CNI exactly as the workflow does: stage the verified artifacts, parse, patch the
parameters, apply in dependency order, then judge readiness."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from clusterdrop.cni import manifests
from clusterdrop.cni.catalog import CniRelease
from clusterdrop.cni.fetch import Downloader, Mirror, download, stage

Obj = dict[str, Any]


class Applies(Protocol):
    def apply(self, objects: list[Obj]) -> Counter[str]: ...


@dataclass
class CniInstall:
    release: CniRelease
    mode: str
    objects: list[Obj]
    applied: Counter[str] = field(default_factory=Counter)


def prepare(
    release: CniRelease,
    mode: str,
    params: manifests.Parameters,
    mirror: Mirror | None,
    *,
    fetch: Downloader = download,
) -> CniInstall:
    """Stage, verify, parse and patch: everything before the cluster is touched."""
    objects: list[Obj] = []
    for staged in stage(release, mode, mirror, fetch=fetch):
        objects += manifests.parse(staged.data, staged.artifact.name)
    objects = manifests.patch(release.name, mode, objects, params)
    return CniInstall(release=release, mode=mode, objects=objects)


def install(plan: CniInstall, applier: Applies) -> CniInstall:
    plan.applied = applier.apply(plan.objects)
    return plan
