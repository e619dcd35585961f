"""States "Plan", "Describe plan", "Discard plan": the change sets of every stack, before anything changes."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from clusterdrop import quotas
from clusterdrop.aws import eks, iam, key_pairs, keys, logs, registry, stacks, subnets
from clusterdrop.aws import quotas as account_quotas
from clusterdrop.errors import Problem, SpecInvalid, StackFailed
from clusterdrop.render.cluster import zones
from clusterdrop.render.common import nodegroup_stack_name, stack_name, tag_map
from clusterdrop.render.nodegroup import combined_updates, replaced_groups
from clusterdrop.render.plan import Plan, make_plan
from clusterdrop.spec.changes import refused_changes
from clusterdrop.spec.models import Cluster
from clusterdrop.spec.validate import upgrade_problem
from clusterdrop.steps.context import Ports, State, cluster_of, typed
from clusterdrop.steps.staging import stage_cni


def nodegroup_parameters(cluster: Cluster, group: str, outputs: dict[str, str]) -> dict[str, str]:
    """The node role and the subnets of the group's zones (and topology, when the group sets its
    own), from the cluster stack's outputs."""
    spec = next(g for g in cluster.spec.node_groups if g.name == group)
    apart = spec.topology if spec.topology and spec.topology != cluster.spec.network.topology else None
    prefix = apart.capitalize() if apart else ""
    subnet_ids = [s for s in outputs.get(f"{prefix}NodeSubnetIds", "").split(",") if s]
    zones = outputs.get(f"{prefix}NodeSubnetZones", "").split(",")
    wanted = spec.zones
    if wanted is not None and len(zones) == len(subnet_ids):
        subnet_ids = [s for s, z in zip(subnet_ids, zones, strict=True) if z in wanted or not z]
    return {
        "ClusterName": cluster.metadata.name,
        "NodeRoleArn": outputs.get("NodeRoleArn", ""),
        "SubnetIds": ",".join(subnet_ids),
    }


def _cluster_parameters(ports: Ports) -> dict[str, str]:
    s = ports.settings
    return {
        "AgentCodeBucket": s.agent_code_bucket or s.artifacts_bucket,
        "AgentCodeKey": s.agent_code_key,
        "ArtifactsBucket": s.artifacts_bucket,
    }


def existing_nodegroup_stacks(ports: Ports, cluster: Cluster) -> list[str]:
    prefix = nodegroup_stack_name(cluster, "")
    names: list[str] = []
    for page in ports.cfn.get_paginator("list_stacks").paginate():
        for summary in page.get("StackSummaries", []):
            if summary["StackName"].startswith(prefix) and summary["StackStatus"] != "DELETE_COMPLETE":
                names.append(summary["StackName"])
    return sorted(set(names))


def _node_group_downgrades(cluster: Cluster, versions: dict[str, str]) -> list[Problem]:
    """EKS never takes a managed node group back to an older Kubernetes version."""
    problems = []
    for i, group in enumerate(cluster.spec.node_groups):
        have, want = versions.get(group.name), group.kubernetes_version
        if have and want and tuple(map(int, want.split("."))) < tuple(map(int, have.split("."))):
            problems.append(
                Problem(
                    f"spec.nodeGroups[{i}].kubernetesVersion",
                    f"node group {group.name} runs {have}: EKS cannot take a node group back to {want}",
                )
            )
    return problems


def _new_group_versions(cluster: Cluster, existing: Collection[str]) -> list[Problem]:
    """EKS creates a managed node group at its cluster's version only (CreateNodegroup's version:
    "the only accepted specified value"): a group the spec holds a minor behind must already exist."""
    target = cluster.spec.kubernetes_version
    return [
        Problem(
            f"spec.nodeGroups[{i}].kubernetesVersion",
            f"node group {group.name} is new, and EKS creates a node group at its cluster's version only "
            f"({target}): leave kubernetesVersion out for a new group (only a group that already runs can be held "
            "one minor behind)",
        )
        for i, group in enumerate(cluster.spec.node_groups)
        if group.name not in existing and group.kubernetes_version not in (None, target)
    ]


def plan(state: State, ports: Ports) -> State:
    """Change sets for every stack that exists, a rendered creation for those that do not. For a
    running cluster, first what it cannot take is refused by field (a version step other than one
    minor up, a change `spec/changes.py` refuses), before anything changes."""
    cluster = cluster_of(state, ports)
    name = cluster.metadata.name
    s = typed(state)
    if s.action != "plan" and registry.is_superseded(ports.clusters, name, s.sequencer):
        return {"superseded": True, "stacks": [], "pending": False}
    upgrade: dict[str, Any] | None = None
    applied_cluster: Cluster | None = None
    stack_exists = stacks.status(ports.cfn, stack_name(cluster)) not in (None, "REVIEW_IN_PROGRESS")
    versions: dict[str, str] = {}
    running = ""
    if stack_exists:
        try:
            running = eks.describe(ports.eks, name)["version"]
        except ports.eks.exceptions.ResourceNotFoundException:
            running = ""  # the stack is there, its cluster is not (a failed create): nothing to compare
        target = cluster.spec.kubernetes_version or ""
        problem = upgrade_problem(running, target) if running else None
        problems = [problem] if problem is not None else []
        # Groups behind the control plane (an upgrade stopped half-way, or a group the spec holds
        # back) roll first: EKS refuses to move the control plane on while a managed node group is
        # not at its version.
        versions = eks.nodegroup_versions(ports.eks, name) if running else {}
        group_target = {g.name: g.kubernetes_version or target for g in cluster.spec.node_groups}
        lagging = {g: v for g, v in versions.items() if v and v != running}
        held_back = {g: v for g, v in lagging.items() if group_target.get(g) == v}
        if lagging and target != running and problem is None:
            behind = ", ".join(f"{g} ({v})" for g, v in sorted(lagging.items()))
            holding = (
                f" without the kubernetesVersion that holds {', '.join(sorted(held_back))} back" if held_back else ""
            )
            problems.append(
                Problem(
                    "spec.kubernetesVersion",
                    f"node groups {behind} are behind the control plane's {running}: EKS moves a control plane on "
                    f"only when every managed node group is at its version. Upload the spec at {running}{holding} "
                    "first to finish that upgrade.",
                )
            )
        problems += _node_group_downgrades(cluster, versions)
        applied = registry.get(ports.clusters, name)
        if applied is not None and applied.status == "ACTIVE" and applied.spec_key:
            body = ports.s3.get_object(Bucket=ports.settings.artifacts_bucket, Key=applied.spec_key)["Body"].read()
            applied_cluster = Cluster.model_validate(json.loads(body))
            problems += refused_changes(applied_cluster, cluster) + replaced_groups(applied_cluster, cluster)
            problems += combined_updates(applied_cluster, cluster)
        if problems:
            raise SpecInvalid(problems)
        rolling = {g: v for g, v in lagging.items() if g not in held_back}
        if running and target and (running != target or rolling):
            start = running if running != target else min(rolling.values())
            upgrade = {
                "from": start,
                "to": target,
                "nodeGroups": [g.name for g in cluster.spec.node_groups if group_target[g.name] == target],
                "held": {g: v for g, v in group_target.items() if v != target},
            }
            was, now = applied_cluster.spec.cni if applied_cluster else None, cluster.spec.cni
            if was is not None and was.name == now.name and was.version != now.version:
                upgrade["cni"] = f"{now.name} {was.version} → {now.version}"
            removed = eks.removed_addons(applied_cluster, cluster) if applied_cluster else []
            moves = eks.realignment(ports.eks, name, target, eks.pinned_versions(cluster), skip=removed)
            upgrade["addons"] = {n: f"{old} → {new}" for n, (old, new) in moves.items()}
    new_groups = _new_group_versions(cluster, versions)
    if new_groups:
        raise SpecInvalid(new_groups)
    cluster, problems = subnets.eks_zones(ports.ec2, cluster)
    problems += subnets.check_existing(ports.ec2, cluster)
    cluster, key_problems = keys.resolve(ports.kms, ports.iam, cluster)
    problems += key_problems
    problems += key_pairs.check(ports.ec2, cluster)
    installed = eks.installed_versions(ports.eks, name) if running else {}
    problems += eks.pin_problems(ports.eks, cluster, cluster.spec.kubernetes_version or "", installed)
    held = stack_exists and logs.LOGICAL_ID in stacks.current_resources(ports.cfn, stack_name(cluster))
    problems += logs.check(ports.logs, cluster, held=held)
    held_roles = stacks.named_roles(ports.cfn, stack_name(cluster)) if stack_exists else set()
    problems += iam.check(ports.iam, cluster, held_roles=held_roles, account=ports.settings.account)
    if not problems:
        cluster, problems = subnets.with_zones(ports.ec2, cluster)
    if problems:
        raise SpecInvalid(problems)
    # Before anything is created: the CNI's artifacts, verified, in the bucket the agent reads.
    stage_cni(ports, cluster)
    rendered: Plan = make_plan(cluster, ports.settings.cluster_admins)
    # Before anything is created (a new stack's change set creates the stack): the quotas.
    standings, quota_notes = check_quotas(state, ports, cluster, rendered, applied_cluster)
    tags = tag_map(cluster)
    cluster_status = stacks.status(ports.cfn, stack_name(cluster))
    new_cluster = cluster_status in (None, "REVIEW_IN_PROGRESS")
    plans: list[stacks.StackPlan] = []
    outputs = {} if new_cluster else stacks.outputs(ports.cfn, stack_name(cluster))
    for stack in rendered.stacks:
        if stack.role == "nodegroup" and new_cluster:
            # Parameters come from the cluster stack's outputs: there are none yet.
            changes = [stacks.Change("Add", k, v["Type"]) for k, v in stack.template["Resources"].items()]
            plans.append(stacks.StackPlan(stack.name, "nodegroup", "CREATE", None, "READY", changes=changes))
            continue
        group = stack.name.removeprefix(nodegroup_stack_name(cluster, ""))
        parameters = (
            _cluster_parameters(ports) if stack.role == "cluster" else nodegroup_parameters(cluster, group, outputs)
        )
        plans.append(
            stacks.create_change_set(
                ports.cfn,
                ports.s3,
                stack=stack.name,
                role=stack.role,
                template=stack.template,
                parameters=parameters,
                role_arn=ports.settings.cfn_role_arn,
                tags=tags,
                execution=s.execution,
                templates_bucket=ports.settings.artifacts_bucket,
                region=ports.settings.region,
            )
        )
    wanted = {s.name for s in rendered.stacks}
    for existing in existing_nodegroup_stacks(ports, cluster):
        if existing not in wanted:
            plans.append(
                stacks.StackPlan(
                    existing,
                    "nodegroup",
                    "DELETE",
                    None,
                    "READY",
                    changes=[stacks.Change("Remove", "NodeGroup", "AWS::EKS::Nodegroup")],
                )
            )
    return {
        "superseded": False,
        "newCluster": new_cluster,
        "stacks": [p.as_dict() for p in plans],
        "subnetTags": rendered.subnet_tags,
        "pending": any(p.status == "PENDING" for p in plans),
        **({"upgrade": upgrade} if upgrade else {}),
        "addonsRemoved": eks.removed_addons(applied_cluster, cluster) if applied_cluster else [],
        "quotas": [st.as_dict() for st in standings],
        "quotaWarnings": [st.sentence(ports.settings.region) for st in standings if st.close],
        "quotaNotes": quota_notes,
    }


def check_quotas(
    state: State, ports: Ports, cluster: Cluster, rendered: Plan, applied: Cluster | None
) -> tuple[list[quotas.Standing], list[str]]:
    """What the plan consumes of the account's quotas, set against their values, the usage and
    what other creates reserved; raises QuotaExceeded naming each quota short. A deploy reserves
    what it will consume (released with the cluster's lock); an update counts only what it adds."""
    settings = ports.settings
    if not settings.quota_preflight:
        return [], ["quota preflight off (quotaPreflight): AWS will refuse what does not fit, mid-create"]
    s = typed(state)
    labels = [z.label for z in zones(cluster)]
    vcpus = account_quotas.instance_vcpus(ports.ec2)
    need = quotas.consumption(cluster, [st.template for st in rendered.stacks], labels, vcpus)
    if applied is not None:
        before = make_plan(applied, settings.cluster_admins)
        need = quotas.added(need, quotas.consumption(applied, [st.template for st in before.stacks], labels, vcpus))
    limits = account_quotas.values(ports.quotas, [n.quota for n in need.needs])

    def check(reserved: dict[str, int], holders: set[str]) -> list[quotas.Standing]:
        used = account_quotas.usage(ports.ec2, ports.eks, need.needs, exclude=holders)
        standings = quotas.assess(need.needs, limits, used, reserved)
        short = account_quotas.short_of(standings, settings.region, embedded=settings.embedded)
        if short is not None:
            raise short
        return standings

    name = cluster.metadata.name
    if s.action == "deploy" and any(n.quota.shared for n in need.needs):
        return account_quotas.reserve(ports.clusters, name, s.execution, check), need.notes
    # A plan-only run reserves nothing, but counts what creates under way hold.
    reserved, holders = account_quotas.held_by_others(ports.clusters, name)
    return check(reserved, holders), need.notes


def plans_of(state: State) -> list[stacks.StackPlan]:
    """The stacks' plans the Plan step made, as objects again."""
    plan = typed(state).plan
    out = []
    for shape in plan.stacks if plan else []:
        data = {k: v for k, v in shape.model_dump(by_alias=True).items() if k != "counts"}
        data["changes"] = [stacks.Change(**c) for c in data.get("changes") or []]
        out.append(stacks.StackPlan(**data))
    return out


def describe_plan(state: State, ports: Ports) -> State:
    """Poll the change sets; once all are described, refuse what must not happen."""
    plans = [stacks.describe_change_set(ports.cfn, p) if p.status == "PENDING" else p for p in plans_of(state)]
    pending = any(p.status == "PENDING" for p in plans)
    if not pending:
        failed = [p for p in plans if p.status == "FAILED"]
        if failed:
            raise StackFailed("; ".join(f"change set for {p.stack} failed: {p.reason}" for p in failed))
        stacks.refuse_cluster_replacement(plans)
    before = typed(state).plan
    assert before is not None  # "Describe plan" follows "Plan"
    return {**before.model_dump(by_alias=True), "stacks": [p.as_dict() for p in plans], "pending": pending}


def discard_plan(state: State, ports: Ports) -> State:
    """A plan-only run: drop the change sets (and any stack a CREATE change set left behind)."""
    for p in plans_of(state):
        stacks.discard(ports.cfn, p)
    return {"discarded": True}
