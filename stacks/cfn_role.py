"""The CloudFormation service role of every cluster's stacks."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from constructs import Construct

from clusterdrop.render.common import ROLE_PATH
from stacks.nag import STACK_PREFIX


class ClusterStacksRole(Construct):
    """The role CloudFormation uses for every cluster's stacks: the workflow's Lambdas only
    pass it, they never hold EC2, EKS or IAM creation rights themselves.

    What it grants is what the resource providers' handlers call (their schemas list it per
    handler; tests/infra/test_cfn_role.py checks every rendered template against this policy,
    and the embedded CloudFormation enforces it). Actions that IAM authorizes only on `*`
    (the Service Authorization Reference lists no resource type for them) are granted on `*`;
    the rest on the `clusterdrop-` names every cluster's resources carry."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)

        role = iam.Role(
            self,
            "Resource",
            assumed_by=iam.ServicePrincipal("cloudformation.amazonaws.com"),
            description="clusterdrop: creates and deletes the stacks of clusters",
        )
        prefix = STACK_PREFIX
        account, region, partition = Aws.ACCOUNT_ID, Aws.REGION, Aws.PARTITION
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Networking",
                actions=[
                    "ec2:CreateVpc", "ec2:DeleteVpc", "ec2:ModifyVpcAttribute", "ec2:DescribeVpcs",
                    "ec2:DescribeVpcAttribute", "ec2:DescribeVpcEncryptionControls", "ec2:DescribeNetworkAcls",
                    "ec2:CreateSubnet", "ec2:DeleteSubnet", "ec2:ModifySubnetAttribute", "ec2:DescribeSubnets",
                    "ec2:CreateInternetGateway", "ec2:DeleteInternetGateway", "ec2:AttachInternetGateway",
                    "ec2:DetachInternetGateway", "ec2:DescribeInternetGateways",
                    "ec2:AllocateAddress", "ec2:ReleaseAddress", "ec2:DescribeAddresses",
                    "ec2:AssociateAddress", "ec2:DisassociateAddress",
                    "ec2:CreateNatGateway", "ec2:DeleteNatGateway", "ec2:DescribeNatGateways",
                    "ec2:CreateRouteTable", "ec2:DeleteRouteTable", "ec2:CreateRoute", "ec2:DeleteRoute",
                    "ec2:ReplaceRoute", "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable",
                    "ec2:ReplaceRouteTableAssociation", "ec2:DescribeRouteTables",
                    "ec2:CreateVpcEndpoint", "ec2:DeleteVpcEndpoints", "ec2:ModifyVpcEndpoint",
                    "ec2:DescribeVpcEndpoints",
                    "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup", "ec2:DescribeSecurityGroups",
                    "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
                    "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress",
                    "ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
                    "ec2:DescribeSecurityGroupRules", "ec2:CreateTags", "ec2:DeleteTags",
                    "ec2:DescribeAvailabilityZones", "ec2:DescribeNetworkInterfaces", "ec2:DescribeAccountAttributes",
                    # Deleting a security group looks for instances still using it; a node group
                    # with an SSH key checks the key pair.
                    "ec2:DescribeInstances", "ec2:DescribeKeyPairs",
                ],
                resources=["*"],
            )
        )  # fmt: skip
        # Node groups under an overlay CNI carry a launch template (the kubelet's maxPods): the
        # stack makes it, and EKS launches the nodes from it with the caller's rights, so the
        # role may run instances (only EKS does, through the node group's CreateNodegroup).
        ec2 = f"arn:{partition}:ec2:{region}:{account}"
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LaunchTemplates",
                actions=["ec2:CreateLaunchTemplate", "ec2:DeleteLaunchTemplate", "ec2:CreateLaunchTemplateVersion"],
                resources=[f"{ec2}:launch-template/*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LaunchTemplateReads",
                actions=["ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"],
                resources=["*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="NodesFromLaunchTemplates",
                actions=["ec2:RunInstances"],
                resources=[
                    *(f"{ec2}:{kind}/*" for kind in (
                        "instance", "network-interface", "security-group", "subnet", "volume", "launch-template",
                        "key-pair",
                    )),
                    f"arn:{partition}:ec2:{region}::image/*",
                ],
            )
        )  # fmt: skip
        # A cluster whose secrets are encrypted with a KMS key (spec.controlPlane.secretsKey): EKS's
        # create checks the key and grants itself its use, as the caller. Keys of this account and
        # region (the spec refuses another region's).
        keys = [f"arn:{partition}:kms:{region}:{account}:key/*"]
        role.add_to_policy(iam.PolicyStatement(sid="SecretsKeys", actions=["kms:DescribeKey"], resources=keys))
        # Only grants for an AWS resource (the cluster), never a grant to a principal of its own.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SecretsKeyGrants",
                actions=["kms:CreateGrant"],
                resources=keys,
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        # EKS Pod Identity: associations of the account's clusters, with the spec's role or one made
        # here; EKS passes the role to pods.eks.amazonaws.com only (a role must also trust it). The
        # handler tags an association on its own ARN (podidentityassociation/${ClusterName}/${UUID}).
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PodIdentity",
                actions=[
                    "eks:CreatePodIdentityAssociation", "eks:DescribePodIdentityAssociation",
                    "eks:UpdatePodIdentityAssociation", "eks:DeletePodIdentityAssociation",
                    "eks:ListPodIdentityAssociations", "eks:TagResource", "eks:UntagResource",
                ],
                resources=[
                    f"arn:{partition}:eks:{region}:{account}:cluster/*",
                    f"arn:{partition}:eks:{region}:{account}:podidentityassociation/*",
                ],
            )
        )  # fmt: skip
        # An OIDC identity provider for people (spec.identityProviders): associated with the cluster.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="IdentityProviders",
                actions=[
                    "eks:AssociateIdentityProviderConfig", "eks:DisassociateIdentityProviderConfig",
                    "eks:DescribeIdentityProviderConfig", "eks:ListIdentityProviderConfigs",
                    "eks:DescribeUpdate", "eks:TagResource", "eks:UntagResource",
                ],
                resources=[
                    f"arn:{partition}:eks:{region}:{account}:cluster/*",
                    f"arn:{partition}:eks:{region}:{account}:identityproviderconfig/*",
                ],
            )
        )  # fmt: skip
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PodIdentityRoles",
                actions=["iam:PassRole"],
                resources=[f"arn:{partition}:iam::{account}:role/*"],
                conditions={"StringEquals": {"iam:PassedToService": "pods.eks.amazonaws.com"}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PodIdentityRoleReads",
                actions=["iam:GetRole"],
                resources=[f"arn:{partition}:iam::{account}:role/*"],
            )
        )
        # EKS Auto Mode (spec.computeMode auto): the cluster's create makes an instance profile for
        # the node pools' node role (named by EKS, so any of the account's).
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AutoModeInstanceProfiles",
                actions=[
                    "iam:CreateInstanceProfile", "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile",
                    "iam:GetInstanceProfile", "iam:DeleteInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
                ],
                resources=[f"arn:{partition}:iam::{account}:instance-profile/*"],
            )
        )  # fmt: skip
        # eks:CreateCluster has no resource-level permissions: IAM authorizes it on `*` only.
        role.add_to_policy(iam.PolicyStatement(sid="EksCreateCluster", actions=["eks:CreateCluster"], resources=["*"]))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Eks",
                actions=[
                    "eks:DeleteCluster", "eks:DescribeCluster", "eks:UpdateClusterConfig",
                    "eks:UpdateClusterVersion", "eks:ActivateCertificateAuthority", "eks:DescribeUpdate",
                    "eks:ListUpdates", "eks:TagResource", "eks:UntagResource",
                    "eks:CreateNodegroup", "eks:DeleteNodegroup", "eks:DescribeNodegroup", "eks:UpdateNodegroupConfig",
                    "eks:UpdateNodegroupVersion", "eks:CreateAccessEntry", "eks:DeleteAccessEntry",
                    "eks:DescribeAccessEntry", "eks:UpdateAccessEntry", "eks:AssociateAccessPolicy",
                    "eks:DisassociateAccessPolicy", "eks:ListAssociatedAccessPolicies",
                ],
                resources=[
                    f"arn:{partition}:eks:{region}:{account}:cluster/*",
                    f"arn:{partition}:eks:{region}:{account}:nodegroup/*",
                    f"arn:{partition}:eks:{region}:{account}:access-entry/*",
                ],
            )
        )  # fmt: skip
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ClusterRoles",
                actions=[
                    "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole",
                    "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
                    "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
                    "iam:GetRolePolicy", "iam:PassRole",
                    # EKS checks the cluster and node roles' policies; deleting a role lists its
                    # policies to detach them first.
                    "iam:ListAttachedRolePolicies", "iam:ListRolePolicies",
                    # A pod identity's role may carry a permissions boundary.
                    "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
                ],
                # Roles CloudFormation names start with the stack's name; the roles the spec
                # names (podIdentities[].roleName) are made under clusterdrop's path.
                resources=[
                    f"arn:{partition}:iam::{account}:role/{prefix}*",
                    f"arn:{partition}:iam::{account}:role{ROLE_PATH}*",
                ],
            )
        )  # fmt: skip
        linked = [
            f"arn:{partition}:iam::{account}:role/aws-service-role/{service}/{name}"
            for service, name in (
                ("eks.amazonaws.com", "AWSServiceRoleForAmazonEKS"),
                ("eks-nodegroup.amazonaws.com", "AWSServiceRoleForAmazonEKSNodegroup"),
            )
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ServiceLinkedRoles",
                actions=["iam:CreateServiceLinkedRole"],
                resources=[f"arn:{partition}:iam::{account}:role/aws-service-role/*"],
                conditions={
                    "StringEquals": {
                        "iam:AWSServiceName": [
                            "eks.amazonaws.com",
                            "eks-nodegroup.amazonaws.com",
                            "autoscaling.amazonaws.com",
                        ]
                    }
                },
            )
        )
        # EKS's CreateCluster and CreateNodegroup look their service-linked role up first.
        role.add_to_policy(iam.PolicyStatement(sid="ReadServiceLinkedRoles", actions=["iam:GetRole"], resources=linked))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Agent",
                actions=[
                    "lambda:CreateFunction", "lambda:DeleteFunction", "lambda:GetFunction", "lambda:UpdateFunctionCode",
                    "lambda:UpdateFunctionConfiguration", "lambda:TagResource", "lambda:UntagResource",
                    "lambda:ListTags", "lambda:GetFunctionConfiguration",
                    "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency",
                    "lambda:GetRuntimeManagementConfig", "lambda:PutRuntimeManagementConfig",
                    "lambda:GetFunctionCodeSigningConfig", "lambda:GetFunctionRecursionConfig",
                    "lambda:PutFunctionRecursionConfig", "lambda:GetFunctionScalingConfig",
                ],
                resources=[f"arn:{partition}:lambda:{region}:{account}:function:{prefix}*-agent"],
            )
        )  # fmt: skip
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LogGroups",
                actions=[
                    "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
                    "logs:DeleteRetentionPolicy", "logs:TagResource", "logs:UntagResource",
                    "logs:ListTagsForResource", "logs:GetDataProtectionPolicy",
                ],
                resources=[
                    f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{prefix}*",
                    # The control-plane log group, where the spec sets a retention.
                    f"arn:{partition}:logs:{region}:{account}:log-group:/aws/eks/*/cluster",
                ],
            )
        )  # fmt: skip
        # The log-group handlers describe log groups and their account-wide policies, which IAM
        # authorizes only on `*`.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DescribeLogs",
                actions=["logs:DescribeLogGroups", "logs:DescribeIndexPolicies", "logs:DescribeResourcePolicies"],
                resources=["*"],
            )
        )
        self.role = role
