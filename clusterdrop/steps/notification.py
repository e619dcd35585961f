"""States "Notify success|plan|skipped|failure": one message per outcome."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from clusterdrop import facts, failures
from clusterdrop.aws import eks, registry, status_pages
from clusterdrop.aws import notify as message
from clusterdrop.cni import catalog
from clusterdrop.contract import NEVER_CREATED_FORMAT, Cleanup, Connection, Diagnosis, ExecutionState
from clusterdrop.history import (
    execution_history,
    failed_step,
    node_polls,
    step_spans,
    step_timings,
)
from clusterdrop.steps.context import Ports, State, logger, spec_of

NOTIFIED_TEXT_LIMIT = 16_000


# The steps before which a deploy has changed nothing (the change sets of "Describe plan" are
# discarded by the clean-up, never executed).
REFUSED_BEFORE_CHANGE = frozenset({"Validate spec", "Plan", "Wait for change sets", "Describe plan"})


def action_of(state: State) -> str:
    typed = ExecutionState.model_validate(state)
    if typed.action == "plan":
        return "plan"
    if typed.action == "teardown":
        return "delete"
    return "create" if typed.plan is None or typed.plan.new_cluster else "update"


def build_outcome(
    state: State, ports: Ports, outcome: str, events: list[dict[str, Any]] | None = None
) -> message.Outcome:
    typed = ExecutionState.model_validate(state)
    events = execution_history(ports.sfn, typed.execution) if events is None else events
    cluster_spec = (spec_of(state, ports) or {}).get("spec") or {}
    groups = {
        g: {"ready": v.get("ready", 0), "desired": v.get("expected", 0)}
        for g, v in ((typed.nodes or {}).get("groups") or {}).items()
    }
    failure = None
    if outcome == "FAILED":
        error = typed.error or {}
        diagnosis = typed.diagnosis or Diagnosis(
            step=failed_step(events), error=error.get("Error", ""), cause=error.get("Cause", "")
        )
        cleanup = typed.cleanup or Cleanup(done=True)
        code = failures.classify(diagnosis.step, diagnosis.error, diagnosis.cause)
        failure = message.Failure(
            code=code.code,
            todo=code.todo,
            step=diagnosis.step,
            error=diagnosis.error,
            cause=diagnosis.cause,
            cleaned_up=cleanup.cleaned_up,
            kept=cleanup.kept,
            left_behind=cleanup.leftovers,
            not_deleted=cleanup.blocked,
            cleanup_note=(typed.cleanup_stuck or {}).get("Cause", ""),
        )
    # A running cluster's new spec refused before anything changed (Validate spec, Plan): the
    # outcome is about the cluster that runs, untouched on its applied spec — not a failed create.
    running = None
    if failure is not None and typed.action == "deploy" and failure.step in REFUSED_BEFORE_CHANGE:
        item = registry.get(ports.clusters, typed.cluster)
        running = item if item is not None and item.status == "ACTIVE" and item.spec_version else None
    note = None
    if running is not None:
        note = (
            f"Update refused before anything changed: the cluster keeps running on its applied spec "
            f"(version {running.spec_version})."
        )
    elif typed.plan is not None and typed.plan.superseded:
        note = "A later upload of this spec was already applied; this older version was skipped."
    elif typed.validated is not None and typed.validated.format == NEVER_CREATED_FORMAT:
        note = " ".join(typed.validated.notes) or "Nothing to tear down."
    elif outcome == "FAILED" and rolled_back(state):
        item = registry.get(ports.clusters, typed.cluster)
        applied = item.spec_version if item else ""
        note = (
            "The update rolled back: the cluster keeps running on its previously applied spec"
            + (f" (version {applied})" if applied else "")
            + ", which the registry still records as applied."
        )
    validation = typed.validation.result.table if typed.validation else None
    installed = installed_addons(ports, state) if outcome == "SUCCEEDED" and typed.action != "teardown" else {}
    connection = typed.connection
    cni: dict[str, str] = {}
    if isinstance(connection, Connection) and connection.cni is not None:
        cni = {"name": connection.cni.name, "version": connection.cni.version}
    elif cluster_spec:
        spec_cni = cluster_spec.get("cni", {})
        cni = {"name": spec_cni.get("name", ""), "version": spec_cni.get("version", "")}
    if cni.get("name") == "aws-vpc-cni" and installed.get("vpc-cni"):
        cni = {**cni, "version": installed["vpc-cni"]}  # what EKS installed, not the catalog's pin
    if isinstance(connection, Connection) and connection.auto_mode:
        cni = {**cni, "version": "(run by EKS Auto Mode on its nodes)"}
    endpoint = connection.cluster.endpoint if connection is not None and connection.cluster is not None else None
    version = (connection.kubernetes_version if isinstance(connection, Connection) else None) or cluster_spec.get(
        "kubernetesVersion"
    )
    if running is not None:  # what runs, as the registry records it, not the refused spec's values
        name, _, release = running.cni.partition(" ")
        cni = {"name": name, "version": release} if name else {}
        endpoint, version = running.endpoint or None, running.kubernetes_version or None
    warnings = (
        [
            facts.support_warning(version, datetime.now(UTC).date()),
            catalog.untested(cni.get("name", ""), cni.get("version"), version),
        ]
        if version and typed.action != "teardown"
        else []
    )
    return message.Outcome(
        cluster=typed.cluster,
        action="update" if running is not None else action_of(state),
        refused_running=running.spec_version if running is not None else None,
        outcome=outcome,
        region=ports.settings.region,
        execution_arn=typed.execution,
        spec_key=typed.key,
        bucket=typed.bucket,
        steps=step_timings(events),
        endpoint=endpoint or None,
        kubernetes_version=version,
        warnings=[w for w in warnings if w]
        + (list(typed.plan.quota_warnings) if typed.plan and outcome in ("SUCCEEDED", "PLANNED") else []),
        quotas=list(typed.plan.quotas) if typed.plan and outcome == "PLANNED" else [],
        nodes=groups,
        cni=cni,
        changes=[
            {"stack": p.stack, "changeType": p.change_type, "counts": p.counts, "changes": p.changes}
            for p in (typed.plan.stacks if typed.plan else [])
        ],
        validation=validation,
        failure=failure,
        note=note,
        admins=list(
            dict.fromkeys([*(cluster_spec.get("controlPlane") or {}).get("admins", []), *ports.settings.cluster_admins])
        ),
        addons=installed,
        kubelets=dict(typed.validation.result.kubelets) if typed.validation else {},
        addons_updated=connection.addons_updated if isinstance(connection, Connection) else {},
        addons_removed=(
            list(connection.addons_removed)
            if isinstance(connection, Connection)
            else list(typed.plan.addons_removed)
            if typed.plan and outcome == "PLANNED"
            else []
        ),
        upgrade=typed.plan.upgrade.model_dump(by_alias=True) if typed.plan and typed.plan.upgrade else None,
        embedded=ports.settings.embedded,
        references=list(typed.validated.references) if typed.validated else [],
    )


def rolled_back(state: State) -> bool:
    """A stack update failed: CloudFormation rolled it back to the previous template."""
    s = ExecutionState.model_validate(state)
    said = str((s.error or {}).get("Cause", "")) + (s.diagnosis.cause if s.diagnosis else "")
    return action_of(state) == "update" and ("UPDATE_ROLLBACK" in said or "UPDATE_FAILED" in said)


def installed_addons(ports: Ports, state: State) -> dict[str, str]:
    """The add-ons' versions as EKS reports them; a notification goes out even if EKS cannot say."""
    try:
        return eks.installed_versions(ports.eks, ExecutionState.model_validate(state).cluster)
    except ports.eks.exceptions.ClientError as exc:
        logger.warning("add-on versions of %s unknown: %s", ExecutionState.model_validate(state).cluster, exc)
        return {}


def record_failure(built: message.Outcome, ports: Ports) -> None:
    """The registry keeps the last failure's code beside the cluster's state."""
    if built.failure is None or built.action == "plan":
        return
    failure = {
        "code": built.failure.code,
        "step": built.failure.step,
        "execution": built.execution_arn,
        "at": str(int(time.time())),
    }
    if built.action == "create":
        # A first create that failed leaves a record saying so (not a blank status); a cluster
        # that ran before keeps its own.
        ports.clusters.update_item(
            Key={"cluster": built.cluster},
            UpdateExpression="SET #f = :f, #s = if_not_exists(#s, :never)",
            ExpressionAttributeNames={"#f": "lastFailure", "#s": "status"},
            ExpressionAttributeValues={":f": failure, ":never": registry.NEVER_CREATED},
        )
        return
    # Only beside a record there is: a teardown of a cluster that has none makes none.
    with contextlib.suppress(ports.clusters.meta.client.exceptions.ConditionalCheckFailedException):
        ports.clusters.update_item(
            Key={"cluster": built.cluster},
            UpdateExpression="SET #f = :f",
            ConditionExpression="attribute_exists(#c)",
            ExpressionAttributeNames={"#f": "lastFailure", "#c": "cluster"},
            ExpressionAttributeValues={":f": failure},
        )


def publish(built: message.Outcome, ports: Ports) -> State:
    response = ports.sns.publish(TopicArn=ports.settings.topic_arn, **message.sns_message(built))
    text = message.email_text(built)
    if len(text) > NOTIFIED_TEXT_LIMIT:  # the execution's state is bounded (256 KB); the email is not
        text = text[:NOTIFIED_TEXT_LIMIT] + "\n… (cut here; the email has the rest)\n"
    # The text rides in the execution's output too, so `watch` ends with what the notification says.
    return {
        "messageId": response.get("MessageId"),
        "subject": message.subject(built),
        "outcome": built.outcome,
        "text": text,
    }


def notify(event: State, ports: Ports) -> State:
    """Build the outcome named by the event (`{"state": …, "outcome": …}`) and publish it; what
    was sent, with the action and each step's seconds (the handler's metrics)."""
    events = execution_history(ports.sfn, ExecutionState.model_validate(event["state"]).execution)
    built = build_outcome(event["state"], ports, event["outcome"], events)
    sent = notify_built(built, ports, events)
    sent.pop("code")
    return sent


def notify_built(built: message.Outcome, ports: Ports, events: list[dict[str, Any]]) -> State:
    """Publish a built outcome: its status page, the registry's last failure, the message."""
    # The page first: the notification links to it. A page that cannot be written must not cost
    # the notification: it goes out without the link, and the log says why.
    started = events[0]["timestamp"] if events else datetime.now(UTC)
    try:
        built.status_page = status_pages.publish(
            ports.s3, ports.settings.artifacts_bucket, built, started, step_spans(events), node_polls(events)
        )
    except ports.s3.exceptions.ClientError as exc:
        logger.warning("status page of %s not written: %s", built.cluster, exc)
    record_failure(built, ports)
    # The fleet page, from the registry as this execution left it (its failure recorded).
    try:
        status_pages.publish_fleet(ports.s3, ports.settings.artifacts_bucket, registry.list_clusters(ports.clusters))
    except ports.s3.exceptions.ClientError as exc:  # botocore's, whichever service raised it
        logger.warning("fleet page not written: %s", exc)
    return {
        **publish(built, ports),
        "action": built.action,
        "stepSeconds": {step.name: step.seconds for step in built.steps},
        "code": built.failure.code if built.failure else None,
    }
