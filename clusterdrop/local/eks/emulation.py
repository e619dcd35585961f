"""The state the embedded EKS's parts share: the emulated clusters, the settings (faults,
delays) and the thread that runs the node simulator."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clusterdrop.local.kubeapi import KubeApiServer, workloads

Obj = dict[str, Any]


LOG = logging.getLogger(__name__)


class SimulatedFailure(Exception):
    """A resource fails the way AWS would make it fail."""

    def __init__(self, logical_id: str, resource_type: str, reason: str):
        super().__init__(reason)
        self.logical_id, self.resource_type, self.reason = logical_id, resource_type, reason


@dataclass
class EmulatedCluster:
    name: str
    region: str
    api: KubeApiServer
    zones: list[str]
    version: str = "1.36"
    addons: dict[str, Obj] = field(default_factory=dict)
    access_entries: dict[str, Obj] = field(default_factory=dict)
    pod_identities: dict[str, Obj] = field(default_factory=dict)  # by association ID
    identity_providers: dict[str, Obj] = field(default_factory=dict)  # OIDC provider configs, by name
    nodegroups: dict[str, Obj] = field(default_factory=dict)
    seeded: bool = False  # the fault pdb-blocks-eviction's workload is in
    account: str = "123456789012"  # whose EC2 runs the nodes' instances
    instances: set[str] = field(default_factory=set)  # the EC2 instances launched for its nodes
    # EKS Auto Mode (ComputeConfig): {"nodePools": [...], "nodeRole": ARN, "subnets": [...]}, and
    # the node simulator's group for each built-in pool, sized by the pods waiting for a node.
    auto_mode: Obj | None = None
    node_pools: dict[str, Obj] = field(default_factory=dict)
    reconciler: workloads.Reconciler = field(init=False)

    def __post_init__(self) -> None:
        store = self.api.store
        self.reconciler = workloads.Reconciler(store)
        store.admission.append(lambda operation, rtype, obj: workloads.admission(store, operation, rtype, obj))


@dataclass
class Settings:
    faults: set[str] = field(default_factory=set)
    node_ready_delay: float = 0.0  # seconds between a group's first node registering and turning Ready
    # A new cluster's API answers 401 for this long from its first request, as EKS does while
    # the caller's access entry propagates (on AWS: seconds, sometimes a minute or two).
    access_delay: float = 1.5
    # A managed node-group update retries a drain for 15 minutes before PodEvictionFailure; here
    # for this long (the embedded mode's clock runs faster).
    eviction_timeout: float = 3.0
    # How long a node-group update waits for a new node to turn Ready (NodeCreationFailure after).
    node_join_timeout: float = 30.0
    # EKS creates, updates and deletes an add-on asynchronously (a minute or more on AWS): the
    # add-on is CREATING, UPDATING or DELETING for this long before its workloads change.
    addon_delay: float = 0.5
    # UpdateClusterVersion takes EKS several minutes, which CloudFormation waits out before the
    # stack's update completes: here the control plane is UPDATING for this long.
    control_plane_update_delay: float = 2.0
    # Where the in-cluster controllers that call AWS reach it (the embedded AWS's URL; none: they
    # make no calls, eks/in_cluster.py).
    aws_endpoint: str = ""


class EksEmulation:
    """The state the CloudFormation models, the add-ons API and the node simulator share."""

    def __init__(self, settings: Settings, tick: Callable[[EmulatedCluster, Settings], None]):
        self.settings = settings
        self._tick = tick
        self.clusters: dict[str, EmulatedCluster] = {}
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._simulate, name="node-simulator", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        for cluster in list(self.clusters.values()):
            cluster.api.stop()

    # --- the node simulator -------------------------------------------------------------

    def _simulate(self) -> None:
        while not self._stop.wait(0.1):
            with self.lock:
                clusters = list(self.clusters.values())
            for cluster in clusters:
                try:
                    self._tick(cluster, self.settings)
                except Exception:
                    LOG.exception("node simulator tick failed for %s", cluster.name)


_EMULATION: list[EksEmulation] = []  # the one installed (a list: no `global` statement)


def current() -> EksEmulation:
    """The installed emulation (the CloudFormation models and API patches run inside moto)."""
    assert _EMULATION, "the EKS emulation is not installed"
    return _EMULATION[-1]


def active() -> EksEmulation | None:
    return _EMULATION[-1] if _EMULATION else None


def set_current(emulation: EksEmulation) -> None:
    _EMULATION[:] = [emulation]
