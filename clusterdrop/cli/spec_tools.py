"""Spec tools, offline: `validate`, `schema`, `convert` (eksctl, kops), `plan`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

import yaml

from clusterdrop.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    caller_resolver,
    display,
    load_or_explain,
    problem_line,
    read_input,
    read_or_explain,
    spec_warnings,
)
from clusterdrop.errors import InputUnreadable, LoadError, Problem, SpecInvalid, UnsupportedFields
from clusterdrop.spec import eksctl, kops, policy
from clusterdrop.spec.importer import Row
from clusterdrop.spec.loader import load
from clusterdrop.spec.source import load_spec


def _resolve_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--resolve",
        action="store_true",
        help="read fromSsm/fromExport references with your AWS credentials (default: shown as references)",
    )


def _policy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy",
        metavar="FILE",
        help="check against a guardrail policy (JSON or YAML; the deployer's is its stack output Guardrails)",
    )
    p.add_argument(
        "--account", metavar="ID", help="the deployer's account: cluster admins default to it under --policy"
    )


def _policy_problems(args: argparse.Namespace, cluster: Any) -> list[Problem]:
    """The guardrail policy's refusals (none without --policy)."""
    if not getattr(args, "policy", None):
        return []
    try:
        rules = policy.load(Path(args.policy))
    except OSError as exc:
        raise InputUnreadable(f"cannot read the policy {args.policy}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InputUnreadable(f"the policy {args.policy} is not a guardrail policy: {exc}") from None
    return policy.check(cluster, rules, account=args.account)


def cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    results: list[dict[str, Any]] = []
    status = EXIT_OK
    resolve = caller_resolver(args.resolve)
    for name in args.files:
        source = display(name)
        try:
            loaded = load_spec(read_input(name), resolve=resolve)
        except InputUnreadable as exc:
            # Every other file is still reported; the exit code says one could not be read.
            results.append(
                {"file": source, "valid": False, "unreadable": True, "errors": [Problem("", str(exc)).as_dict()]}
            )
            status = EXIT_USAGE
            continue
        except LoadError as exc:
            problems = [Problem("", exc.message, exc.line, exc.column)]
            results.append({"file": source, "valid": False, "errors": [p.as_dict() for p in problems]})
            status = max(status, EXIT_INVALID)
            continue
        except (SpecInvalid, UnsupportedFields) as exc:
            results.append({"file": source, "valid": False, "errors": [p.as_dict() for p in exc.problems]})
            status = max(status, EXIT_INVALID)
            continue
        cluster = loaded.cluster
        spec = cluster.spec
        try:
            refused = [p for p in _policy_problems(args, cluster) if not loaded.waits_for(p.path)]
        except InputUnreadable as exc:
            err.write(f"clusterdrop: {exc}\n")
            return EXIT_USAGE
        if refused:
            results.append({"file": source, "valid": False, "errors": [p.as_dict() for p in refused]})
            status = max(status, EXIT_INVALID)
            continue
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
                "references": loaded.reference_records(),
                "referenceLines": loaded.reference_lines(),
                "warnings": spec_warnings(spec),
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
                f"{result['nodes']} node(s)"
                + (f" (from {result['format']})" if result["format"] in ("eksctl", "kops") else "")
                + "\n"
            )
            for note in result["notes"]:
                out.write(f"  note: {note}\n")
            for warning in result["warnings"]:
                out.write(f"  warning: {warning}\n")
            for line in result["referenceLines"]:
                out.write(f"  {line}\n")
            continue
        errors = result["errors"]
        if result.get("unreadable"):
            err.write(f"clusterdrop: {errors[0]['message']}\n")
            continue
        out.write(f"{result['file']}: {len(errors)} problem{'s' if len(errors) != 1 else ''}\n")
        for e in errors:
            out.write(problem_line(result["file"], Problem(**e)) + "\n")
    return status


# --- schema ---------------------------------------------------------------------------------


def cmd_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop.spec.schema import json_schema

    out.write(json.dumps(policy.schema() if args.policy else json_schema(), indent=2) + "\n")
    return EXIT_OK


# --- convert --------------------------------------------------------------------------------


def cmd_convert(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    source = display(args.file)
    doc = read_or_explain(args.file, err, load)
    if isinstance(doc, int):
        return doc
    if kops.is_kops(doc.data):
        conversion = kops.convert(doc, name=args.name)
    elif eksctl.is_eksctl(doc.data):
        if args.name or args.references:
            err.write("clusterdrop: --name and --references are for kops files (an eksctl file names its cluster)\n")
            return EXIT_USAGE
        conversion = eksctl.convert(doc)
    else:
        err.write(
            f"{source}: neither an eksctl ClusterConfig (apiVersion eksctl.io/v1alpha5) nor a kops file "
            "(apiVersion kops.k8s.io/v1alpha2)\n"
        )
        return EXIT_INVALID
    if args.table:
        _write_table(conversion.table, err)
    if conversion.unsupported and not args.allow_partial:
        err.write(f"{source}: {len(conversion.unsupported)} field(s) clusterdrop cannot honour:\n")
        for p in conversion.unsupported:
            err.write(problem_line(source, p) + "\n")
        err.write("Remove them, or convert anyway with --allow-partial (they are then dropped).\n")
        return EXIT_INVALID
    spec = conversion.spec
    if args.references:
        try:
            spec = kops.with_references(spec, args.references)
        except ValueError as exc:
            err.write(f"clusterdrop: {exc}\n")
            return EXIT_USAGE
    try:
        load_spec(yaml.safe_dump(spec, sort_keys=False).encode())
    except SpecInvalid as exc:
        err.write(f"{source}: the converted spec is not valid:\n")
        for p in exc.problems:  # paths of the converted spec, which the user has not seen: no lines
            err.write(problem_line("converted", Problem(p.path, p.message, None, None)) + "\n")
        return EXIT_INVALID
    for note in conversion.notes:
        err.write(f"note: {note}\n")
    for p in conversion.unsupported:
        err.write(f"dropped: {p.path}: {p.message}\n")
    if args.output == "json":
        out.write(json.dumps(spec, indent=2) + "\n")
    else:
        out.write(yaml.safe_dump(spec, sort_keys=False))
    return EXIT_OK


def _write_table(rows: list[Row], err: TextIO) -> None:
    """Each source field and what it became, in the file's order: → carried, · said, ✗ refused."""
    err.write("What each field became (→ carried, · said, ✗ refused):\n")
    for row in sorted(rows, key=lambda r: (r.document, r.line or 0)):
        err.write(f"  {row.text()}\n")


# --- plan -----------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop.render.plan import format_summary, make_plan

    found = load_or_explain(args.file, err, "nothing planned", caller_resolver(args.resolve))
    if isinstance(found, int):
        return found
    _, loaded = found
    try:
        refused = [p for p in _policy_problems(args, loaded.cluster) if not loaded.waits_for(p.path)]
    except InputUnreadable as exc:
        err.write(f"clusterdrop: {exc}\n")
        return EXIT_USAGE
    source = display(args.file)
    if refused:
        err.write(f"{source}: refused by the guardrails, nothing planned\n")
        for problem in refused:
            err.write(problem_line(source, problem) + "\n")
        return EXIT_INVALID
    plan = make_plan(loaded.cluster)
    out_dir = Path(args.out) if args.out else Path("clusterdrop-plan") / loaded.cluster.metadata.name
    try:
        written = plan.write(out_dir)
    except OSError as exc:
        err.write(f"clusterdrop: cannot write templates to {out_dir}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    summary = plan.summary()
    summary["templates"] = [str(p) for p in written]
    summary["references"] = loaded.reference_records()
    if args.json:
        out.write(json.dumps(summary, indent=2) + "\n")
    else:
        out.write(format_summary(summary))
        if loaded.references:
            out.write("\n\nValues from references:\n" + "".join(f"  {line}\n" for line in loaded.reference_lines()))
            if loaded.resolved is None:
                out.write("  (the templates hold stand-ins for them, such as vpc-00000000000000002)\n")
        out.write("\n\nTemplates written:\n")
        out.write("".join(f"  {p}\n" for p in written))
    return EXIT_OK


def register(sub: Any) -> None:
    """Add this group's sub-commands to the `clusterdrop` parser."""

    p = sub.add_parser(
        "validate",
        help="check cluster specs (native, eksctl or kops) and name every problem",
        description="Validate cluster specs: every problem with its path, line and column.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="spec file (YAML or JSON), or - for stdin")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    _resolve_option(p)
    _policy_options(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of the spec (for editors)",
        description="Print the JSON Schema of clusterdrop.io/v1alpha1 Cluster, generated from the models.",
    )
    p.add_argument("--policy", action="store_true", help="the guardrail policy's schema instead")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser(
        "convert",
        help="convert an eksctl ClusterConfig or a kops file into a clusterdrop spec",
        description="Convert an eksctl.io/v1alpha5 ClusterConfig, or a kops Cluster with its InstanceGroups "
        "(kops get all NAME -o yaml), to the native spec on stdout; messages go to stderr. Fields clusterdrop "
        "cannot honour are refused by their path and line; a table on stderr says what each field became.",
    )
    p.add_argument("file", metavar="FILE", help="eksctl or kops file, or - for stdin")
    p.add_argument("--name", help="kops: the cluster's name (default: the first label of kops's DNS name)")
    p.add_argument(
        "--references",
        metavar="ssm:/PREFIX/|export:PREFIX",
        help="kops: the existing VPC and its subnets as references to where your IaC publishes them "
        "(SSM parameters PREFIX{vpc-id,private-subnet-ids,public-subnet-ids}, or exports "
        "PREFIX{VpcId,PrivateSubnetIds,PublicSubnetIds})",
    )
    p.add_argument(
        "--table",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="print what each field became on stderr (default on)",
    )
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
    p.add_argument("file", metavar="FILE", help="spec file (native, eksctl or kops), or - for stdin")
    p.add_argument("--out", metavar="DIR", help="where to write the templates (default ./clusterdrop-plan/NAME)")
    _resolve_option(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _policy_options(p)
    p.set_defaults(func=cmd_plan)
