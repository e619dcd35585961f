"""eksctl's `wellKnownPolicies`, as the permissions each controller's own documentation asks for.

eksctl grants a service account a controller's permissions by a flag. The converted spec spells
them out instead — an AWS managed policy where AWS publishes one for the controller, otherwise
the statements of the controller's documented IAM policy — so the role's permissions are in the
spec, reviewable, and the same whatever eksctl version wrote the file. A flag with no published
policy to follow is refused by name.
"""

from __future__ import annotations

from typing import Any

# AWS managed policies AWS publishes for the controller (EKS User Guide: the EBS and EFS CSI
# drivers' IAM roles).
MANAGED = {
    "ebsCSIController": "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
    "efsCSIController": "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy",
}

# Flags with no published policy clusterdrop could follow; what to write instead.
REFUSED = {
    "awsLoadBalancerController": "the AWS Load Balancer Controller's policy is its release's iam_policy.json: give "
    "that document as permissionPolicy (attachPolicy)",
    "imageBuilder": "eksctl's image-builder permissions follow no published policy: name the ECR policies the "
    "builder needs in permissionPolicyARNs (attachPolicyARNs)",
}


# Flags whose controller's documented policy `statements` spells out (a test holds the two together).
DOCUMENTED = ("autoScaler", "externalDNS", "certManager")


def statements(flag: str, cluster: str) -> list[dict[str, Any]] | None:
    """The statements of the controller's documented policy (None: not one of these)."""
    if flag == "autoScaler":
        # Cluster Autoscaler, cloudprovider/aws README, "Full Cluster Autoscaler Features Policy
        # (Recommended)": read everything; scale only the Auto Scaling groups tagged for this
        # cluster, as EKS tags a managed node group's group (k8s.io/cluster-autoscaler/<cluster>).
        return [
            {
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                    "eks:DescribeNodegroup",
                ],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}},
            },
        ]
    if flag == "externalDNS":
        # ExternalDNS, "Setting up ExternalDNS for Services on AWS": change records in hosted
        # zones, list zones, records and their tags.
        return [
            {
                "Effect": "Allow",
                "Action": ["route53:ChangeResourceRecordSets"],
                "Resource": "arn:aws:route53:::hostedzone/*",
            },
            {
                "Effect": "Allow",
                "Action": [
                    "route53:ListHostedZones",
                    "route53:ListResourceRecordSets",
                    "route53:ListTagsForResource",
                ],
                "Resource": "*",
            },
        ]
    if flag == "certManager":
        # cert-manager, ACME DNS01 "Route53": read a change's status, change and list the zone's
        # records, find zones by name.
        return [
            {"Effect": "Allow", "Action": "route53:GetChange", "Resource": "arn:aws:route53:::change/*"},
            {
                "Effect": "Allow",
                "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
                "Resource": "arn:aws:route53:::hostedzone/*",
            },
            {"Effect": "Allow", "Action": "route53:ListHostedZonesByName", "Resource": "*"},
        ]
    return None
