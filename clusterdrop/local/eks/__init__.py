"""EKS for the embedded mode, where moto has gaps: AWS::EKS::Cluster, Nodegroup and AccessEntry in
CloudFormation (`resources`), the EKS add-ons and access-entries APIs (`api`), a Kubernetes API
emulator per cluster (its URL is the cluster's endpoint), a node simulator and the cluster's
controllers (`nodes`, `kubeapi/workloads.py`), and failures as CloudFormation reports them
(`faults`): `stack-failure`, `nodes-not-ready`, `delete-failed`, `rollback-failed`,
`update-rollback`.
"""

from __future__ import annotations

from typing import Any

from clusterdrop.local.eks import api, faults, nodes, resources
from clusterdrop.local.eks.api import addon_version
from clusterdrop.local.eks.emulation import EksEmulation, EmulatedCluster, Settings, SimulatedFailure, set_current
from clusterdrop.local.eks.faults import delete_refusal, resource_event

__all__ = [
    "EksEmulation",
    "EmulatedCluster",
    "Settings",
    "SimulatedFailure",
    "addon_version",
    "delete_refusal",
    "install",
    "resource_event",
]


def install(aws: Any, settings: Settings | None = None) -> EksEmulation:
    """Add EKS to moto (before its server starts: routes are read at start)."""
    from moto.cloudformation import parsing

    emulation = EksEmulation(settings or Settings(faults=set(getattr(aws, "faults", set()))), nodes.tick)
    set_current(emulation)
    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()
    # The CloudFormation models register themselves by being imported (moto finds resource types
    # through CloudFormationModel.__subclasses__()).
    assert resources.EksClusterModel.cloudformation_type() == "AWS::EKS::Cluster"
    api.install()
    faults.install()
    return emulation
