"""States "Notify success|plan|skipped|failure": one message per outcome."""

from __future__ import annotations

from clusterdrop.aws import eks, registry
from clusterdrop.aws import notify as message
from clusterdrop.history import (
    execution_history,
    failed_step,
    step_timings,
)
from clusterdrop.steps.context import Ports, State, logger, spec_of


def action_of(state: State) -> str:
    if state["action"] == "plan":
        return "plan"
    if state["action"] == "teardown":
        return "delete"
    return "create" if (state.get("plan") or {}).get("newCluster", True) else "update"


def build_outcome(state: State, ports: Ports, outcome: str) -> message.Outcome:
    events = execution_history(ports.sfn, state["execution"])
    spec = spec_of(state) or {}
    cluster_spec = spec.get("spec") or {}
    connection = state.get("connection") or {}
    nodes = state.get("nodes") or {}
    groups = {
        g: {"ready": v.get("ready", 0), "desired": v.get("expected", 0)} for g, v in (nodes.get("groups") or {}).items()
    }
    diagnosis = state.get("diagnosis")
    cleanup = state.get("cleanup") or {}
    failure = None
    if outcome == "FAILED":
        diagnosis = diagnosis or {
            "step": failed_step(events),
            "error": (state.get("error") or {}).get("Error", ""),
            "cause": (state.get("error") or {}).get("Cause", ""),
        }
        failure = message.Failure(
            step=diagnosis["step"],
            error=diagnosis["error"],
            cause=diagnosis["cause"],
            cleaned_up=cleanup.get("cleanedUp") or [],
            kept=cleanup.get("kept") or [],
            left_behind=cleanup.get("leftovers") or [],
            not_deleted=cleanup.get("blocked") or [],
            cleanup_note=(state.get("cleanupStuck") or {}).get("Cause", ""),
        )
    plan_state = state.get("plan") or {}
    note = None
    if plan_state.get("superseded"):
        note = "A later upload of this spec was already applied; this older version was skipped."
    elif outcome == "FAILED" and rolled_back(state):
        applied = (registry.get(ports.clusters, state["cluster"]) or {}).get("specVersion", "")
        note = (
            "The update rolled back: the cluster keeps running on its previously applied spec"
            + (f" (version {applied})" if applied else "")
            + ", which the registry still records as applied."
        )
    validation = ((state.get("validation") or {}).get("result") or {}).get("table")
    installed = installed_addons(ports, state) if outcome == "SUCCEEDED" and state["action"] != "teardown" else {}
    cni = connection.get("cni") or (
        {"name": cluster_spec.get("cni", {}).get("name", ""), "version": cluster_spec.get("cni", {}).get("version", "")}
        if cluster_spec
        else {}
    )
    if cni.get("name") == "aws-vpc-cni" and installed.get("vpc-cni"):
        cni = {**cni, "version": installed["vpc-cni"]}  # what EKS installed, not the catalog's pin
    return message.Outcome(
        cluster=state["cluster"],
        action=action_of(state),
        outcome=outcome,
        region=ports.settings.region,
        execution_arn=state["execution"],
        spec_key=state.get("key", ""),
        bucket=state.get("bucket", ""),
        steps=step_timings(events),
        endpoint=(connection.get("cluster") or {}).get("endpoint") or None,
        kubernetes_version=cluster_spec.get("kubernetesVersion"),
        nodes=groups,
        cni={"name": cni.get("name", ""), "version": cni.get("version", "")} if cni else {},
        changes=[
            {"stack": s["stack"], "changeType": s["change_type"], "counts": s["counts"], "changes": s["changes"]}
            for s in plan_state.get("stacks") or []
        ],
        validation=validation,
        failure=failure,
        note=note,
        admins=list(
            dict.fromkeys([*(cluster_spec.get("controlPlane") or {}).get("admins", []), *ports.settings.cluster_admins])
        ),
        addons=installed,
    )


def rolled_back(state: State) -> bool:
    """A stack update failed: CloudFormation rolled it back to the previous template."""
    said = str((state.get("error") or {}).get("Cause", "")) + str((state.get("diagnosis") or {}).get("cause", ""))
    return action_of(state) == "update" and ("UPDATE_ROLLBACK" in said or "UPDATE_FAILED" in said)


def installed_addons(ports: Ports, state: State) -> dict[str, str]:
    """The add-ons' versions as EKS reports them; a notification goes out even if EKS cannot say."""
    try:
        return eks.installed_versions(ports.eks, state["cluster"])
    except ports.eks.exceptions.ClientError as exc:
        logger.warning("add-on versions of %s unknown: %s", state["cluster"], exc)
        return {}


def publish(built: message.Outcome, ports: Ports) -> State:
    response = ports.sns.publish(TopicArn=ports.settings.topic_arn, **message.sns_message(built))
    return {"messageId": response.get("MessageId"), "subject": message.subject(built), "outcome": built.outcome}


def notify(event: State, ports: Ports) -> State:
    """Build the outcome named by the event (`{"state": …, "outcome": …}`) and publish it; what
    was sent, with the action and each step's seconds (the handler's metrics)."""
    built = build_outcome(event["state"], ports, event["outcome"])
    return {
        **publish(built, ports),
        "action": built.action,
        "stepSeconds": {step.name: step.seconds for step in built.steps},
    }
