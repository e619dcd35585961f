"""`clusterdrop kubeconfig` and `clusterdrop token`: reaching a cluster without the AWS CLI.

`kubeconfig` writes (or merges) a context as `kops export kubeconfig` and `eksctl utils
write-kubeconfig` do — the endpoint and CA from EKS — whose user runs `clusterdrop token`, a
client-go exec credential plugin: it presigns the STS GetCallerIdentity token EKS accepts itself
(`kube/connect.py`) and prints an ExecCredential with its expiry.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from clusterdrop.cli.common import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from clusterdrop.cli.deployer import EMBEDDED_HINT, _aws_errors

EXEC_API = "client.authentication.k8s.io/v1beta1"


def _session(region: str | None, role_arn: str | None) -> Any:
    """A boto3 session, as the role when one is named (assumed through STS)."""
    import boto3

    session = boto3.session.Session(region_name=region)
    if not role_arn:
        return session
    assumed = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="clusterdrop-kubectl")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
        region_name=session.region_name,
    )


@_aws_errors
def cmd_token(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from clusterdrop.kube.connect import eks_token

    session = _session(args.region, args.role_arn)
    credentials = session.get_credentials()
    if credentials is None:
        err.write(f"clusterdrop: no AWS credentials found (environment, profile or instance role); {EMBEDDED_HINT}\n")
        return EXIT_USAGE
    token = eks_token(args.cluster, session.region_name, credentials)
    expires = datetime.fromtimestamp(token.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    credential = {"kind": "ExecCredential", "apiVersion": EXEC_API, "spec": {}}
    credential["status"] = {"expirationTimestamp": expires, "token": token.value}
    out.write(json.dumps(credential) + "\n")
    return EXIT_OK


def _command() -> tuple[str, list[str]]:
    """How kubectl runs `clusterdrop token`: the installed script, else this interpreter."""
    found = shutil.which("clusterdrop")
    return (found, []) if found else (sys.executable, ["-m", "clusterdrop"])


def default_kubeconfig() -> Path:
    first = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    return Path(first) if first else Path.home() / ".kube" / "config"


def merge(config: dict[str, Any], name: str, cluster: dict[str, Any], user: dict[str, Any], *, current: bool) -> None:
    """Put (or replace) the cluster, user and context named `name` in a kubeconfig document."""
    config.setdefault("apiVersion", "v1")
    config.setdefault("kind", "Config")
    for section, entry in (
        ("clusters", {"name": name, "cluster": cluster}),
        ("users", {"name": name, "user": user}),
        ("contexts", {"name": name, "context": {"cluster": name, "user": name}}),
    ):
        items = [i for i in config.get(section) or [] if i.get("name") != name]
        config[section] = [*items, entry]
    if current or not config.get("current-context"):
        config["current-context"] = name


@_aws_errors
def cmd_kubeconfig(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    session = _session(args.region, None)
    eks = session.client("eks")
    try:
        described = eks.describe_cluster(name=args.cluster)["cluster"]
    except eks.exceptions.ResourceNotFoundException:
        err.write(f"clusterdrop: no EKS cluster {args.cluster!r} in {session.region_name}\n")
        return EXIT_INVALID
    command, prefix = _command()
    token_args = [*prefix, "token", "--cluster", args.cluster, "--region", session.region_name]
    if args.role_arn:
        token_args += ["--role-arn", args.role_arn]
    cluster: dict[str, Any] = {"server": described["endpoint"]}
    ca = (described.get("certificateAuthority") or {}).get("data")
    if ca:
        cluster["certificate-authority-data"] = ca
    user = {"exec": {"apiVersion": EXEC_API, "command": command, "args": token_args, "interactiveMode": "Never"}}
    path = Path(args.kubeconfig) if args.kubeconfig else default_kubeconfig()
    try:
        config = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    except (OSError, yaml.YAMLError) as exc:
        err.write(f"clusterdrop: cannot read {path}: {exc}\n")
        return EXIT_USAGE
    name = described["arn"]  # as `aws eks update-kubeconfig` names them
    merge(config, name, cluster, user, current=args.set_current)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)  # it names how to get credentials: the user's alone
    out.write(f"Context {name} written to {path}" + (" (current)" if config["current-context"] == name else "") + "\n")
    out.write(f"  kubectl --context {name} get nodes\n")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add this group's sub-commands to the `clusterdrop` parser."""
    p = sub.add_parser(
        "kubeconfig",
        help="write a kubeconfig context for a cluster (no AWS CLI needed)",
        description="Write or merge a context for an EKS cluster: its endpoint and CA from EKS, a user that runs "
        "`clusterdrop token`. Default file: the first of $KUBECONFIG, else ~/.kube/config.",
    )
    p.add_argument("cluster", metavar="NAME")
    p.add_argument("--kubeconfig", metavar="PATH", help="the file to write (merged if it exists)")
    p.add_argument("--role-arn", metavar="ARN", help="get tokens as this role (a cluster admin)")
    p.add_argument("--region", help="the cluster's region (default: the AWS configuration's)")
    p.add_argument("--set-current", action="store_true", help="make it the current context")
    p.set_defaults(func=cmd_kubeconfig)
    p = sub.add_parser(
        "token",
        help="print an EKS token as a client-go ExecCredential (a kubeconfig exec plugin)",
        description="Presign the STS GetCallerIdentity token EKS accepts (valid 15 minutes) and print it as an "
        "ExecCredential with its expiry. Nothing is sent to STS unless --role-arn asks for the role first.",
    )
    p.add_argument("--cluster", required=True, metavar="NAME")
    p.add_argument("--region", help="the cluster's region (default: the AWS configuration's)")
    p.add_argument("--role-arn", metavar="ARN", help="as this role")
    p.set_defaults(func=cmd_token)
