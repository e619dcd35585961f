"""Failure codes from failures as AWS and clusterdrop word them."""

from __future__ import annotations

import pytest

from clusterdrop import errors
from clusterdrop.failures import CODES, classify

# (step, error, cause as the notification carries it) → code. Causes are AWS's own wordings
# (CloudFormation resource reasons, EC2/EKS error codes) as stack events and APIs report them.
CASES = [
    (
        "Check node-group stacks",
        "StackFailed",
        (
            "clusterdrop-demo-ng-workers NodeGroup (AWS::EKS::Nodegroup) CREATE_FAILED: Resource handler returned "
            'message: "[ErrorDetail(ErrorCode=AsgInstanceLaunchFailures, ErrorMessage=Client.InvalidKMSKey.'
            'InvalidState: The KMS key provided is in an incorrect state ..."'
        ),
        "ERR_DEPENDENCY",
    ),
    (
        "Check cluster stack",
        "StackFailed",
        "clusterdrop-demo Cluster (AWS::EKS::Cluster) CREATE_FAILED: KMS key arn:aws:kms:… does not exist",
        "ERR_DEPENDENCY",
    ),
    (
        "Plan",
        "QuotaExceeded",
        "VPCs per Region (vpc L-F678F1CE): the cluster needs 1; 5 of 5 in use: request an increase at https://…",
        "ERR_QUOTA_EXCEEDED",
    ),
    (
        "Check node-group stacks",
        "StackFailed",
        (
            "clusterdrop-demo-ng-workers NodeGroup (AWS::EKS::Nodegroup) CREATE_FAILED: Resource handler returned "
            'message: "You have requested more vCPU capacity than your current vCPU limit of 32 allows for the '
            "instance bucket that the specified instance type belongs to. (Service: Ec2, Status Code: 400, Error "
            'Code: VcpuLimitExceeded)"'
        ),
        "ERR_QUOTA_EXCEEDED",
    ),
    (
        "Check cluster stack",
        "StackFailed",
        (
            "clusterdrop-demo Vpc (AWS::EC2::VPC) CREATE_FAILED: The maximum number of VPCs has been reached. "
            "(Service: Ec2, Status Code: 400, Request ID: 1f2e)"
        ),
        "ERR_QUOTA_EXCEEDED",
    ),
    (
        "Check cluster stack",
        "StackFailed",
        (
            "clusterdrop-demo NatEip1 (AWS::EC2::EIP) CREATE_FAILED: The maximum number of addresses has been "
            "reached. (Service: Ec2, Status Code: 400, Error Code: AddressLimitExceeded)"
        ),
        "ERR_QUOTA_EXCEEDED",
    ),
    (
        "Check cluster stack",
        "StackFailed",
        (
            "clusterdrop-demo Cluster (AWS::EKS::Cluster) CREATE_FAILED: Cannot create cluster 'demo' because "
            "us-east-1e, the targeted availability zone, does not currently have sufficient capacity to support the "
            "cluster. Retry and choose from these availability zones: us-east-1a, us-east-1b, us-east-1c"
        ),
        "ERR_INSUFFICIENT_CAPACITY",
    ),
    (
        "Check node-group stacks",
        "StackFailed",
        (
            "clusterdrop-demo-ng-workers NodeGroup (AWS::EKS::Nodegroup) UPDATE_FAILED: Nodegroup workers failed "
            "to update: AsgInstanceLaunchFailures: Could not launch On-Demand Instances. InsufficientInstanceCapacity"
        ),
        "ERR_INSUFFICIENT_CAPACITY",
    ),
    (
        "Check cluster stack",
        "StackFailed",
        (
            "clusterdrop-demo Cluster (AWS::EKS::Cluster) CREATE_FAILED: Cannot create cluster 'demo' because EKS "
            "does not support creating control plane instances in us-east-1e, the targeted availability zone. "
            "(Service: Eks, Status Code: 400) (HandlerErrorCode: InvalidRequest)"
        ),
        "ERR_CONFIGURATION",
    ),
    (
        "Check cluster stack",
        "StackFailed",
        (
            "clusterdrop-demo Cluster (AWS::EKS::Cluster) CREATE_FAILED: User: arn:aws:sts::123456789012:"
            "assumed-role/clusterdrop-stacks/x is not authorized to perform: eks:CreateCluster on resource: "
            "arn:aws:eks:eu-west-1:123456789012:cluster/demo (Service: Eks, Status Code: 403, AccessDeniedException)"
        ),
        "ERR_UNAUTHORIZED",
    ),
    ("Apply CNI", "ClusterAccessPending", "the cluster's API refused the agent (401)", "ERR_UNAUTHORIZED"),
    (
        "Check node-group stacks",
        "StackFailed",
        (
            "clusterdrop-demo-ng-workers LaunchTemplate (AWS::EC2::LaunchTemplate) CREATE_FAILED: The key pair 'ops' "
            "does not exist (Service: Ec2, Status Code: 400, Error Code: InvalidKeyPair.NotFound)"
        ),
        "ERR_DEPENDENCY",
    ),
    (
        "Plan",
        "ClientError",
        (
            "An error occurred (InvalidSubnetID.NotFound) when calling the DescribeSubnets operation: The subnet ID "
            "'subnet-0abc' does not exist"
        ),
        "ERR_DEPENDENCY",
    ),
    (
        "Check node-group stacks",
        "StackFailed",
        (
            "clusterdrop-demo-ng-workers NodeGroup (AWS::EKS::Nodegroup) CREATE_FAILED: [ErrorDetail(ErrorCode="
            "NodeCreationFailure, ErrorMessage=Instances failed to join the kubernetes cluster, ResourceIds=[i-1])]"
        ),
        "ERR_NODES_NOT_READY",
    ),
    (
        "Check node-group stacks",
        "StackFailed",
        (
            "clusterdrop-demo-ng-workers NodeGroup (AWS::EKS::Nodegroup) UPDATE_FAILED: [ErrorDetail(ErrorCode="
            "PodEvictionFailure, ErrorMessage=Reached max retries while trying to evict pods from nodes in node "
            "group workers, ResourceIds=[i-1])]"
        ),
        "ERR_EVICTION_BLOCKED",
    ),
    ("Wait for nodes Ready", "NodesNotReady", "after 20 minutes 1/3 nodes are Ready", "ERR_NODES_NOT_READY"),
    ("Nodes stuck", "WaitTimedOut", "1 of 3 nodes Ready after 190 minutes of checks", "ERR_NODES_NOT_READY"),
    (
        "Node-group stacks stuck",
        "WaitTimedOut",
        'node-group stacks still changing after 180 minutes: ["clusterdrop-demo-ng-workers"]',
        "ERR_TIMED_OUT",
    ),
    ("Connect", "ArtifactDigestMismatch", "refusing a file that is not the official release", "ERR_CNI_FAILED"),
    ("Check CNI", "NotReadyYet", "DaemonSet kube-system/calico-node: 0/3 ready", "ERR_CNI_FAILED"),
    (
        "Check disruption budgets",
        "EvictionBlocked",
        "PodEvictionFailure: default/web-1 blocked",
        "ERR_EVICTION_BLOCKED",
    ),
    (
        "Validate spec",
        "SpecInvalid",
        "spec.nodeGroups[0].maxSize: maxSize (1) is less than minSize (2)",
        "ERR_INVALID_SPEC",
    ),
    (
        "Validate spec",
        "PolicyRefused",
        "spec.controlPlane.admins[0]: arn:aws:iam::999988887777:role/x is in account 999988887777",
        "ERR_POLICY_REFUSED",
    ),
    ("Describe plan", "ReplacementRefused", "this change would replace the EKS cluster", "ERR_INVALID_SPEC"),
    ("Take cluster lock", "LockBusy", "cluster demo is locked by execution x", "ERR_LOCK_BUSY"),
    (
        "Delete stacks",
        "StackFailed",
        (
            "could not delete after 3 attempts: clusterdrop-demo ControlPlaneSecurityGroup (AWS::EC2::SecurityGroup): "
            "resource sg-1 has a dependent object"
        ),
        "ERR_CLEANUP_INCOMPLETE",
    ),
    ("Connect", "Lambda.Unknown", "The cause could not be determined because Lambda did not return", "ERR_INTERNAL"),
    # Step Functions' own words, which a quota's pattern would match ("service limit").
    (
        "Plan",
        "States.DataLimitExceeded",
        "The state/task 'Plan' returned a result with a size exceeding the maximum number of bytes service limit.",
        "ERR_STATE_TOO_LARGE",
    ),
    ("Wait for cluster stack", "Execution.Aborted", "the execution was stopped (StopExecution)", "ERR_STOPPED"),
]


@pytest.mark.parametrize(("step", "error", "cause", "code"), CASES, ids=[c[3] + ":" + c[0] for c in CASES])
def test_failures_are_classified_from_their_real_cause(step: str, error: str, cause: str, code: str) -> None:
    assert classify(step, error, cause).code == code


def test_every_code_is_reachable_and_says_what_to_do() -> None:
    assert {c[3] for c in CASES} == set(CODES)
    for found in CODES.values():
        assert found.code.startswith("ERR_")
        assert found.meaning
        assert found.todo


def test_every_error_class_named_in_the_rules_exists() -> None:
    from clusterdrop.failures import _BY_ERROR

    ours = [n for n in _BY_ERROR if not n.startswith(("States.", "Execution."))]  # Step Functions' own
    assert all(isinstance(getattr(errors, name, None), type) for name in ours)


@pytest.mark.parametrize(
    ("status", "error", "cause", "code"),
    [
        ("ABORTED", "Operator", "stopped from the console", "ERR_STOPPED"),  # what StopExecution was given
        ("ABORTED", None, None, "ERR_STOPPED"),
        ("TIMED_OUT", None, None, "ERR_TIMED_OUT"),
        (
            "FAILED",
            "States.DataLimitExceeded",
            "The state/task 'Plan' returned a result with a size exceeding the maximum number of bytes service limit.",
            "ERR_STATE_TOO_LARGE",
        ),
    ],
)
def test_an_execution_ended_past_its_failure_path_gets_its_code(
    status: str, error: str | None, cause: str | None, code: str
) -> None:
    from clusterdrop.steps.ended import _what_ended_it

    named, said = _what_ended_it(status, error, cause)
    assert classify("Apply cluster stack", named, said).code == code
    if cause:
        assert cause in said  # what the person or Step Functions said is kept
