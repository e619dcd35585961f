"""In-cluster operations against the emulated API: CNI apply, a 2,000-node readiness poll, and
the agent's cold start."""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.spec import import_ms
from clusterdrop.cni import catalog, install, manifests
from clusterdrop.cni.fetch import DirectoryMirror
from clusterdrop.kube.client import Kube
from clusterdrop.kube.connect import for_server
from clusterdrop.kube.nodes import NODEGROUP_LABEL, node_progress
from clusterdrop.local.kubeapi import KubeApiServer

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "cni"


def apply(name: str, mode: str) -> tuple[float, int]:
    release = catalog.find(name, None)
    assert release is not None
    plan = install.prepare(release, mode, manifests.Parameters(pod_cidr="192.168.0.0/16"), DirectoryMirror(FIXTURES))
    with KubeApiServer() as server:
        kube = Kube(for_server(server.url))
        start = time.perf_counter()
        install.install(plan, kube.applier)
        return time.perf_counter() - start, sum(server.requests.values())


def poll(nodes: int) -> tuple[float, int]:
    with KubeApiServer() as server:
        store = server.store
        kind = store.types[("", "nodes")]
        for i in range(nodes):
            ready = {"type": "Ready", "status": "True"}
            body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n{i}", "labels": {NODEGROUP_LABEL: "g"}}}
            store.create(kind, "v1", None, {**body, "status": {"conditions": [ready]}})
        kube = Kube(for_server(server.url))
        server.reset_counts()
        start = time.perf_counter()
        progress = node_progress(kube, {"g": nodes})
        assert progress.ready == nodes
        return time.perf_counter() - start, sum(server.requests.values())


def main() -> None:
    rows = [
        ("apply calico operator (3 MB of CRDs, operator, resources)", *apply("calico", "operator")),
        ("apply calico manifest (38 objects, 23 CRDs)", *apply("calico", "manifest")),
        ("readiness poll, 2,000 nodes", *poll(2000)),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'operation'.ljust(width)}  seconds  requests")
    for name, seconds, requests in rows:
        print(f"{name.ljust(width)}  {seconds:7.2f}  {requests:8d}")
    print(f"{'agent cold start: import lambdas.agent'.ljust(width)}  {import_ms('lambdas.agent') / 1000:7.2f}")
