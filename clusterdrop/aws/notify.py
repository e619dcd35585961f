"""What a user reads when an execution ends: one message per outcome (and one per plan).

The same content three ways: plain text for email, SNS message attributes for filtering, and
Slack Block Kit for the formatter Lambda. Pure functions of an Outcome.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from clusterdrop.workflow import UPGRADE_PHASES

ICONS = {"SUCCEEDED": ":white_check_mark:", "FAILED": ":x:", "PLANNED": ":memo:", "SKIPPED": ":fast_forward:"}


@dataclass
class Step:
    name: str
    status: str
    seconds: float


@dataclass
class Failure:
    step: str
    error: str
    cause: str
    cleaned_up: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    # Resources the clean-up could not delete (stack, resource, type, reason, link), stacks not
    # deleted because of them, and why a clean-up stopped waiting.
    left_behind: list[dict[str, str]] = field(default_factory=list)
    not_deleted: list[str] = field(default_factory=list)
    cleanup_note: str = ""
    # The failure's code (failures.CODES), what it means and what to do.
    code: str = "ERR_INTERNAL"
    todo: str = ""

    def left_lines(self) -> list[str]:
        lines = []
        for x in self.left_behind:
            lines.append(f"  {x['stack']} {x['resource']} ({x['type']}): {x['reason']}")
            if x.get("link"):
                lines.append(f"    {x['link']}")
        lines += [f"  {name}: not deleted while its node-group stacks remain" for name in self.not_deleted]
        return lines


@dataclass
class Outcome:
    cluster: str
    action: str  # create | update | plan | delete
    outcome: str  # SUCCEEDED | FAILED | PLANNED | SKIPPED
    region: str
    execution_arn: str
    spec_key: str = ""
    bucket: str = ""
    steps: list[Step] = field(default_factory=list)
    endpoint: str | None = None
    kubernetes_version: str | None = None
    nodes: dict[str, dict[str, int]] = field(default_factory=dict)  # group -> ready, desired
    cni: dict[str, str] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)  # per stack: name, changeType, counts
    validation: str | None = None
    failure: Failure | None = None
    note: str | None = None
    admins: list[str] = field(default_factory=list)  # who may use the cluster (besides the agent)
    addons: dict[str, str] = field(default_factory=dict)  # EKS add-on -> the version EKS installed
    kubelets: dict[str, int] = field(default_factory=dict)  # kubelet minor version -> nodes, as they report it
    addons_updated: dict[str, str] = field(default_factory=dict)  # an upgrade's add-ons: name -> "old → new"
    addons_removed: list[str] = field(default_factory=list)  # EKS add-ons the spec no longer lists
    warnings: list[str] = field(default_factory=list)  # EKS's support calendar for the version run
    # A version change: {"from", "to", "nodeGroups": [the order they roll in]}.
    upgrade: dict[str, Any] | None = None
    # Sent from the embedded mode: there is no AWS console to link to, `clusterdrop watch` works.
    embedded: bool = False
    # Spec values taken from SSM parameters or CloudFormation exports: path, from, name, value.
    references: list[dict[str, Any]] = field(default_factory=list)
    # The execution's status page (status_pages.publish): bucket, key, console, presigned, expires.
    status_page: dict[str, str] | None = None
    # A plan's take of the account's quotas (quotas.Standing.as_dict).
    quotas: list[dict[str, Any]] = field(default_factory=list)
    # A running cluster's update refused before anything changed: the spec version it still runs.
    refused_running: str | None = None

    @property
    def console_url(self) -> str:
        return (
            f"https://{self.region}.console.aws.amazon.com/states/home?region={self.region}"
            f"#/v2/executions/details/{self.execution_arn}"
        )

    @property
    def watch_command(self) -> str:
        return f"clusterdrop watch {self.cluster}"

    @property
    def seconds(self) -> float:
        return round(sum(s.seconds for s in self.steps), 1)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "consoleUrl": self.console_url, "seconds": self.seconds}


_VERBS = {"SUCCEEDED": "succeeded", "FAILED": "FAILED", "PLANNED": "ready", "SKIPPED": "skipped"}


def headline(o: Outcome) -> str:
    """What happened, as a sentence: "quickstart: create succeeded", "quickstart: plan ready, 3
    changes, none applied" (the subject, the email's first line and the Slack header). A plan says
    how many resource changes it holds: "nothing changed" read as "no changes" (issue 28)."""
    if o.refused_running is not None:  # the note names the spec version it runs (the subject is short)
        return f"{o.cluster}: update refused, nothing changed"
    text = f"{o.cluster}: {o.action} {_VERBS[o.outcome]}"
    if o.outcome == "PLANNED":
        count = sum(sum((c.get("counts") or {}).values()) for c in o.changes)
        return text + (f", {count} change{'s' if count != 1 else ''}, none applied" if count else ", no changes")
    return text + " (a newer upload was applied)" if o.outcome == "SKIPPED" else text


def subject(o: Outcome) -> str:
    """The headline, and for a failure its code and step: "quickstart: update FAILED ERR_… at Plan"."""
    text = f"[clusterdrop] {headline(o)}"
    if o.failure:
        text += f" {o.failure.code} at {o.failure.step}"
    return text[:100]  # SNS subject limit


def attributes(o: Outcome) -> dict[str, dict[str, str]]:
    """SNS message attributes, so subscriptions can filter by cluster, outcome, action."""
    found = {
        "cluster": {"DataType": "String", "StringValue": o.cluster},
        "outcome": {"DataType": "String", "StringValue": o.outcome},
        "action": {"DataType": "String", "StringValue": o.action},
    }
    if o.failure:  # a subscription can take one kind of failure: {"code": ["ERR_QUOTA_EXCEEDED"]}
        found["code"] = {"DataType": "String", "StringValue": o.failure.code}
    return found


def _retry_hint(o: Outcome) -> str:
    where = f"s3://{o.bucket}/{o.spec_key}" if o.bucket and o.spec_key else "the spec bucket"
    return (
        f"Fix the cause, then upload the spec again: clusterdrop submit {o.cluster}.yaml "
        f"(or: aws s3 cp {o.cluster}.yaml {where})"
    )


def change_lines(o: Outcome) -> list[str]:
    lines = []
    for change in o.changes:
        counts = change.get("counts") or {}
        detail = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no changes"
        lines.append(f"  {change['stack']} ({change.get('changeType', '')}): {detail}")
        if change.get("changeType") == "CREATE" and o.outcome != "PLANNED":
            continue  # a new stack's every resource was added: the count says it; a plan lists them
        for item in change.get("changes") or []:
            mark = " (REPLACEMENT)" if item.get("replacement") not in (None, "False") else ""
            lines.append(f"    {item['action']} {item['logical_id']} {item['resource_type']}{mark}")
            lines += [f"      {p}" for p in item.get("properties") or []]
    return lines


def status_page_lines(o: Outcome) -> list[str]:
    """Where the status page is: the S3 console (works days later, for whoever may read it), a
    presigned link while the signing credentials last, and the CLI."""
    page = o.status_page
    if not page:
        return []
    lines = ["", f"Status page (timeline, nodes, history): clusterdrop status {o.cluster} --page"]
    if o.embedded:
        return [*lines, f"  s3://{page['bucket']}/{page['key']} (local run saves it as a file)"]
    return [
        *lines,
        f"  in the S3 console: {page['console']}",
        f"  direct link, until {page['expires']} at the latest: {page['presigned']}",
    ]


def reference_lines(records: list[dict[str, Any]]) -> list[str]:
    """`spec.network.vpc.id = vpc-0abc (SSM parameter /clusterdrop/network/vpc-id)`: both ways."""
    kinds = {"fromSsm": "SSM parameter", "fromExport": "CloudFormation export"}
    out = []
    for r in records:
        value = ", ".join(r["value"]) if isinstance(r["value"], list) else r["value"]
        out.append(f"{r['path']} = {value} ({kinds.get(r['from'], r['from'])} {r['name']})")
    return out


def quota_lines(o: Outcome) -> list[str]:
    """What the plan takes of each quota, beside its use and value."""
    if not o.quotas:
        return []
    lines = ["Service quotas (what this takes; in use + reserved by other creates, of the quota):"]
    for q in o.quotas:
        where = f" in {q['where']}" if q.get("where") else ""
        unit = f" {q['unit']}" if q.get("unit") else ""
        lines.append(
            f"  {q['name']}{where} ({q['service']} {q['code']}): {q['amount']}{unit}; "
            f"{q['used']} + {q['reserved']} of {q['limit']:g}"
        )
    return lines


def upgrade_lines(o: Outcome) -> list[str]:
    """An upgrade's phases, in the order they run (a plan) or ran (with how long each took), and
    each component's version before and after."""
    if not o.upgrade:
        return []
    groups = o.upgrade.get("nodeGroups") or []
    verb = "would run" if o.outcome == "PLANNED" else "ran" if o.outcome == "SUCCEEDED" else "runs"
    moves = [o.upgrade["cni"]] if o.upgrade.get("cni") else []
    moves += [f"{n} {v}" for n, v in sorted((o.upgrade.get("addons") or {}).items())]
    took = {s.name: s.seconds for s in o.steps}

    def duration(phase: int) -> str:
        seconds = sum(took.get(step, 0.0) for step in UPGRADE_PHASES[phase])
        return f" — {seconds:g} s" if o.outcome == "SUCCEEDED" and seconds else ""

    held = o.upgrade.get("held") or {}
    stays = "; " + ", ".join(f"{g} stays at {v}" for g, v in sorted(held.items())) if held else ""
    return [
        f"Upgrade {o.upgrade['from']} → {o.upgrade['to']} {verb} in this order:",
        f"  1. control plane {o.upgrade['from']} → {o.upgrade['to']} (the cluster stack){duration(0)}",
        "  2. the CNI and the EKS add-ons, to their versions for the new Kubernetes version"
        + (f" ({', '.join(moves)})" if moves else "")
        + duration(1),
        (
            f"  3. node groups one at a time ({', '.join(groups)}), each drained node by node, the cluster "
            f"validated before the next{stays}{duration(2)}"
        ),
    ]


def connect_lines(o: Outcome) -> list[str]:
    """Who can reach the cluster and how: EKS access entries admit only the principals named."""
    if not o.admins:
        return [
            "No cluster admin was named: only the clusterdrop agent can reach this cluster.",
            "Add one: list your IAM role's ARN under spec.controlPlane.admins and upload the spec again",
            "(or deploy clusterdrop with -c clusterAdmins=ARN to admit it to every cluster).",
        ]
    lines = ["Cluster admins (EKS access entries with AmazonEKSClusterAdminPolicy):"]
    lines += [f"  {arn}" for arn in o.admins]
    lines.append("Get a kubeconfig as one of them (clusterdrop writes it and makes the tokens, no AWS CLI needed):")
    for arn in o.admins:
        assume = f" --role-arn {arn}" if ":role/" in arn else ""
        lines.append(f"  clusterdrop kubeconfig {o.cluster} --region {o.region}{assume}")
    lines.append(f"  (or: aws eks update-kubeconfig --region {o.region} --name {o.cluster} [--role-arn ARN])")
    lines.append(
        "Not one of them? Ask the platform team to add your role to spec.controlPlane.admins (or to the "
        "deployer's clusterAdmins), or to spec.access with a narrower policy; until then the cluster answers 401."
    )
    return lines


def email_text(o: Outcome) -> str:
    """Plain text, readable in any mail client."""
    lines = [f"Cluster {headline(o)} ({o.region})", ""]
    if o.note:
        lines += [o.note, ""]
    if o.failure:
        f = o.failure
        lines += [
            f"Code: {f.code} — {f.todo}",
            f"Failed step: {f.step}",
            f"Error: {f.error}",
            "Cause: " + f.cause.replace("\n", "\n  "),
            "",
        ]
        lines.append("Cleaned up: " + (", ".join(f.cleaned_up) if f.cleaned_up else "nothing"))
        if f.kept:
            lines.append("Kept: " + ", ".join(f.kept))
        if f.left_behind or f.not_deleted:
            lines.append("Left behind (could not be deleted; delete them, then the stack):")
            lines += f.left_lines()
        if f.cleanup_note:
            lines.append(f"Clean-up stopped: {f.cleanup_note}")
        lines += ["", _retry_hint(o), ""]
    if o.endpoint:
        lines.append(f"Endpoint: {o.endpoint}")
    if o.kubernetes_version:
        lines.append(f"Kubernetes: {o.kubernetes_version}")
    lines += [f"Warning: {w}" for w in o.warnings]
    if o.kubelets:
        lines.append("Kubelets: " + ", ".join(f"{v} on {n} node{'s' if n != 1 else ''}" for v, n in o.kubelets.items()))
    lines += upgrade_lines(o)
    if o.cni:
        lines.append(f"CNI: {o.cni.get('name')} {o.cni.get('version', '')}".rstrip())
    if o.addons:
        lines.append("EKS add-ons (as installed): " + ", ".join(f"{n} {v}" for n, v in sorted(o.addons.items())))
    if o.addons_updated:
        # To the new version's defaults in an upgrade, else to the versions the spec pins.
        moved = ", ".join(f"{n} {v}" for n, v in o.addons_updated.items())
        lines.append(f"Add-ons moved ({'the new version' if o.upgrade else 'the pinned versions'}): {moved}")
    if o.addons_removed:
        verb = "Would remove" if o.outcome == "PLANNED" else "Removed"
        lines.append(f"{verb} (no longer in spec.addons; EKS deletes their workloads): {', '.join(o.addons_removed)}")
    if o.nodes:
        lines.append("Nodes Ready:")
        lines += [f"  {g}: {n.get('ready', 0)}/{n.get('desired', 0)}" for g, n in sorted(o.nodes.items())]
    if o.references:
        lines.append("Values from references:")
        lines += [f"  {line}" for line in reference_lines(o.references)]
    if o.changes:
        lines.append("Changes:" if o.outcome != "PLANNED" else "Would change (nothing was changed):")
        lines += change_lines(o)
    lines += quota_lines(o)
    if o.validation:
        lines += ["Validation:", *[f"  {line}" for line in o.validation.splitlines()]]
    if o.steps:
        lines.append(f"Steps ({o.seconds:g} s):")
        lines += [f"  {s.name}: {s.status} ({s.seconds:g} s)" for s in o.steps]
    if o.outcome == "SUCCEEDED" and o.action in ("create", "update"):
        lines += ["", *connect_lines(o)]
    lines += status_page_lines(o)
    if o.embedded:
        lines += [
            "",
            f"Execution: {o.execution_arn.rsplit(':', 1)[-1]} (embedded mode: follow it with {o.watch_command})",
        ]
    else:
        lines += ["", f"Execution: {o.console_url}"]
    return "\n".join(lines) + "\n"


def slack_blocks(o: Outcome) -> dict[str, Any]:
    """The same content as Block Kit, for an incoming webhook."""
    icon = ICONS.get(o.outcome, "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline(o)}},
    ]
    facts = [f"*Region*\n{o.region}"]
    if o.kubernetes_version:
        facts.append(f"*Kubernetes*\n{o.kubernetes_version}")
    if o.cni:
        facts.append(f"*CNI*\n{o.cni.get('name')} {o.cni.get('version', '')}".rstrip())
    if o.endpoint:
        facts.append(f"*Endpoint*\n{o.endpoint}")
    if o.nodes:
        facts.append(
            "*Nodes Ready*\n"
            + ", ".join(f"{g} {n.get('ready', 0)}/{n.get('desired', 0)}" for g, n in sorted(o.nodes.items()))
        )
    blocks.append(
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{icon} *{o.outcome}* in {o.seconds:g} s"},
            "fields": [{"type": "mrkdwn", "text": t} for t in facts[:10]],
        }
    )
    if o.note:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": o.note}})
    for warning in o.warnings:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f":warning: {warning}"}]})
    if o.failure:
        f = o.failure
        text = (
            f"*Code:* `{f.code}` — {f.todo}\n"
            f"*Failed step:* {f.step}\n*Error:* `{f.error}`\n*Cause:* {f.cause}\n"
            f"*Cleaned up:* {', '.join(f.cleaned_up) if f.cleaned_up else 'nothing'}"
        )
        if f.kept:
            text += f"\n*Kept:* {', '.join(f.kept)}"
        if f.left_behind or f.not_deleted:
            text += "\n*Left behind:*\n" + "\n".join(f.left_lines())
        if f.cleanup_note:
            text += f"\n*Clean-up stopped:* {f.cleanup_note}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _retry_hint(o)}]})
    if o.changes:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": ("```" + "\n".join(change_lines(o)) + "```")[:3000]},
            }
        )
    if o.quotas:
        text = "\n".join(quota_lines(o))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{text}```"[:3000]}})
    if o.validation:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{o.validation}```"[:3000]}})
    if o.steps:
        steps = "\n".join(f"{s.name}: {s.status} ({s.seconds:g} s)" for s in o.steps)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": steps[:3000]}]})
    if o.embedded:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Follow it: `{o.watch_command}`"}]})
    else:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open execution"}, "url": o.console_url}
        blocks.append({"type": "actions", "elements": [button]})
    return {"text": subject(o), "blocks": blocks}


def sns_message(o: Outcome) -> dict[str, Any]:
    """Publish arguments: email gets the text, Lambda and SQS subscribers the structured outcome."""
    structured = json.dumps({"subject": subject(o), "text": email_text(o), "outcome": o.as_dict()})
    return {
        "Subject": subject(o),
        "MessageStructure": "json",
        "Message": json.dumps(
            {"default": email_text(o), "email": email_text(o), "lambda": structured, "sqs": structured}
        ),
        "MessageAttributes": attributes(o),
    }


def alarm_blocks(alarm: dict[str, Any]) -> dict[str, Any]:
    """A CloudWatch alarm's notification (its SNS message) for Slack: which alarm, its state, what to do."""
    state = str(alarm.get("NewStateValue", ""))
    text = f"[clusterdrop] alarm {alarm.get('AlarmName', '')}: {state}"
    detail = f"*{alarm.get('AlarmDescription') or ''}*\n{alarm.get('NewStateReason', '')}"
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"{text}\n{detail}"[:3000]}}],
    }


def outcome_from_dict(data: dict[str, Any]) -> Outcome:
    """Back from the structured message (the Slack formatter's input)."""
    failure = data.get("failure")
    return Outcome(
        **{k: v for k, v in data.items() if k in Outcome.__dataclass_fields__ and k not in ("steps", "failure")},
        steps=[Step(**s) for s in data.get("steps") or []],
        failure=Failure(**failure) if failure else None,
    )
