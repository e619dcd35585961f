"""The cluster stack: network (new VPC or an existing one's subnets), IAM roles, security
groups, the EKS control plane, access entries and the per-cluster agent Lambda."""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass

from clusterdrop import facts
from clusterdrop.render.common import (
    ROLE_PATH,
    TEMPLATE_VERSION,
    Json,
    agent_function_name,
    assume_role,
    get_att,
    managed_policy,
    ref,
    sub,
    tag_list,
)
from clusterdrop.spec.models import ACCESS_POLICIES, Cluster

# The agent talks to the cluster's private endpoint and to S3 (through the gateway endpoint);
# both on 443. Its code is kept in the artifacts bucket, named by stack parameters.
AGENT_PORT = 443
AGENT_RUNTIME = "python3.13"
AGENT_HANDLER = "lambdas.agent.handler"
AGENT_TIMEOUT_SECONDS = 900
AGENT_MEMORY_MB = 512
ADMIN_POLICY = "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
AUTO_NODE_POLICY = "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSAutoNodePolicy"
ELB_ROLE_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb"


def cluster_tag_key(cluster: Cluster) -> str:
    """The tag that marks subnets as usable by this cluster's load balancers."""
    return f"kubernetes.io/cluster/{cluster.metadata.name}"


@dataclass(frozen=True)
class Zone:
    """A zone by name, or (zones picked at deploy time) by index into the region's list."""

    index: int
    name: str | None

    @property
    def value(self) -> str | Json:
        if self.name is not None:
            return self.name
        return {"Fn::Select": [self.index, {"Fn::GetAZs": ""}]}

    @property
    def label(self) -> str:
        return self.name or f"zone {self.index + 1}"


def zones(cluster: Cluster) -> list[Zone]:
    """The cluster's zones; without `zones` in the spec, the region's first (up to) three."""
    named = cluster.spec.network.zones
    if named is not None:
        return [Zone(i, z) for i, z in enumerate(named)]
    count = min(3, facts.REGIONS[cluster.spec.region])
    return [Zone(i, None) for i in range(count)]


def subnet_cidrs(vpc_cidr: str, count: int) -> tuple[list[str], list[str]]:
    """Split the VPC into equal subnets: `count` public, then `count` private."""
    net = ipaddress.IPv4Network(vpc_cidr)
    extra_bits = max(1, math.ceil(math.log2(2 * count)))
    parts = [str(s) for s in net.subnets(prefixlen_diff=extra_bits)]
    return parts[:count], parts[count : 2 * count]


def cilium_eni_policy(cluster: Cluster) -> Json:
    """The Cilium operator's EC2 permissions: the list its release's documentation gives (the
    catalog records it beside the chart), on `*` as Cilium's guide grants them."""
    actions = list(cluster.spec.cni.release().operator_privileges)
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}


def _pods_trust() -> Json:
    """EKS Pod Identity assumes the role for the pods and tags the session."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }


def _access_policy(policy: str, namespaces: list[str] | None) -> Json:
    """An access policy of an entry: EKS's managed policy by name, over the cluster or namespaces."""
    arn = sub(f"arn:${{AWS::Partition}}:eks::aws:cluster-access-policy/AmazonEKS{ACCESS_POLICIES[policy]}Policy")
    scope: Json = {"Type": "namespace", "Namespaces": list(namespaces)} if namespaces else {"Type": "cluster"}
    return {"PolicyArn": arn, "AccessScope": scope}


def topologies(cluster: Cluster) -> set[str]:
    """Where the cluster's nodes run: its topology, and any a node group sets apart."""
    return {cluster.spec.network.topology, *(g.topology for g in cluster.spec.node_groups if g.topology)}


def control_plane_log_group(cluster_name: str) -> str:
    """Where EKS sends a cluster's control-plane logs (one log group per cluster)."""
    return f"/aws/eks/{cluster_name}/cluster"


def identity_provider_id(name: str) -> str:
    """Named by the configuration's name: EKS changes none of its settings in place."""
    return "IdentityProvider" + hashlib.sha256(name.encode()).hexdigest()[:10].upper()


def admin_entry_id(principal: str) -> str:
    return "AdminAccessEntry" + hashlib.sha256(principal.encode()).hexdigest()[:10].upper()


class _Builder:
    def __init__(self, cluster: Cluster, admins: Sequence[str] = ()):
        self.cluster = cluster
        self.admins = list(admins)
        self.name = cluster.metadata.name
        self.resources: Json = {}
        self.outputs: Json = {}

    def add(self, logical_id: str, kind: str, properties: Json, **extra: object) -> Json:
        self.resources[logical_id] = {"Type": kind, "Properties": properties, **extra}
        return ref(logical_id)

    def output(self, name: str, value: object, description: str) -> None:
        self.outputs[name] = {"Description": description, "Value": value}

    # --- network -----------------------------------------------------------------------

    def new_vpc(self) -> tuple[Json, list[Json], list[Json], list[Json]]:
        """A VPC with public and private subnets per zone; returns (vpc, public, private, route tables)."""
        cluster = self.cluster
        net = cluster.spec.network
        assert net.vpc.cidr is not None
        zone_list = zones(cluster)
        public_cidrs, private_cidrs = subnet_cidrs(net.vpc.cidr, len(zone_list))
        vpc = self.add(
            "Vpc",
            "AWS::EC2::VPC",
            {
                "CidrBlock": net.vpc.cidr,
                "EnableDnsSupport": True,
                "EnableDnsHostnames": True,  # EKS private endpoints need DNS hostnames
                "Tags": tag_list(cluster, Name=self.name),
            },
        )
        self.add("InternetGateway", "AWS::EC2::InternetGateway", {"Tags": tag_list(cluster, Name=self.name)})
        self.add(
            "VpcGatewayAttachment",
            "AWS::EC2::VPCGatewayAttachment",
            {"VpcId": vpc, "InternetGatewayId": ref("InternetGateway")},
        )
        public_rt = self.add(
            "PublicRouteTable",
            "AWS::EC2::RouteTable",
            {"VpcId": vpc, "Tags": tag_list(cluster, Name=f"{self.name}-public")},
        )
        self.add(
            "PublicDefaultRoute",
            "AWS::EC2::Route",
            {"RouteTableId": public_rt, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": ref("InternetGateway")},
            DependsOn="VpcGatewayAttachment",
        )
        # Subnet tags let the AWS load balancer controller find subnets; the cluster tag is
        # "shared" so that several clusters can use one VPC.
        shared = {cluster_tag_key(cluster): "shared"}
        public: list[Json] = []
        private: list[Json] = []
        for zone, cidr in zip(zone_list, public_cidrs, strict=True):
            n = zone.index + 1
            subnet = self.add(
                f"PublicSubnet{n}",
                "AWS::EC2::Subnet",
                {
                    "VpcId": vpc,
                    "CidrBlock": cidr,
                    "AvailabilityZone": zone.value,
                    # Nodes in public subnets need public addresses (EKS managed node groups check it).
                    "MapPublicIpOnLaunch": "public" in topologies(cluster),
                    "Tags": tag_list(cluster, Name=f"{self.name}-public-{n}", **{ELB_ROLE_TAG: "1"}, **shared),
                },
            )
            self.add(
                f"PublicSubnet{n}RouteTableAssociation",
                "AWS::EC2::SubnetRouteTableAssociation",
                {"SubnetId": subnet, "RouteTableId": public_rt},
            )
            public.append(subnet)
        route_tables = [public_rt]
        nat_mode = net.nat_gateways
        nat_count = {"per-zone": len(zone_list), "single": 1, "none": 0}[nat_mode]
        for i in range(nat_count):
            n = i + 1
            self.add(
                f"NatEip{n}",
                "AWS::EC2::EIP",
                {"Domain": "vpc", "Tags": tag_list(cluster, Name=f"{self.name}-nat-{n}")},
                DependsOn="VpcGatewayAttachment",
            )
            self.add(
                f"NatGateway{n}",
                "AWS::EC2::NatGateway",
                {
                    "AllocationId": get_att(f"NatEip{n}", "AllocationId"),
                    "SubnetId": public[i],
                    "Tags": tag_list(cluster, Name=f"{self.name}-nat-{n}"),
                },
            )
        private_tables = max(nat_count, 1) if nat_mode == "per-zone" else 1
        for i in range(private_tables):
            n = i + 1
            table = self.add(
                f"PrivateRouteTable{n}",
                "AWS::EC2::RouteTable",
                {"VpcId": vpc, "Tags": tag_list(cluster, Name=f"{self.name}-private-{n}")},
            )
            route_tables.append(table)
            if nat_count:
                self.add(
                    f"PrivateDefaultRoute{n}",
                    "AWS::EC2::Route",
                    {"RouteTableId": table, "DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": ref(f"NatGateway{n}")},
                )
        for zone, cidr in zip(zone_list, private_cidrs, strict=True):
            n = zone.index + 1
            subnet = self.add(
                f"PrivateSubnet{n}",
                "AWS::EC2::Subnet",
                {
                    "VpcId": vpc,
                    "CidrBlock": cidr,
                    "AvailabilityZone": zone.value,
                    "Tags": tag_list(
                        cluster, Name=f"{self.name}-private-{n}", **{INTERNAL_ELB_ROLE_TAG: "1"}, **shared
                    ),
                },
            )
            table_n = n if private_tables > 1 else 1
            self.add(
                f"PrivateSubnet{n}RouteTableAssociation",
                "AWS::EC2::SubnetRouteTableAssociation",
                {"SubnetId": subnet, "RouteTableId": ref(f"PrivateRouteTable{table_n}")},
            )
            private.append(subnet)
        # A Lambda in a VPC has no public IP: without NAT the agent reaches S3 only through this.
        self.add(
            "S3GatewayEndpoint",
            "AWS::EC2::VPCEndpoint",
            {
                "VpcId": vpc,
                "ServiceName": sub("com.amazonaws.${AWS::Region}.s3"),
                "VpcEndpointType": "Gateway",
                "RouteTableIds": route_tables,
            },
        )
        return vpc, public, private, route_tables

    # --- IAM ---------------------------------------------------------------------------

    def roles(self) -> None:
        cluster = self.cluster
        auto = cluster.spec.compute_mode == "auto"
        trust = assume_role("eks.amazonaws.com")
        if auto:
            # EKS Auto Mode tags the sessions it takes with the cluster role ("Amazon EKS cluster
            # IAM role": the trust policy allows sts:TagSession), and manages compute, block
            # storage, load balancers and networking with it.
            trust["Statement"][0]["Action"] = ["sts:AssumeRole", "sts:TagSession"]
        self.add(
            "ClusterRole",
            "AWS::IAM::Role",
            {
                "AssumeRolePolicyDocument": trust,
                "ManagedPolicyArns": [
                    managed_policy(p)
                    for p in ["AmazonEKSClusterPolicy", *(facts.AUTO_MODE_CLUSTER_POLICIES if auto else [])]
                ],
                "Tags": tag_list(cluster),
            },
        )
        node_policies = [
            "AmazonEKSWorkerNodePolicy",
            "AmazonEC2ContainerRegistryPullOnly",
            "AmazonSSMManagedInstanceCore",
        ]
        if auto:  # Auto Mode's nodes: "Amazon EKS Auto Mode node IAM role"
            node_policies = ["AmazonEKSWorkerNodeMinimalPolicy", "AmazonEC2ContainerRegistryPullOnly"]
        elif cluster.spec.cni.name == "aws-vpc-cni":
            node_policies.append("AmazonEKS_CNI_Policy")
        self.add(
            "NodeRole",
            "AWS::IAM::Role",
            {
                "AssumeRolePolicyDocument": assume_role("ec2.amazonaws.com"),
                "ManagedPolicyArns": [managed_policy(p) for p in node_policies],
                "Tags": tag_list(cluster),
            },
        )
        self.add(
            "AgentRole",
            "AWS::IAM::Role",
            {
                "AssumeRolePolicyDocument": assume_role("lambda.amazonaws.com"),
                "ManagedPolicyArns": [managed_policy("service-role/AWSLambdaVPCAccessExecutionRole")],
                "Policies": [
                    {
                        "PolicyName": "read-artifacts",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "s3:GetObject",
                                    "Resource": sub("arn:${AWS::Partition}:s3:::${ArtifactsBucket}/*"),
                                }
                            ],
                        },
                    }
                ],
                "Tags": tag_list(cluster),
            },
        )

    # --- control plane and agent ---------------------------------------------------------

    def security_groups(self, vpc: Json | str) -> None:
        cluster = self.cluster
        self.add(
            "ControlPlaneSecurityGroup",
            "AWS::EC2::SecurityGroup",
            {
                "GroupDescription": f"clusterdrop {self.name}: extra rules for the EKS control plane",
                "VpcId": vpc,
                "Tags": tag_list(cluster, Name=f"{self.name}-control-plane"),
            },
        )
        self.add(
            "AgentSecurityGroup",
            "AWS::EC2::SecurityGroup",
            {
                "GroupDescription": f"clusterdrop {self.name}: the cluster agent Lambda",
                "VpcId": vpc,
                "SecurityGroupEgress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": AGENT_PORT,
                        "ToPort": AGENT_PORT,
                        "CidrIp": "0.0.0.0/0",
                        "Description": "Kubernetes API (private endpoint) and S3 (gateway endpoint)",
                    }
                ],
                "Tags": tag_list(cluster, Name=f"{self.name}-agent"),
            },
        )
        self.add(
            "ControlPlaneIngressFromAgent",
            "AWS::EC2::SecurityGroupIngress",
            {
                "GroupId": ref("ControlPlaneSecurityGroup"),
                "SourceSecurityGroupId": ref("AgentSecurityGroup"),
                "IpProtocol": "tcp",
                "FromPort": AGENT_PORT,
                "ToPort": AGENT_PORT,
                "Description": "clusterdrop agent to the Kubernetes API",
            },
        )

    def control_plane(self, subnets: list[Json | str]) -> None:
        cluster = self.cluster
        spec = cluster.spec
        cp = spec.control_plane
        public = cp.endpoint_access == "public-and-private"
        vpc_config: Json = {
            "SubnetIds": subnets,
            "SecurityGroupIds": [ref("ControlPlaneSecurityGroup")],
            "EndpointPrivateAccess": True,
            "EndpointPublicAccess": public,
        }
        if public:
            vpc_config["PublicAccessCidrs"] = list(cp.admin_cidrs or ["0.0.0.0/0"])
        properties: Json = {
            "Name": self.name,
            "Version": spec.kubernetes_version,
            "RoleArn": get_att("ClusterRole", "Arn"),
            "ResourcesVpcConfig": vpc_config,
            "AccessConfig": {"AuthenticationMode": "API", "BootstrapClusterCreatorAdminPermissions": False},
            # Without the VPC CNI, EKS must not install it (nor kube-proxy and CoreDNS, which
            # the workflow installs as add-ons): nodes stay NotReady until our CNI is applied.
            # EKS Auto Mode runs them on its nodes itself.
            "BootstrapSelfManagedAddons": spec.cni.name == "aws-vpc-cni" and spec.compute_mode != "auto",
            "Tags": tag_list(cluster),
        }
        network: Json = {}
        if spec.network.service_cidr:
            network["ServiceIpv4Cidr"] = spec.network.service_cidr
        if spec.compute_mode == "auto":
            # EKS Auto Mode: compute, block storage and load balancing are enabled together (EKS
            # refuses them apart); the node pools' nodes take the node role.
            pools = list(spec.node_pools or [])
            properties["ComputeConfig"] = {
                "Enabled": True,
                "NodePools": pools,
                **({"NodeRoleArn": get_att("NodeRole", "Arn")} if pools else {}),
            }
            properties["StorageConfig"] = {"BlockStorage": {"Enabled": True}}
            network["ElasticLoadBalancing"] = {"Enabled": True}
        if network:
            properties["KubernetesNetworkConfig"] = network
        if cp.logging:
            properties["Logging"] = {"ClusterLogging": {"EnabledTypes": [{"Type": t} for t in cp.logging]}}
        if cp.scaling_tier:
            properties["ControlPlaneScalingConfig"] = {"Tier": cp.scaling_tier}
        if cp.secrets_key:
            properties["EncryptionConfig"] = [{"Provider": {"KeyArn": cp.secrets_key}, "Resources": ["secrets"]}]
        if cp.zonal_shift:
            properties["ZonalShiftConfig"] = {"Enabled": True}
        if cp.support_type:
            properties["UpgradePolicy"] = {"SupportType": cp.support_type.upper()}
        depends: dict[str, object] = {}
        if cp.log_retention_days is not None:
            # EKS writes into /aws/eks/<name>/cluster, making it (without retention) when it does not
            # exist: made first, the group is the stack's, with the spec's retention.
            self.add(
                "ControlPlaneLogGroup",
                "AWS::Logs::LogGroup",
                {
                    "LogGroupName": control_plane_log_group(self.name),
                    "RetentionInDays": cp.log_retention_days,
                    "Tags": tag_list(cluster),
                },
            )
            depends["DependsOn"] = "ControlPlaneLogGroup"
        self.add("Cluster", "AWS::EKS::Cluster", properties, **depends)
        principals: list[tuple[str, Json | str]] = [("AgentAccessEntry", get_att("AgentRole", "Arn"))]
        # Named by the principal, not its position: adding or removing an admin leaves the
        # others' entries alone (a moved logical ID would recreate an entry that already exists).
        principals += [(admin_entry_id(arn), arn) for arn in dict.fromkeys([*cp.admins, *self.admins])]
        admin = [{"PolicyArn": sub(ADMIN_POLICY), "AccessScope": {"Type": "cluster"}}]
        for entry in cluster.spec.access:
            if entry.principal in self.admins:
                continue  # the deployer's admins already have an entry, and EKS takes one per principal
            self.add(
                admin_entry_id(entry.principal),
                "AWS::EKS::AccessEntry",
                {
                    "ClusterName": ref("Cluster"),
                    "PrincipalArn": entry.principal,
                    "Type": "STANDARD",
                    "AccessPolicies": [_access_policy(p.policy, p.namespaces) for p in entry.policies],
                    **({"KubernetesGroups": list(entry.groups)} if entry.groups else {}),
                    **({"Username": entry.username} if entry.username else {}),
                    "Tags": tag_list(cluster),
                },
            )
        for logical_id, principal in principals:
            self.add(
                logical_id,
                "AWS::EKS::AccessEntry",
                {
                    "ClusterName": ref("Cluster"),
                    "PrincipalArn": principal,
                    "Type": "STANDARD",
                    "AccessPolicies": admin,
                    "Tags": tag_list(cluster),
                },
            )
        if cluster.spec.compute_mode == "auto" and not cluster.spec.node_pools:
            # Without built-in pools EKS makes no access entry for the node role: nodes of a
            # custom node class join only through one of type EC2 with AmazonEKSAutoNodePolicy
            # (EKS User Guide, "Create an access entry for a custom node class").
            self.add(
                "AutoNodeAccessEntry",
                "AWS::EKS::AccessEntry",
                {
                    "ClusterName": ref("Cluster"),
                    "PrincipalArn": get_att("NodeRole", "Arn"),
                    "Type": "EC2",
                    "AccessPolicies": [{"PolicyArn": sub(AUTO_NODE_POLICY), "AccessScope": {"Type": "cluster"}}],
                    "Tags": tag_list(cluster),
                },
            )
        for provider in cluster.spec.identity_providers:
            given = {"IssuerUrl": provider.issuer_url, "ClientId": provider.client_id,
                     "UsernameClaim": provider.username_claim, "UsernamePrefix": provider.username_prefix,
                     "GroupsClaim": provider.groups_claim, "GroupsPrefix": provider.groups_prefix}  # fmt: skip
            oidc: Json = {k: v for k, v in given.items() if v is not None}
            if provider.required_claims:
                oidc["RequiredClaims"] = [{"Key": k, "Value": v} for k, v in sorted(provider.required_claims.items())]
            self.add(
                identity_provider_id(provider.name),
                "AWS::EKS::IdentityProviderConfig",
                {
                    "ClusterName": ref("Cluster"),
                    "Type": "oidc",
                    "IdentityProviderConfigName": provider.name,
                    "Oidc": oidc,
                    "Tags": tag_list(cluster),
                },
            )

    def pod_identities(self) -> None:
        """EKS Pod Identity: an association per service account, with the spec's role or one made
        here for its managed policies. Named by namespace and service account, not position."""
        cluster = self.cluster
        if "ebs-csi" in cluster.spec.addons:
            # The EBS CSI driver's controller calls EC2 with a role of its own through Pod Identity,
            # not with the node role every pod on the node could use (EKS best practices).
            self.add(
                "EbsCsiRole",
                "AWS::IAM::Role",
                {
                    "AssumeRolePolicyDocument": _pods_trust(),
                    "ManagedPolicyArns": [managed_policy("service-role/AmazonEBSCSIDriverPolicy")],
                    "Tags": tag_list(cluster),
                },
            )
            self.add(
                "EbsCsiPodIdentity",
                "AWS::EKS::PodIdentityAssociation",
                {
                    "ClusterName": ref("Cluster"),
                    "Namespace": "kube-system",
                    "ServiceAccount": "ebs-csi-controller-sa",
                    "RoleArn": get_att("EbsCsiRole", "Arn"),
                    "Tags": tag_list(cluster),
                },
            )
        if cluster.spec.cni.name == "cilium" and not cluster.spec.cni.overlay():
            # Cilium's operator manages the nodes' ENIs and their addresses (ENI mode): the EC2
            # actions Cilium's ENI IPAM documentation lists ("Required Privileges"), for its own
            # service account only, not on the node role every pod could use.
            self.add(
                "CiliumOperatorRole",
                "AWS::IAM::Role",
                {
                    "AssumeRolePolicyDocument": _pods_trust(),
                    "Policies": [{"PolicyName": "cilium-eni-ipam", "PolicyDocument": cilium_eni_policy(cluster)}],
                    "Tags": tag_list(cluster),
                },
            )
            self.add(
                "CiliumOperatorPodIdentity",
                "AWS::EKS::PodIdentityAssociation",
                {
                    "ClusterName": ref("Cluster"),
                    "Namespace": "kube-system",
                    "ServiceAccount": "cilium-operator",
                    "RoleArn": get_att("CiliumOperatorRole", "Arn"),
                    "Tags": tag_list(cluster),
                },
            )
        for identity in cluster.spec.pod_identities:
            digest = hashlib.sha256(f"{identity.namespace}/{identity.service_account}".encode()).hexdigest()[:10]
            role: Json | str | None = identity.role_arn
            if role is None:
                role_id = f"PodIdentityRole{digest.upper()}"
                inline = [{"PolicyName": "pod-identity", "PolicyDocument": identity.policy}] if identity.policy else []
                self.add(
                    role_id,
                    "AWS::IAM::Role",
                    {
                        "AssumeRolePolicyDocument": _pods_trust(),
                        **({"ManagedPolicyArns": list(identity.policy_arns)} if identity.policy_arns else {}),
                        **({"Policies": inline} if inline else {}),
                        **({"RoleName": identity.role_name, "Path": ROLE_PATH} if identity.role_name else {}),
                        **(
                            {"PermissionsBoundary": identity.permissions_boundary_arn}
                            if identity.permissions_boundary_arn
                            else {}
                        ),
                        "Tags": tag_list(cluster),
                    },
                )
                role = get_att(role_id, "Arn")
            association: Json = {
                "ClusterName": ref("Cluster"),
                "Namespace": identity.namespace,
                "ServiceAccount": identity.service_account,
                "RoleArn": role,
                "Tags": tag_list(cluster),
            }
            if identity.target_role_arn:
                association["TargetRoleArn"] = identity.target_role_arn
            if identity.disable_session_tags:
                association["DisableSessionTags"] = True
            self.add(f"PodIdentity{digest.upper()}", "AWS::EKS::PodIdentityAssociation", association)

    def agent(self, subnets: list[Json | str]) -> None:
        cluster = self.cluster
        function_name = agent_function_name(self.name)
        self.add(
            "AgentLogGroup",
            "AWS::Logs::LogGroup",
            {"LogGroupName": f"/aws/lambda/{function_name}", "RetentionInDays": 30, "Tags": tag_list(cluster)},
        )
        release = cluster.spec.cni.release()
        self.add(
            "AgentFunction",
            "AWS::Lambda::Function",
            {
                "FunctionName": function_name,
                "Description": f"clusterdrop agent of cluster {self.name}: every Kubernetes API call runs here",
                "Runtime": AGENT_RUNTIME,
                "Architectures": ["arm64"],
                "Handler": AGENT_HANDLER,
                "Code": {"S3Bucket": ref("AgentCodeBucket"), "S3Key": ref("AgentCodeKey")},
                "Role": get_att("AgentRole", "Arn"),
                "Timeout": AGENT_TIMEOUT_SECONDS,
                "MemorySize": AGENT_MEMORY_MB,
                "VpcConfig": {"SubnetIds": subnets, "SecurityGroupIds": [ref("AgentSecurityGroup")]},
                "Environment": {
                    "Variables": {
                        "CLUSTER_NAME": self.name,
                        "ARTIFACTS_BUCKET": ref("ArtifactsBucket"),
                        "CNI": f"{cluster.spec.cni.name}/{release.version if release else cluster.spec.cni.version}",
                    }
                },
                "Tags": tag_list(cluster),
            },
            DependsOn="AgentLogGroup",
        )


def render_cluster(cluster: Cluster, admins: Sequence[str] = ()) -> Json:
    """The cluster stack's template. `admins`: the deployer's cluster admins (its `clusterAdmins`
    context), granted beside the spec's own `controlPlane.admins`."""
    b = _Builder(cluster, admins)
    spec = cluster.spec
    vpc_spec = spec.network.vpc
    if vpc_spec.id is None:
        vpc, public, private, _ = b.new_vpc()
        vpc_value: Json | str = vpc
        public_ids: list[Json | str] = list(public)
        private_ids: list[Json | str] = list(private)
    else:
        vpc_value = vpc_spec.id
        subnets = vpc_spec.subnets
        public_ids = [s.id for s in subnets.public] if subnets else []
        private_ids = [s.id for s in subnets.private] if subnets else []
    node_ids = private_ids if spec.network.topology == "private" else public_ids
    other = "public" if spec.network.topology == "private" else "private"
    b.roles()
    b.security_groups(vpc_value)
    b.control_plane(private_ids or public_ids)
    b.pod_identities()
    b.agent(private_ids or node_ids)
    b.output("ClusterName", ref("Cluster"), "EKS cluster name")
    b.output("ClusterArn", get_att("Cluster", "Arn"), "EKS cluster ARN")
    b.output("ClusterEndpoint", get_att("Cluster", "Endpoint"), "Kubernetes API endpoint")
    b.output(
        "ClusterSecurityGroupId",
        get_att("Cluster", "ClusterSecurityGroupId"),
        "Security group EKS made for the cluster",
    )
    b.output("NodeRoleArn", get_att("NodeRole", "Arn"), "IAM role of the managed node groups")
    b.output("AgentFunctionArn", get_att("AgentFunction", "Arn"), "The cluster agent Lambda")
    b.output("VpcId", vpc_value, "VPC of the cluster")
    b.output("NodeSubnetIds", {"Fn::Join": [",", node_ids]}, "Subnets for node groups, in zone order")
    b.output(
        "NodeSubnetZones",
        {"Fn::Join": [",", [z.value for z in zones(cluster)]]}
        if vpc_spec.id is None
        else ",".join(
            s.zone or "" for s in (getattr(vpc_spec.subnets, spec.network.topology) if vpc_spec.subnets else [])
        ),
        "Zone of each node subnet, in the same order",
    )
    if other in topologies(cluster):  # a node group placed apart from the cluster's topology
        other_ids = public_ids if other == "public" else private_ids
        b.output(f"{other.capitalize()}NodeSubnetIds", {"Fn::Join": [",", other_ids]}, f"{other} subnets")
        b.output(
            f"{other.capitalize()}NodeSubnetZones",
            {"Fn::Join": [",", [z.value for z in zones(cluster)]]}
            if vpc_spec.id is None
            else ",".join(s.zone or "" for s in (getattr(vpc_spec.subnets, other) if vpc_spec.subnets else [])),
            f"Zone of each {other} subnet",
        )
    return {
        "AWSTemplateFormatVersion": TEMPLATE_VERSION,
        "Description": f"clusterdrop cluster {cluster.metadata.name}: network, IAM, EKS control plane, agent",
        "Parameters": {
            "AgentCodeBucket": {"Type": "String", "Description": "S3 bucket holding the agent's code"},
            "AgentCodeKey": {"Type": "String", "Description": "S3 key of the agent's code (zip)"},
            "ArtifactsBucket": {"Type": "String", "Description": "S3 bucket the agent reads CNI artifacts from"},
        },
        "Resources": b.resources,
        "Outputs": b.outputs,
    }
