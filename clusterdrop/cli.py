"""The `clusterdrop` command line.

Exit codes everywhere: 0 success; 1 the input or the outcome is wrong (invalid spec,
unsupported field, failed deployment); 2 usage or I/O error, or an unexpected internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from clusterdrop import __version__
from clusterdrop.errors import InputUnreadable, LoadError, Problem, SpecInvalid, UnsupportedFields, WatchTimedOut
from clusterdrop.spec import eksctl
from clusterdrop.spec.loader import MAX_BYTES, load
from clusterdrop.spec.source import LoadedSpec, load_spec

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def _read(name: str) -> bytes:
    try:
        if name == "-":
            return sys.stdin.buffer.read(MAX_BYTES + 1)
        with Path(name).open("rb") as handle:
            return handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputUnreadable(f"{name}: cannot read: {exc.strerror or exc}") from None


def _display(name: str) -> str:
    return "<stdin>" if name == "-" else name


def _problem_line(source: str, problem: Problem) -> str:
    where = f"{source}:{problem.line}:{problem.column}" if problem.line is not None else source
    return f"  {where}: {problem.path or '(document)'}: {problem.message}"


def _load_or_explain(name: str, err: TextIO, consequence: str) -> tuple[bytes, LoadedSpec] | int:
    """Read and validate a spec for a command; on failure say why (every problem) and return the
    exit code: 2 when the file cannot be read, 1 when the spec is wrong."""
    source = _display(name)
    try:
        raw = _read(name)
        return raw, load_spec(raw)
    except InputUnreadable as exc:
        err.write(f"clusterdrop: {exc}\n")
        return EXIT_USAGE
    except LoadError as exc:
        err.write(f"{source}: {exc}\n")
        return EXIT_INVALID
    except (SpecInvalid, UnsupportedFields) as exc:
        err.write(f"{source}: {len(exc.problems)} problem(s); {consequence}:\n")
        for p in exc.problems:
            err.write(_problem_line(source, p) + "\n")
        return EXIT_INVALID


# --- validate -------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    results: list[dict[str, Any]] = []
    status = EXIT_OK
    for name in args.files:
        source = _display(name)
        try:
            loaded = load_spec(_read(name))
        except InputUnreadable as exc:
            err.write(f"clusterdrop: {exc}\n")
            return EXIT_USAGE
        except LoadError as exc:
            problems = [Problem("", exc.message, exc.line, exc.column)]
            results.append({"file": source, "valid": False, "errors": [p.as_dict() for p in problems]})
            status = EXIT_INVALID
            continue
        except (SpecInvalid, UnsupportedFields) as exc:
            results.append({"file": source, "valid": False, "errors": [p.as_dict() for p in exc.problems]})
            status = EXIT_INVALID
            continue
        cluster = loaded.cluster
        spec = cluster.spec
        results.append(
            {
                "file": source,
                "valid": True,
                "format": loaded.source_format,
                "cluster": cluster.metadata.name,
                "kubernetesVersion": spec.kubernetes_version,
                "cni": spec.cni.name,
                "nodeGroups": len(spec.node_groups),
                "nodes": sum(g.desired_size for g in spec.node_groups),
                "notes": loaded.notes,
                "errors": [],
            }
        )
    if args.json:
        out.write(json.dumps({"files": results}, indent=2) + "\n")
        return status
    for result in results:
        if result["valid"]:
            out.write(
                f"{result['file']}: valid — cluster {result['cluster']}, Kubernetes "
                f"{result['kubernetesVersion']}, {result['cni']}, {result['nodeGroups']} node group(s), "
                f"{result['nodes']} node(s)" + (" (from eksctl)" if result["format"] == "eksctl" else "") + "\n"
            )
            continue
        errors = result["errors"]
        out.write(f"{result['file']}: {len(errors)} problem{'s' if len(errors) != 1 else ''}\n")
        for e in errors:
            out.write(_problem_line(result["file"], Problem(**e)) + "\n")
    return status


# --- schema ---------------------------------------------------------------------------------


def cmd_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop.spec.schema import json_schema

    out.write(json.dumps(json_schema(), indent=2) + "\n")
    return EXIT_OK


# --- convert --------------------------------------------------------------------------------


def cmd_convert(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    source = _display(args.file)
    try:
        doc = load(_read(args.file))
    except InputUnreadable as exc:
        err.write(f"clusterdrop: {exc}\n")
        return EXIT_USAGE
    except LoadError as exc:
        err.write(f"{source}: {exc}\n")
        return EXIT_INVALID
    if not eksctl.is_eksctl(doc.data):
        err.write(f"{source}: not an eksctl ClusterConfig (apiVersion eksctl.io/v1alpha5)\n")
        return EXIT_INVALID
    conversion = eksctl.convert(doc)
    if conversion.unsupported and not args.allow_partial:
        err.write(f"{source}: {len(conversion.unsupported)} field(s) clusterdrop cannot honour:\n")
        for p in conversion.unsupported:
            err.write(_problem_line(source, p) + "\n")
        err.write("Remove them, or convert anyway with --allow-partial (they are then dropped).\n")
        return EXIT_INVALID
    try:
        load_spec(
            yaml.safe_dump(conversion.spec, sort_keys=False).encode(),
        )
    except SpecInvalid as exc:
        err.write(f"{source}: the converted spec is not valid:\n")
        for p in exc.problems:
            err.write(_problem_line("converted", p) + "\n")
        return EXIT_INVALID
    for note in conversion.notes:
        err.write(f"note: {note}\n")
    for p in conversion.unsupported:
        err.write(f"dropped: {p.path}: {p.message}\n")
    if args.output == "json":
        out.write(json.dumps(conversion.spec, indent=2) + "\n")
    else:
        out.write(yaml.safe_dump(conversion.spec, sort_keys=False))
    return EXIT_OK


# --- plan -----------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop.render.plan import format_summary, make_plan

    found = _load_or_explain(args.file, err, "nothing planned")
    if isinstance(found, int):
        return found
    _, loaded = found
    plan = make_plan(loaded.cluster)
    out_dir = Path(args.out) if args.out else Path("clusterdrop-plan") / loaded.cluster.metadata.name
    try:
        written = plan.write(out_dir)
    except OSError as exc:
        err.write(f"clusterdrop: cannot write templates to {out_dir}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    summary = plan.summary()
    summary["templates"] = [str(p) for p in written]
    if args.json:
        out.write(json.dumps(summary, indent=2) + "\n")
    else:
        out.write(format_summary(summary) + "\n\nTemplates written:\n")
        out.write("".join(f"  {p}\n" for p in written))
    return EXIT_OK


# --- cni ------------------------------------------------------------------------------------


def cmd_cni_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop.cni.catalog import CATALOG

    if args.json:
        rows = [
            {
                "name": r.name,
                "version": r.version,
                "defaultMode": r.default_mode,
                "eksAddon": r.eks_addon,
                "flavors": sorted(r.flavors),
                "modes": {m: [vars(a) for a in arts] for m, arts in r.modes.items()},
            }
            for r in CATALOG
        ]
        out.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_OK
    for release in CATALOG:
        flavors = ", ".join(sorted(release.flavors))
        addon = f"; on EKS installed as the add-on {release.eks_addon}" if release.eks_addon else ""
        out.write(f"{release.name} {release.version}  (flavours: {flavors}{addon})\n")
        for mode, artifacts in release.modes.items():
            default = " (default)" if mode == release.default_mode else ""
            out.write(f"  mode {mode}{default}:\n")
            for artifact in artifacts:
                out.write(f"    {artifact.name}  sha256:{artifact.sha256}\n      {artifact.url}\n")
    return EXIT_OK


def cmd_cni_apply(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import ipaddress
    import time

    from clusterdrop.cni import catalog, install, manifests
    from clusterdrop.cni.fetch import mirror_from_env
    from clusterdrop.errors import ClusterdropError
    from clusterdrop.kube import readiness

    release = catalog.find(args.name, args.version)
    if release is None:
        known = ", ".join(f"{r.name} {r.version}" for r in catalog.CATALOG)
        err.write(f"clusterdrop: {args.name} {args.version or ''} is not in the catalog; available: {known}\n")
        return EXIT_INVALID
    mode = args.mode or release.default_mode
    if mode not in release.modes:
        err.write(f"clusterdrop: {release.name} has no mode {mode!r}; modes: {', '.join(release.modes)}\n")
        return EXIT_INVALID
    if args.pod_cidr:
        try:
            ipaddress.IPv4Network(args.pod_cidr)
        except ValueError:
            err.write(f"clusterdrop: --pod-cidr {args.pod_cidr!r} is not an IPv4 CIDR\n")
            return EXIT_INVALID
    params = manifests.Parameters(pod_cidr=args.pod_cidr, eks=args.provider == "eks")
    try:
        plan = install.prepare(release, mode, params, mirror_from_env())
    except ClusterdropError as exc:
        err.write(f"clusterdrop: {exc}\n")
        return EXIT_INVALID
    kube = _kube(args)
    try:
        install.install(plan, kube.applier)
    except ClusterdropError as exc:
        err.write(f"clusterdrop: applying {release.name} {release.version} failed: {exc}\n")
        return EXIT_INVALID
    out.write(f"Applied {release.name} {release.version} ({mode}):\n")
    for kind, count in sorted(plan.applied.items()):
        out.write(f"  {kind}: {count}\n")
    if args.no_wait:
        return EXIT_OK
    deadline = time.monotonic() + args.timeout
    while True:
        verdicts = readiness.cni_verdicts(plan, kube)
        if readiness.all_ready(verdicts) or time.monotonic() >= deadline:
            break
        time.sleep(2)
    for what, verdict in verdicts.items():
        out.write(f"  {'ready' if verdict.ready else 'NOT READY'}  {what}: {verdict.reason}\n")
    if readiness.all_ready(verdicts):
        out.write(f"{release.name} {release.version} is ready.\n")
        return EXIT_OK
    err.write(f"clusterdrop: {release.name} is not ready after {args.timeout:g}s\n")
    return EXIT_INVALID


def _kube(args: argparse.Namespace) -> Any:
    from clusterdrop.kube import connect
    from clusterdrop.kube.client import Kube

    if args.server:
        return Kube(connect.for_server(args.server, token=args.token))
    return Kube(connect.for_kubeconfig(args.kubeconfig, args.context))


# --- submit / watch / status / delete ------------------------------------------------------


def _aws() -> tuple[Any, Any]:
    """A boto3 session (AWS_ENDPOINT_URL points it at the embedded mode) and the deployer's names."""
    import boto3

    from clusterdrop.ops import Deployer

    session = boto3.session.Session()
    return session, Deployer.discover(session.client("cloudformation"))


def _aws_errors(
    func: Callable[[argparse.Namespace, TextIO, TextIO], int],
) -> Callable[[argparse.Namespace, TextIO, TextIO], int]:
    """AWS being unreachable or refusing is an I/O problem (exit 2), said in one line."""

    def wrapped(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        import botocore.exceptions

        try:
            return func(args, out, err)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            err.write(f"clusterdrop: AWS: {exc}\n")
            return EXIT_USAGE

    return wrapped


@_aws_errors
def cmd_submit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop import ops

    source = _display(args.file)
    found = _load_or_explain(args.file, err, "nothing uploaded")
    if isinstance(found, int):
        return found
    raw, loaded = found
    session, deployer = _aws()
    name = loaded.cluster.metadata.name
    if loaded.cluster.spec.region != session.region_name:
        from clusterdrop.steps import region_mismatch

        err.write(f"{source}: {region_mismatch(loaded.cluster.spec.region, session.region_name)}\nnothing uploaded\n")
        return EXIT_INVALID
    if loaded.source_format == "eksctl":
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
    uploaded = ops.submit(session.client("s3"), deployer, name, raw, plan=args.plan, suffix=suffix)
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
        final = ops.watch(
            session.client("stepfunctions"), deployer, args.cluster, out, wait_for_start=args.wait, poll=args.poll
        )
    except WatchTimedOut as exc:
        err.write(f"clusterdrop: {exc}\n")
        return EXIT_USAGE
    return EXIT_OK if final == "SUCCEEDED" else EXIT_INVALID


@_aws_errors
def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop import ops

    session, deployer = _aws()
    items = ops.status(session.resource("dynamodb").Table(deployer.clusters_table))
    if args.json:
        out.write(json.dumps(items, indent=2, default=str) + "\n")
    else:
        out.write(ops.format_status(items))
    return EXIT_OK


@_aws_errors
def cmd_delete(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop import ops

    session, deployer = _aws()
    removed = ops.delete(session.client("s3"), deployer, args.cluster)
    if removed is None:
        err.write(f"clusterdrop: no spec for cluster {args.cluster} in s3://{deployer.spec_bucket}/clusters/\n")
        return EXIT_INVALID
    out.write(f"Removed s3://{removed['bucket']}/{removed['key']}: the teardown starts.\n")
    out.write(f"Follow it with: clusterdrop watch {args.cluster}\n")
    return EXIT_OK


# --- local -----------------------------------------------------------------------------------


def cmd_local_kube_api(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import threading

    from clusterdrop.local.kubeapi import KubeApiServer, controllers

    try:
        server = KubeApiServer(port=args.port)
    except OSError as exc:
        err.write(f"clusterdrop: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    if not args.no_controllers:
        controllers.attach(server.store)
    server.start()
    out.write(f"{server.url}\n")
    out.write(
        f"# Kubernetes API emulator; try: kubectl --server {server.url} create -f manifest.yaml --validate=false\n"
        "# Ctrl-C stops it.\n"
    )
    out.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


def cmd_local_up(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import signal
    import threading

    from clusterdrop.local import session

    session.quiet_logs()
    err.write("Starting the embedded AWS and deploying clusterdrop into it...\n")
    local = session.up(faults=set(args.inject or ()), node_ready_delay=args.node_ready_delay, region=args.region)
    out.write(f"{local.aws.url}\n")
    out.write("# clusterdrop runs here. In another shell:\n")
    for key, value in local.environment.items():
        out.write(f"export {key}={value}\n")
    out.write(
        "# then: clusterdrop submit examples/quickstart.yaml && clusterdrop watch quickstart\n"
        f"# or:   aws s3 cp examples/quickstart.yaml s3://{local.deployer.spec_bucket}/clusters/quickstart.yaml\n"
        "# Ctrl-C stops it.\n"
    )
    out.flush()
    # SIGTERM (kill, a supervisor) stops it as Ctrl-C does: workers, servers and the work directory go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_OK))
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()
    return EXIT_OK


def cmd_local_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop.aws import notify
    from clusterdrop.local import session

    source = _display(args.file)
    found = _load_or_explain(args.file, err, "nothing submitted")
    if isinstance(found, int):
        return found
    session.quiet_logs()
    progress = err if args.json else out
    progress.write(f"Starting the embedded AWS ({found[1].cluster.spec.region}) and deploying clusterdrop into it...\n")
    progress.flush()
    started = time.monotonic()
    # stdout is for the result: anything a library prints on its own goes with the progress.
    with contextlib.redirect_stdout(err if args.json else sys.stdout):
        # The embedded deployer is deployed where the spec's cluster goes.
        local = session.up(
            faults=set(args.inject or ()), node_ready_delay=args.node_ready_delay, region=found[1].cluster.spec.region
        )
        try:
            progress.write(f"Deployer ready in {time.monotonic() - started:.0f} s; submitting {source}\n")
            result = session.run(local, Path(args.file), progress, plan=args.plan)
        finally:
            local.stop()
    if args.json:
        out.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        message = (result["notifications"]["sns"] or {}).get("outcome")
        out.write("\n--- the notification, as a user reads it ---\n")
        out.write(notify.email_text(notify.outcome_from_dict(message)) if message else "(no notification arrived)\n")
        if result["leftovers"]:
            out.write("Left in the emulator: " + ", ".join(result["leftovers"]) + "\n")
        out.write(f"\n{result['status']} in {result['seconds']:.0f} s\n")
    return EXIT_OK if result["status"] == "SUCCEEDED" else EXIT_INVALID


# --- wiring ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterdrop",
        description="Deploy Kubernetes clusters on AWS from a spec file dropped into S3.",
        epilog="Exit codes: 0 success, 1 invalid input or failed outcome, 2 usage or I/O error.",
    )
    parser.add_argument("--version", action="version", version=f"clusterdrop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "validate",
        help="check cluster specs (native or eksctl) and name every problem",
        description="Validate cluster specs: every problem with its path, line and column.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="spec file (YAML or JSON), or - for stdin")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of the spec (for editors)",
        description="Print the JSON Schema of clusterdrop.io/v1alpha1 Cluster, generated from the models.",
    )
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser(
        "convert",
        help="convert an eksctl ClusterConfig into a clusterdrop spec",
        description="Convert an eksctl.io/v1alpha5 ClusterConfig to the native spec on stdout; "
        "messages go to stderr. Fields clusterdrop cannot honour are refused by their eksctl path.",
    )
    p.add_argument("file", metavar="FILE", help="eksctl ClusterConfig file, or - for stdin")
    p.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml", help="output format (default yaml)")
    p.add_argument(
        "--allow-partial", action="store_true", help="convert anyway, dropping (and listing) unsupported fields"
    )
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "plan",
        help="render the CloudFormation templates offline and summarize them",
        description="Render the CloudFormation templates the workflow will deploy (one per stack) and "
        "print a summary. Needs no credentials and no network.",
    )
    p.add_argument("file", metavar="FILE", help="spec file (native or eksctl), or - for stdin")
    p.add_argument("--out", metavar="DIR", help="where to write the templates (default ./clusterdrop-plan/NAME)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_plan)

    deployer_help = "The deployer is found through its stack's outputs (CLUSTERDROP_STACK, default clusterdrop)."
    p = sub.add_parser(
        "submit",
        help="validate a spec locally, then upload it",
        description="Validate FILE, then upload it to clusters/ (or plans/ with --plan). " + deployer_help,
    )
    p.add_argument("file", metavar="FILE", help="spec file (native or eksctl), or - for stdin")
    p.add_argument("--plan", action="store_true", help="a dry run: the notification shows what would change")
    p.set_defaults(func=cmd_submit)
    p = sub.add_parser(
        "watch",
        help="follow the newest execution of a cluster",
        description="Follow the newest execution of CLUSTER (of any cluster without one; or wait for one to "
        "start): each step, its retries, node progress, the outcome. Exit 0 on success, 1 on failure, 2 when "
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
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser(
        "delete",
        help="remove a cluster's spec to start its teardown",
        description="Remove clusters/NAME.* (a delete marker: the history stays) so that the teardown starts. "
        + deployer_help,
    )
    p.add_argument("cluster", metavar="NAME")
    p.set_defaults(func=cmd_delete)

    cni = sub.add_parser("cni", help="the CNI catalog; (re)install a CNI as the workflow does", description="CNIs.")
    cni_sub = cni.add_subparsers(dest="cni_command", metavar="COMMAND", required=True)
    p = cni_sub.add_parser("list", help="print the catalog: CNIs, versions, artifacts, digests")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_cni_list)
    p = cni_sub.add_parser(
        "apply",
        help="apply a CNI to a cluster and wait until it is ready",
        description="Stage the CNI's official artifacts (mirror in $CLUSTERDROP_CNI_MIRROR, else download), "
        "verify their sha256, set the parameters, server-side apply them in dependency order and wait for "
        "readiness — exactly as the workflow does.",
    )
    p.add_argument("name", metavar="NAME", help="CNI name, e.g. calico")
    p.add_argument("--version", help="version from the catalog (default: newest)")
    p.add_argument("--mode", help="installation mode (calico: manifest | operator)")
    p.add_argument("--pod-cidr", metavar="CIDR", help="pod CIDR of the overlay (default: the manifest's)")
    p.add_argument("--provider", choices=("eks", "generic"), default="eks", help="cluster kind (default eks)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file of the cluster")
    target.add_argument("--server", metavar="URL", help="API server URL (e.g. the embedded one)")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("--token", help="bearer token, with --server")
    p.add_argument("--no-wait", action="store_true", help="do not wait for readiness")
    p.add_argument("--timeout", type=float, default=600, metavar="SECONDS", help="readiness deadline (default 600)")
    p.set_defaults(func=cmd_cni_apply)

    local = sub.add_parser("local", help="the embedded mode", description="Run parts of clusterdrop locally.")
    local_sub = local.add_subparsers(dest="local_command", metavar="COMMAND", required=True)
    p = local_sub.add_parser(
        "kube-api",
        help="serve a Kubernetes API emulator on 127.0.0.1",
        description="Serve a Kubernetes API emulator; its URL is the first line of stdout.",
    )
    p.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    p.add_argument("--no-controllers", action="store_true", help="do not mark DaemonSets and Deployments rolled out")
    p.set_defaults(func=cmd_local_kube_api)
    p = local_sub.add_parser(
        "up",
        help="start the embedded AWS with clusterdrop deployed into it",
        description="Start moto (Step Functions execution on), the local Lambda runtime, EKS and Kubernetes "
        "emulation, deploy the synthesized CDK app into it, and print the environment to export.",
    )
    _emulation_options(p)
    p.add_argument("--region", default="eu-west-1", help="the region the deployer is deployed to (default eu-west-1)")
    p.set_defaults(func=cmd_local_up)
    p = local_sub.add_parser(
        "run",
        help="up, submit a spec, watch it to the end, report",
        description="Start the embedded mode, submit SPEC, follow the execution and report the outcome; exit 0 "
        "on success, 1 on failure. With --json, one JSON object on stdout (progress goes to stderr).",
    )
    p.add_argument("file", metavar="SPEC", help="cluster spec (native or eksctl)")
    p.add_argument("--json", action="store_true", help="the result as one JSON object on stdout")
    _emulation_options(p)
    p.add_argument("--plan", action="store_true", help="submit under plans/ (a dry run)")
    p.set_defaults(func=cmd_local_run)
    return parser


def _emulation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--inject",
        action="extend",
        type=_faults,
        metavar="FAULT[,FAULT…]",
        help=f"faults to inject, comma-separated or repeated: {', '.join(session_faults())}",
    )
    p.add_argument(
        "--node-ready-delay",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long simulated nodes take to turn Ready once the CNI is there, a group's later nodes a half "
        "delay more each (default 5; on EKS about a minute)",
    )


def session_faults() -> tuple[str, ...]:
    return ("stack-failure", "nodes-not-ready", "cni-digest", "delete-failed", "rollback-failed", "update-rollback")


def _faults(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in session_faults()]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown fault {', '.join(unknown) or repr(value)} (choose from {', '.join(session_faults())})"
        )
    return names


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    func: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.func
    try:
        return func(args, out, err)
    except KeyboardInterrupt:
        err.write("clusterdrop: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
        err.write(f"clusterdrop: internal error: {type(exc).__name__}: {exc}\n")
        return EXIT_USAGE


def run() -> None:
    sys.exit(main())
