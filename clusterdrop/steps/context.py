"""What every step shares: the execution state, the settings and the AWS ports, and how a step
reads the validated spec from the state."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from clusterdrop.contract import ExecutionState
from clusterdrop.spec.models import Cluster
from clusterdrop.spec.policy import Policy

State = dict[str, Any]
logger = logging.getLogger("clusterdrop.steps")


@dataclass(frozen=True)
class Settings:
    region: str
    spec_bucket: str
    artifacts_bucket: str
    cfn_role_arn: str
    topic_arn: str
    agent_code_key: str
    agent_code_bucket: str = ""  # default: the artifacts bucket
    cni_mirror_dir: str | None = None  # embedded mode: where the CNI files already are
    cluster_admins: tuple[str, ...] = ()  # the deployer's clusterAdmins: admins of every cluster
    # How much faster time runs than on AWS: 1 there; the embedded mode's poll intervals and the
    # spec's deadlines shrink alike (stacks/timing.py).
    time_scale: float = 1.0
    state_machines: tuple[str, ...] = ()  # deploy and teardown: where earlier uploads may wait
    # The deployer's guardrails (its CDK context `guardrails`) and its account (admins default to it).
    policy: Policy = field(default_factory=Policy)
    account: str = ""
    embedded: bool = False  # the embedded mode (no AWS console to link to)
    # What spec references may read (CDK context referenceParameterPaths / referenceExports).
    reference_parameter_paths: tuple[str, ...] = ("/clusterdrop/",)
    reference_exports: tuple[str, ...] | None = None
    # Plan checks the account's service quotas before anything is created (CDK context
    # quotaPreflight; off only to see what AWS itself does when a quota runs out).
    quota_preflight: bool = True


@dataclass
class Ports:
    """The AWS clients a step may use (botocore/boto3 clients, DynamoDB Table resources)."""

    settings: Settings
    s3: Any = None
    cfn: Any = None
    eks: Any = None
    ec2: Any = None
    sfn: Any = None
    sns: Any = None
    clusters: Any = None
    locks: Any = None
    ssm: Any = None
    quotas: Any = None  # Service Quotas
    kms: Any = None
    logs: Any = None  # CloudWatch Logs
    iam: Any = None


def spec_of(state: State, ports: Ports) -> dict[str, Any] | None:
    """The normalized spec Validate spec (or Read last applied spec) stored, if it got that far.
    The state carries only its key: a spec is up to 1 MiB and Step Functions refuses a state
    over 256 KiB (States.DataLimitExceeded, terminal: no Catch catches it)."""
    validated = ExecutionState.model_validate(state).validated
    # No key: a teardown of a cluster that was never created (nothing was stored).
    return None if validated is None or not validated.spec_key else _stored_spec(ports, validated.spec_key)


# The stored specs this execution environment has read: a key names one spec version, never
# rewritten, so a warm Lambda reads each once. Bounded: a few clusters' versions.
_SPECS: dict[tuple[str, str], dict[str, Any]] = {}
_SPECS_KEPT = 8


def _stored_spec(ports: Ports, key: str) -> dict[str, Any]:
    import json

    found = _SPECS.get((ports.settings.artifacts_bucket, key))
    if found is None:
        body = ports.s3.get_object(Bucket=ports.settings.artifacts_bucket, Key=key)["Body"].read()
        found = json.loads(body)
        if len(_SPECS) >= _SPECS_KEPT:
            _SPECS.pop(next(iter(_SPECS)))
        _SPECS[(ports.settings.artifacts_bucket, key)] = found
    return found


def typed(state: State) -> ExecutionState:
    """The state document as the contract reads it."""
    return ExecutionState.model_validate(state)


def cluster_of(state: State, ports: Ports) -> Cluster:
    return Cluster.model_validate(spec_of(state, ports))


def spec_store_key(cluster: str, version: str) -> str:
    return f"specs/{cluster}/{version}.json"
