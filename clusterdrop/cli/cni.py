"""`cni list` and `cni apply`: the catalog, and a CNI installed as the workflow installs it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any, TextIO

from clusterdrop.cli.common import EXIT_INVALID, EXIT_OK


def cmd_cni_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop.cni.catalog import CATALOG, tested_range

    if args.json:
        rows = [
            {
                "name": r.name,
                "version": r.version,
                "defaultMode": r.default_mode,
                "eksAddon": r.eks_addon,
                "flavors": sorted(r.flavors),
                "testedKubernetes": list(r.tested_kubernetes),
                "testedSource": r.tested_source or None,
                "modes": {m: [dataclasses.asdict(a) for a in arts] for m, arts in r.modes.items()},
            }
            for r in CATALOG
        ]
        out.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_OK
    for release in CATALOG:
        flavors = ", ".join(sorted(release.flavors))
        addon = f"; on EKS installed as the add-on {release.eks_addon}" if release.eks_addon else ""
        out.write(f"{release.name} {release.version}  (flavours: {flavors}{addon})\n")
        if release.tested_kubernetes:
            out.write(f"  tested on Kubernetes {tested_range(release)} ({release.tested_source})\n")
        charts = {a.render.chart for arts in release.modes.values() for a in arts if a.render is not None}
        for chart in charts:
            out.write(f"  chart {chart.name}  sha256:{chart.sha256}\n    {chart.url}\n")
        for mode, artifacts in release.modes.items():
            default = " (default)" if mode == release.default_mode else ""
            out.write(f"  mode {mode}{default}:\n")
            for artifact in artifacts:
                origin = f"rendered from {artifact.render.chart.name}" if artifact.render else artifact.url
                out.write(f"    {artifact.name}  sha256:{artifact.sha256}\n      {origin}\n")
    return EXIT_OK


def cmd_cni_apply(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import ipaddress
    from urllib.parse import urlsplit

    from clusterdrop.cni import install, manifests
    from clusterdrop.cni.fetch import mirror_from_env
    from clusterdrop.errors import ClusterdropError
    from clusterdrop.kube import readiness

    release = _release(args, err)
    if release is None:
        return EXIT_INVALID
    mode = args.mode or release.default_mode
    if args.kube_proxy_replacement and release.name != "cilium":
        err.write("clusterdrop: --kube-proxy-replacement is Cilium's\n")
        return EXIT_INVALID
    if args.kube_proxy_replacement:
        mode += "-kpr"  # a structural choice: the chart rendered so
    if mode not in release.modes:
        err.write(f"clusterdrop: {release.name} has no mode {mode!r}; modes: {', '.join(release.modes)}\n")
        return EXIT_INVALID
    if args.pod_cidr:
        try:
            ipaddress.IPv4Network(args.pod_cidr)
        except ValueError:
            err.write(f"clusterdrop: --pod-cidr {args.pod_cidr!r} is not an IPv4 CIDR\n")
            return EXIT_INVALID
    kube = _kube(args)
    server = urlsplit(str(kube.api_client.configuration.host))
    params = manifests.Parameters(
        pod_cidr=args.pod_cidr,
        eks=args.provider == "eks",
        cluster_name=args.cluster_name,
        api_host=server.hostname,
        api_port=server.port or 443,
        nodes=len(kube.list("v1", "Node")) if release.name == "cilium" else None,
    )
    try:
        plan = install.prepare(release, mode, params, mirror_from_env())
    except ClusterdropError as exc:
        err.write(f"clusterdrop: {exc}\n")
        return EXIT_INVALID
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


def cmd_cni_mirror(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Every artifact of a release (each mode), verified and put in a mirror; a chart's modes
    rendered here, on this machine — the workflow's functions never render."""
    from pathlib import Path

    from clusterdrop.cni.fetch import DirectoryMirror, Mirror, mirror_from_env, sha256, stage
    from clusterdrop.errors import ClusterdropError

    release = _release(args, err)
    if release is None:
        return EXIT_INVALID
    target: Mirror
    if args.bucket:
        import boto3

        from clusterdrop.cni.s3mirror import S3Mirror

        target = S3Mirror(boto3.client("s3"), args.bucket)
    else:
        target = DirectoryMirror(Path(args.dir))
    source = mirror_from_env()  # where verified copies may already be (offline)
    for mode in release.modes:
        try:
            staged = stage(release, mode, source or target)
        except ClusterdropError as exc:
            err.write(f"clusterdrop: {exc}\n")
            return EXIT_INVALID
        for item in staged:
            kept = target.find(item.artifact)
            if kept is None or sha256(kept[0]) != item.artifact.sha256:
                target.put(item.artifact, item.data)
            out.write(f"{release.name} {release.version} {mode}: {item.artifact.name} sha256:{item.artifact.sha256}\n")
    out.write(f"in the {target.describe()}\n")
    return EXIT_OK


def _release(args: argparse.Namespace, err: TextIO) -> Any:
    """The catalog's release the command names (None, said on stderr: not in the catalog)."""
    from clusterdrop.cni import catalog

    release = catalog.find(args.name, args.version)
    if release is None:
        known = ", ".join(f"{r.name} {r.version}" for r in catalog.CATALOG)
        err.write(f"clusterdrop: {args.name} {args.version or ''} is not in the catalog; available: {known}\n")
    return release


def _kube(args: argparse.Namespace) -> Any:
    from clusterdrop.kube import connect
    from clusterdrop.kube.client import Kube

    if args.server:
        return Kube(connect.for_server(args.server, token=args.token))
    return Kube(connect.for_kubeconfig(args.kubeconfig, args.context))


def register(sub: Any) -> None:
    """Add this group's sub-commands to the `clusterdrop` parser."""
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
    p.add_argument("--mode", help="installation mode (calico: manifest | operator; cilium: eni | overlay)")
    p.add_argument(
        "--kube-proxy-replacement",
        action="store_true",
        help="cilium: replace kube-proxy (the agents reach the API server directly)",
    )
    p.add_argument("--cluster-name", help="cilium: the cluster's name in Cilium (default: the chart's, default)")
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
    p = cni_sub.add_parser(
        "mirror",
        help="put a release's verified artifacts in a mirror, rendering charts here",
        description="Stage every artifact of a catalog release, every mode (from $CLUSTERDROP_CNI_MIRROR when it "
        "holds them, else the official URL), check each sha256, render a chart's modes with Helm's engine (this "
        "machine only: the workflow's functions never render) and put them in the mirror the workflow reads.",
    )
    p.add_argument("name", metavar="NAME", help="CNI name, e.g. cilium")
    p.add_argument("--version", help="version from the catalog (default: newest)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--bucket", help="the deployer's artifacts bucket (its ArtifactsBucket output)")
    where.add_argument("--dir", help="a mirror directory (the embedded mode's, or one to copy)")
    p.set_defaults(func=cmd_cni_mirror)
