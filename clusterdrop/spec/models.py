"""The native cluster spec (`clusterdrop.io/v1alpha1`, kind `Cluster`) as Pydantic models.

Field-level rules (formats, ranges, shapes) live here so that they are reported together with
type errors; rules that relate several fields live in `clusterdrop.spec.validate`.
The JSON Schema for editors is generated from these models.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from clusterdrop import facts
from clusterdrop.cni import catalog

API_VERSION = "clusterdrop.io/v1alpha1"
KIND = "Cluster"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.[0-9]*[a-z][a-z0-9-]*$")
IAM_PRINCIPAL = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$")
_VPC_ID = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
_SUBNET_ID = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_KEY_PAIR = re.compile(r"^[\x20-\x7e]{1,255}$")
KMS_KEY_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:kms:([a-z0-9-]+):(\d{12}):key/[0-9a-f-]{36}$|^arn:aws(-cn|-us-gov)?:kms:([a-z0-9-]+):(\d{12}):key/mrk-[0-9a-f]{32}$"
)


def _dns_label(max_len: int) -> AfterValidator:
    def check(value: str) -> str:
        if not 1 <= len(value) <= max_len or not _DNS_LABEL.match(value):
            raise ValueError(
                f"{value!r} is not a DNS-1123 label of 1..{max_len} characters "
                "(lowercase letters, digits and '-', starting and ending with a letter or digit)"
            )
        return value

    return AfterValidator(check)


_ADDON_VERSION = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")


def _pattern(regex: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _cidr(value: str) -> str:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ipaddress.AddressValueError:
        raise ValueError(f"{value!r} is not an IPv4 CIDR such as 10.0.0.0/16") from None
    except ValueError as exc:
        if "host bits set" in str(exc):
            raise ValueError(
                f"{value!r} has host bits set; did you mean {ipaddress.IPv4Network(value, strict=False)}?"
            ) from None
        raise ValueError(f"{value!r} is not an IPv4 CIDR such as 10.0.0.0/16") from None
    if "/" not in value:
        raise ValueError(f"{value!r} has no prefix length; write it as {net}")
    return value


def _version_text(value: Any) -> Any:
    # `kubernetesVersion: 1.30` is read by YAML as the number 1.3: ask for quotes instead of
    # silently deploying the wrong version.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f'write the version as a quoted string such as "1.33" (YAML reads {value} as a number)')
    return value


def _region(value: str) -> str:
    if value not in facts.REGIONS:
        raise ValueError(f"{value!r} is not an AWS region where clusterdrop deploys EKS (e.g. eu-west-1)")
    return value


def _subnet_ref(value: Any) -> Any:
    # A subnet may be given as just its id.
    return {"id": value} if isinstance(value, str) else value


DnsLabel40 = Annotated[str, _dns_label(40)]
DnsLabel63 = Annotated[str, _dns_label(63)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Region = Annotated[str, AfterValidator(_region)]
InstanceType = Annotated[str, _pattern(_INSTANCE_TYPE, "an EC2 instance type such as t3.medium or m7g.2xlarge")]
IamPrincipal = Annotated[
    str, _pattern(IAM_PRINCIPAL, "an IAM role or user ARN such as arn:aws:iam::123456789012:role/admin")
]
VpcId = Annotated[str, _pattern(_VPC_ID, "a VPC id such as vpc-0abc1234def567890")]
SubnetId = Annotated[str, _pattern(_SUBNET_ID, "a subnet id such as subnet-0abc1234def567890")]
Email = Annotated[str, _pattern(_EMAIL, "an email address")]
KeyPairName = Annotated[str, _pattern(_KEY_PAIR, "an EC2 key pair name (1..255 printable ASCII characters)")]
_IAM_ROLE = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_POLICY_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::(aws|\d{12}):policy/[\w+=,.@/-]{1,512}$")
_SERVICE_ACCOUNT = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")  # IAM CreateRole RoleName
IamRoleArn = Annotated[str, _pattern(_IAM_ROLE, "an IAM role ARN such as arn:aws:iam::123456789012:role/app")]
PolicyArn = Annotated[
    str, _pattern(_POLICY_ARN, "an IAM policy ARN such as arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
]
# The EKS add-ons a spec may pin or tag, by the spec's names.
AddonName = Literal["vpc-cni", "kube-proxy", "coredns", "ebs-csi", "metrics-server", "pod-identity-agent"]
ServiceAccountName = Annotated[str, _pattern(_SERVICE_ACCOUNT, "a Kubernetes service account name")]
KmsKeyArn = Annotated[
    str,
    _pattern(KMS_KEY_ARN, "a KMS key ARN such as arn:aws:kms:eu-west-1:123456789012:key/<key id> (not an alias)"),
]
# What EBS encryption takes for a key (EC2's KmsKeyId): a key ID, an alias name, a key ARN or an
# alias ARN (KMS's "Key identifiers"); Plan resolves it to the key's ARN with kms:DescribeKey.
KMS_KEY_REF = re.compile(
    KMS_KEY_ARN.pattern
    + r"|^arn:aws(-cn|-us-gov)?:kms:[a-z0-9-]+:\d{12}:alias/[a-zA-Z0-9/_-]{1,250}$"
    + r"|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^mrk-[0-9a-f]{32}$"
    + r"|^alias/[a-zA-Z0-9/_-]{1,250}$"
)
KmsKeyRef = Annotated[
    str,
    _pattern(KMS_KEY_REF, "a KMS key: its ID, an alias (alias/NAME), its ARN or an alias ARN"),
]


class Model(BaseModel):
    """Base: camelCase field names, unknown fields rejected, no silent type coercion."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, strict=True, frozen=True)


class Metadata(Model):
    name: DnsLabel40 = Field(description="Cluster name; prefixes every stack and resource name.")
    tags: dict[str, str] = Field(default_factory=dict, description="AWS tags put on every resource.")


# The retention periods CloudWatch Logs accepts (PutRetentionPolicy; AWS::Logs::LogGroup RetentionInDays).
LogRetentionDays = Literal[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653
]


class ControlPlane(Model):
    flavor: Literal["eks", "kubeadm"] = Field(
        default="eks", description="Who runs the control plane: EKS (kubeadm is not supported yet)."
    )
    endpoint_access: Literal["public-and-private", "private"] = Field(
        default="public-and-private",
        description="The agent and the nodes always use the private endpoint; there is no public-only mode.",
    )
    admin_cidrs: list[Cidr] | None = Field(
        default=None, description="CIDRs allowed to reach the public endpoint (default: 0.0.0.0/0, as EKS)."
    )
    admins: list[IamPrincipal] = Field(default_factory=list, description="IAM principals made cluster admins.")
    logging: list[Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]] = Field(
        default_factory=list, description="EKS control-plane log types sent to CloudWatch Logs."
    )
    log_retention_days: LogRetentionDays | None = Field(
        default=None,
        description="Keep the control-plane logs this many days: clusterdrop makes the log group "
        "/aws/eks/<name>/cluster with this retention before the cluster, and deletes it with the cluster. "
        "Default: EKS makes the group itself, keeps the logs forever and leaves them after a teardown.",
    )
    allow_replacement: bool = Field(
        default=False,
        description="Let an update change the cluster's network (zones, topology, VPC, subnets) around a running "
        "control plane. A change that would replace the EKS cluster itself is refused either way: CloudFormation "
        "cannot replace a resource that has a name of its own.",
    )
    scaling_tier: Literal["standard", "tier-xl", "tier-2xl", "tier-4xl", "tier-8xl"] | None = Field(
        default=None,
        description="EKS Provisioned Control Plane: capacity reserved for the API server (tiers above standard "
        "are billed per hour). Default: EKS's own scaling.",
    )
    secrets_key: KmsKeyArn | None = Field(
        default=None,
        description="Envelope encryption of Kubernetes secrets with this symmetric KMS key of the cluster's "
        "region (EKS EncryptionConfig). Set at creation: a change replaces the cluster.",
    )
    zonal_shift: bool = Field(
        default=False,
        description="Amazon Application Recovery Controller zonal shift: traffic can be moved away from an "
        "impaired zone (EKS ZonalShiftConfig).",
    )
    support_type: Literal["standard", "extended"] | None = Field(
        default=None,
        description="What EKS does when the version leaves standard support: extended (EKS's default: the "
        "cluster stays, at the extended-support price) or standard (EKS upgrades it itself).",
    )


class SubnetRef(Model):
    id: SubnetId = Field(description="The subnet's id (subnet-...).")
    zone: str | None = Field(default=None, description="Its availability zone, when you want it checked.")


SubnetItem = Annotated[SubnetRef, BeforeValidator(_subnet_ref)]


class Subnets(Model):
    private: list[SubnetItem] = Field(default_factory=list, description="Subnets for nodes (topology: private).")
    public: list[SubnetItem] = Field(
        default_factory=list, description="Subnets with a route to an internet gateway (load balancers, public nodes)."
    )


class Vpc(Model):
    cidr: Cidr | None = Field(default=None, description="CIDR of a new VPC (/16 to /24).")
    id: VpcId | None = Field(default=None, description="An existing VPC; give its subnets too.")
    subnets: Subnets | None = Field(default=None, description="The existing VPC's subnets, by id (with vpc.id only).")


class Network(Model):
    zones: list[str] | None = Field(
        default=None, description="Availability zones; when absent, up to 3 are picked at deploy time."
    )
    topology: Literal["private", "public"] = Field(
        default="private", description="Where nodes run: private subnets behind NAT (default) or public subnets."
    )
    vpc: Vpc = Field(default_factory=Vpc, description="A new VPC (cidr, default 10.0.0.0/16) or an existing one (id).")
    nat_gateways: Literal["per-zone", "single", "none"] = Field(
        default="single", description="NAT gateways of a new VPC: one (default), one per zone (HA), or none."
    )
    pod_cidr: Cidr | None = Field(
        default=None, description="Pod address pool of an overlay CNI (default: one that overlaps nothing)."
    )
    service_cidr: Cidr | None = Field(
        default=None, description="Kubernetes service addresses (default: EKS's, 172.20.0.0/16 or 10.100.0.0/16)."
    )


class Cni(Model):
    name: Literal["aws-vpc-cni", "calico", "cilium", "flannel"] = Field(
        default="aws-vpc-cni", description="The CNI: the AWS VPC CNI (an EKS add-on) or an overlay."
    )
    version: str | None = Field(default=None, description="Default: the newest version in the catalog.")
    mode: Literal["manifest", "operator", "eni", "overlay"] | None = Field(
        default=None,
        description="calico: manifest | operator; cilium: eni (pods on VPC addresses, the default) | overlay "
        "(VXLAN on network.podCidr).",
    )
    kube_proxy_replacement: bool = Field(
        default=False,
        description="cilium only: Cilium replaces kube-proxy (no kube-proxy add-on; its agents reach the API "
        "server directly).",
    )

    def release(self) -> catalog.CniRelease:
        """The catalog's release this names (a validated spec always names one)."""
        found = catalog.find(self.name, self.version)
        if found is None:
            raise ValueError(f"{self.name} {self.version or ''} is not in the catalog; validate the spec first")
        return found

    def install_mode(self) -> str:
        """The catalog's mode this installs: the mode, and for Cilium whether kube-proxy is replaced
        (each a structural choice the chart is rendered for)."""
        mode = self.mode or self.release().default_mode
        return f"{mode}-kpr" if self.kube_proxy_replacement else mode

    def overlay(self) -> bool:
        """Pods on addresses the VPC (and EKS's control plane) does not route."""
        return catalog.overlay_mode(self.release(), self.install_mode())


class Taint(Model):
    key: str = Field(min_length=1, max_length=63, description="Taint key (a label key).")
    value: str | None = Field(default=None, max_length=63, description="Taint value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        description="What the taint does to pods that do not tolerate it."
    )


class UpdateConfig(Model):
    """How many nodes a node-group update replaces at once (EKS's updateConfig): a count or a
    percentage of the group, one of the two (default: one node)."""

    max_unavailable: int | None = Field(default=None, ge=1, le=100, description="Nodes replaced at once.")
    max_unavailable_percentage: int | None = Field(
        default=None, ge=1, le=100, description="Nodes replaced at once, as a percentage of the group."
    )


class Volume(Model):
    """The nodes' root volume as EBS takes it, through the group's launch template."""

    type: Literal["gp3", "gp2", "io1", "io2"] = Field(default="gp3", description="EBS volume type.")
    size_gi_b: int | None = Field(
        default=None, ge=1, le=16384, alias="sizeGiB", description="Size, GiB. Default: the group's diskSizeGiB."
    )
    iops: int | None = Field(
        default=None, ge=100, le=256000, description="Provisioned IOPS: gp3 (3000..16000), io1 and io2 (needed)."
    )
    throughput: int | None = Field(default=None, ge=125, le=1000, description="MiB/s, gp3 only (125..1000).")
    encrypted: bool = Field(default=True, description="EBS encryption (with the account's default key, or kmsKeyId).")
    kms_key_id: KmsKeyRef | None = Field(
        default=None,
        description="A KMS key of the cluster's region to encrypt with, instead of the default: its ID, an alias "
        "(alias/NAME), its ARN or an alias ARN, resolved to the key's ARN at Plan.",
    )


# EKS's access policies a spec may name, by their short name (AmazonEKS<Name>Policy).
ACCESS_POLICIES = {"cluster-admin": "ClusterAdmin", "admin": "Admin", "edit": "Edit", "view": "View"}


class AccessPolicy(Model):
    policy: Literal["cluster-admin", "admin", "edit", "view"] = Field(
        description="An EKS access policy: AmazonEKSClusterAdminPolicy, AmazonEKSAdminPolicy, AmazonEKSEditPolicy "
        "or AmazonEKSViewPolicy (Kubernetes' cluster-admin, admin, edit and view roles)."
    )
    namespaces: list[DnsLabel63] | None = Field(
        default=None, min_length=1, max_length=20, description="Where it applies. Default: the whole cluster."
    )


class AccessEntry(Model):
    """An EKS access entry: who may use the cluster's API, with what."""

    principal: IamPrincipal = Field(description="An IAM role or user of any account.")
    policies: list[AccessPolicy] = Field(default_factory=list, max_length=20, description="EKS access policies.")
    username: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None,
        description="The Kubernetes user name the principal gets, for RBAC bindings to a user (default: EKS's, "
        "from the principal's ARN).",
    )
    groups: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Kubernetes groups, for RBAC bindings of the cluster's own (not system: groups).",
    )


class PodIdentity(Model):
    """EKS Pod Identity: the pods of one service account get an IAM role's credentials."""

    namespace: DnsLabel63 = Field(description="The service account's namespace.")
    service_account: ServiceAccountName = Field(description="The service account (it may not exist yet).")
    role_arn: IamRoleArn | None = Field(
        default=None, description="An existing role of the cluster's account, trusting pods.eks.amazonaws.com."
    )
    policy_arns: list[PolicyArn] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="Or: managed policies for a role clusterdrop creates (trusting pods.eks.amazonaws.com).",
    )
    policy: dict[str, Any] | None = Field(
        default=None,
        description="And/or: an inline IAM policy document for the role clusterdrop creates.",
    )
    role_name: Annotated[str, _pattern(_ROLE_NAME, "an IAM role name (1..64 of letters, digits, _+=,.@-)")] | None = (
        Field(
            default=None,
            description="The name of the role clusterdrop makes, under the path /clusterdrop/ (default: "
            "CloudFormation names it); unique in the account.",
        )
    )
    permissions_boundary_arn: PolicyArn | None = Field(
        default=None,
        description="A managed policy that bounds what the role clusterdrop makes may do (an IAM permissions "
        "boundary).",
    )
    target_role_arn: Annotated[str, _pattern(_IAM_ROLE, "an IAM role ARN")] | None = Field(
        default=None,
        description="A role in another account the pods' credentials come from: EKS assumes it with roleArn's "
        "(EKS Pod Identity's role chaining).",
    )
    disable_session_tags: bool = Field(
        default=False, description="Leave out the session tags EKS Pod Identity adds (cluster, namespace, pod …)."
    )
    create_service_account: bool = Field(
        default=False,
        description="Create the service account (and its namespace) in the cluster; pods cannot use one that "
        "does not exist. A removed association leaves it.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels of the service account clusterdrop creates."
    )


class IdentityProvider(Model):
    """An OIDC identity provider whose ID tokens the API server accepts (EKS identity provider
    config); what its users may do is Kubernetes RBAC's (RoleBindings to their names or groups)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")] = (
        Field(description="The configuration's name in EKS.")
    )
    issuer_url: Annotated[str, StringConstraints(max_length=2048)] = Field(
        description="The provider's issuer (https://, no query; the iss claim of its tokens), publicly reachable."
    )
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="The audience: the client ID the tokens are issued to."
    )
    username_claim: str | None = Field(default=None, description="The claim that names the user (EKS: sub).")
    username_prefix: str | None = Field(default=None, description="Put before every username ('-': none); not system:.")
    groups_claim: str | None = Field(default=None, description="The claim that lists the user's groups.")
    groups_prefix: str | None = Field(default=None, description="Put before every group name; not system:.")
    required_claims: dict[str, str] = Field(
        default_factory=dict, description="Claims a token must carry with these values."
    )


class NodeRepair(Model):
    """EKS node auto repair: EKS replaces a node whose health checks fail (its NodeRepairConfig)."""

    enabled: bool = Field(default=True, description="Replace unhealthy nodes automatically.")


class NodeGroup(Model):
    name: DnsLabel63 = Field(description="Node group name, unique in the cluster.")
    instance_types: list[InstanceType] = Field(
        min_length=1, max_length=20, description="EC2 instance types, one architecture (a list, even of one)."
    )
    min_size: int | None = Field(default=None, ge=0, description="Default: desiredSize.")
    desired_size: int = Field(ge=0, le=1000, description="Nodes to run.")
    max_size: int | None = Field(default=None, ge=1, le=1000, description="Default: desiredSize.")
    zones: list[str] | None = Field(default=None, description="Default: all the cluster's zones.")
    topology: Literal["private", "public"] | None = Field(
        default=None,
        description="Where this group's nodes run, when not where the cluster's do (network.topology): private "
        "subnets behind NAT, or public subnets with public addresses.",
    )
    capacity_type: Literal["on-demand", "spot"] = Field(default="on-demand", description="On-Demand or Spot instances.")
    disk_size_gi_b: int = Field(default=80, ge=20, le=16384, alias="diskSizeGiB", description="Root volume size, GiB.")
    labels: dict[str, str] = Field(default_factory=dict, description="Kubernetes labels on the group's nodes.")
    taints: list[Taint] = Field(
        default_factory=list, max_length=50, description="Kubernetes taints on the group's nodes."
    )
    ssh_key_name: KeyPairName | None = Field(default=None, description="An EC2 key pair for SSH to the nodes.")
    instance_name: (
        Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[\w\s.:/=+\-@]+$")] | None
    ) = Field(default=None, description="The Name tag of the group's EC2 instances (through its launch template).")
    ami_family: Literal["al2023", "bottlerocket"] = Field(
        default="al2023",
        description="The nodes' operating system: Amazon Linux 2023 or Bottlerocket (EKS-optimized AMIs, the "
        "architecture of the instance types).",
    )
    volume: Volume | None = Field(
        default=None,
        description="The root volume's type, IOPS, throughput and encryption (through a launch template). "
        "Default: a diskSizeGiB volume as EKS makes it (encrypted as the account's EBS default says), or an "
        "encrypted gp3 where the group has a launch template for maxPods (an overlay CNI).",
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="AWS tags on the node group and its instances, beside metadata.tags."
    )
    update_config: UpdateConfig | None = Field(
        default=None, description="Nodes replaced at once by an update: maxUnavailable or maxUnavailablePercentage."
    )
    node_repair: NodeRepair | None = Field(
        default=None, description="EKS node auto repair: {enabled: true} replaces nodes that turn unhealthy."
    )
    kubernetes_version: Annotated[str | None, BeforeValidator(_version_text)] = Field(
        default=None,
        description="Default: the control plane's. The minor before it keeps this group there while the "
        "control plane upgrades (the group rolls when this is raised or removed).",
    )


class UpgradePolicy(Model):
    force: bool = Field(
        default=False,
        description="Replace nodes even where a PodDisruptionBudget forbids evicting their pods: EKS deletes "
        "what it cannot evict (its forced update). Default: the upgrade stops, naming the pod and the budget.",
    )


class Notifications(Model):
    emails: list[Email] = Field(default_factory=list, description="Addresses subscribed to this cluster's results.")


class ClusterSpec(Model):
    region: Region = Field(description="AWS region to deploy to.")
    kubernetes_version: Annotated[str | None, BeforeValidator(_version_text)] = Field(
        default=None, description="Default: the newest supported version."
    )
    control_plane: ControlPlane = Field(
        default_factory=ControlPlane, description="The EKS control plane and its access."
    )
    network: Network = Field(default_factory=Network, description="VPC, subnets, zones and address ranges.")
    cni: Cni = Field(default_factory=Cni, description="The pod network.")
    compute_mode: Literal["node-groups", "auto"] = Field(
        default="node-groups",
        description="Who runs the nodes: the spec's managed node groups, or EKS Auto Mode (EKS makes nodes from "
        "its node pools as pods need them, and runs the VPC CNI, DNS, proxy, block storage and load balancing).",
    )
    node_pools: list[Literal["general-purpose", "system"]] | None = Field(
        default=None,
        description="With computeMode auto: EKS's built-in node pools (default: both; system takes only pods "
        "that tolerate CriticalAddonsOnly).",
    )
    node_groups: list[NodeGroup] = Field(
        default_factory=list,
        max_length=facts.MAX_NODE_GROUPS,
        description="Managed node groups; none (or none with nodes): a control plane alone, the AWS VPC CNI its "
        "only network, node groups added by a later upload.",
    )
    addons: list[Literal["ebs-csi", "metrics-server", "pod-identity-agent"]] = Field(
        default_factory=list,
        description="Extra add-ons: the EBS CSI driver, metrics-server, the EKS Pod Identity agent (added with "
        "podIdentities).",
    )
    addon_versions: dict[
        AddonName, Annotated[str, _pattern(_ADDON_VERSION, "an EKS add-on version such as v1.12.2-eksbuild.1")]
    ] = Field(
        default_factory=dict,
        description="EKS add-on versions pinned (checked at Plan against what EKS offers for the cluster's "
        "Kubernetes version); an add-on not pinned gets EKS's default, and an upgrade moves it to the new default.",
    )
    addon_tags: dict[AddonName, dict[str, str]] = Field(
        default_factory=dict,
        description="AWS tags of one EKS add-on, beside metadata.tags (which every add-on carries).",
    )
    access: list[AccessEntry] = Field(
        default_factory=list,
        max_length=100,
        description="Access entries beyond the admins: any principal, EKS access policies by scope, Kubernetes groups.",
    )
    pod_identities: list[PodIdentity] = Field(
        default_factory=list, max_length=100, description="EKS Pod Identity associations: IAM roles for pods."
    )
    identity_providers: list[IdentityProvider] = Field(
        default_factory=list,
        max_length=1,
        description="An OIDC identity provider for people signing in to the API server (EKS takes one per cluster).",
    )
    node_ready_timeout_minutes: int = Field(
        default=20, ge=1, le=180, description="How long the workflow waits for every node to be Ready."
    )
    deletion_policy: Literal["delete", "retain"] = Field(
        default="delete", description="What a failed first creation leaves behind."
    )
    notifications: Notifications = Field(default_factory=Notifications, description="Who hears about this cluster.")
    upgrade_policy: UpgradePolicy = Field(default_factory=UpgradePolicy, description="How upgrades treat running pods.")


class Cluster(Model):
    """A cluster spec document."""

    api_version: Literal["clusterdrop.io/v1alpha1"] = Field(description="Always clusterdrop.io/v1alpha1.")
    kind: Literal["Cluster"] = Field(description="Always Cluster.")
    metadata: Metadata = Field(description="The cluster's name and tags.")
    spec: ClusterSpec = Field(description="What to build.")
