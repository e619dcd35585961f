"""What users do with a deployed clusterdrop: submit a spec, watch an execution, list clusters,
delete one. The same code on AWS and in the embedded mode: boto3 finds the endpoint in
AWS_ENDPOINT_URL when it is set, and the deployer's names in its stack's outputs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ParamSpec, Protocol, TextIO

from pydantic import ValidationError

from clusterdrop import facts
from clusterdrop.aws import registry
from clusterdrop.aws.intake import is_execution_of
from clusterdrop.contract import ExecutionState
from clusterdrop.errors import EXPECTED_WAITS, WatchTimedOut
from clusterdrop.history import execution_history
from clusterdrop.workflow import FAILURE_PATH, HIDDEN, PHASES, TASK_FAILED, TASK_SCHEDULED

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Deployer:
    """Where a clusterdrop installation keeps things (its stack's outputs)."""

    spec_bucket: str
    deploy_machine: str
    teardown_machine: str
    clusters_table: str
    # The guardrails in force (the stack's Guardrails output, JSON) and the deployer's account.
    guardrails: str = "{}"
    account: str = ""
    artifacts_bucket: str = ""

    @classmethod
    def discover(cls, cfn: Any, stack: str | None = None) -> Deployer:
        env = os.environ
        if all(
            env.get(k)
            for k in ("CLUSTERDROP_BUCKET", "CLUSTERDROP_DEPLOY_ARN", "CLUSTERDROP_TEARDOWN_ARN", "CLUSTERDROP_TABLE")
        ):
            return cls(
                env["CLUSTERDROP_BUCKET"],
                env["CLUSTERDROP_DEPLOY_ARN"],
                env["CLUSTERDROP_TEARDOWN_ARN"],
                env["CLUSTERDROP_TABLE"],
            )
        name = stack or env.get("CLUSTERDROP_STACK", "clusterdrop")
        described = cfn.describe_stacks(StackName=name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        return cls(
            outputs["SpecBucketName"],
            outputs["DeployStateMachineArn"],
            outputs["TeardownStateMachineArn"],
            outputs["ClustersTableName"],
            guardrails=outputs.get("Guardrails", "{}"),
            account=str(described.get("StackId", "")).split(":")[4] if described.get("StackId") else "",
            artifacts_bucket=outputs.get("ArtifactsBucketName", ""),
        )


# --- submit / delete ------------------------------------------------------------------------


def submit(
    s3: Any, deployer: Deployer, cluster: str, body: bytes, *, plan: bool, suffix: str, team: str = ""
) -> dict[str, str]:
    key = f"{'plans' if plan else 'clusters'}/{f'{team}/' if team else ''}{cluster}{suffix}"
    put = s3.put_object(Bucket=deployer.spec_bucket, Key=key, Body=body)
    return {"bucket": deployer.spec_bucket, "key": key, "versionId": put.get("VersionId", "")}


def delete(s3: Any, deployer: Deployer, cluster: str, *, team: str = "") -> dict[str, str] | None:
    """Remove the spec (a delete marker in the versioned bucket): the teardown starts."""
    for suffix in SPEC_SUFFIXES:
        key = f"clusters/{f'{team}/' if team else ''}{cluster}{suffix}"
        try:
            s3.head_object(Bucket=deployer.spec_bucket, Key=key)
        except s3.exceptions.ClientError:
            continue
        s3.delete_object(Bucket=deployer.spec_bucket, Key=key)
        return {"bucket": deployer.spec_bucket, "key": key}
    return None


def delete_preview(cfn: Any, table: Any, cluster: str) -> list[str]:
    """What a teardown of `cluster` removes, as `delete` shows it before asking: its stacks (found
    by the cluster tag every clusterdrop stack carries) and what the registry knows of it."""
    from clusterdrop.render.common import CLUSTER_TAG

    lines: list[str] = []
    record = registry.get(table, cluster)
    if record is not None:
        said = [f"status {record.status or 'never created'}"]
        if record.kubernetes_version:
            said.append(f"Kubernetes {record.kubernetes_version}")
        if record.nodes_expected:
            said.append(f"{record.nodes_ready}/{record.nodes_expected} nodes Ready")
        if record.endpoint:
            said.append(f"endpoint {record.endpoint}")
        lines.append("the cluster: " + ", ".join(said))
    stacks = [
        stack["StackName"]
        for page in cfn.get_paginator("describe_stacks").paginate()
        for stack in page["Stacks"]
        if {t["Key"]: t["Value"] for t in stack.get("Tags", [])}.get(CLUSTER_TAG) == cluster
        and stack["StackStatus"] != "DELETE_COMPLETE"
    ]
    if stacks:
        lines.append(
            "its stacks and everything in them (the EKS cluster, node groups and nodes, a VPC clusterdrop made): "
            + ", ".join(sorted(stacks))
        )
    return lines


# --- status ---------------------------------------------------------------------------------


def status(table: Any) -> list[dict[str, Any]]:
    """Every cluster's registry record, as `status --json` prints it (camelCase)."""
    return [record.model_dump(mode="json", by_alias=True) for record in registry.list_clusters(table)]


def format_status(items: list[dict[str, Any]], today: date | None = None) -> str:
    if not items:
        return "No clusters yet.\n"
    day = today or datetime.now(UTC).date()
    rows = [
        (
            "CLUSTER",
            "STATUS",
            "KUBERNETES",
            "NODES",
            "LAST EXECUTION",
            "UPDATED",
            "LAST FAILURE",
            "GUARDRAILS",
            "SUPPORT",
        )
    ]
    refusals: list[str] = []
    for item in items:
        updated = _when(item.get("updatedAt"))
        nodes = f"{item.get('nodesReady', 0)}/{item.get('nodesExpected', 0)}"
        execution = str(item.get("lastExecution", "")).rsplit(":", 1)[-1]
        failed = item.get("lastFailure") or {}
        # The last failure stays beside the state until a later one replaces it (a success after
        # it shows in LAST EXECUTION and UPDATED): when it happened says whether it is still news.
        failure = f"{failed['code']} at {failed.get('step', '?')}, {_when(failed.get('at'))}" if failed else ""
        outside = item.get("outOfPolicy")
        admitted = "" if outside is None else f"OUT ({len(outside)})" if outside else "ok"
        refusals += [f"{item['cluster']}: {problem}" for problem in outside or []]
        rows.append(
            (
                item["cluster"],
                item.get("status", ""),
                item.get("kubernetesVersion", ""),
                nodes,
                execution,
                updated,
                failure,
                admitted,
                facts.support_cell(str(item.get("kubernetesVersion") or ""), day),
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    table = "".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows)
    if refusals:
        table += "Outside the guardrails now in force (an upload of these specs would be refused):\n"
        table += "".join(f"  {line}\n" for line in refusals)
    return table


def _when(stamp: Any) -> str:
    """A registry time (epoch seconds) in UTC, saying so: the reader's clock may be anywhere."""
    if not stamp:
        return "-"
    return datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def mark_out_of_policy(s3: Any, deployer: Deployer, items: list[dict[str, Any]]) -> None:
    """Each running cluster's last applied spec against the guardrails in force (a policy tightened
    since it was applied): `outOfPolicy` lists what the policy would now refuse."""
    from clusterdrop.spec import policy
    from clusterdrop.spec.models import Cluster

    rules = policy.Policy.model_validate_json(deployer.guardrails)
    for item in items:
        if item.get("status") != "ACTIVE" or not item.get("specKey") or not deployer.artifacts_bucket:
            continue
        body = s3.get_object(Bucket=deployer.artifacts_bucket, Key=item["specKey"])["Body"].read()
        cluster = Cluster.model_validate(json.loads(body))
        item["outOfPolicy"] = [str(p) for p in policy.check(cluster, rules, account=deployer.account or None)]


# --- describe -------------------------------------------------------------------------------


def describe(eks: Any, sfn: Executions, table: Any, deployer: Deployer, cluster: str) -> dict[str, Any] | None:
    """A cluster as clusterdrop knows it (`describe NAME`, kops's `get cluster` and eksctl's `get
    cluster` in one): the registry's record, what EKS reports (versions, endpoint, node groups,
    add-ons) and the last executions. None when neither the registry nor EKS knows it."""
    record = registry.get(table, cluster)
    found: dict[str, Any] = {"cluster": cluster, "record": record.model_dump(by_alias=True) if record else None}
    try:
        described = eks.describe_cluster(name=cluster)["cluster"]
    except eks.exceptions.ResourceNotFoundException:
        described = None
    if record is None and described is None:
        return None
    if described is not None:
        found["eks"] = {
            "status": described.get("status"),
            "version": described.get("version"),
            "platformVersion": described.get("platformVersion"),
            "endpoint": described.get("endpoint"),
        }
        groups = []
        for name in eks.list_nodegroups(clusterName=cluster).get("nodegroups", []):
            group = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
            scaling = group.get("scalingConfig") or {}
            groups.append(
                {
                    "name": name,
                    "status": group.get("status"),
                    "instanceTypes": group.get("instanceTypes") or [],
                    "capacityType": group.get("capacityType"),
                    "version": group.get("version"),
                    "releaseVersion": group.get("releaseVersion"),
                    "sizes": f"{scaling.get('minSize')}/{scaling.get('desiredSize')}/{scaling.get('maxSize')}",
                }
            )
        found["nodeGroups"] = groups
        addons = {}
        for name in eks.list_addons(clusterName=cluster).get("addons", []):
            addon = eks.describe_addon(clusterName=cluster, addonName=name)["addon"]
            addons[name] = f"{addon.get('addonVersion')} ({addon.get('status')})"
        found["addons"] = addons
    found["executions"] = _recent_executions(sfn, deployer, cluster)
    return found


def _recent_executions(sfn: Executions, deployer: Deployer, cluster: str, count: int = 5) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for machine in (deployer.deploy_machine, deployer.teardown_machine):
        page = sfn.list_executions(stateMachineArn=machine, maxResults=100)  # newest first
        runs += [e for e in page.get("executions", []) if is_execution_of(e["name"], cluster)]
    runs.sort(key=lambda e: e["startDate"], reverse=True)
    return [
        {"name": e["name"], "status": e["status"], "started": e["startDate"], "stopped": e.get("stopDate")}
        for e in runs[:count]
    ]


def format_describe(found: dict[str, Any]) -> str:
    record = found.get("record") or {}
    lines = [f"Cluster:     {found['cluster']}"]
    if record:
        lines.append(f"Status:      {record.get('status') or '-'} (spec version {record.get('specVersion') or '-'})")
        lines.append(f"CNI:         {record.get('cni') or '-'}")
        lines.append(f"Nodes:       {record.get('nodesReady', 0)}/{record.get('nodesExpected', 0)} Ready")
        failure = record.get("lastFailure") or {}
        if failure:
            lines.append(f"Last failure: {failure.get('code')} at {failure.get('step')} ({_when(failure.get('at'))})")
    eks = found.get("eks")
    if eks:
        lines.append(f"Kubernetes:  {eks['version']} ({eks['platformVersion']}), EKS status {eks['status']}")
        lines.append(f"Endpoint:    {eks['endpoint']}")
    else:
        lines.append("EKS:         no cluster of that name in EKS")
    groups = found.get("nodeGroups") or []
    if groups:
        lines.append("Node groups (min/desired/max):")
        lines += [
            f"  {g['name']}: {', '.join(g['instanceTypes'])} {g['capacityType'] or ''} {g['sizes']}, "
            f"{g['version']} ({g['releaseVersion']}), {g['status']}"
            for g in groups
        ]
    addons = found.get("addons") or {}
    if addons:
        lines.append("Add-ons:")
        lines += [f"  {name}: {state}" for name, state in sorted(addons.items())]
    runs = found.get("executions") or []
    if runs:
        lines.append("Last executions:")
        lines += [f"  {r['started']:%Y-%m-%d %H:%M:%S} {r['status']:<10} {r['name']}" for r in runs]
    return "\n".join(lines) + "\n"


# --- diff -----------------------------------------------------------------------------------


def applied_spec(s3: Any, table: Any, deployer: Deployer, cluster: str) -> Any:
    """The spec `cluster` last applied, as the workflow stored it (validated, references resolved),
    or None when it has never been created."""
    from clusterdrop.spec.models import Cluster

    record = registry.get(table, cluster)
    if record is None or not record.spec_key:
        return None
    body = s3.get_object(Bucket=deployer.artifacts_bucket, Key=record.spec_key)["Body"].read()
    return Cluster.model_validate(json.loads(body))


def spec_diff(before: Any, after: Any) -> tuple[list[Any], list[Any]]:
    """What uploading `after` over the running `before` changes (field by field, with what each
    change does) and what Plan would refuse, by field: the same pure checks Plan makes before any
    AWS call (CloudFormation's own answer comes with `diff --live`)."""
    from clusterdrop.render.nodegroup import combined_updates, replaced_groups
    from clusterdrop.spec.changes import field_changes, refused_changes
    from clusterdrop.spec.validate import upgrade_problem

    refused = refused_changes(before, after) + replaced_groups(before, after) + combined_updates(before, after)
    was, now = before.spec.kubernetes_version, after.spec.kubernetes_version
    problem = upgrade_problem(was, now) if was and now else None
    if problem is not None:
        refused.insert(0, problem)
    return field_changes(before, after), refused


# --- validate-cluster -----------------------------------------------------------------------


class NotValidatable(Exception):
    """The cluster cannot be validated now: never created, no cluster stack, not ACTIVE in EKS."""


@dataclass(frozen=True)
class Validation:
    """One answer of the cluster's agent: ok, the report's table, and why it failed (the error
    class the workflow's Retry would match, so that `--wait` retries what the workflow retries)."""

    ok: bool
    table: str
    error_type: str = ""
    message: str = ""

    @property
    def worth_waiting(self) -> bool:
        return self.error_type in VALIDATION_WAITS


# What the state "Validate cluster" retries: nodes still joining, an access entry propagating.
VALIDATION_WAITS = ("ClusterValidationFailed", "ClusterAccessPending", "NotReadyYet")


def validation_request(
    eks: Any, cfn: Any, s3: Any, table: Any, deployer: Deployer, cluster: str
) -> tuple[str, dict[str, Any]]:
    """The agent and the event that validate `cluster` as the workflow's "Validate cluster" does,
    built from the spec the cluster last applied (the registry names it) and what EKS reports."""
    from clusterdrop.aws import eks as eks_calls
    from clusterdrop.aws import stacks
    from clusterdrop.render.common import stack_name
    from clusterdrop.steps.provisioning import agent_target

    spec = applied_spec(s3, table, deployer, cluster)
    if spec is None:
        raise NotValidatable(f"no cluster {cluster} in the registry has been created (clusterdrop status lists them)")
    try:
        outputs = stacks.outputs(cfn, stack_name(spec))
    except cfn.exceptions.ClientError as exc:
        raise NotValidatable(f"cluster {cluster} has no cluster stack {stack_name(spec)}: {exc}") from exc
    if not outputs.get("AgentFunctionArn"):
        raise NotValidatable(f"the stack {stack_name(spec)} has no agent (output AgentFunctionArn): is it complete?")
    try:
        described = eks_calls.describe(eks, cluster)
    except eks.exceptions.ResourceNotFoundException as exc:
        raise NotValidatable(f"EKS has no cluster {cluster} in {eks.meta.region_name}") from exc
    if described["status"] != "ACTIVE":
        raise NotValidatable(f"EKS reports cluster {cluster} {described['status']}, not ACTIVE")
    return outputs["AgentFunctionArn"], {"operation": "validate_cluster", **agent_target(spec, described)}


def validate_cluster(lam: Any, agent: str, event: dict[str, Any]) -> Validation:
    """Invoke the cluster's agent once (it runs in the cluster's VPC, with the access entry the
    workflow uses): the report, or the error it raised."""
    answer = lam.invoke(FunctionName=agent, Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        message = str(payload.get("errorMessage", payload))
        # The agent's message is the problems on one line, then the report's table.
        first, _, rest = message.partition("\n")
        return Validation(False, rest, error_type=str(payload.get("errorType", "")), message=first)
    return Validation(bool(payload.get("ok")), str(payload.get("table", "")))


# --- watch ----------------------------------------------------------------------------------


P = ParamSpec("P")


class Executions(Protocol):
    """The Step Functions calls watch needs (boto3's stepfunctions client has them)."""

    def list_executions(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]: ...

    def describe_execution(self, **kwargs: Any) -> dict[str, Any]: ...


def newest_execution(
    sfn: Executions, deployer: Deployer, cluster: str | None, *, started_after: datetime | None = None
) -> dict[str, Any] | None:
    """The newest execution of a cluster (of any cluster when None) on either state machine.
    ListExecutions answers newest first: each machine is read only down to its first match."""
    found = []
    for machine in (deployer.deploy_machine, deployer.teardown_machine):
        kwargs: dict[str, Any] = {"stateMachineArn": machine, "maxResults": 100}
        while True:
            page = sfn.list_executions(**kwargs)
            executions = page.get("executions", [])
            match = next((e for e in executions if is_execution_of(e["name"], cluster)), None)
            if match is not None:
                found.append(match)
                break
            too_old = started_after is not None and executions and executions[-1]["startDate"] < started_after
            if not page.get("nextToken") or too_old:
                break
            kwargs["nextToken"] = page["nextToken"]
    if started_after is not None:
        found = [e for e in found if e["startDate"] >= started_after]
    return max(found, key=lambda e: e["startDate"], default=None)


def latest_upload(s3: Any, deployer: Deployer, cluster: str) -> datetime | None:
    """When the cluster's spec last changed in the bucket: an upload or a delete marker, under
    clusters/ or plans/, any team's prefix. An execution that started before it is not the one
    the user is waiting for (the upload's has not started yet)."""
    newest: datetime | None = None
    pages: list[dict[str, Any]] = []
    versions = s3.get_paginator("list_object_versions")
    try:
        # Only this cluster's keys: clusters/NAME.*, plans/NAME.*, and under each team's prefix.
        teams = [
            str(p["Prefix"])
            for top in ("clusters/", "plans/")
            for page in versions.paginate(Bucket=deployer.spec_bucket, Prefix=top, Delimiter="/")
            for p in page.get("CommonPrefixes", [])
        ]
        for prefix in ("clusters/", "plans/", *teams):
            pages += versions.paginate(Bucket=deployer.spec_bucket, Prefix=f"{prefix}{cluster}.")
    except s3.exceptions.ClientError:
        return None  # no s3:ListBucketVersions: watch follows the newest execution, as before
    for version in [v for page in pages for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]:
        stem, dot, suffix = str(version["Key"]).rsplit("/", 1)[-1].rpartition(".")
        if stem == cluster and f"{dot}{suffix}" in SPEC_SUFFIXES and version.get("IsLatest"):
            stamp: datetime = version["LastModified"]
            newest = stamp if newest is None or stamp > newest else newest
    return newest


def nodes_poll(output: str) -> dict[str, Any]:
    """The last node check's result in a state's output (the execution state, typed), or {}."""
    try:
        poll = ExecutionState.model_validate_json(output).nodes_poll
    except ValidationError:
        return {}
    return poll.result.model_dump(by_alias=True) if poll is not None else {}


def progress_bar(ready: int, expected: int, width: int = 20) -> str:
    filled = width if expected == 0 else min(width, round(width * ready / expected))
    return f"[{'#' * filled}{'.' * (width - filled)}] {ready}/{expected} nodes Ready"


@dataclass
class _Phase:
    name: str
    started: datetime


class Watcher:
    """Turns an execution's history into lines a person follows: each step as it starts and
    ends with its duration, node progress while nodes come up, then the outcome."""

    def __init__(self, out: TextIO):
        self.out = out
        self.seen = 0
        self.phase: _Phase | None = None
        self.last_progress = ""
        # A task failure is final only if the task is not scheduled again (Retry): it is shown
        # when the next state starts or the execution ends, or as a retry when it is rescheduled.
        self.failure: tuple[datetime, str, str] | None = None
        self.last_retry: tuple[str, str] | None = None
        self.failure_shown = False
        # A step a Choice routed to the failure path (a stack that ended badly) has no failure
        # event: it stays open until Diagnose has found the cause, then ends as failed with it.
        self.routed_failure: datetime | None = None

    def _end_phase(self, at: datetime, status: str = "done") -> None:
        if self.failure is not None:
            at, status = self.failure[0], "failed"
        if self.phase is not None:
            seconds = (at - self.phase.started).total_seconds()
            mark = "✔" if status == "done" else "✖"
            self.out.write(f"{mark} {self.phase.name} ({seconds:.0f} s)\n")
            self.phase = None
        if self.failure is not None:
            # The cause whole (a fix command is never cut), one problem per line.
            error, cause = self.failure[1:]
            first, *more = cause.splitlines() or [""]
            self.out.write(f"  {error}: {first}\n" + "".join(f"    {line}\n" for line in more))
            self.failure, self.failure_shown = None, True

    def feed(self, events: list[dict[str, Any]]) -> None:
        for event in events[self.seen :]:
            self._event(event)
        self.seen = len(events)
        self.out.flush()

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        at = event["timestamp"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            if name in HIDDEN:
                return
            if name == FAILURE_PATH and self.failure is None and not self.failure_shown:
                self.routed_failure = at
                return
            phase = PHASES.get(name, name)
            if self.phase is not None and self.phase.name == phase and self.failure is None:
                return
            self._end_phase(at)
            self.phase, self.last_retry = _Phase(phase, at), None
            self.out.write(f"▶ {phase}\n")
        elif kind.endswith("StateExited"):
            details = event["stateExitedEventDetails"]
            if details["name"] in ("Wait for nodes Ready",):
                self._progress(details.get("output", "{}"))
            elif details["name"] == FAILURE_PATH and self.routed_failure is not None:
                diagnosis = json.loads(details.get("output") or "{}").get("diagnosis") or {}
                self.failure = (self.routed_failure, diagnosis.get("error", "failed"), diagnosis.get("cause", ""))
                self.routed_failure = None
                self._end_phase(at)
        elif kind in TASK_FAILED:
            failure: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            self.failure = (at, failure.get("error", ""), _cause(failure.get("cause", "")))
        elif kind in TASK_SCHEDULED and self.failure is not None:
            retry = self.failure[1:]
            if retry != self.last_retry:
                waiting = EXPECTED_WAITS.get(retry[0])
                first = retry[1].splitlines()[0] if retry[1] else ""
                self.out.write(f"  … {waiting}\n" if waiting else f"  {retry[0]}: {first} (retrying)\n")
            self.last_retry, self.failure = retry, None

    def _progress(self, output: str) -> None:
        result = nodes_poll(output)
        if "expected" not in result:
            return
        line = progress_bar(int(result.get("ready", 0)), int(result["expected"]))
        if result.get("deadline"):
            line += f"; deadline {result['deadline']}"
        reasons = result.get("notReadyReasons") or {}
        if reasons:
            reason, count = max(reasons.items(), key=lambda kv: kv[1])
            line += f"; NotReady mostly: {reason} ({count})"
        if line != self.last_progress:
            self.out.write(f"  {line}\n")
            self.last_progress = line

    def finish(self, execution: dict[str, Any]) -> None:
        stopped: datetime = execution.get("stopDate") or execution["startDate"]
        # A failed execution's failing step was shown as it failed; the steps after it (clean-up,
        # notification) are the failure path doing its job.
        failed = execution["status"] != "SUCCEEDED" and not self.failure_shown
        self._end_phase(stopped, "failed" if failed else "done")
        self.out.write(f"{execution['status']}: {execution['name']}\n")
        self.out.flush()


# The steps during which a node group's instances come and go (a create, a scaling, a rolling
# replacement): `watch` shows each instance as EC2 reports it, between the history's events.
NODE_PHASES = ("Apply node-group stacks", "Wait for node-group stacks", "Wait for nodes Ready", "Delete stacks")


class NodeChanges:
    """A cluster's node-group instances as EC2 reports them (the tags EKS puts on them), and what
    changed since the last look: one line per instance launched, running, or going. Looked at on
    every poll, so that an instance launched just as a step began is news; the first look only
    takes stock."""

    def __init__(self, ec2: Any, cluster: str):
        self.ec2, self.cluster = ec2, cluster
        self.known: dict[str, str] | None = None
        self.unavailable = False

    def _instances(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        pages = self.ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "tag:eks:cluster-name", "Values": [self.cluster]}]
        )
        for page in pages:
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
                    found[instance["InstanceId"]] = {
                        "state": instance.get("State", {}).get("Name", ""),
                        "group": tags.get("eks:nodegroup-name", "?"),
                        "type": instance.get("InstanceType", ""),
                        "zone": instance.get("Placement", {}).get("AvailabilityZone", ""),
                    }
        return found

    def lines(self) -> list[str]:
        if self.unavailable:
            return []
        try:
            now = self._instances()
        except Exception as exc:  # noqa: BLE001 - the watch goes on without instance lines
            self.unavailable = True
            return [f"  (instances not shown: EC2 DescribeInstances: {exc})"]
        before, self.known = self.known, {i: v["state"] for i, v in now.items()}
        if before is None:
            return []
        out = []
        for instance, seen in sorted(now.items(), key=lambda kv: (kv[1]["group"], kv[0])):
            was = before.get(instance)
            if was == seen["state"]:
                continue
            if was is None:
                out.append(
                    f"  + {seen['group']}: {instance} launched ({seen['type']}, {seen['zone']}), {seen['state']}"
                )
            else:
                mark = "-" if seen["state"] in ("shutting-down", "terminated", "stopping", "stopped") else "~"
                out.append(f"  {mark} {seen['group']}: {instance} {seen['state']}")
        return out


def _cause(cause: str) -> str:
    """A task failure's message (Lambda wraps it in JSON with the stack trace, left out here)."""
    try:
        parsed = json.loads(cause)
        return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else cause
    except ValueError:
        return cause


@dataclass(frozen=True)
class Watched:
    """What following an execution saw: its final status, the execution as described at its
    end, and its whole history."""

    status: str
    execution: dict[str, Any]
    events: list[dict[str, Any]]


def follow(
    sfn: Executions,
    deployer: Deployer,
    cluster: str | None,
    out: TextIO,
    *,
    wait_for_start: float = 300,
    poll: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    started_after: datetime | None = None,
    timeout: float | None = None,
    nodes: NodeChanges | None = None,
) -> Watched:
    """Follow the newest execution of a cluster (waiting for one to start, or for one that
    started after `started_after`); what it watched. With `nodes`, the node groups' instances
    as they launch and go during the steps that change them."""
    deadline = clock() + wait_for_start
    execution = newest_execution(sfn, deployer, cluster, started_after=started_after)
    while execution is None:
        if clock() >= deadline:
            which = f"for cluster {cluster}" if cluster else "of any cluster"
            raise WatchTimedOut(f"no execution {which} started within {wait_for_start:g} s")
        sleep(poll)
        execution = newest_execution(sfn, deployer, cluster, started_after=started_after)
    arn = execution["executionArn"]
    out.write(f"Watching {execution['name']}\n")
    watcher = Watcher(out)
    give_up = None if timeout is None else clock() + timeout
    for described in _poll(sfn, arn, poll, sleep):
        events = execution_history(sfn, arn)
        watcher.feed(events)
        if nodes is not None:
            changed = nodes.lines()  # every poll: the last look is never older than one interval
            if watcher.phase is not None and watcher.phase.name in NODE_PHASES:
                out.writelines(line + "\n" for line in changed)
                out.flush()
        if described["status"] != "RUNNING":
            watcher.finish(described)
            return Watched(str(described["status"]), dict(described), events)
        if give_up is not None and clock() >= give_up:
            raise WatchTimedOut(f"{execution['name']} still running after {timeout:g} s")
    raise AssertionError("unreachable: _poll ends only on a final status")  # pragma: no cover


def notification_text(events: list[dict[str, Any]]) -> str | None:
    """What the execution's notification said (the last "Notify …" state's output), if it got there."""
    for event in reversed(events):
        details = event.get("stateExitedEventDetails") or {}
        if str(details.get("name", "")).startswith("Notify "):
            notified = json.loads(details.get("output") or "{}").get("notified") or {}
            return str(notified.get("text") or "") or None
    return None


def _status_of(follow_: Callable[P, Watched]) -> Callable[P, str]:
    def status(*args: P.args, **kwargs: P.kwargs) -> str:
        return follow_(*args, **kwargs).status

    return status


# Follow the newest execution of a cluster (waiting for one to start, or for one that started
# after `started_after`); its final status. `follow` when the history and the execution matter.
watch = _status_of(follow)


def _poll(sfn: Executions, arn: str, poll: float, sleep: Callable[[float], None]) -> Iterator[dict[str, Any]]:
    while True:
        described = sfn.describe_execution(executionArn=arn)
        yield described
        if described["status"] != "RUNNING":
            return
        sleep(poll)
