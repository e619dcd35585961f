"""The error contract of clusterdrop.

The CLI maps these to exit codes, and the workflow's Step Functions Retry/Catch rules match
their class names: rename them only on purpose. Every error has a retry axis, as kopf's do:
a `TemporaryError` is something still converging or briefly refused, which the workflow retries
(a bounded number of times); a `PermanentError` is not retried, since retrying cannot help. A
test holds the state machines to it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, named by its path (`spec.nodeGroups[1].maxSize`)."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line is not None else ""
        return f"{self.path or '(document)'}: {self.message}{where}"

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "message": self.message, "line": self.line, "column": self.column}


class ClusterdropError(Exception):
    """Base of every error clusterdrop raises on purpose."""


class TemporaryError(ClusterdropError):
    """Retrying may help: the workflow's Retry rules name these, and only these."""


class PermanentError(ClusterdropError):
    """Retrying cannot help: the workflow goes to its failure path at once."""


class LoadError(PermanentError):
    """The input cannot be read as a spec document at all (not YAML/JSON, too large, binary)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class InputUnreadable(PermanentError):
    """A file or stream named on the command line cannot be read."""


class WatchTimedOut(PermanentError):
    """Whoever follows an execution from outside gave up waiting (the execution goes on)."""


class SpecInvalid(PermanentError):
    """The spec is wrong; every problem found is listed. Permanent: retrying cannot help."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        # One problem per line: watch and the notification print them as `validate` does.
        super().__init__("\n".join(str(p) for p in problems))


class QuotaExceeded(PermanentError):
    """The account's quotas cannot hold what the spec asks for (what is in use and what other
    creates reserved counted): one line per quota short, naming its code and where to raise it."""

    def __init__(self, lines: list[str], shortfalls: list[dict[str, object]]):
        self.lines, self.shortfalls = lines, shortfalls
        super().__init__("\n".join(lines))


class PolicyRefused(SpecInvalid):
    """The spec is valid but asks for what the deployer's guardrails forbid; every violation listed."""


class UnsupportedFields(PermanentError):
    """An imported file (eksctl) uses fields clusterdrop cannot honour."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ArtifactDigestMismatch(PermanentError):
    """An artifact's content does not match the digest pinned in the catalog. Permanent."""

    def __init__(self, artifact: str, source: str, expected: str, actual: str):
        self.artifact, self.source, self.expected, self.actual = artifact, source, expected, actual
        super().__init__(
            f"{artifact} from {source} has sha256 {actual}, but the catalog pins {expected}: "
            "refusing a file that is not the official release"
        )


class ArtifactUnavailable(PermanentError):
    """An artifact is neither in the mirror nor downloadable (no network)."""


class KubernetesOperationFailed(PermanentError):
    """A Kubernetes API call failed in a way retrying will not fix (a refused object, say)."""


class ClusterAccessPending(TemporaryError):
    """The cluster's API refused the agent's credentials (401/403). Right after a cluster is
    created EKS does this while the agent's access entry propagates: the workflow retries a
    bounded number of times, then fails with this message."""


# Temporary errors that are an expected wait, not a fault: the workflow retries them as it does
# any temporary error, and what a person watches shows them as waiting (its words here), not as
# an error with a cause. Exhausted, the error and its cause are shown whole.
EXPECTED_WAITS: dict[str, str] = {
    "ClusterAccessPending": "waiting for the agent's access entry to reach the cluster's API (EKS takes a "
    "moment after a create)",
}


class NotReadyYet(TemporaryError):
    """Something is still converging; the workflow polls again. Temporary."""


class NodesNotReady(PermanentError):
    """The deadline passed with nodes missing or NotReady; the message lists them and why."""


class ClusterValidationFailed(TemporaryError):
    """`kops validate cluster`-style validation found problems; the message lists them."""


class WaitTimedOut(PermanentError):
    """A wait of the state machine ran out of checks (a stack, a change set, nodes, a clean-up
    still not done); the message names what is stuck and for how long."""


class LockBusy(TemporaryError):
    """Another execution holds the cluster's lock. Temporary: the workflow retries with backoff."""


class ReplacementRefused(PermanentError):
    """The change would replace the EKS cluster (a new control plane, every workload gone)."""


class StackFailed(PermanentError):
    """A CloudFormation stack ended in a failed state; the diagnosis names the first real cause."""


class SpecMismatch(PermanentError):
    """The spec's file name and its metadata.name differ."""


class EvictionBlocked(PermanentError):
    """An upgrade would replace nodes whose pods a PodDisruptionBudget keeps (EKS would fail the
    node group with PodEvictionFailure after 15 minutes); the message names each pod and budget."""
