"""The contract between the state machines and the steps: the execution's state document, one
model per `ResultPath` of the ASL (a test holds the ASL to it), and what each Lambda-backed step
returns. Steps read the state through `ExecutionState` and return their result model dumped
with its aliases (camelCase, as the ASL's JSONPaths name them).

The agent's own request and response shapes (`kube.agent`) are reused here, not written twice.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from clusterdrop.kube.protocol import (
    AddonsConfigured,
    Answer,
    ClusterRef,
    ClusterValidated,
    CniApplied,
    CniChecked,
    CniRef,
    DisruptionsChecked,
    LoadBalancersDeleted,
    NodesChecked,
    ServiceAccountRef,
)

Obj = dict[str, Any]


class Shape(BaseModel):
    """A part of the state: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def dumped(self) -> Obj:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Open(Shape):
    """A part the state machine adds to (the agent's results, Step Functions' own answers)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


# --- what the steps return ---------------------------------------------------------------------


# Validated.format of a cluster whose first create failed: "Read last applied spec" finds nothing
# to tear down, and the teardown's Choice "Anything to tear down?" goes straight to its notice.
NEVER_CREATED_FORMAT = "never-created"


class Validated(Shape):
    """ "Validate spec" / "Read last applied spec" → $.validated: the stored spec's key (the
    steps read it from there: context.spec_of), never the spec itself."""

    spec_key: str
    format: str
    notes: list[str] = Field(default_factory=list)
    # Values the spec took from SSM parameters or CloudFormation exports: path, from, name, value.
    references: list[Obj] = Field(default_factory=list)


class LockHeld(Shape):
    """ "Take cluster lock" → $.lock"""

    cluster: str
    owner: str
    expires_at: int


class StackPlanShape(Open):
    """One stack's plan (stacks.StackPlan.as_dict, snake_case keys)."""

    stack: str
    role: str
    change_type: str = Field(alias="change_type")
    status: str
    counts: dict[str, int] = Field(default_factory=dict)
    changes: list[Obj] = Field(default_factory=list)


class Upgrade(Shape):
    """A Kubernetes version change of a running cluster: the control plane first, then the node
    groups one at a time, each validated before the next."""

    from_: str = Field(alias="from")
    to: str
    node_groups: list[str] = Field(default_factory=list)  # in the order they roll
    # The overlay CNI's move to a release for the new version ("cilium 1.18.12 → 1.19.6"), if any.
    cni: str = ""
    # Where the EKS add-ons are expected to move: {add-on: "old → new"} (EKS's defaults or the pins).
    addons: dict[str, str] = Field(default_factory=dict)
    # Node groups the spec holds one minor behind (nodeGroups[].kubernetesVersion): {group: version}.
    held: dict[str, str] = Field(default_factory=dict)


class PlanResult(Open):
    """ "Plan" / "Describe plan" → $.plan"""

    superseded: bool = False
    upgrade: Upgrade | None = None
    new_cluster: bool = True
    stacks: list[StackPlanShape] = Field(default_factory=list)
    subnet_tags: list[Obj] = Field(default_factory=list)
    pending: bool = False
    # What the cluster takes of the account's quotas (quotas.Standing.as_dict), the quotas it
    # leaves 80 % full or more (sentences), and what was not counted.
    quotas: list[Obj] = Field(default_factory=list)
    quota_warnings: list[str] = Field(default_factory=list)
    quota_notes: list[str] = Field(default_factory=list)
    # EKS add-ons the last applied spec listed and this one does not (EKS names): deleted at Connect.
    addons_removed: list[str] = Field(default_factory=list)


class Discarded(Shape):
    """ "Discard plan" → $.discarded"""

    discarded: bool


class ClusterStackStarted(Open):
    """ "Apply cluster stack" → $.clusterStack (then "Check cluster stack" adds `current`)."""

    stack: str
    executed: bool = False
    tagged_subnets: list[str] = Field(default_factory=list)


class Connection(Shape):
    """ "Connect" / "Describe cluster" → $.connection: how the agent reaches the cluster."""

    cluster: ClusterRef
    agent_arn: str
    cni: CniRef | None = None
    cni_via: str | None = None
    addons_created: list[str] = Field(default_factory=list)
    # An upgrade's add-ons moved to EKS's default versions for the new Kubernetes: {name: "old → new"}.
    addons_updated: dict[str, str] = Field(default_factory=dict)
    addons_removed: list[str] = Field(default_factory=list)
    node_groups: dict[str, int] = Field(default_factory=dict)
    addons: list[str] = Field(default_factory=list)
    deadline_minutes: float | None = None
    deadline_label: str | None = None
    # The control plane's version as EKS reports it (after the cluster stack's update).
    kubernetes_version: str | None = None
    # The spec's upgradePolicy.force, for the agent's check of disruption budgets.
    force_upgrade: bool = False
    # EKS Auto Mode: no CNI to apply or check, nodes from node pools, validation without CoreDNS.
    auto_mode: bool = False
    # The service accounts the agent creates for Pod Identity associations (createServiceAccount).
    service_accounts: list[ServiceAccountRef] = Field(default_factory=list)


class ClusterReach(Shape):
    """ "Describe cluster" (teardown) → $.connection: whether the agent can still reach it."""

    reachable: bool
    reason: str | None = None
    cluster: ClusterRef | None = None
    agent_arn: str | None = None


class StartedStack(Shape):
    stack: str
    expect: str


class NodeGroupStacks(Shape):
    """ "Apply node-group stacks" / "Check node-group stacks" → $.nodeGroupStacks: the wave of
    stacks under way (all at once, or one group at a time in an upgrade) and those still to go."""

    stacks: list[StartedStack]
    done: bool | None = None
    pending: list[str] = Field(default_factory=list)
    wave: int = 1
    remaining: list[str] = Field(default_factory=list)
    more: bool = False


class EksAddons(Shape):
    """ "Apply addons" → $.eksAddons"""

    created: list[str]
    statuses: dict[str, str]


class Recorded(Shape):
    """ "Record state" → $.record (the registry's answer)."""

    cluster: str
    status: str
    updated_at: int


class Released(Shape):
    """ "Release cluster lock" → $.released"""

    released: bool


class Diagnosis(Shape):
    """ "Diagnose" → $.diagnosis"""

    step: str
    error: str
    cause: str


class Cleanup(Shape):
    """ "Clean up" → $.cleanup (called until done)."""

    done: bool
    cleaned_up: list[str] = Field(default_factory=list)
    kept: list[str] = Field(default_factory=list)
    reason: str = ""
    pending: list[str] = Field(default_factory=list)
    existed: list[str] = Field(default_factory=list)
    attempts: dict[str, int] = Field(default_factory=dict)
    leftovers: list[Obj] = Field(default_factory=list)
    blocked: list[str] = Field(default_factory=list)


class Deletion(Shape):
    """ "Delete stacks" → $.deletion (called until done)."""

    done: bool
    pending: list[str] = Field(default_factory=list)
    attempts: dict[str, int] = Field(default_factory=dict)


class Untagged(Shape):
    """ "Remove subnet tags" → $.untagged"""

    untagged: list[str]


class Ended(Shape):
    """What the safety net did for an execution that ended past its failure path (steps/ended.py):
    not a state's result, the EventBridge-invoked function's."""

    notified: bool
    reason: str
    code: str | None = None
    released: bool = False


class Notified(Shape):
    """ "Notify …" → $.notified"""

    message_id: str | None = None
    subject: str
    outcome: str
    action: str
    step_seconds: dict[str, float] = Field(default_factory=dict)
    text: str = ""  # the email's text (cut at 16 000 characters): what `watch` ends with


A = TypeVar("A", bound=Answer)


class Selected(Shape, Generic[A]):
    """An agent call's answer as the ASL's ResultSelector keeps it: `{"result": <the answer>}`."""

    result: A


# --- the state document -------------------------------------------------------------------------


class ExecutionState(Open):
    """The document every state receives: the event's fields (set by "Configure"), then one
    field per ResultPath. Parts Step Functions writes itself (`error`, the wait counters) stay
    open."""

    action: str
    cluster: str
    execution: str
    bucket: str = ""
    key: str = ""
    version_id: str = ""
    event_time: str = ""
    sequencer: str = ""
    polls: Obj = Field(default_factory=dict)
    validated: Validated | None = None
    lock: LockHeld | None = None
    plan: PlanResult | None = None
    discarded: Discarded | None = None
    notified: Notified | None = None
    cluster_stack: ClusterStackStarted | None = None
    connection: Connection | ClusterReach | None = None
    cni_applied: Selected[CniApplied] | None = None
    disruptions: Selected[DisruptionsChecked] | None = None
    node_group_stacks: NodeGroupStacks | None = None
    nodes_wait: Obj | None = None
    nodes_poll: Selected[NodesChecked] | None = None
    nodes: Obj | None = None
    cni_ready: Selected[CniChecked] | None = None
    eks_addons: EksAddons | None = None
    addons: Selected[AddonsConfigured] | None = None
    validation: Selected[ClusterValidated] | None = None
    record: Recorded | None = None
    released: Released | None = None
    diagnosis: Diagnosis | None = None
    cleanup: Cleanup | None = None
    cleanup_stuck: Obj | None = None
    load_balancers: Selected[LoadBalancersDeleted] | None = None
    deletion: Deletion | None = None
    untagged: Untagged | None = None
    error: Obj | None = None


# What each Lambda-backed step returns, by the library function's name.
RESULTS: dict[str, type[Shape]] = {
    "validate_spec": Validated,
    "read_last_applied_spec": Validated,
    "take_cluster_lock": LockHeld,
    "release_cluster_lock": Released,
    "plan": PlanResult,
    "describe_plan": PlanResult,
    "discard_plan": Discarded,
    "apply_cluster_stack": ClusterStackStarted,
    "connect": Connection,
    "describe_cluster": ClusterReach,
    "apply_node_group_stacks": NodeGroupStacks,
    "check_node_group_stacks": NodeGroupStacks,
    "apply_addons": EksAddons,
    "record_state": Recorded,
    "diagnose": Diagnosis,
    "clean_up": Cleanup,
    "delete_stacks": Deletion,
    "remove_subnet_tags": Untagged,
    "notify": Notified,
    "execution_ended": Ended,
}


def checked(step: str, result: Obj) -> Obj:
    """A step's result, validated against its model and dumped as the state machine stores it:
    a step that returns what the contract does not say fails here, in its own Lambda."""
    return RESULTS[step].model_validate(result).dumped()
