"""Import of eksctl `ClusterConfig` files (eksctl.io/v1alpha5) into the native spec.

What the native spec can express is mapped faithfully and eksctl's defaults are made explicit.
Every other field is reported by its eksctl path: refused, or with --allow-partial listed as
dropped. Nothing is dropped silently: a field is either read by this module or reported.
"""

from __future__ import annotations

from typing import Any

from clusterdrop import facts
from clusterdrop.cni import catalog
from clusterdrop.spec import paths, well_known
from clusterdrop.spec.importer import Conversion, Ledger, Reader, aws_auth_entry
from clusterdrop.spec.loader import Document, Path
from clusterdrop.spec.models import ACCESS_POLICIES, API_VERSION, KIND

API_PREFIX = "eksctl.io/"

# eksctl's defaults (eksctl.io/v1alpha5), made explicit in the converted spec.
DEFAULT_VPC_CIDR = "192.168.0.0/16"
DEFAULT_INSTANCE_TYPE = "m5.large"
DEFAULT_DESIRED = 2
DEFAULT_VOLUME_GIB = 80
_NAT = {"Single": "single", "HighlyAvailable": "per-zone", "Disable": "none"}
_ADMIN_POLICY_SUFFIX = ":cluster-access-policy/AmazonEKSClusterAdminPolicy"
# eksctl add-ons that every clusterdrop EKS cluster gets anyway.
_IMPLICIT_ADDONS = {"coredns", "kube-proxy"}
_ADDONS = {
    "aws-ebs-csi-driver": "ebs-csi",
    "metrics-server": "metrics-server",
    "eks-pod-identity-agent": "pod-identity-agent",
}
_ADDON_IAM_FIELDS = {"attachPolicyARNs", "wellKnownPolicies", "serviceAccountRoleARN", "attachPolicy"}


# What the converter carries over by name, and what it refuses by name with why: the tables the
# docs' eksctl page is generated from (mapping_table), so the two cannot disagree.
CLUSTER_REFUSED: dict[str, str] = {
    "fargateProfiles": "Fargate profiles are not supported by clusterdrop",
    "karpenter": "Karpenter is not supported by clusterdrop",
    "capabilities": "EKS Capabilities (managed ACK, kro, Argo CD) are not supported yet",
    "localZones": "Local Zones are not supported by clusterdrop",
    "outpost": "Outposts are not supported by clusterdrop",
    "privateCluster": "fully private clusters (no internet, VPC endpoints only) are not supported yet",
}
IDENTITY_PROVIDER_FIELDS = {"name": "name", "issuerURL": "issuerUrl", "clientID": "clientId",
                            "usernameClaim": "usernameClaim", "usernamePrefix": "usernamePrefix",
                            "groupsClaim": "groupsClaim", "groupsPrefix": "groupsPrefix",
                            "requiredClaims": "requiredClaims"}  # fmt: skip
IRSA_FIELDS = {"attachRoleARN": "roleArn", "attachPolicyARNs": "policyArns", "attachPolicy": "policy",
               "roleName": "roleName", "permissionsBoundary": "permissionsBoundaryArn"}  # fmt: skip
POD_IDENTITY_FIELDS = {"roleARN": "roleArn", "permissionPolicyARNs": "policyArns", "permissionPolicy": "policy",
                       "targetRoleARN": "targetRoleArn", "disableSessionTags": "disableSessionTags",
                       "createServiceAccount": "createServiceAccount", "roleName": "roleName",
                       "permissionsBoundaryARN": "permissionsBoundaryArn"}  # fmt: skip
NODE_GROUP_FIELDS = {"labels": "labels", "tags": "tags", "instanceName": "instanceName"}
SSH_REFUSED: dict[str, str] = {
    "publicKeyPath": "importing a local public key is not supported; name an EC2 key pair (publicKeyName)",
    "publicKey": "importing an inline public key is not supported; name an EC2 key pair (publicKeyName)",
    "sourceSecurityGroupIds": "restricting SSH sources is not supported yet",
}
NODE_ROLE = "the node role is the cluster stack's, with EKS's minimal policies: give workloads roles with podIdentities"
ON_NODE_ROLE = ("attachPolicyARNs", "attachPolicy", "instanceRoleARN", "instanceProfileARN", "instanceRoleName",
                "instanceRolePermissionsBoundary")  # fmt: skip
_UNINSTALLED = (
    "clusterdrop installs no {what}: give its service account a role with podIdentities, not every pod the node role"
)


def is_eksctl(data: Any) -> bool:
    return isinstance(data, dict) and str(data.get("apiVersion", "")).startswith(API_PREFIX)


# eksctl's nodeGroups[].iam.withAddonPolicies that name an add-on clusterdrop installs, and the
# rest (what eksctl puts on the node role for a controller the user installs).
_NODE_ADDON_POLICIES = {"ebs": "ebs-csi"}
_UNINSTALLED_ADDON_POLICIES = {
    "autoScaler": "Cluster Autoscaler",
    "cloudWatch": "CloudWatch agent",
    "albIngress": "AWS Load Balancer Controller",
    "awsLoadBalancerController": "AWS Load Balancer Controller",
    "externalDNS": "ExternalDNS",
    "certManager": "cert-manager",
    "efs": "EFS CSI driver",
    "fsx": "FSx CSI driver",
    "xRay": "X-Ray daemon",
    "imageBuilder": "image builder",
    "appMesh": "App Mesh controller",
    "appMeshPreview": "App Mesh controller",
}


def mapping_table() -> list[tuple[str, str]]:
    """What each eksctl field becomes, as the docs' eksctl reference page shows it: the rows the
    converter's own tables give, beside one line for each field it reads by hand."""
    ng = "nodeGroups[], managedNodeGroups[]"
    rows = [
        ("metadata.name, region, tags", "metadata.name, spec.region, metadata.tags"),
        ("metadata.version", ("spec.kubernetesVersion (one EKS no longer supports refused; unset: "
         f"{facts.DEFAULT_KUBERNETES_VERSION}, said)")),
        ("availabilityZones", "spec.network.zones"),
        ("vpc.id, vpc.subnets.private/public", ("spec.network.vpc.id and vpc.subnets by ID and zone (their CIDRs "
         "describe them: not carried)")),
        ("vpc.cidr", f"spec.network.vpc.cidr (eksctl's default {DEFAULT_VPC_CIDR} made explicit)"),
        ("vpc.clusterEndpoints", "spec.controlPlane.endpointAccess (public-only becomes public-and-private, said)"),
        ("vpc.publicAccessCIDRs", "spec.controlPlane.adminCidrs"),
        ("vpc.controlPlaneOnPrivateSubnets", "said: clusterdrop always places the control plane in private subnets"),
        ("accessConfig.authenticationMode", ("API (access entries); API_AND_CONFIG_MAP becomes API, said; "
         "CONFIG_MAP refused")),
        ("accessConfig.accessEntries[]", ("spec.controlPlane.admins (the cluster-admin policy on the cluster) or "
         "spec.access (other policies, namespaces, kubernetesGroups, username)")),
        ("iamIdentityMappings[]", ("spec.access as EKS's migration maps aws-auth (system:masters → cluster-admin); "
         "account and serviceName mappings refused")),
        ("cloudWatch.clusterLogging", "spec.controlPlane.logging, logRetentionDays"),
        ("zonalShiftConfig.enabled", "spec.controlPlane.zonalShift"),
        ("upgradePolicy.supportType", "spec.controlPlane.supportType"),
        ("controlPlaneScalingConfig.tier", "spec.controlPlane.scalingTier"),
        ("secretsEncryption.keyARN", "spec.controlPlane.secretsKey"),
        ("iam.withOIDC", "said: no OIDC provider; pods get roles through EKS Pod Identity"),
        ("iam.podIdentityAssociations[].namespace, serviceAccountName", ("spec.podIdentities[].namespace, "
         "serviceAccount")),
        ("iam.serviceAccounts[].metadata", ("spec.podIdentities[].namespace, serviceAccount, labels (IRSA becomes "
         "Pod Identity, said)")),
        ("iam.serviceAccounts[].roleOnly", "spec.podIdentities[].createServiceAccount: false"),
        ("autoModeConfig.enabled, nodePools", "spec.computeMode: auto, spec.nodePools"),
        (ng, "spec.nodeGroups[] (self-managed groups become managed, said)"),
        (f"{ng}.instanceType(s)", f"instanceTypes (default {DEFAULT_INSTANCE_TYPE}); 'mixed' refused"),
        (f"{ng}.desiredCapacity, minSize, maxSize", f"desiredSize, minSize, maxSize (default {DEFAULT_DESIRED})"),
        (f"{ng}.availabilityZones", "zones"),
        (f"{ng}.privateNetworking", "spec.network.topology (a group placed otherwise: its own topology)"),
        (f"{ng}.spot", "capacityType: spot (managed groups)"),
        (f"{ng}.volumeSize", f"diskSizeGiB (default {DEFAULT_VOLUME_GIB})"),
        (f"{ng}.volumeType, volumeIOPS, volumeThroughput, volumeEncrypted, volumeKmsKeyID", ("volume (unencrypted "
         "as eksctl leaves them, said)")),
        (f"{ng}.amiFamily", "amiFamily: AmazonLinux2023 → al2023, Bottlerocket → bottlerocket; others refused"),
        (f"{ng}.taints", "taints (list or map form)"),
        (f"{ng}.updateConfig, nodeRepairConfig.enabled", "updateConfig, nodeRepair.enabled"),
        (f"{ng}.ssh.publicKeyName", "sshKeyName (an existing EC2 key pair)"),
        (f"{ng}.ssh.allow", ("refused without publicKeyName (SSH access needs an existing EC2 key pair), and false "
         "beside one (EKS opens SSH whenever a key pair is set)")),
        (f"{ng}.ssh.enableSsm", "said: SSM access is always on"),
        ("addons[].version, tags", "spec.addonVersions (latest: EKS's default), spec.addonTags"),
    ]  # fmt: skip
    rows += [(f"vpc.nat.gateway: {k}", f"spec.network.natGateways: {v}") for k, v in _NAT.items()]
    rows += [
        (f"iam.podIdentityAssociations[].{k}", f"spec.podIdentities[].{v}") for k, v in POD_IDENTITY_FIELDS.items()
    ]
    rows += [(f"iam.serviceAccounts[].{k}", f"spec.podIdentities[].{v}") for k, v in IRSA_FIELDS.items()]
    rows += [(f"…wellKnownPolicies.{k}", f"policyArns: {v}") for k, v in well_known.MANAGED.items()]
    rows += [
        (f"…wellKnownPolicies.{k}", "its controller's documented statements in policy") for k in well_known.DOCUMENTED
    ]
    rows += [(f"…wellKnownPolicies.{k}", f"refused: {v}") for k, v in well_known.REFUSED.items()]
    rows += [(f"identityProviders[].{k}", f"spec.identityProviders[].{v}") for k, v in IDENTITY_PROVIDER_FIELDS.items()]
    rows += [(f"{ng}.{k}", k) for k in NODE_GROUP_FIELDS]
    rows += [(f"{ng}.ssh.{k}", f"refused: {v}") for k, v in SSH_REFUSED.items()]
    rows += [(f"{ng}.iam.withAddonPolicies.{k}", f"spec.addons: {v} (its own Pod Identity role)")
             for k, v in _NODE_ADDON_POLICIES.items()]  # fmt: skip
    rows += [(f"{ng}.iam.withAddonPolicies.{k}", "refused: " + _UNINSTALLED.format(what=v))
             for k, v in _UNINSTALLED_ADDON_POLICIES.items()]  # fmt: skip
    rows += [(f"{ng}.iam.{k}", f"refused: {NODE_ROLE}") for k in ON_NODE_ROLE]
    rows += [(f"addons[].name: {k}", f"spec.addons: {v}") for k, v in _ADDONS.items()]
    rows += [("addons[].name: vpc-cni", "spec.cni: aws-vpc-cni (the EKS add-on)")]
    rows += [(f"addons[].name: {k}", "installed on every clusterdrop cluster") for k in sorted(_IMPLICIT_ADDONS)]
    rows += [(k, f"refused: {v}") for k, v in CLUSTER_REFUSED.items()]
    return rows


class _Converter:
    def __init__(self, doc: Document):
        self.doc = doc
        self.node_addons: set[str] = set()  # add-ons node groups' iam asks for (withAddonPolicies)
        self.ledger = Ledger([doc])
        self.notes: list[str] = []

    def refuse(self, path: Path, reason: str) -> None:
        self.ledger.record(0, path, "refused", reason)

    def note(self, message: str) -> None:
        self.notes.append(message)

    # --- the document ------------------------------------------------------------------

    def convert(self) -> dict[str, Any]:
        top = Reader(self.ledger, self.doc.data, ())
        top.get("apiVersion")
        if top.get("kind") != "ClusterConfig":
            self.refuse(("kind",), "an eksctl file must be kind: ClusterConfig")
        meta = top.child("metadata")
        metadata: dict[str, Any] = {"name": meta.get("name")}
        self.cluster_name = str(metadata["name"])
        if meta.has("tags"):
            metadata["tags"] = meta.get("tags")
        spec: dict[str, Any] = {"region": meta.get("region")}
        if meta.has("version"):
            version = str(meta.get("version"))
            if version in facts.KUBERNETES_VERSIONS:
                spec["kubernetesVersion"] = version
            else:  # eksctl's examples outlive EKS's versions: said at the eksctl line
                self.refuse(
                    ("metadata", "version"),
                    f"Kubernetes {version} is not supported by EKS (standard or extended support); supported: "
                    f"{', '.join(facts.KUBERNETES_VERSIONS)}",
                )
        else:
            spec["kubernetesVersion"] = facts.DEFAULT_KUBERNETES_VERSION
            self.note(f"metadata.version: not set; using Kubernetes {facts.DEFAULT_KUBERNETES_VERSION}")
        meta.finish()

        control_plane: dict[str, Any] = {}
        network: dict[str, Any] = {}
        if top.has("availabilityZones"):
            network["zones"] = top.get("availabilityZones")
        self._vpc(top.child("vpc"), network, control_plane)
        access_entries = self._access(top.child("accessConfig"), control_plane)
        access_entries += self._identity_mappings(top)
        self._logging(top.child("cloudWatch"), control_plane)
        self._resilience(top, control_plane)
        scaling = top.child("controlPlaneScalingConfig")  # EKS Provisioned Control Plane
        if scaling.has("tier"):
            control_plane["scalingTier"] = scaling.carry("tier", "spec.controlPlane.scalingTier")
        scaling.finish()
        encryption = top.child("secretsEncryption")
        if encryption.has("keyARN"):
            control_plane["secretsKey"] = encryption.get("keyARN")
        encryption.finish()
        identities = self._iam(top.child("iam"))
        cni: dict[str, Any] = {"name": "aws-vpc-cni"}
        release = catalog.find("aws-vpc-cni", None)
        if release is not None:
            cni["version"] = release.version
        auto = self._auto_mode(top.child("autoModeConfig"), spec)
        if auto:
            cni.pop("version", None)  # EKS Auto Mode's own
        groups, privacy = self._node_groups(top, auto=auto)
        pins: dict[str, str] = {}
        addon_tags: dict[str, dict[str, str]] = {}
        addons = self._addons(top, pins, addon_tags)
        addons += sorted(self.node_addons - set(addons))
        if privacy:
            # The first group's placement is the cluster's topology; a group placed otherwise
            # (privateNetworking per group in eksctl) sets its own.
            network["topology"] = "private" if privacy[0][1] else "public"
            for group, (_, private) in zip(groups, privacy, strict=True):
                if private != privacy[0][1]:
                    group["topology"] = "private" if private else "public"
        elif not auto:
            # A control plane alone: the topology of eksctl's default node group (privateNetworking
            # false), so that groups added later as eksctl writes them do not move the cluster's
            # subnets (which would replace the EKS cluster).
            network["topology"] = "public"
        spec["controlPlane"] = {k: v for k, v in control_plane.items() if v not in (None, [])}
        spec["network"] = network
        spec["cni"] = cni
        if groups or not auto:
            spec["nodeGroups"] = groups
        if addons:
            spec["addons"] = addons
        if pins:
            spec["addonVersions"] = pins
        if addon_tags:
            spec["addonTags"] = addon_tags
        if identities:
            spec["podIdentities"] = identities
        if access_entries:
            spec["access"] = access_entries
        providers = self._identity_providers(top)
        if providers:
            spec["identityProviders"] = providers
        top.finish(CLUSTER_REFUSED)
        return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}

    def _identity_providers(self, top: Reader) -> list[dict[str, Any]]:
        """identityProviders (type oidc) → identityProviders, field by field."""
        out: list[dict[str, Any]] = []
        items = top.get("identityProviders") or []
        for i, raw in enumerate(items if isinstance(items, list) else []):
            item = Reader(self.ledger, raw, ("identityProviders", i))
            if item.has("type") and item.get("type") != "oidc":
                self.refuse((*item.path, "type"), "EKS identity providers are OIDC (type: oidc)")
            provider: dict[str, Any] = {}
            item.copy_to(provider, IDENTITY_PROVIDER_FIELDS)
            out.append(provider)
            item.finish({"tags": "tags on the provider configuration are the cluster's (metadata.tags)"})
        return out

    def _volume(self, ng: Reader) -> dict[str, Any]:
        """volumeType, volumeIOPS, volumeThroughput, volumeEncrypted, volumeKmsKeyID → volume
        (the size stays diskSizeGiB). eksctl encrypts only when asked; clusterdrop by default, so
        an eksctl group's volume says encrypted: false unless volumeEncrypted is true."""
        out: dict[str, Any] = {}
        volume_type = ng.get("volumeType")
        if volume_type in ("gp3", "gp2", "io1", "io2"):
            if volume_type != "gp3":
                out["type"] = volume_type
        elif volume_type is not None:
            self.refuse((*ng.path, "volumeType"), f"{volume_type}: EKS node root volumes are gp3, gp2, io1 or io2")
        for key, name in (("volumeIOPS", "iops"), ("volumeThroughput", "throughput"), ("volumeKmsKeyID", "kmsKeyId")):
            if ng.has(key):
                out[name] = ng.get(key)
        encrypted = ng.get("volumeEncrypted")
        if out or encrypted is not None:
            out["encrypted"] = bool(encrypted) or "kmsKeyId" in out
            if not out["encrypted"]:
                self.note(
                    f"{paths.render(ng.path)}: volumes not encrypted, as eksctl leaves them (say volumeEncrypted: true)"
                )
        return out

    def _resilience(self, top: Reader, control_plane: dict[str, Any]) -> None:
        """zonalShiftConfig.enabled and upgradePolicy.supportType: the cluster's own settings."""
        shift = top.child("zonalShiftConfig")
        if shift.get("enabled"):
            control_plane["zonalShift"] = True
        shift.finish()
        policy = top.child("upgradePolicy")
        support = policy.get("supportType")
        if isinstance(support, str) and support.lower() in ("standard", "extended"):
            control_plane["supportType"] = support.lower()
        elif support is not None:
            self.refuse(("upgradePolicy", "supportType"), f"unknown support type {support!r} (STANDARD or EXTENDED)")
        policy.finish()

    def _vpc(self, vpc: Reader, network: dict[str, Any], control_plane: dict[str, Any]) -> None:
        vpc_out: dict[str, Any] = {}
        if vpc.has("id"):
            vpc_out["id"] = vpc.get("id")
            if vpc.has("cidr"):
                # The CIDR of an existing VPC is informational in eksctl; ours is its own.
                vpc.get("cidr")
                self.note("vpc.cidr: ignored beside vpc.id (it describes the existing VPC)")
        else:
            vpc_out["cidr"] = vpc.get("cidr") or DEFAULT_VPC_CIDR
        subnets = vpc.child("subnets")
        out_subnets: dict[str, list[dict[str, Any]]] = {}
        for kind in ("private", "public"):
            group = subnets.child(kind)
            for name in group.data:
                entry = Reader(self.ledger, group.get(name), (*group.path, name))
                ref: dict[str, Any] = {"id": entry.get("id")}
                zone = entry.get("az") or (name if isinstance(name, str) and name[-1:].isalpha() else None)
                if zone:
                    ref["zone"] = zone
                entry.get("cidr")  # the existing subnet's CIDR: informational only
                entry.finish()
                out_subnets.setdefault(kind, []).append(ref)
            group.finish()
        subnets.finish()
        if out_subnets:
            vpc_out["subnets"] = out_subnets
        network["vpc"] = vpc_out
        nat = vpc.child("nat")
        gateway = nat.get("gateway")
        nat.finish()
        if "id" not in vpc_out:
            if gateway is None:
                network["natGateways"] = "single"
            elif gateway in _NAT:
                network["natGateways"] = _NAT[gateway]
            else:
                self.refuse(("vpc", "nat", "gateway"), f"unknown NAT mode {gateway!r}")
        endpoints = vpc.child("clusterEndpoints")
        public = endpoints.get("publicAccess", True)
        private = endpoints.get("privateAccess", False)
        endpoints.finish()
        if public and not private:
            self.note(
                "vpc.clusterEndpoints: a public-only endpoint becomes public-and-private "
                "(clusterdrop's agent and the nodes use the private endpoint)"
            )
        if public:
            control_plane["endpointAccess"] = "public-and-private"
        elif private:
            control_plane["endpointAccess"] = "private"
        else:
            self.refuse(("vpc", "clusterEndpoints"), "an endpoint with neither public nor private access")
        if vpc.has("publicAccessCIDRs"):
            control_plane["adminCidrs"] = vpc.get("publicAccessCIDRs")
        if vpc.get("controlPlaneOnPrivateSubnets"):
            self.note(
                "vpc.controlPlaneOnPrivateSubnets: clusterdrop always places the control plane in private subnets"
            )
        vpc.finish()

    def _access(self, access: Reader, control_plane: dict[str, Any]) -> list[dict[str, Any]]:
        mode = access.get("authenticationMode")
        if mode not in (None, "API", "API_AND_CONFIG_MAP"):
            self.refuse(
                ("accessConfig", "authenticationMode"),
                f"{mode}: clusterdrop uses authentication mode API (access entries)",
            )
        elif mode == "API_AND_CONFIG_MAP":
            self.note("accessConfig.authenticationMode: API_AND_CONFIG_MAP becomes API (access entries only)")
        if access.get("bootstrapClusterCreatorAdminPermissions") is not None:
            self.note(
                "accessConfig.bootstrapClusterCreatorAdminPermissions: only spec.controlPlane.admins become admins"
            )
        admins: list[str] = []
        others: list[dict[str, Any]] = []
        entries = access.get("accessEntries") or []
        for i, raw in enumerate(entries if isinstance(entries, list) else []):
            entry = Reader(self.ledger, raw, ("accessConfig", "accessEntries", i))
            arn = entry.get("principalARN")
            policies = entry.get("accessPolicies") or []
            is_admin = bool(policies) and all(
                isinstance(p, dict)
                and str(p.get("policyARN", "")).endswith(_ADMIN_POLICY_SUFFIX)
                and (p.get("accessScope") or {}).get("type") == "cluster"
                and set(p) <= {"policyARN", "accessScope"}
                for p in policies
            )
            if is_admin and not entry.has("kubernetesGroups") and not entry.has("username"):
                admins.append(arn)
            else:
                others.append(self._access_entry(entry, arn, policies))
            if entry.get("type") not in (None, "STANDARD"):
                self.refuse((*entry.path, "type"), "only STANDARD access entries are supported")
            entry.finish()
        access.finish()
        if admins:
            control_plane["admins"] = admins
        return others

    def _identity_mappings(self, top: Reader) -> list[dict[str, Any]]:
        """iamIdentityMappings (aws-auth) → access entries, as EKS's migration from the ConfigMap
        maps them: the principal, its username and groups; system:masters, which an access entry
        cannot carry, becomes EKS's cluster-admin access policy. What has no access-entry form (a
        whole account, a service's mapping) is refused by path."""
        out: list[dict[str, Any]] = []
        items = top.get("iamIdentityMappings") or []
        for i, raw in enumerate(items if isinstance(items, list) else []):
            item = Reader(self.ledger, raw, ("iamIdentityMappings", i))
            item.get("noDuplicateARNs")  # EKS takes one access entry per principal, always
            if not item.has("arn"):
                item.finish(
                    {
                        "account": "access entries name IAM principals, not whole accounts (aws-auth's mapAccounts "
                        "has no access-entry form): give each principal an entry in spec.access",
                        "serviceName": "a service's aws-auth mapping has no access-entry form here: give the "
                        "service's role an entry in spec.access with the permissions its guide names",
                        "namespace": "a service's aws-auth mapping has no access-entry form here",
                    }
                )
                continue
            username = item.get("username") if item.has("username") else None
            groups = [str(g) for g in item.get("groups") or []]
            entry, refusals = aws_auth_entry(item.get("arn"), groups, username)
            for reason in refusals:
                self.refuse((*item.path, "groups"), reason)
            out.append(entry)
            item.finish()
        if out:
            self.note(
                "iamIdentityMappings: aws-auth mappings become access entries (spec.access; system:masters → EKS's "
                "cluster-admin access policy); the cluster authenticates through access entries only"
            )
        return out

    def _access_entry(self, entry: Reader, arn: Any, policies: Any) -> dict[str, Any]:
        """An entry with other policies or scopes, or Kubernetes groups → spec.access."""
        out: dict[str, Any] = {"principal": arn, "policies": []}
        for j, raw in enumerate(policies if isinstance(policies, list) else []):
            policy = Reader(self.ledger, raw, (*entry.path, "accessPolicies", j))
            name = str(policy.get("policyARN", "")).rsplit("/", 1)[-1]
            short = next((k for k, v in ACCESS_POLICIES.items() if name == f"AmazonEKS{v}Policy"), None)
            scope = policy.child("accessScope")
            if short is None:
                scope.used |= set(scope.data)  # refused with its policy
                self.refuse(
                    (*policy.path, "policyARN"),
                    f"{name}: clusterdrop grants AmazonEKS(ClusterAdmin|Admin|Edit|View)Policy",
                )
            else:
                granted: dict[str, Any] = {"policy": short}
                if scope.get("type") == "namespace":
                    granted["namespaces"] = scope.get("namespaces")
                out["policies"].append(granted)
            scope.finish()
            policy.finish()
        entry.copy_to(out, {"kubernetesGroups": "groups", "username": "username"})
        return out

    def _logging(self, cloudwatch: Reader, control_plane: dict[str, Any]) -> None:
        logging = cloudwatch.child("clusterLogging")
        types = logging.get("enableTypes") or []
        if types in (["*"], ["all"]):
            types = list(facts.LOG_TYPES)
        if types:
            control_plane["logging"] = types
        if logging.has("logRetentionInDays"):
            # eksctl sets the retention on the group EKS made; clusterdrop makes the group with it.
            control_plane["logRetentionDays"] = logging.get("logRetentionInDays")
        logging.finish()
        cloudwatch.finish()

    def _iam(self, iam: Reader) -> list[dict[str, Any]]:
        if iam.get("withOIDC") is True:
            # eksctl makes the provider for IRSA; clusterdrop gives pods AWS roles through EKS Pod
            # Identity instead (and its add-ons their permissions through it), so none is needed.
            self.note(
                "iam.withOIDC: no IAM OIDC provider is made: clusterdrop gives pods their AWS roles through EKS "
                "Pod Identity (spec.podIdentities), and the add-ons that call AWS get theirs through it"
            )
        identities = self._pod_identities(iam) + self._irsa_service_accounts(iam)
        iam.finish()
        return identities

    def _irsa_service_accounts(self, iam: Reader) -> list[dict[str, Any]]:
        """iam.serviceAccounts (IRSA) → podIdentities: the same service account gets the same
        permissions through EKS Pod Identity, created by clusterdrop as eksctl creates it (unless
        roleOnly). Its pods need an AWS SDK that reads Pod Identity credentials (said on stderr)."""
        out: list[dict[str, Any]] = []
        items = iam.get("serviceAccounts") or []
        for i, raw in enumerate(items if isinstance(items, list) else []):
            item = Reader(self.ledger, raw, (*iam.path, "serviceAccounts", i))
            meta = item.child("metadata")
            identity: dict[str, Any] = {
                "namespace": meta.get("namespace") or "default",
                "serviceAccount": meta.get("name"),
                "createServiceAccount": item.get("roleOnly") is not True,
            }
            if meta.has("labels") and identity["createServiceAccount"]:
                identity["labels"] = meta.get("labels")
            meta.finish({"annotations": "the service account's annotations are IRSA's: Pod Identity needs none"})
            item.copy_to(identity, IRSA_FIELDS)
            self._made_role(item, identity)
            item.finish()
            if {"roleArn", "policyArns", "policy"} & set(identity):
                out.append(identity)  # (one with only refused permissions is left out with them)
        if out:
            self.note(
                "iam.serviceAccounts: IRSA service accounts become EKS Pod Identity associations (podIdentities), "
                "the same roles or policies, the service accounts created; their pods need an AWS SDK that reads "
                "Pod Identity credentials"
            )
        return out

    def _pod_identities(self, iam: Reader) -> list[dict[str, Any]]:
        """iam.podIdentityAssociations → podIdentities: a role by ARN, or managed policies for a role
        clusterdrop makes. What else eksctl makes of one is refused by its path."""
        out: list[dict[str, Any]] = []
        items = iam.get("podIdentityAssociations") or []
        for i, raw in enumerate(items if isinstance(items, list) else []):
            item = Reader(self.ledger, raw, (*iam.path, "podIdentityAssociations", i))
            identity: dict[str, Any] = {
                "namespace": item.get("namespace"),
                "serviceAccount": item.get("serviceAccountName"),
            }
            item.copy_to(identity, POD_IDENTITY_FIELDS)
            self._made_role(item, identity)
            item.finish()
            out.append(identity)
        return out

    def _made_role(self, item: Reader, identity: dict[str, Any]) -> None:
        """What else eksctl makes the role with: well-known policies; its name, said where it goes."""
        self._well_known_policies(item.child("wellKnownPolicies"), identity)
        if "roleName" in identity:
            self.note(
                f"{paths.render(item.path)}.roleName: the role is made under the path {facts.ROLE_PATH} "
                f"(…:role{facts.ROLE_PATH}{identity['roleName']}), where clusterdrop's deployer may make roles"
            )

    def _well_known_policies(self, flags: Reader, identity: dict[str, Any]) -> None:
        """wellKnownPolicies → the controller's AWS managed policy (policyArns) or its documented
        statements added to the inline policy; a flag with neither is refused by name."""
        for flag, value in list(flags.data.items()):
            if value is False:
                flags.get(flag)  # nothing granted, as eksctl grants nothing
                continue
            if value is not True:
                flags.get(flag)
                self.refuse((*flags.path, flag), "expected true or false")
                continue
            found = well_known.statements(flag, self.cluster_name)
            if flag in well_known.MANAGED:
                flags.get(flag)
                identity["policyArns"] = [*(identity.get("policyArns") or []), well_known.MANAGED[flag]]
            elif found is not None:
                flags.get(flag)
                policy = identity.setdefault("policy", {"Version": "2012-10-17", "Statement": []})
                if isinstance(policy.get("Statement"), dict):
                    policy["Statement"] = [policy["Statement"]]
                policy["Statement"] = [*(policy.get("Statement") or []), *found]
            elif flag in well_known.REFUSED:
                flags.get(flag)
                self.refuse((*flags.path, flag), well_known.REFUSED[flag])
        flags.finish()
        if flags.used:
            self.note(
                f"{paths.render(flags.path)}: the controllers' documented permissions, spelled out in "
                "policyArns and policy"
            )

    def _auto_mode(self, config: Reader, spec: dict[str, Any]) -> bool:
        """autoModeConfig → computeMode: auto and nodePools (eksctl's default: both built-in pools)."""
        enabled = config.get("enabled") is True
        if enabled:
            spec["computeMode"] = "auto"
            if config.has("nodePools"):
                spec["nodePools"] = config.get("nodePools")
        config.finish({"nodeRoleARN": "clusterdrop makes the node pools' node role in the cluster stack"})
        return enabled

    def _node_groups(self, top: Reader, *, auto: bool = False) -> tuple[list[dict[str, Any]], list[tuple[Path, bool]]]:
        groups: list[dict[str, Any]] = []
        privacy: list[tuple[Path, bool]] = []
        for key, managed in (("nodeGroups", False), ("managedNodeGroups", True)):
            items = top.get(key) or []
            if items and not managed:
                self.note(f"{key}: self-managed node groups become EKS managed node groups")
            for i, raw in enumerate(items if isinstance(items, list) else []):
                ng = Reader(self.ledger, raw, (key, i))
                groups.append(self._node_group(ng, managed))
                privacy.append(((key, i, "privateNetworking"), bool(ng.get("privateNetworking", False))))
                ng.finish()
        if not groups and not auto:
            # eksctl creates a control plane alone; so does clusterdrop, said so.
            self.note(
                "the file has no nodeGroups or managedNodeGroups: a control plane alone, as eksctl creates it "
                "(CoreDNS waits for nodes); add nodeGroups to the spec and upload it again for nodes"
            )
        return groups, privacy

    def _node_iam(self, iam: Reader) -> None:
        """A node group's iam: eksctl's add-on policies on the node role become the add-on with
        its own Pod Identity role where clusterdrop installs one (ebs → ebs-csi); the others, and
        anything else put on the node role, are refused by name."""
        policies = iam.child("withAddonPolicies")
        for key, value in list(policies.data.items()):
            if value is False:
                policies.get(key)  # what clusterdrop does anyway
            elif key in _NODE_ADDON_POLICIES:
                policies.get(key)
                self.node_addons.add(_NODE_ADDON_POLICIES[key])
                self.note(
                    f"{'.'.join(map(str, policies.path))}.{key}: the {_NODE_ADDON_POLICIES[key]} add-on, with a "
                    "Pod Identity role of its own instead of the node role"
                )
        policies.finish({key: _UNINSTALLED.format(what=what) for key, what in _UNINSTALLED_ADDON_POLICIES.items()})
        iam.finish(dict.fromkeys(ON_NODE_ROLE, NODE_ROLE))

    def _node_group(self, ng: Reader, managed: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"name": ng.get("name")}
        if ng.has("iam"):
            self._node_iam(ng.child("iam"))
        types = ng.get("instanceTypes") if managed else None
        instance_type = ng.get("instanceType")
        if types:
            out["instanceTypes"] = types
        elif instance_type == "mixed":
            self.refuse((*ng.path, "instanceType"), "'mixed' needs instancesDistribution, which is not supported")
        else:
            out["instanceTypes"] = [instance_type or DEFAULT_INSTANCE_TYPE]
        desired, lo, hi = ng.get("desiredCapacity"), ng.get("minSize"), ng.get("maxSize")
        if desired is None:
            desired = lo if lo is not None else DEFAULT_DESIRED
            if hi is not None and isinstance(hi, int) and isinstance(desired, int):
                desired = min(desired, hi)
        out["minSize"] = desired if lo is None else lo
        out["desiredSize"] = desired
        out["maxSize"] = desired if hi is None else hi
        if ng.has("availabilityZones"):
            out["zones"] = ng.get("availabilityZones")
        out["capacityType"] = "spot" if managed and ng.get("spot") else "on-demand"
        out["diskSizeGiB"] = ng.get("volumeSize") or DEFAULT_VOLUME_GIB
        volume = self._volume(ng)
        if volume:
            out["volume"] = volume
        ami_family = ng.get("amiFamily")
        if ami_family == "Bottlerocket":
            out["amiFamily"] = "bottlerocket"
        elif ami_family not in (None, "AmazonLinux2023"):
            self.refuse(
                (*ng.path, "amiFamily"), f"{ami_family}: clusterdrop node groups run Amazon Linux 2023 or Bottlerocket"
            )
        if ng.has("bottlerocket"):
            ng.get("bottlerocket")
            self.refuse((*ng.path, "bottlerocket"), "Bottlerocket settings are not supported (only its defaults)")
        ng.copy_to(out, NODE_GROUP_FIELDS)
        if ng.has("updateConfig"):
            update = ng.child("updateConfig")
            out["updateConfig"] = {
                k: update.get(k) for k in ("maxUnavailable", "maxUnavailablePercentage") if update.has(k)
            }
            update.finish()
        if managed and ng.has("nodeRepairConfig"):
            repair = ng.child("nodeRepairConfig")
            out["nodeRepair"] = {"enabled": bool(repair.get("enabled"))}
            repair.finish()  # the rest (thresholds, parallelism) is refused by its path
        taints = ng.get("taints")
        if taints:
            out["taints"] = self._taints(taints, (*ng.path, "taints"))
        ssh = ng.child("ssh")
        key_name, allow = ssh.get("publicKeyName"), ssh.get("allow")
        if key_name and allow is not False:
            out["sshKeyName"] = key_name
        elif key_name:
            self.refuse(
                (*ssh.path, "allow"),
                "a key pair without SSH access is not supported (EKS opens SSH whenever a key pair is set)",
            )
        elif allow and not (ssh.has("publicKeyPath") or ssh.has("publicKey")):
            self.refuse((*ssh.path, "allow"), "SSH access needs an existing EC2 key pair (publicKeyName)")
        if ssh.has("enableSsm"):
            ssh.get("enableSsm")
            self.note(f"{paths.render(ssh.path)}.enableSsm: SSM access is always on (the node role allows it)")
        ssh.finish(SSH_REFUSED)
        return out

    def _taints(self, taints: Any, path: Path) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if isinstance(taints, dict):
            # Map form: key: "value:Effect" (value may be empty).
            for key, spec in taints.items():
                value, _, effect = str(spec).rpartition(":")
                taint: dict[str, Any] = {"key": key, "effect": effect}
                if value:
                    taint["value"] = value
                out.append(taint)
        elif isinstance(taints, list):
            for i, raw in enumerate(taints):
                item = Reader(self.ledger, raw, (*path, i))
                taint = {"key": item.get("key"), "effect": item.get("effect")}
                if item.get("value") is not None:
                    taint["value"] = item.get("value")
                item.finish()
                out.append(taint)
        else:
            self.refuse(path, "taints must be a list or a map")
        return out

    def _addons(self, top: Reader, pins: dict[str, str], tags: dict[str, dict[str, str]]) -> list[str]:
        """addons → spec.addons, their versions → spec.addonVersions ("latest": EKS's default),
        their tags → spec.addonTags."""
        out: list[str] = []
        items = top.get("addons") or []
        for i, raw in enumerate(items if isinstance(items, list) else []):
            addon = Reader(self.ledger, raw, ("addons", i))
            name = addon.get("name")
            version = addon.get("version")
            if version not in (None, "latest"):
                pins[_ADDONS.get(name, name)] = str(version)
            if addon.has("tags"):
                tags[_ADDONS.get(name, name)] = addon.get("tags")
            if name == "vpc-cni":
                self.note(f"addons[{i}]: vpc-cni is the CNI (spec.cni: aws-vpc-cni, the EKS add-on)")
            elif name in _IMPLICIT_ADDONS:
                self.note(f"addons[{i}]: {name} is installed on every clusterdrop cluster")
            elif name in _ADDONS:
                out.append(_ADDONS[name])
            else:
                self.refuse(
                    (*addon.path, "name"), f"add-on {name!r} is not supported (supported: {', '.join(sorted(_ADDONS))})"
                )
            for key in _ADDON_IAM_FIELDS & set(addon.data):
                addon.get(key)
                if name in {"vpc-cni", *_ADDONS}:
                    self.note(f"addons[{i}].{key}: clusterdrop grants {name} the permissions it needs")
                else:
                    self.refuse((*addon.path, key), "not supported by clusterdrop")
            addon.finish()
        return out


def convert(doc: Document) -> Conversion:
    """Convert a parsed eksctl ClusterConfig; unsupported fields are listed, not raised."""
    conv = _Converter(doc)
    spec = conv.convert()
    # Report in the order of the file, as a user reads it.
    return Conversion(spec=spec, unsupported=conv.ledger.sorted_problems(), notes=conv.notes, table=conv.ledger.rows)
