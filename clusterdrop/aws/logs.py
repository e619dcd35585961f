"""The control-plane log group, checked at *Plan*: a spec that sets a log retention has the cluster
stack make `/aws/eks/<name>/cluster`, and CloudFormation cannot make a log group that exists
already (`ResourceAlreadyExistsException`, the stack rolls back). It does exist when EKS made it —
logging turned on before the retention was set — or when an earlier cluster of the name left it
(EKS never deletes it)."""

from __future__ import annotations

from typing import Any

from clusterdrop.errors import Problem
from clusterdrop.render.cluster import control_plane_log_group
from clusterdrop.spec.models import Cluster

LOGICAL_ID = "ControlPlaneLogGroup"


def check(logs: Any, cluster: Cluster, *, held: bool) -> list[Problem]:
    """`held`: the cluster stack has the log group already (an update keeps it)."""
    days = cluster.spec.control_plane.log_retention_days
    if days is None or held:
        return []
    name = control_plane_log_group(cluster.metadata.name)
    found = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    if not any(g["logGroupName"] == name for g in found):
        return []
    return [
        Problem(
            "spec.controlPlane.logRetentionDays",
            f"the log group {name} exists already (EKS made it when control-plane logging was turned on, or an "
            "earlier cluster of this name left it): CloudFormation cannot make it. Set its retention yourself "
            f"(aws logs put-retention-policy --log-group-name {name} --retention-in-days {days}) and leave "
            "logRetentionDays out, or delete the log group first",
        )
    ]
