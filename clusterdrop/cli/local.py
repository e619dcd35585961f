"""The embedded mode: `local kube-api`, `local up`, `local run`."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from clusterdrop.cli.common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, display, load_or_explain
from clusterdrop.local import FAULTS
from clusterdrop.quotas import QUOTAS


def cmd_local_kube_api(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import threading

    from clusterdrop.local.standalone import StandaloneCluster

    users: list[tuple[str, str, list[str]]] = list(args.user or ())
    try:
        cluster = StandaloneCluster(port=args.port, nodes_wanted=args.nodes, version=args.kubernetes_version)
    except OSError as exc:
        err.write(f"clusterdrop: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    _stop_on_sigterm()
    admin = cluster.grant("admin", "cluster-admin")
    granted = [
        (name, policy, namespaces, cluster.grant(name, policy, namespaces)) for name, policy, namespaces in users
    ]
    cluster.start()
    scratch = None if args.kubeconfig else tempfile.mkdtemp(prefix="clusterdrop-kube-api-")
    kubeconfig = Path(args.kubeconfig or Path(str(scratch)) / "kubeconfig")
    kubeconfig.write_text(json.dumps(cluster.kubeconfig(), indent=2))
    kubeconfig.chmod(0o600)  # it holds the tokens
    out.write(f"{cluster.url}\n")
    out.write(f"# token of admin (cluster-admin): {admin}\n")
    for name, policy, namespaces, token in granted:
        where = f" in {','.join(namespaces)}" if namespaces else ""
        out.write(f"# token of {name} ({policy}{where}): {token}\n")
    others = "".join(f", {name}" for name, *_ in granted)
    out.write(
        f"# kubeconfig: {kubeconfig} (contexts admin{others}; the server's CA in it)\n"
        f"# One emulated cluster, Kubernetes {args.kubernetes_version}: {args.nodes} node(s), NotReady until a "
        "CNI's agent runs on them, and the embedded EKS's scheduler and controllers. Try:\n"
        f"#   kubectl --kubeconfig {kubeconfig} get nodes\n"
        f"#   clusterdrop cni apply flannel --provider generic --kubeconfig {kubeconfig}\n"
        "# A request without one of these tokens gets 401 (as EKS answers a principal with no access entry).\n"
        f"# Ctrl-C stops it{'' if args.kubeconfig else ' and removes the kubeconfig'}.\n"
    )
    out.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return EXIT_OK


def access_user(value: str) -> tuple[str, str, list[str]]:
    """NAME=POLICY[:NAMESPACE,…] for `local kube-api --user`."""
    from clusterdrop.local.standalone import POLICIES

    name, _, rest = value.partition("=")
    policy, _, namespaces = rest.partition(":")
    if not name or policy not in POLICIES:
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected NAME=POLICY[:NAMESPACE,…] with POLICY one of {', '.join(POLICIES)}"
        )
    return name, policy, [n for n in namespaces.split(",") if n]


def _stop_on_sigterm() -> None:
    """SIGTERM (kill, a supervisor, CI's timeout) stops the embedded mode as Ctrl-C does: it unwinds,
    so workers and servers stop and the work directories (a server key among them) go. Without it
    Python dies at once and leaves them in the temporary directory."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def cmd_local_up(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import threading

    from clusterdrop.local import session

    session.quiet_logs()
    _stop_on_sigterm()
    err.write("Starting the embedded AWS and deploying clusterdrop into it...\n")
    inbox = Path(args.inbox or tempfile.mkdtemp(prefix="clusterdrop-inbox-")).resolve()
    local = session.up(
        faults=set(args.inject or ()),
        node_ready_delay=args.node_ready_delay,
        region=args.region,
        inbox=inbox,
        quotas=dict(args.quota or ()),
    )
    out.write(f"{local.aws.url}\n")
    out.write("# clusterdrop runs here. In another shell:\n")
    for key, value in local.environment.items():
        out.write(f"export {key}={value}\n")
    out.write(
        "# then: clusterdrop submit examples/quickstart.yaml && clusterdrop watch quickstart\n"
        f"# or:   aws s3 cp examples/quickstart.yaml s3://{local.deployer.spec_bucket}/clusters/quickstart.yaml\n"
        f"# Notifications: each email's text and each Slack message is written to {inbox}/ as a file\n"
        "# (NNN-email.txt, NNN-slack.json); they stay there after it stops.\n"
        "# Everything else lives in memory: Ctrl-C stops it, and the account and its clusters go with it\n"
        "# (the next start is empty).\n"
    )
    out.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()
    return EXIT_OK


STOPPED_WITH_THE_RUN = (
    "\nThe embedded AWS stopped with this run, and its clusters with it. To keep one and use the commands above "
    "(kubeconfig, status --page, watch, kubectl): clusterdrop local up in another shell, run the exports it prints, "
    "then clusterdrop submit FILE.\n"
)


def cmd_local_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Up, then each spec in turn, each followed to its end; the first that fails stops the rest."""
    from clusterdrop.aws import notify
    from clusterdrop.local import session

    loaded, raws = [], []
    for file in args.files:
        found = load_or_explain(file, err, "nothing submitted")
        if isinstance(found, int):
            return found
        raws.append(found[0])
        loaded.append(found[1])
    regions = {spec.cluster.spec.region for spec in loaded}
    if len(regions) > 1:
        err.write(f"error: the specs name several regions ({', '.join(sorted(regions))}); a deployer takes one\n")
        return EXIT_INVALID
    [region] = regions
    session.quiet_logs()
    _stop_on_sigterm()
    progress = err if args.json else out
    progress.write(f"Starting the embedded AWS ({region}) and deploying clusterdrop into it...\n")
    progress.flush()
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    # stdout is for the result: anything a library prints on its own goes with the progress.
    with contextlib.redirect_stdout(err if args.json else sys.stdout):
        # The embedded deployer is deployed where the specs' clusters go.
        local = session.up(
            faults=set(args.inject or ()),
            node_ready_delay=args.node_ready_delay,
            region=region,
            pages=Path(args.pages).resolve(),
            quotas=dict(args.quota or ()),
        )
        try:
            progress.write(f"Deployer ready in {time.monotonic() - started:.0f} s\n")
            _deploy_networks(local, raws, loaded, region, progress)
            _import_key_pairs(local, loaded, progress)
            for file in args.files:
                progress.write(f"Submitting {display(file)}\n")
                results.append(session.run(local, Path(file), progress, plan=args.plan))
                if args.json:  # one summary per spec, one per line, as each ends
                    out.write(json.dumps(results[-1], default=str) + "\n")
                    out.flush()
                else:
                    _report(results[-1], out, notify)
                if results[-1]["status"] != "SUCCEEDED":
                    break
        finally:
            local.stop()
    skipped = args.files[len(results) :]
    if skipped:
        progress.write(f"Not submitted after that failure: {', '.join(display(f) for f in skipped)}\n")
    # The notification's suggestions (kubeconfig, status --page, watch) are true of a deployer that
    # keeps running; this one has just stopped.
    progress.write(STOPPED_WITH_THE_RUN)
    return EXIT_OK if all(r["status"] == "SUCCEEDED" for r in results) and not skipped else EXIT_INVALID


def _deploy_networks(local: Any, raws: list[bytes], loaded: list[Any], region: str, progress: TextIO) -> None:
    """The seed networks the specs reference (/clusterdrop/network/NAME/…), deployed first: what
    the network's own IaC would have made, so such a spec can be tried offline."""
    from clusterdrop.local import network
    from clusterdrop.spec.loader import load

    zones: dict[str, list[str]] = {}
    for raw, spec in zip(raws, loaded, strict=True):
        for name in network.names_referenced([load(raw).data]):
            zones.setdefault(name, list(spec.cluster.spec.network.zones or [f"{region}{z}" for z in "abc"]))
    for name, its_zones in sorted(zones.items()):
        if network.deploy(local.aws.client("cloudformation"), local.aws.client("ssm"), name, region, its_zones):
            progress.write(
                f"Deployed the {name} network (stack {network.stack_name(name)}: a VPC, a public and a private subnet "
                f"in {', '.join(its_zones)}, NAT), standing in for your network's IaC: its IDs are SSM parameters "
                f"under {network.PARAMETER_ROOT}{name}/ and exports {name}-network-*\n"
            )


def _import_key_pairs(local: Any, loaded: list[Any], progress: TextIO) -> None:
    """The EC2 key pairs the specs' node groups name, imported first (a new public key each):
    standing in for the key you have in your account, so such a spec can be tried offline. On AWS
    Plan refuses a key pair that does not exist."""
    from clusterdrop.local.session import import_key_pair

    names = sorted({g.ssh_key_name for spec in loaded for g in spec.cluster.spec.node_groups if g.ssh_key_name})
    for name in names:
        if import_key_pair(local.aws.client("ec2"), name):
            progress.write(
                f"Imported EC2 key pair {name} into the embedded account, standing in for yours (on AWS it must "
                f"exist: aws ec2 import-key-pair --key-name {name} …)\n"
            )


def _report(result: dict[str, Any], out: TextIO, notify: Any) -> None:
    message = (result["notifications"]["sns"] or {}).get("outcome")
    out.write("\n--- the notification, as a user reads it ---\n")
    out.write(notify.email_text(notify.outcome_from_dict(message)) if message else "(no notification arrived)\n")
    if result["leftovers"]:
        out.write("Left in the emulator: " + ", ".join(result["leftovers"]) + "\n")
    if result.get("statusPage"):
        out.write(f"Status page: {result['statusPage']}\n")
    out.write(f"\n{result['cluster']}: {result['status']} in {result['seconds']:.0f} s\n")


def _emulation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--inject",
        action="extend",
        type=faults,
        metavar="FAULT[,FAULT…]",
        help="faults to inject, comma-separated or repeated (listed below)",
    )
    p.add_argument(
        "--node-ready-delay",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long simulated nodes take to turn Ready once the CNI is there, a group's later nodes a half "
        "delay more each (default 5; on EKS about a minute)",
    )
    p.add_argument(
        "--quota",
        action="append",
        type=quota,
        metavar="KEY=VALUE",
        help="a service quota of the embedded account, repeated (default: a new account's; keys below)",
    )


class _ListedFormatter(argparse.HelpFormatter):
    """Wraps paragraphs as argparse does, but keeps indented lines (the list of faults) one per line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(
            indent + line if line.startswith(" ") else super(_ListedFormatter, self)._fill_text(line, width, indent)
            for line in text.splitlines()
        )


FAULT_HELP = (
    "faults (--inject):\n"
    + "\n".join(f"  {name:<20} {what}" for name, what in FAULTS.items())
    + "\n\nquotas (--quota KEY=VALUE; a new account's value in brackets):\n"
    + "\n".join(f"  {q.key:<20} {q.name} ({q.service} {q.code}) [{q.default:g}]" for q in QUOTAS.values())
)


def quota(value: str) -> tuple[str, float]:
    from clusterdrop.local.quotas import parse

    try:
        [(key, number)] = parse([value]).items()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return key, number


def faults(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in FAULTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown fault {', '.join(unknown) or repr(value)} (choose from {', '.join(FAULTS)})"
        )
    return names


def register(sub: Any) -> None:
    """Add this group's sub-commands to the `clusterdrop` parser."""
    local = sub.add_parser("local", help="the embedded mode", description="Run parts of clusterdrop locally.")
    local_sub = local.add_subparsers(dest="local_command", metavar="COMMAND", required=True)
    p = local_sub.add_parser(
        "kube-api",
        help="serve one emulated cluster's Kubernetes API on 127.0.0.1 (no AWS)",
        description="Serve one emulated cluster, as the embedded EKS runs one per cluster but with no AWS: the "
        "Kubernetes API server, nodes that turn Ready once a CNI's agent runs on them, the scheduler and the "
        "controllers. Callers are admitted as EKS admits them, by access entries: each principal's bearer token "
        "is printed (admin's, cluster-admin, and one per --user); any other gets 401, one whose policy does not "
        "allow a request 403. Its URL is the first line of stdout, admin's token in the second; a kubeconfig with a "
        "context per principal is written.",
    )
    p.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    p.add_argument("--nodes", type=int, default=2, metavar="N", help="nodes of its node group (default 2)")
    p.add_argument("--kubernetes-version", default="1.36", metavar="X.Y", help="what /version answers (default 1.36)")
    p.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="write its kubeconfig here (default: a temporary file, removed when it stops)",
    )
    p.add_argument(
        "--user",
        action="append",
        type=access_user,
        metavar="NAME=POLICY[:NS,…]",
        help="another principal with an access entry: POLICY cluster-admin, admin, edit, view (in the namespaces "
        "given) or none (no policy: every request 403); repeated",
    )
    p.set_defaults(func=cmd_local_kube_api)
    p = local_sub.add_parser(
        "up",
        help="start the embedded AWS with clusterdrop deployed into it",
        description="Start moto (Step Functions execution on), the local Lambda runtime, EKS and Kubernetes "
        "emulation, deploy the synthesized CDK app into it, and print the environment to export.",
        epilog=FAULT_HELP,
        formatter_class=_ListedFormatter,
    )
    _emulation_options(p)
    p.add_argument("--region", default="eu-west-1", help="the region the deployer is deployed to (default eu-west-1)")
    p.add_argument(
        "--inbox", metavar="DIR", help="where notifications are written as files (default: a new temporary directory)"
    )
    p.set_defaults(func=cmd_local_up)
    p = local_sub.add_parser(
        "run",
        help="up, submit a spec, watch it to the end, report",
        description="Start the embedded mode, submit each SPEC in turn, follow its execution and report the "
        "outcome; stop at the first that fails. Exit 0 when all succeed, 1 otherwise. With --json, one JSON object "
        "per spec on stdout, one per line (progress goes to stderr).",
        epilog=FAULT_HELP,
        formatter_class=_ListedFormatter,
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="SPEC",
        help="cluster spec (native, eksctl or kops); several are applied in turn, each waited on (rehearse an upgrade: "
        "the same cluster at one version, then the next)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per spec on stdout, one per line")
    _emulation_options(p)
    p.add_argument("--plan", action="store_true", help="submit under plans/ (a dry run)")
    p.add_argument(
        "--pages",
        default="clusterdrop-status",
        metavar="DIR",
        help="where each execution's status page is saved (default ./clusterdrop-status)",
    )
    p.set_defaults(func=cmd_local_run)
