"""Failure codes: one machine-readable code per failed execution, beside its prose, as Gardener
classifies its errors (`ERR_INFRA_QUOTA_EXCEEDED`, `ERR_CONFIGURATION_PROBLEM`, …), so that a
subscription can route "quota exceeded" to one team and "bad spec" to another.

The code is derived from what failed: clusterdrop's own error class when it says enough, else the
real cause as AWS words it (CloudFormation's resource reasons, EKS's and EC2's error codes). Pure:
the notification classifies what Diagnose found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FailureCode:
    code: str
    meaning: str
    todo: str


CODES: dict[str, FailureCode] = {
    c.code: c
    for c in (
        FailureCode(
            "ERR_QUOTA_EXCEEDED",
            "a service quota of the account is reached",
            "request an increase in Service Quotas for the quota the cause names, or free some, then upload again",
        ),
        FailureCode(
            "ERR_INSUFFICIENT_CAPACITY",
            "AWS has no capacity for what was asked in a zone",
            "retry later, or give the node group more instance types or zones",
        ),
        FailureCode(
            "ERR_UNAUTHORIZED",
            "a role or a principal lacks a permission",
            "grant the action the cause names to the role it names (for clusterdrop's own roles: redeploy it)",
        ),
        FailureCode(
            "ERR_INVALID_SPEC", "the spec is wrong", "fix the fields the cause names and upload the spec again"
        ),
        FailureCode(
            "ERR_POLICY_REFUSED",
            "the spec asks for what the deployer's guardrails forbid",
            "change the fields the cause names to fit the policy, or ask the platform team",
        ),
        FailureCode(
            "ERR_CONFIGURATION",
            "the spec is valid but AWS refuses what it asks",
            "change what the cause names (a zone, a size, a combination AWS does not allow)",
        ),
        FailureCode(
            "ERR_DEPENDENCY",
            "something the spec refers to is missing or wrong (an existing VPC, subnet, key pair)",
            "create or fix it, or refer to another, then upload the spec again",
        ),
        FailureCode(
            "ERR_NODES_NOT_READY",
            "nodes did not join or turn Ready in time",
            "read the NotReady reasons in the cause; check the node group's instances and the CNI",
        ),
        FailureCode(
            "ERR_CNI_FAILED",
            "the CNI could not be staged, applied or made ready",
            "check the CNI's artifacts (mirror, digests) and its pods in the cluster",
        ),
        FailureCode(
            "ERR_EVICTION_BLOCKED",
            "a PodDisruptionBudget keeps pods on nodes an update must replace",
            "scale the workload up or relax its budget, or set spec.upgradePolicy.force: true",
        ),
        FailureCode(
            "ERR_LOCK_BUSY",
            "another execution held the cluster's lock too long",
            "wait for the other execution to end, then upload the spec again",
        ),
        FailureCode(
            "ERR_TIMED_OUT",
            "a wait ran out of checks",
            "see what was still changing in the cause; AWS may still finish it",
        ),
        FailureCode(
            "ERR_CLEANUP_INCOMPLETE",
            "resources could not be deleted",
            "delete the resources listed as left behind, then delete the stack (or upload/delete again)",
        ),
        FailureCode(
            "ERR_STOPPED",
            "the execution was stopped (StopExecution, the console's Stop) before it ended",
            "see what the notification says was left, then upload the spec again to finish (or delete it)",
        ),
        FailureCode(
            "ERR_STATE_TOO_LARGE",
            "the workflow's state outgrew Step Functions' 256 KiB payload limit (a fixed limit, not a quota)",
            "no quota increase raises it: open an issue with the execution's link (clusterdrop keeps its state "
            "small, and a state that grows with a spec is its defect); the cluster was left as the failed step left it",
        ),
        FailureCode(
            "ERR_INTERNAL",
            "clusterdrop failed in a way it does not classify",
            "open an issue with the execution's link",
        ),
    )
}

# clusterdrop's error classes that say enough on their own.
_BY_ERROR: dict[str, str] = {
    "SpecInvalid": "ERR_INVALID_SPEC",
    "PolicyRefused": "ERR_POLICY_REFUSED",
    "SpecMismatch": "ERR_INVALID_SPEC",
    "UnsupportedFields": "ERR_INVALID_SPEC",
    "LoadError": "ERR_INVALID_SPEC",
    "ReplacementRefused": "ERR_INVALID_SPEC",
    "LockBusy": "ERR_LOCK_BUSY",
    "QuotaExceeded": "ERR_QUOTA_EXCEEDED",
    "NodesNotReady": "ERR_NODES_NOT_READY",
    "ArtifactDigestMismatch": "ERR_CNI_FAILED",
    "ArtifactUnavailable": "ERR_CNI_FAILED",
    "EvictionBlocked": "ERR_EVICTION_BLOCKED",
    "ClusterAccessPending": "ERR_UNAUTHORIZED",
    # Terminal: no Catch catches it, and its cause ("...exceeds the maximum number of
    # characters service limit") reads like a quota's.
    "States.DataLimitExceeded": "ERR_STATE_TOO_LARGE",
    # An execution that ended past its failure path (steps/ended.py): stopped, or out of time.
    "Execution.Aborted": "ERR_STOPPED",
    "States.Timeout": "ERR_TIMED_OUT",
}

# The real cause as AWS words it, first match wins (capacity before quota: a capacity message
# may mention limits; access before "does not exist": a denied Describe may say both).
_BY_CAUSE: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (code, re.compile(pattern, re.IGNORECASE))
    for code, pattern in (
        ("ERR_EVICTION_BLOCKED", r"PodEvictionFailure"),
        ("ERR_INSUFFICIENT_CAPACITY", r"InsufficientInstanceCapacity|InsufficientCapacity|sufficient capacity"),
        (
            "ERR_QUOTA_EXCEEDED",
            (
                r"LimitExceeded|maximum number of|quota|ResourceLimitExceeded|AddressLimitExceeded|"
                r"too many (?:vpcs|internet gateways|node ?groups|clusters)"
            ),
        ),
        ("ERR_UNAUTHORIZED", r"AccessDenied|UnauthorizedOperation|not authorized to perform|Unauthorized\b"),
        (
            "ERR_DEPENDENCY",
            (
                r"Invalid(?:Subnet|Vpc|KeyPair|Group|RouteTable)(?:ID)?\.NotFound|key pair .* does not exist|"
                r"subnet .* does not exist|vpc .* does not exist|InvalidKMSKey|KMS key \S+ (?:does not exist|is \w+;)"
            ),
        ),
        ("ERR_NODES_NOT_READY", r"NodeCreationFailure|Instances failed to join|nodes are Ready|nodes Ready"),
        ("ERR_CNI_FAILED", r"CNI not ready|cni plugin"),
        ("ERR_CLEANUP_INCOMPLETE", r"could not delete after|DELETE_FAILED"),
        (
            "ERR_CONFIGURATION",
            (
                r"UnsupportedAvailabilityZone|InvalidParameter|InvalidRequest|ValidationError|"
                r"CREATE_FAILED|UPDATE_FAILED|ROLLBACK"
            ),
        ),
    )
)

# Steps whose failure is the CNI's whatever the error says.
_CNI_STEPS = ("Apply CNI", "Check CNI")


# Error classes that name a symptom: the cause, when it says why (EKS's node-group health issue
# beside missing nodes), names the code.
_SYMPTOMS = {"NodesNotReady"}
_ROOT_CAUSES = ("ERR_QUOTA_EXCEEDED", "ERR_INSUFFICIENT_CAPACITY", "ERR_UNAUTHORIZED", "ERR_DEPENDENCY")


def classify(step: str, error: str, cause: str) -> FailureCode:
    """The code of a failure, from its step, its error class and its cause."""
    code = _BY_ERROR.get(error)
    if error in _SYMPTOMS and "EKS reports for node group" in cause:
        found = next((c for c, pattern in _BY_CAUSE if pattern.search(cause)), None)
        code = found if found in _ROOT_CAUSES else code
    if code is None:
        code = next((c for c, pattern in _BY_CAUSE if pattern.search(cause)), None)
    if code is None and step in _CNI_STEPS:
        code = "ERR_CNI_FAILED"
    if code is None and error == "WaitTimedOut":
        code = "ERR_TIMED_OUT"
    if code is None and error in ("StackFailed", "KubernetesOperationFailed", "ClusterValidationFailed"):
        code = "ERR_CONFIGURATION"
    return CODES[code or "ERR_INTERNAL"]
