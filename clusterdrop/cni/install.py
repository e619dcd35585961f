"""Installing a CNI exactly as the workflow does: stage the verified artifacts, parse, patch the
parameters, apply in dependency order, then judge readiness."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from clusterdrop.cni import manifests
from clusterdrop.cni.catalog import CniRelease
from clusterdrop.cni.fetch import Downloader, Mirror, download, stage
from clusterdrop.kube.readiness import Verdict, tigerastatus_available, workload_verdicts

Obj = dict[str, Any]


class Applies(Protocol):
    def apply(self, objects: list[Obj]) -> Counter[str]: ...


class Reads(Protocol):
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None: ...

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]: ...


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


def workloads(objects: list[Obj]) -> list[tuple[str, str, str]]:
    """The DaemonSets and Deployments a manifest creates: (kind, namespace, name)."""
    return [
        (o["kind"], o["metadata"].get("namespace") or "default", o["metadata"]["name"])
        for o in objects
        if o.get("kind") in ("DaemonSet", "Deployment")
    ]


def readiness(plan: CniInstall, kube: Reads) -> dict[str, Verdict]:
    """Each workload of the CNI with its verdict; for the Calico operator, its TigeraStatus too."""
    out = workload_verdicts(kube, workloads(plan.objects))
    if plan.release.name == "calico" and plan.mode == "operator":
        statuses = kube.list("operator.tigera.io/v1", "TigeraStatus")
        if not any(s["metadata"]["name"] == "calico" for s in statuses):
            out["TigeraStatus calico"] = Verdict(False, "the operator has not reported yet")
        for status in statuses:
            out[f"TigeraStatus {status['metadata']['name']}"] = tigerastatus_available(status)
    return out


def all_ready(verdicts: dict[str, Verdict]) -> bool:
    return bool(verdicts) and all(v.ready for v in verdicts.values())
