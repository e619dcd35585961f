"""The EC2 key pairs a spec's node groups name, checked at *Plan*: EKS refuses a node group whose
SSH key does not exist (and instances of a launch template naming one never start), after the
cluster stack was built — on AWS some fifteen minutes in."""

from __future__ import annotations

from typing import Any

from clusterdrop.errors import Problem
from clusterdrop.spec.models import Cluster


def check(ec2: Any, cluster: Cluster) -> list[Problem]:
    """Each node group's sshKeyName that the region's EC2 does not have, by its field."""
    problems: list[Problem] = []
    known: dict[str, bool] = {}
    region = cluster.spec.region
    for i, group in enumerate(cluster.spec.node_groups):
        name = group.ssh_key_name
        if not name:
            continue
        if name not in known:
            try:
                ec2.describe_key_pairs(KeyNames=[name])
                known[name] = True
            except ec2.exceptions.ClientError as exc:
                if exc.response["Error"]["Code"] != "InvalidKeyPair.NotFound":
                    raise
                known[name] = False
        if not known[name]:
            problems.append(
                Problem(
                    f"spec.nodeGroups[{i}].sshKeyName",
                    f"EC2 key pair {name!r} does not exist in {region}: import your public key first (aws ec2 "
                    f"import-key-pair --key-name {name} --public-key-material fileb://~/.ssh/id_ed25519.pub "
                    f"--region {region}), or leave sshKeyName out (SSM Session Manager needs no key)",
                )
            )
    return problems
