"""What the workflow sends the agent, as data: no Kubernetes client here, so that the workflow's
Lambdas (which do not ship the client) share these models with the agent."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ClusterRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    region: str
    endpoint: str
    certificate_authority: str | None = Field(default=None, alias="certificateAuthority")


class CniRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    mode: str | None = None
    pod_cidr: str | None = Field(default=None, alias="podCidr")
    nodes: int | None = None  # how many nodes the node groups ask for (Cilium's operator replicas)


class ServiceAccountRef(BaseModel):
    """A service account the workflow creates (a Pod Identity association's, createServiceAccount)."""

    model_config = ConfigDict(extra="forbid")
    namespace: str
    name: str
    labels: dict[str, str] = Field(default_factory=dict)


class AgentEvent(BaseModel):
    """What the workflow sends the agent."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    operation: str
    cluster: ClusterRef
    cni: CniRef | None = None
    node_groups: dict[str, int] = Field(default_factory=dict, alias="nodeGroups")
    addons: list[str] = Field(default_factory=list)
    deadline_passed: bool = Field(default=False, alias="deadlinePassed")
    deadline_minutes: float = Field(default=20, alias="deadlineMinutes")
    # How the deadline reads to a person ("20 minutes", or "20 minutes (40 s in the embedded mode)").
    deadline_label: str | None = Field(default=None, alias="deadlineLabel")
    wait_started_at: datetime | None = Field(default=None, alias="waitStartedAt")
    # The spec's upgradePolicy.force: nodes are replaced even where a budget forbids evicting pods.
    force: bool = False
    # EKS Auto Mode: its node pools make the nodes and its nodes run the cluster's plumbing.
    auto_mode: bool = Field(default=False, alias="autoMode")
    service_accounts: list[ServiceAccountRef] = Field(default_factory=list, alias="serviceAccounts")

    def past_deadline(self, now: datetime) -> bool:
        if self.deadline_passed:
            return True
        if self.wait_started_at is None:
            return False
        return (now - self.wait_started_at).total_seconds() > self.deadline_minutes * 60


# --- what the agent answers, per operation -------------------------------------------------------


class Answer(BaseModel):
    """An operation's answer: camelCase on the wire."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


class VerdictShape(Answer):
    ready: bool
    reason: str = ""


class CniApplied(Answer):
    """apply_cni"""

    cni: CniRef | None
    applied: dict[str, int]


class CniChecked(Answer):
    """check_cni"""

    ready: bool
    workloads: dict[str, VerdictShape]
    # Who runs the CNI when no workload of the cluster does ("EKS Auto Mode").
    managed_by: str | None = Field(default=None, alias="managedBy")


class GroupShape(Answer):
    expected: int
    registered: int = 0
    ready: int = 0


class NotReadyNode(Answer):
    name: str
    group: str
    reason: str


class NodesChecked(Answer):
    """wait_for_nodes_ready: one check of the nodes."""

    done: bool
    deadline: str
    expected: int
    registered: int
    ready: int
    groups: dict[str, GroupShape]
    not_ready: list[NotReadyNode] = Field(default_factory=list)
    not_ready_count: int = 0
    not_ready_reasons: dict[str, int] = Field(default_factory=dict)


class AddonsConfigured(Answer):
    """configure_addons"""

    done: list[str]
    ready: bool
    workloads: dict[str, VerdictShape]


class ReportRow(Answer):
    kind: str
    name: str
    ok: bool
    message: str


class ClusterValidated(Answer):
    """validate_cluster"""

    ok: bool
    table: str
    rows: list[ReportRow]
    # What the cluster runs: nodes per kubelet minor version, and the API server's version.
    kubelets: dict[str, int] = Field(default_factory=dict)
    control_plane: str = ""


class BlockedEviction(Answer):
    pod: str
    budget: str
    node_group: str
    cause: str


class DisruptionsChecked(Answer):
    """check_disruption_budgets: evictions the next node-group updates would be refused (only
    reported, not failed, when the update is forced)."""

    blocked: list[BlockedEviction] = Field(default_factory=list)
    forced: bool = False


class LoadBalancersDeleted(Answer):
    """delete_load_balancers"""

    deleted: list[str]


ANSWERS: dict[str, type[Answer]] = {
    "apply_cni": CniApplied,
    "check_cni": CniChecked,
    "wait_for_nodes_ready": NodesChecked,
    "configure_addons": AddonsConfigured,
    "validate_cluster": ClusterValidated,
    "check_disruption_budgets": DisruptionsChecked,
    "delete_load_balancers": LoadBalancersDeleted,
}


def answered(operation: str, result: dict[str, object]) -> dict[str, object]:
    """An operation's result, checked against its model and dumped as the workflow reads it."""
    return ANSWERS[operation].model_validate(result).model_dump(mode="json", by_alias=True, exclude_none=True)
