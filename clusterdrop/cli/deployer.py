"""The deployer's commands: `submit`, `watch`, `status`, `delete` (AWS, or the embedded mode
through AWS_ENDPOINT_URL)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import yaml

from clusterdrop.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    display,
    load_or_explain,
    problem_line,
)
from clusterdrop.errors import WatchTimedOut


def _aws() -> tuple[Any, Any]:
    """A boto3 session (AWS_ENDPOINT_URL points it at the embedded mode) and the deployer's names."""
    import boto3

    from clusterdrop.ops import Deployer

    session = boto3.session.Session()
    return session, Deployer.discover(session.client("cloudformation"))


# The embedded mode keeps nothing on disk: what a user must not be surprised by after a restart.
EMBEDDED_LIFETIME = (
    "an embedded AWS (clusterdrop local up) keeps its account and clusters in memory, for as long as it runs: "
    "each start begins empty"
)
EMBEDDED_HINT = "for the embedded mode, start `clusterdrop local up` in another shell and run the exports it prints"


def aws_setup_hint(exc: Exception) -> str | None:
    """What to do when AWS cannot be asked at all: no region, no credentials, nothing answering at
    the endpoint, no deployer stack. A person who never configured AWS is most likely trying the
    embedded mode, so each says how to reach it too. None for a refusal AWS itself made."""
    import botocore.exceptions as bce

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if isinstance(exc, bce.NoRegionError):
        return f"set a region (export AWS_DEFAULT_REGION=eu-west-1, or a profile's region); {EMBEDDED_HINT}"
    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError)):
        return f"configure credentials (aws configure, AWS_PROFILE, or an instance role); {EMBEDDED_HINT}"
    if isinstance(exc, bce.EndpointConnectionError) and endpoint:
        return (
            f"nothing answers at AWS_ENDPOINT_URL={endpoint}: is `clusterdrop local up` still running? "
            "Each start is a new embedded AWS: run the exports it prints again"
        )
    if isinstance(exc, bce.EndpointConnectionError):
        return "check the network and the region (AWS_DEFAULT_REGION)"
    if isinstance(exc, bce.ClientError) and "does not exist" in str(exc) and "Stack" in str(exc):
        stack = os.environ.get("CLUSTERDROP_STACK", "clusterdrop")
        return (
            f"no deployer stack {stack!r} here: deploy it (npx aws-cdk@2 deploy; CLUSTERDROP_STACK names another), "
            f"or {EMBEDDED_HINT}"
        )
    return None


def _aws_errors(
    func: Callable[[argparse.Namespace, TextIO, TextIO], int],
) -> Callable[[argparse.Namespace, TextIO, TextIO], int]:
    """AWS being unreachable or refusing is an I/O problem (exit 2), said in one line, with what
    to do when AWS could not be asked at all."""

    def wrapped(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        import botocore.exceptions

        try:
            return func(args, out, err)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            err.write(f"clusterdrop: AWS: {exc}\n")
            hint = aws_setup_hint(exc)
            if hint:
                err.write(f"  {hint}\n")
            return EXIT_USAGE

    return wrapped


@_aws_errors
def cmd_submit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    found = load_or_explain(args.file, err, "nothing uploaded")
    if isinstance(found, int):
        return found
    session, deployer = _aws()
    return _upload(args, *found, session, deployer, out, err)


def _upload(
    args: argparse.Namespace, raw: bytes, loaded: Any, session: Any, deployer: Any, out: TextIO, err: TextIO
) -> int:
    """Upload a loaded spec to clusters/ (or plans/ with args.plan) after the checks the workflow
    would refuse it by anyway: the region, the deployer's guardrails."""
    from clusterdrop import ops

    source = display(args.file)
    name = loaded.cluster.metadata.name
    if loaded.cluster.spec.region != session.region_name:
        from clusterdrop.steps import region_mismatch

        err.write(f"{source}: {region_mismatch(loaded.cluster.spec.region, session.region_name)}\nnothing uploaded\n")
        return EXIT_INVALID
    from clusterdrop.spec import policy

    # The deployer's guardrails, checked before anything is uploaded (Validate spec checks again).
    rules = policy.Policy.model_validate_json(deployer.guardrails).for_team(args.team)
    refused = policy.check(loaded.cluster, rules, account=deployer.account or None)
    if refused:
        err.write(f"{source}: refused by the deployer's guardrails; nothing uploaded\n")
        for problem in refused:
            err.write(problem_line(source, problem) + "\n")
        return EXIT_INVALID
    if loaded.source_format in ("eksctl", "kops"):
        # The workflow reads native specs: upload the converted one.
        raw = yaml.safe_dump(
            loaded.cluster.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False
        ).encode()
        suffix = ".yaml"
    else:
        suffix = (
            Path(args.file).suffix
            if args.file != "-" and Path(args.file).suffix in (".yaml", ".yml", ".json")
            else ".yaml"
        )
    uploaded = ops.submit(session.client("s3"), deployer, name, raw, plan=args.plan, suffix=suffix, team=args.team)
    what = "plan (dry run)" if args.plan else "deploy"
    out.write(
        f"Uploaded {source} to s3://{uploaded['bucket']}/{uploaded['key']} ({what}, version {uploaded['versionId']}).\n"
    )
    out.write(f"Follow it with: clusterdrop watch {name}\n")
    return EXIT_OK


@_aws_errors
def cmd_watch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop import ops

    session, deployer = _aws()
    try:
        nodes = ops.NodeChanges(session.client("ec2"), args.cluster) if args.cluster else None
        # Right after `submit` or `delete` the new execution may not have started yet: the one to
        # follow is the first to start after the spec's latest change, not an earlier one.
        uploaded = ops.latest_upload(session.client("s3"), deployer, args.cluster) if args.cluster else None
        watched = ops.follow(
            session.client("stepfunctions"),
            deployer,
            args.cluster,
            out,
            wait_for_start=args.wait,
            poll=args.poll,
            nodes=nodes,
            started_after=uploaded,
        )
    except WatchTimedOut as exc:
        err.write(f"clusterdrop: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        again = f"clusterdrop watch {args.cluster}" if args.cluster else "clusterdrop watch"
        err.write(f"\nStopped watching. The deployment goes on in AWS Step Functions; follow it again with: {again}\n")
        return EXIT_INTERRUPTED
    said = ops.notification_text(watched.events)
    if said:
        # Ends as the notification does: the endpoint and how to connect, the plan's changes, the cause.
        out.write("\n" + said)
    return EXIT_OK if watched.status == "SUCCEEDED" else EXIT_INVALID


@_aws_errors
def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop import ops

    session, deployer = _aws()
    if args.page:
        return _status_page(session, deployer, args, out, err)
    items = ops.status(session.resource("dynamodb").Table(deployer.clusters_table))
    ops.mark_out_of_policy(session.client("s3"), deployer, items)
    if args.json:
        out.write(json.dumps(items, indent=2, default=str) + "\n")
    else:
        out.write(ops.format_status(items))
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            err.write(f"(AWS_ENDPOINT_URL={endpoint}: {EMBEDDED_LIFETIME})\n")
    return EXIT_OK


@_aws_errors
def cmd_describe(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop import ops

    session, deployer = _aws()
    table = session.resource("dynamodb").Table(deployer.clusters_table)
    found = ops.describe(session.client("eks"), session.client("stepfunctions"), table, deployer, args.cluster)
    if found is None:
        err.write(f"clusterdrop: no cluster {args.cluster} in the registry or in EKS\n")
        return EXIT_INVALID
    out.write(json.dumps(found, indent=2, default=str) + "\n" if args.json else ops.format_describe(found))
    return EXIT_OK


@_aws_errors
def cmd_diff(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """What uploading FILE would change on the running cluster, field by field, and what Plan
    would refuse; --live asks the workflow itself (a plan execution: CloudFormation's change sets)."""
    from clusterdrop import ops
    from clusterdrop.aws.registry import ClusterRecord
    from clusterdrop.errors import SpecInvalid
    from clusterdrop.steps.admission import as_it_would_run

    source = display(args.file)
    found = load_or_explain(args.file, err, "nothing compared")
    if isinstance(found, int):
        return found
    raw, loaded = found
    name = loaded.cluster.metadata.name
    if args.live:
        return _diff_live(args, raw, loaded, out, err)
    if args.against:
        old = load_or_explain(args.against, err, "nothing compared")
        if isinstance(old, int):
            return old
        before = old[1].cluster
        # The older file as the cluster that runs it: its versions are what the registry would hold.
        cni = f"{before.spec.cni.name} {before.spec.cni.version}" if before.spec.cni.version else ""
        record: ClusterRecord | None = ClusterRecord(
            cluster=name, status="ACTIVE", kubernetes_version=before.spec.kubernetes_version or "", cni=cni
        )
        against = display(args.against)
    else:
        session, deployer = _aws()
        table = session.resource("dynamodb").Table(deployer.clusters_table)
        from clusterdrop.aws import registry

        before = ops.applied_spec(session.client("s3"), table, deployer, name)
        if before is None:
            out.write(
                f"Cluster {name} is not running: {source} would create it (clusterdrop plan {source} "
                "renders what it makes).\n"
            )
            return EXIT_OK
        record = registry.get(table, name)
        against = f"the spec {name} runs (version {record.spec_version if record else '?'})"
    try:
        after, notes = as_it_would_run(loaded, record)
    except SpecInvalid as exc:
        err.write(f"{source}: {len(exc.problems)} problem(s) on the cluster as it runs:\n")
        for p in exc.problems:
            err.write(problem_line(source, p) + "\n")
        return EXIT_INVALID
    for note in notes[len(loaded.notes) :]:
        err.write(f"{source}: {note}\n")
    changes, refused = ops.spec_diff(before, after)
    if args.json:
        out.write(
            json.dumps(
                {"changes": [c._asdict() for c in changes], "refused": [str(p) for p in refused]}, indent=2, default=str
            )
            + "\n"
        )
    elif not changes:
        out.write(f"No changes: {source} is {against}.\n")
    else:
        out.write(f"From {against} to {source}:\n" + "".join(f"  {c.line()}\n" for c in changes))
    if refused:
        err.write(f"{source}: Plan would refuse {len(refused)} change(s); nothing would change:\n")
        for p in refused:
            err.write(problem_line(source, p) + "\n")
        return EXIT_INVALID
    if changes and not args.json:
        out.write(f"CloudFormation's own answer (what each stack replaces): clusterdrop diff {source} --live\n")
    return EXIT_OK


def _diff_live(args: argparse.Namespace, raw: bytes, loaded: Any, out: TextIO, err: TextIO) -> int:
    """A plan execution (submit --plan) followed to its end: its progress on stderr, its
    notification (every stack's changes) on stdout."""
    from datetime import UTC, datetime, timedelta

    from clusterdrop import ops

    session, deployer = _aws()
    started = datetime.now(UTC) - timedelta(seconds=1)
    upload = argparse.Namespace(file=args.file, plan=True, team=args.team)
    code = _upload(upload, raw, loaded, session, deployer, err, err)
    if code != EXIT_OK:
        return code
    name = loaded.cluster.metadata.name
    watched = ops.follow(session.client("stepfunctions"), deployer, name, err, started_after=started, poll=args.poll)
    out.write(ops.notification_text(watched.events) or f"the plan execution ended {watched.status}\n")
    return EXIT_OK if watched.status == "SUCCEEDED" else EXIT_INVALID


@_aws_errors
def cmd_validate_cluster(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """kops's `validate cluster`: the workflow's validation, on demand, through the cluster's agent."""
    import time

    from clusterdrop import ops

    session, deployer = _aws()
    try:
        agent, event = ops.validation_request(
            session.client("eks"),
            session.client("cloudformation"),
            session.client("s3"),
            session.resource("dynamodb").Table(deployer.clusters_table),
            deployer,
            args.cluster,
        )
    except ops.NotValidatable as exc:
        err.write(f"clusterdrop: cannot validate {args.cluster}: {exc}\n")
        return EXIT_INVALID
    deadline = time.monotonic() + (args.wait or 0)
    while True:
        found = ops.validate_cluster(session.client("lambda"), agent, event)
        if found.ok or not found.worth_waiting or time.monotonic() >= deadline:
            break
        out.write(f"waiting: {found.message}\n")
        out.flush()
        try:
            time.sleep(args.poll)
        except KeyboardInterrupt:
            err.write("\nStopped waiting.\n")
            return EXIT_INTERRUPTED
    if args.json:
        out.write(json.dumps(vars(found), indent=2) + "\n")
    elif found.table:
        out.write(found.table + "\n")
    if found.ok:
        out.write(f"\nYour cluster {args.cluster} is ready\n" if not args.json else "")
        return EXIT_OK
    err.write(f"clusterdrop: validation of {args.cluster} failed ({found.error_type}): {found.message}\n")
    if found.worth_waiting and not args.wait:
        err.write(f"  nodes may still be joining: clusterdrop validate-cluster {args.cluster} --wait 600\n")
    return EXIT_INVALID


def _status_page(session: Any, deployer: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The cluster's status page, read with the reader's own credentials (no link to expire),
    saved as a file and opened in a browser when there is a terminal to open it from."""
    import sys
    import webbrowser

    from clusterdrop.aws.status_pages import FLEET_KEY, page_key

    # Without a name, the fleet page: every cluster, each linking to its page saved beside it.
    key = page_key(args.cluster) if args.cluster else FLEET_KEY
    s3 = session.client("s3")
    try:
        body = s3.get_object(Bucket=deployer.artifacts_bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        what = f"for {args.cluster}" if args.cluster else "of the fleet"
        err.write(f"clusterdrop: no status page {what} yet (one is written after each execution)\n")
        return EXIT_INVALID
    saved = Path(args.cluster, "index.html") if args.cluster else Path("index.html")
    target = Path(args.out or Path("clusterdrop-status") / saved)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    out.write(f"{target}\n")
    if sys.stdout.isatty() and not args.no_open:
        webbrowser.open(target.resolve().as_uri())
    return EXIT_OK


@_aws_errors
def cmd_quotas(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop.aws import quotas as account_quotas

    session, deployer = _aws()
    standings = account_quotas.account_standing(
        session.client("service-quotas"),
        session.client("ec2"),
        session.client("eks"),
        session.resource("dynamodb").Table(deployer.clusters_table),
    )
    region = session.region_name or ""
    if args.json:
        rows = [{**s.as_dict(), "free": max(0, int(s.limit) - s.used - s.reserved)} for s in standings]
        out.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_OK
    table = [("QUOTA", "CODE", "IN USE", "RESERVED", "QUOTA", "FREE")]
    near = []
    for s in standings:
        q = s.need.quota
        name = f"{q.name} ({s.need.where})" if s.need.where else q.name
        if q.unit:
            name += f", {q.unit}"
        free = max(0, int(s.limit) - s.used - s.reserved)
        table.append((name, f"{q.service} {q.code}", str(s.used), str(s.reserved), f"{s.limit:g}", str(free)))
        if s.limit and s.used + s.reserved >= 0.8 * s.limit:
            near.append(f"{name}: {s.used + s.reserved} of {s.limit:g} — raise it at {q.console_url(region)}")
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
    for line in near:
        out.write(f"near its quota: {line}\n")
    return EXIT_OK


@_aws_errors
def cmd_delete(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop import ops

    session, deployer = _aws()
    table = session.resource("dynamodb").Table(deployer.clusters_table)
    goes = ops.delete_preview(session.client("cloudformation"), table, args.cluster)
    out.write(f"Deleting cluster {args.cluster} removes:\n" + "".join(f"  - {line}\n" for line in goes))
    if not goes:
        out.write("  - (nothing the registry or CloudFormation knows of: only its spec)\n")
    out.write(f"  The spec's history stays in s3://{deployer.spec_bucket} (versioned).\n")
    if not args.yes:
        if not sys.stdin.isatty():
            err.write("clusterdrop: not deleting: confirm with --yes (stdin is not a terminal to ask on)\n")
            return EXIT_USAGE
        out.write(f"Type the cluster's name ({args.cluster}) to delete it: ")
        out.flush()
        if sys.stdin.readline().strip() != args.cluster:
            out.write("Not deleted.\n")
            return EXIT_INVALID
    removed = ops.delete(session.client("s3"), deployer, args.cluster, team=args.team)
    if removed is None:
        err.write(f"clusterdrop: no spec for cluster {args.cluster} in s3://{deployer.spec_bucket}/clusters/\n")
        return EXIT_INVALID
    out.write(f"Removed s3://{removed['bucket']}/{removed['key']}: the teardown starts.\n")
    out.write(f"Follow it with: clusterdrop watch {args.cluster}\n")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add this group's sub-commands to the `clusterdrop` parser."""
    deployer_help = "The deployer is found through its stack's outputs (CLUSTERDROP_STACK, default clusterdrop)."
    p = sub.add_parser(
        "submit",
        help="validate a spec locally, then upload it",
        description="Validate FILE, then upload it to clusters/ (or plans/ with --plan). " + deployer_help,
    )
    p.add_argument("file", metavar="FILE", help="spec file (native, eksctl or kops), or - for stdin")
    p.add_argument("--plan", action="store_true", help="a dry run: the notification shows what would change")
    p.add_argument("--team", default="", metavar="TEAM", help="upload under clusters/TEAM/ (its own guardrails)")
    p.set_defaults(func=cmd_submit)
    p = sub.add_parser(
        "watch",
        help="follow the newest execution of a cluster",
        description="Follow the newest execution of CLUSTER (of any cluster without one; or wait for one to "
        "start): each step, its retries, node progress (with CLUSTER, each node-group instance as EC2 launches and "
        "terminates it), the outcome. Exit 0 on success, 1 on failure, 2 when "
        "no execution starts in time. " + deployer_help,
    )
    p.add_argument("cluster", metavar="CLUSTER", nargs="?", help="the cluster's name (default: any cluster)")
    p.add_argument(
        "--wait", type=float, default=300, metavar="SECONDS", help="how long to wait for an execution to start"
    )
    p.add_argument("--poll", type=float, default=2, metavar="SECONDS", help="poll interval")
    p.set_defaults(func=cmd_watch)
    p = sub.add_parser(
        "status",
        help="list clusters from the registry",
        description="List clusters: state, Kubernetes version, nodes, last execution. " + deployer_help,
    )
    p.add_argument(
        "cluster", metavar="NAME", nargs="?", help="with --page: the cluster whose page to fetch (none: the fleet's)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--page",
        action="store_true",
        help="fetch NAME's status page (without NAME: the page of every cluster) with your credentials, save it "
        "and open it",
    )
    p.add_argument(
        "--out", metavar="FILE", help="with --page: where to save it (default ./clusterdrop-status/[NAME/]index.html)"
    )
    p.add_argument("--no-open", action="store_true", help="with --page: do not open a browser")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser(
        "quotas",
        help="the account's service quotas a cluster takes: in use, reserved, free",
        description="Each service quota clusterdrop checks at Plan, for the deployer's account and region: its "
        "value (Service Quotas), what is in use, what creates under way reserved, what is free; the ones 80 % "
        "full or more are named with where to raise them. " + deployer_help,
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_quotas)
    p = sub.add_parser(
        "describe",
        aliases=["get"],
        help="one cluster as clusterdrop and EKS know it",
        description="The registry's record of NAME (status, spec version, CNI, nodes, last failure), what EKS "
        "reports (version, endpoint, node groups with their sizes and AMI releases, add-ons) and its last "
        "executions. " + deployer_help,
    )
    p.add_argument("cluster", metavar="NAME")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_describe)
    p = sub.add_parser(
        "diff",
        help="what a new spec would change on its running cluster, and what Plan would refuse",
        description="Compare FILE with the spec its cluster last applied (read from the deployer; with --against "
        "OLD, with that file, offline): every changed field with what the change does (in place, a new "
        "launch template version, refused), the node groups added and removed, and each change Plan would "
        "refuse, by field. Nothing is uploaded. --live runs a plan execution instead (submit --plan) and prints "
        "its notification: CloudFormation's change sets for each stack. Exit 0 when the spec could be applied, "
        "1 when Plan would refuse it. " + deployer_help,
    )
    p.add_argument("file", metavar="FILE", help="spec file (native, eksctl or kops), or - for stdin")
    p.add_argument("--against", metavar="OLD", help="compare with this spec file instead (no AWS needed)")
    p.add_argument("--live", action="store_true", help="ask the workflow: a plan execution's change sets")
    p.add_argument("--team", default="", metavar="TEAM", help="with --live: the spec is under clusters/TEAM/")
    p.add_argument("--poll", type=float, default=2, metavar="SECONDS", help="with --live: poll interval")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_diff)
    p = sub.add_parser(
        "validate-cluster",
        help="validate a running cluster now, as the workflow does (kops validate cluster)",
        description="Ask NAME's agent (in the cluster's VPC, with the workflow's access) for the validation report "
        'the state "Validate cluster" makes: every node group\'s nodes Ready, the control plane, the CNI, CoreDNS '
        "and the system pods. Exit 0 when valid, 1 when not. Needs lambda:InvokeFunction on the agent "
        "(clusterdrop-NAME-agent). " + deployer_help,
    )
    p.add_argument("cluster", metavar="NAME")
    p.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="keep validating until valid or SECONDS have passed (nodes joining, access propagating)",
    )
    p.add_argument("--poll", type=float, default=10, metavar="SECONDS", help="with --wait: time between checks")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_validate_cluster)
    p = sub.add_parser(
        "delete",
        help="remove a cluster's spec to start its teardown",
        description="Show what the teardown removes, ask (type the cluster's name; --yes for scripts), then "
        "remove clusters/NAME.* (a delete marker: the history stays) so that the teardown starts. " + deployer_help,
    )
    p.add_argument("cluster", metavar="NAME")
    p.add_argument("--team", default="", metavar="TEAM", help="the spec is under clusters/TEAM/")
    p.add_argument("--yes", "-y", action="store_true", help="delete without asking (for scripts)")
    p.set_defaults(func=cmd_delete)
