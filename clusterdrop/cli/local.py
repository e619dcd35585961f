"""The embedded mode: `local kube-api`, `local up`, `local run`."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from clusterdrop.cli.common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, display, load_or_explain
from clusterdrop.local import FAULTS


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

    source = display(args.file)
    found = load_or_explain(args.file, err, "nothing submitted")
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


def _emulation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--inject",
        action="extend",
        type=faults,
        metavar="FAULT[,FAULT…]",
        help=f"faults to inject, comma-separated or repeated: {', '.join(FAULTS)}",
    )
    p.add_argument(
        "--node-ready-delay",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long simulated nodes take to turn Ready once the CNI is there, a group's later nodes a half "
        "delay more each (default 5; on EKS about a minute)",
    )


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
