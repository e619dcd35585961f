"""The workflow: one Lambda per step the state machines name, the deploy and teardown state
machines (the ASL files with their substitutions), and what each step may do on AWS."""

from __future__ import annotations

import re

from aws_cdk import Aws, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from clusterdrop.spec import references
from clusterdrop.spec.policy import Policy
from stacks import bundle
from stacks.functions import REPO, FunctionCode
from stacks.nag import ARN, AT, STACK_PREFIX, acknowledge
from stacks.storage import Storage
from stacks.timing import Timing

STATE_MACHINES = REPO / "statemachine"
ASL_FILES = ("deploy.asl.json", "teardown.asl.json")


def step_functions() -> list[str]:
    """The Lambda-backed steps of both state machines, from their `${<Name>FunctionArn}`
    substitutions, in order of first use."""
    names: dict[str, None] = {}
    for file in ASL_FILES:
        for name in re.findall(r"\$\{([A-Za-z0-9]+)FunctionArn\}", (STATE_MACHINES / file).read_text()):
            names.setdefault(name)
    return list(names)


def machine_name(scope: Construct, name: str) -> str:
    """A state machine's fixed name: the steps' policies name its executions without a reference."""
    return f"{Stack.of(scope).stack_name}-{name.lower()}"


def machine_arn(scope: Construct, name: str) -> str:
    return f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:{machine_name(scope, name)}"


class Workflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: FunctionCode,
        storage: Storage,
        topic: sns.ITopic,
        cfn_role: iam.IRole,
        timing: Timing,
        cluster_admins: tuple[str, ...],
        policy: Policy,
        reference_parameter_paths: tuple[str, ...] = references.DEFAULT_PARAMETER_PATHS,
        reference_exports: tuple[str, ...] | None = None,
        quota_preflight: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self.reference_parameter_paths = reference_parameter_paths
        # The agent's code: each cluster stack creates its agent from it.
        self.agent_code = assets.Asset(self, "AgentCode", path=str(bundle.AGENT))
        env = {
            "SPEC_BUCKET": storage.spec_bucket.bucket_name,
            "ARTIFACTS_BUCKET": storage.artifacts_bucket.bucket_name,
            "CLUSTERS_TABLE": storage.clusters.table_name,
            "LOCKS_TABLE": storage.locks.table_name,
            "TOPIC_ARN": topic.topic_arn,
            "CFN_ROLE_ARN": cfn_role.role_arn,
            "AGENT_CODE_BUCKET": self.agent_code.s3_bucket_name,
            "AGENT_CODE_KEY": self.agent_code.s3_object_key,
            # Built from the fixed names, not referenced: the machines depend on the functions.
            "STATE_MACHINE_ARNS": ",".join(machine_arn(self, m) for m in ("Deploy", "Teardown")),
            # Admitted to every cluster as cluster admins (EKS access entries), beside the spec's.
            "CLUSTER_ADMINS": ",".join(cluster_admins),
            "TIME_SCALE": str(timing.time_scale),
            # The guardrails Validate spec enforces, and the account admins default to.
            "GUARDRAILS": policy.model_dump_json(by_alias=True, exclude_defaults=True),
            "DEPLOYER_ACCOUNT": Stack.of(self).account,
            # What spec references (fromSsm, fromExport) may read at Validate spec.
            "REFERENCE_PARAMETER_PATHS": ",".join(reference_parameter_paths),
            "REFERENCE_EXPORTS": ",".join(reference_exports or ()),
            "QUOTA_PREFLIGHT": "on" if quota_preflight else "off",
            "POWERTOOLS_SERVICE_NAME": "clusterdrop",
            "POWERTOOLS_METRICS_NAMESPACE": "clusterdrop",
        }
        self.functions: dict[str, lambda_.Function] = {}
        # One function per `${XFunctionArn}` the state machines name: the ASL is the list.
        steps = step_functions()
        for name in steps:
            # Connect downloads CNI manifests (3 MB of CRDs): more time and memory than the rest.
            big = name in ("Connect", "Plan", "ApplyNodeGroupStacks")
            self.functions[name] = code.function(
                self, name, env, memory=1024 if big else 256, timeout=120 if big else 30
            )
        substitutions = {f"{name}FunctionArn": fn.function_arn for name, fn in self.functions.items()}
        substitutions.update(timing.substitutions())
        self.definition_substitutions = substitutions
        self.deploy = self._state_machine("Deploy", ASL_FILES[0], substitutions)
        self.teardown = self._state_machine("Teardown", ASL_FILES[1], substitutions)
        self._safety_net(code, env)
        self._permissions(storage, topic, cfn_role)
        self._reference_permissions(reference_parameter_paths)

    def _safety_net(self, code: FunctionCode, env: dict[str, str]) -> None:
        """An execution that ends past its failure path — a terminal error (States.DataLimitExceeded,
        States.Runtime: "can't be caught by States.ALL"), a timeout, a Stop — runs no Notify: Step
        Functions' "Execution Status Change" event for it runs `ExecutionEnded` (steps/ended.py),
        which notifies, and releases the lock, as the failure path would have. Not a state."""
        fn = code.function(self, "ExecutionEnded", env, memory=256, timeout=60)
        self.functions["ExecutionEnded"] = fn
        events.Rule(
            self,
            "ExecutionEndedRule",
            description="clusterdrop executions that end FAILED, TIMED_OUT or ABORTED: notify what they could not",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                    "stateMachineArn": [self.deploy.state_machine_arn, self.teardown.state_machine_arn],
                },
            ),
            # A delivery that fails is retried 4 times, not EventBridge's default 185 over a day:
            # a failure notification that late helps no one (and the lock's TTL frees it anyway).
            targets=[targets.LambdaFunction(fn, retry_attempts=4)],
        )

    def _reference_permissions(self, parameter_paths: tuple[str, ...]) -> None:
        """Validate spec reads the parameters under the allowed paths (String and StringList; a
        SecureString is refused, and there is no kms:Decrypt) and lists exports (an action IAM
        cannot scope to a resource)."""
        validate = self.functions["ValidateSpec"]
        if parameter_paths:
            arns = [
                references.parameter_arn(p, partition=Aws.PARTITION, region=Aws.REGION, account=Aws.ACCOUNT_ID)
                for p in parameter_paths
            ]
            validate.add_to_role_policy(
                iam.PolicyStatement(sid="ReferenceParameters", actions=["ssm:GetParameter"], resources=arns)
            )
        validate.add_to_role_policy(
            iam.PolicyStatement(sid="ReferenceExports", actions=["cloudformation:ListExports"], resources=["*"])
        )

    def _state_machine(self, name: str, file: str, substitutions: dict[str, str]) -> sfn.StateMachine:
        used = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", (STATE_MACHINES / file).read_text()))
        # Under /aws/vendedlogs/: Step Functions delivers logs through CloudWatch Logs' vended
        # logs, whose resource policy (5,120 characters per region) it extends for any other
        # name — in an account with many log groups CreateStateMachine then fails.
        log_group = logs.LogGroup(
            self,
            f"{name}StateMachineLogs",
            log_group_name=f"/aws/vendedlogs/states/{machine_name(self, name)}",
            retention=logs.RetentionDays.THREE_MONTHS,
        )
        machine = sfn.StateMachine(
            self,
            f"{name}StateMachine",
            # A fixed name: the steps' policies name its executions without a reference that
            # would make the state machine and its functions depend on each other.
            state_machine_name=machine_name(self, name),
            definition_body=sfn.DefinitionBody.from_file(str(STATE_MACHINES / file)),
            definition_substitutions={k: v for k, v in substitutions.items() if k in used},
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        for key, fn in self.functions.items():
            if f"{key}FunctionArn" in used:
                fn.grant_invoke(machine)
        partition, region, account = Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeClusterAgents",
                actions=["lambda:InvokeFunction"],
                resources=[f"arn:{partition}:lambda:{region}:{account}:function:{STACK_PREFIX}*-agent"],
            )
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="PollClusterStacks",
                actions=["cloudformation:DescribeStacks"],
                resources=[f"arn:{partition}:cloudformation:{region}:{account}:stack/{STACK_PREFIX}*/*"],
            )
        )
        stack = Stack.of(self)
        invoked = [
            f"Resource::<{stack.resolve(stack.get_logical_id(fn.node.default_child))}.Arn>:*"  # type: ignore[arg-type]
            for key, fn in self.functions.items()
            if f"{key}FunctionArn" in used
        ]
        acknowledge(
            machine,
            "IAM5",
            "Each cluster has its own agent function and stacks, created at run time; the wildcards are bounded by "
            "the clusterdrop- prefix. Invoke grants on the step functions include their versions (:*). X-Ray and "
            "log delivery accept no resource scoping.",
            evidence=[
                "Resource::*",
                f"Resource::{ARN}:lambda:{AT}:function:{STACK_PREFIX}*-agent",
                f"Resource::{ARN}:cloudformation:{AT}:stack/{STACK_PREFIX}*/*",
                *invoked,
            ],
        )
        return machine

    def _permissions(self, storage: Storage, topic: sns.ITopic, cfn_role: iam.IRole) -> None:
        f = self.functions
        partition, region, account = Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID
        stacks_arn = f"arn:{partition}:cloudformation:{region}:{account}:stack/{STACK_PREFIX}*/*"

        def allow(names: list[str], actions: list[str], resources: list[str], sid: str) -> None:
            for name in names:
                f[name].add_to_role_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))

        allow(
            ["ValidateSpec"],
            ["s3:GetObject", "s3:GetObjectVersion"],
            [storage.spec_bucket.arn_for_objects("*")],
            "ReadSpecVersions",
        )
        allow(
            ["ValidateSpec", "Plan", "Connect"],
            ["s3:GetObject", "s3:PutObject"],
            [storage.artifacts_bucket.arn_for_objects("*")],
            "Artifacts",
        )
        # The CNI staging looks files up in the mirror: without s3:ListBucket, S3 answers a
        # missing key with 403 AccessDenied instead of 404 NoSuchKey, and "not mirrored yet"
        # cannot be told from "refused".
        allow(["Plan", "Connect"], ["s3:ListBucket"], [storage.artifacts_bucket.bucket_arn], "ListArtifacts")
        # A spec without a version keeps its running cluster's: Validate spec reads the registry.
        allow(["ValidateSpec"], ["dynamodb:GetItem"], [storage.clusters.table_arn], "RegistryVersion")
        # A teardown reads the last applied spec: its key in the registry, the spec beside the artifacts.
        # ... and removes the record of a cluster whose first create failed (nothing to tear down).
        allow(
            ["ReadLastAppliedSpec"],
            ["dynamodb:GetItem", "dynamodb:DeleteItem"],
            [storage.clusters.table_arn],
            "ReadRegistry",
        )
        # The state carries the stored spec's key, not the spec (Step Functions refuses a state
        # over 256 KiB; a spec may be 1 MiB): every step that reads the spec reads it there.
        allow(
            [
                "ApplyClusterStack",
                "ApplyNodeGroupStacks",
                "ApplyAddons",
                "RecordState",
                "DeleteStacks",
                "DescribeCluster",
                "Diagnose",
                "CleanUp",
                "Notify",
                "ExecutionEnded",
            ],
            ["s3:GetObject"],
            [storage.artifacts_bucket.arn_for_objects("specs/*")],
            "ReadSpecs",
        )
        # Clean-up and teardown record what they could not delete.
        registry_users = [
            "Plan",
            "RecordState",
            "CleanUp",
            "DeleteStacks",
            "RemoveSubnetTags",
            "Notify",
            "ExecutionEnded",
        ]
        allow(registry_users, ["dynamodb:GetItem", "dynamodb:UpdateItem"], [storage.clusters.table_arn], "Registry")
        allow(
            ["TakeClusterLock", "ReleaseClusterLock", "ExecutionEnded"],
            ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"],
            [storage.locks.table_arn],
            "Locks",
        )
        # Plan checks the KMS keys a spec names (state, kind, and whether EC2 Auto Scaling may use a
        # volume's key) before anything is created: keys of the region, in any account.
        allow(
            ["Plan"],
            ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListGrants"],
            [f"arn:{partition}:kms:{region}:*:key/*"],
            "SpecKeys",
        )
        # It asks IAM's policy simulator whether a key policy lets EC2 Auto Scaling use the key
        # (iam:SimulateCustomPolicy has no resource-level permissions: `*` only).
        allow(["Plan"], ["iam:SimulateCustomPolicy"], ["*"], "KeyPolicySimulation")
        # And that the EC2 key pairs the node groups name exist (DescribeKeyPairs: `*` only).
        allow(["Plan"], ["ec2:DescribeKeyPairs"], ["*"], "NodeKeyPairs")
        # Plan checks the account's quotas and reserves what a create will consume (one registry
        # item, a conditional put); releasing the lock releases the reservation.
        allow(["Plan"], ["dynamodb:PutItem"], [storage.clusters.table_arn], "QuotaReservations")
        allow(
            ["ReleaseClusterLock", "ExecutionEnded"],
            ["dynamodb:UpdateItem"],
            [storage.clusters.table_arn],
            "QuotaRelease",
        )
        allow(
            ["Plan"],
            ["servicequotas:GetServiceQuota", "servicequotas:GetAWSDefaultServiceQuota"],
            ["*"],
            "ServiceQuotas",
        )
        allow(
            ["Plan"],
            [
                "ec2:DescribeInternetGateways",
                "ec2:DescribeAddresses",
                "ec2:DescribeNatGateways",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceTypes",
                "eks:ListClusters",
            ],
            ["*"],
            "QuotaUsage",
        )
        # A spec's log retention needs the control-plane log group not to exist outside the stack
        # (DescribeLogGroups has no resource type: IAM authorizes it on `*`).
        allow(["Plan"], ["logs:DescribeLogGroups"], ["*"], "ControlPlaneLogGroup")
        # The policies a pod identity's role gets must exist (AWS's, or the account's), and a role
        # the spec names must not (role names are unique in the account, whatever the path).
        allow(["Plan"], ["iam:GetPolicy"], [f"arn:{partition}:iam::*:policy/*"], "PodIdentityPolicies")
        allow(["Plan"], ["iam:GetRole"], [f"arn:{partition}:iam::{account}:role/*"], "PodIdentityRoleNames")
        readers = ["Plan", "DescribePlan", "DiscardPlan", "ApplyClusterStack", "Connect", "ApplyNodeGroupStacks",
                   "CheckNodeGroupStacks", "Diagnose", "CleanUp", "DescribeCluster", "DeleteStacks"]  # fmt: skip
        allow(
            readers,
            ["cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "cloudformation:DescribeChangeSet"],
            [stacks_arn],
            "ReadClusterStacks",
        )
        allow(["Plan", "DeleteStacks"], ["cloudformation:ListStacks"], ["*"], "ListStacks")
        # The plan shows each changed property against the stack's current template.
        allow(["Plan"], ["cloudformation:GetTemplate"], [stacks_arn], "CurrentTemplates")
        # An existing VPC is checked before the plan (its subnets, DNS, a way to S3), and the
        # account's zone IDs settle the zones (EKS refuses some); Describe* takes no scoping.
        allow(
            ["Plan"],
            [
                "ec2:DescribeVpcs",
                "ec2:DescribeSubnets",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeVpcAttribute",
                "ec2:DescribeRouteTables",
                "ec2:DescribeVpcEndpoints",
            ],
            ["*"],
            "DescribeNetwork",
        )
        writers = ["Plan", "DiscardPlan", "ApplyClusterStack", "ApplyNodeGroupStacks", "CleanUp", "DeleteStacks"]
        allow(
            writers,
            ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DeleteChangeSet",
             "cloudformation:CreateStack", "cloudformation:DeleteStack", "cloudformation:TagResource"],
            [stacks_arn],
            "WriteClusterStacks",
        )  # fmt: skip
        allow(writers, ["iam:PassRole"], [cfn_role.role_arn], "PassStacksRole")
        # Plan compares the version asked for with the ones the control plane and node groups run.
        allow(
            ["Plan"],
            ["eks:DescribeCluster", "eks:ListNodegroups", "eks:DescribeNodegroup"],
            [
                f"arn:{partition}:eks:{region}:{account}:cluster/*",
                f"arn:{partition}:eks:{region}:{account}:nodegroup/*",
            ],
            "RunningVersion",
        )
        allow(
            ["Connect", "ApplyAddons", "DescribeCluster"],
            [
                "eks:DescribeCluster",
                "eks:ListAddons",
                "eks:CreateAddon",
                "eks:DescribeAddon",
                "eks:TagResource",
                "eks:UntagResource",
            ],  # an add-on's tags follow the spec's
            [f"arn:{partition}:eks:{region}:{account}:cluster/*", f"arn:{partition}:eks:{region}:{account}:addon/*"],
            "ClusterAddons",
        )
        # An upgrade moves the add-ons to EKS's default versions for the new Kubernetes version, or
        # to the spec's pins (which Plan checks against what EKS offers for it); an add-on the spec
        # no longer lists is deleted.
        allow(
            ["Connect"],
            ["eks:UpdateAddon", "eks:DeleteAddon"],
            [f"arn:{partition}:eks:{region}:{account}:addon/*"],
            "UpdateAddons",
        )
        allow(["Connect", "Plan"], ["eks:DescribeAddonVersions"], ["*"], "AddonVersions")
        # The plan of an upgrade says where each installed add-on will move.
        allow(
            ["Plan"],
            ["eks:ListAddons", "eks:DescribeAddon"],
            [f"arn:{partition}:eks:{region}:{account}:cluster/*", f"arn:{partition}:eks:{region}:{account}:addon/*"],
            "PlanAddons",
        )
        allow(
            ["ApplyClusterStack", "RemoveSubnetTags"],
            ["ec2:CreateTags", "ec2:DeleteTags"],
            [f"arn:{partition}:ec2:{region}:{account}:subnet/*"],
            "SharedSubnetTags",
        )
        executions = [
            f"arn:{partition}:states:{region}:{account}:execution:{machine_name(self, m)}:*"
            for m in ("Deploy", "Teardown")
        ]
        allow(["Diagnose", "Notify", "ExecutionEnded"], ["states:GetExecutionHistory"], executions, "ExecutionHistory")
        # Nodes that never came: Diagnose reads why from the node groups' health.
        allow(
            ["Diagnose"],
            ["eks:DescribeNodegroup"],
            [f"arn:{partition}:eks:{region}:{account}:nodegroup/*"],
            "NodegroupHealth",
        )
        # The lock step lets an earlier upload of the same spec go first.
        machines = [machine_arn(self, m) for m in ("Deploy", "Teardown")]
        allow(["TakeClusterLock"], ["states:ListExecutions"], machines, "ListExecutions")
        allow(["TakeClusterLock"], ["states:DescribeExecution"], executions, "DescribeExecutions")
        topic.grant_publish(f["Notify"])
        topic.grant_publish(f["ExecutionEnded"])
        # Notify writes the status pages (and reads their history) before the notification goes out;
        # ListBucket makes a first page's missing history a NoSuchKey, not an AccessDenied.
        allow(
            ["Notify", "ExecutionEnded"],
            ["s3:GetObject", "s3:PutObject"],
            [storage.artifacts_bucket.arn_for_objects("status/*")],
            "StatusPages",
        )
        allow(
            ["Notify", "ExecutionEnded"], ["s3:ListBucket"], [storage.artifacts_bucket.bucket_arn], "StatusPagesHistory"
        )
        # The fleet page (status/index.html) lists every cluster of the registry.
        allow(["Notify", "ExecutionEnded"], ["dynamodb:Scan"], [storage.clusters.table_arn], "FleetPage")
        # A success notification names the add-on versions EKS installed.
        allow(
            ["Notify"],
            ["eks:ListAddons", "eks:DescribeAddon"],
            [f"arn:{partition}:eks:{region}:{account}:cluster/*", f"arn:{partition}:eks:{region}:{account}:addon/*"],
            "ReadAddons",
        )
