"""Import of kops files (kops.k8s.io/v1alpha2 and v1alpha3) into the native spec, on EKS.

A kops file holds a `Cluster` and its `InstanceGroup`s as several YAML documents (what `kops get
all NAME -o yaml` prints). Every field is carried to the native spec, said (it has no counterpart
and needs none: EKS runs etcd and the control plane's machines), or refused by its kops path and
line with what to do instead; `--allow-partial` drops the refused and says each. Nothing is dropped
silently: the converter reads every key, and each key read is a row of the conversion's table.

The tables below are the converter's own words, and the docs' kops reference page is generated from
them (`mapping_table`), so the documentation says what the code does.
"""

from __future__ import annotations

import re
from typing import Any

from clusterdrop import facts
from clusterdrop.cni import catalog
from clusterdrop.spec import paths
from clusterdrop.spec.importer import Conversion, Ledger, Reader, aws_auth_entry
from clusterdrop.spec.loader import Document, Path
from clusterdrop.spec.models import API_VERSION, KIND

API_GROUP = "kops.k8s.io/"

# What kops's own defaults are, where the converted spec needs a value the file may not give
# (kops's `pkg/apis/kops` defaults: a node group of two; a group's maxSize is its minSize).
DEFAULT_NODE_COUNT = 2

_CONTROL_PLANE_ROLES = {"Master", "ControlPlane"}
_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)[a-z]$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")
_TAINT = re.compile(r"^([^=:\s]+)(?:=([^:\s]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$")

# kops's `networking` keys: the clusterdrop CNI each becomes, or why it cannot run on EKS.
CNIS: dict[str, str] = {"amazonvpc": "aws-vpc-cni", "calico": "calico", "cilium": "cilium"}
CNI_REFUSED: dict[str, str] = {
    "flannel": catalog.UNSUPPORTED_ON[("flannel", "eks")],
    "weave": catalog.RETIRED["weave"],
    "canal": "Canal is flannel's overlay with Calico's policy, and flannel needs node pod CIDRs, which EKS "
    "does not allocate; use calico, which gives the same policy on its own overlay",
    "kubenet": "kubenet routes pods through the VPC's route tables by each node's pod CIDR, which EKS does "
    "not allocate; use amazonvpc (pods on VPC addresses, as kubenet's are routable)",
    "kuberouter": "kube-router routes pods by node pod CIDRs, which EKS does not allocate; use calico or cilium",
    "kindnet": "kindnet is kind's minimal CNI for test clusters and needs node pod CIDRs, which EKS does not "
    "allocate; use calico or amazonvpc",
    "cni": "kops's `cni: {}` means you install a CNI yourself; clusterdrop installs it: name calico, cilium "
    "or amazonvpc",
    "kopeio": "kopeio-networking is kops's own experiment and needs node pod CIDRs; use calico or cilium",
    "gce": "GCE networking is for Google Cloud",
    "lyftvpc": "Lyft's VPC CNI is retired; use amazonvpc, its successor on AWS",
    "romana": "Romana is no longer maintained and kops removed it; use calico",
    "external": "an external CNI is installed by you; clusterdrop installs it: name calico, cilium or amazonvpc",
}
_CNI_KEYS = set(CNIS) | set(CNI_REFUSED)

# Cluster.spec fields with no counterpart that need none: what is said about each.
CLUSTER_SAID: dict[str, str] = {
    "channel": "kops's channel of defaults; the catalog and EKS choose versions and images here",
    "configBase": "kops's state store; clusterdrop keeps every spec version in its own bucket",
    "configStore": "kops's state store; clusterdrop keeps every spec version in its own bucket",
    "keyStore": "kops's key store; EKS keeps the cluster's CAs and etcd's keys",
    "secretStore": "kops's secret store; EKS keeps the cluster's CAs and etcd's keys",
    "masterPublicName": "EKS gives the API endpoint a DNS name of its own",
    "masterInternalName": "EKS gives the API endpoint a DNS name of its own",
    "dnsZone": "the EKS endpoint needs no DNS zone of yours",
    "etcdClusters": "EKS runs etcd (across three zones) and backs it up",
    "target": "kops's output target; clusterdrop deploys through CloudFormation itself",
    "nonMasqueradeCIDR": "clusterdrop picks pod and service ranges that overlap nothing "
    "(network.podCidr and network.serviceCidr choose them)",
    "containerRuntime": "EKS's node images run containerd",
    "cloudProvider": "clusterdrop deploys to AWS",
}
_COMPONENT = "EKS runs the control plane: {what}'s flags cannot be set"
# Cluster.spec fields refused, with what to do instead.
CLUSTER_REFUSED: dict[str, str] = {
    "additionalPolicies": "kops adds these to the machines' roles; on EKS give pods roles of their own with "
    "spec.podIdentities (the nodes' role stays minimal)",
    "externalPolicies": "on EKS give pods roles of their own with spec.podIdentities",
    "kubeAPIServer": _COMPONENT.format(what="the API server"),
    "kubeControllerManager": _COMPONENT.format(what="the controller manager"),
    "kubeScheduler": _COMPONENT.format(what="the scheduler"),
    "cloudControllerManager": _COMPONENT.format(what="the cloud controller manager"),
    "masterKubelet": _COMPONENT.format(what="the control plane's kubelet"),
    "controlPlaneKubelet": _COMPONENT.format(what="the control plane's kubelet"),
    "kubelet": "EKS's node images configure the kubelet; a node group sets labels, taints and its size",
    "kubeProxy": "kube-proxy runs as EKS's add-on, as EKS configures it (Cilium can replace it: "
    "cni.kubeProxyReplacement)",
    "kubeDNS": "CoreDNS runs as EKS's add-on, as EKS configures it",
    "additionalNetworkCIDRs": "a new VPC has one CIDR (network.vpc.cidr): bring a VPC with more as an existing "
    "one (networkID, subnets by id)",
    "nodePortAccess": "clusterdrop opens no node ports to outside ranges; expose services through load balancers",
    "serviceOIDCProvider": "EKS is the cluster's OIDC issuer; pods get AWS roles through spec.podIdentities",
    "additionalSans": "EKS issues the API server's certificate",
    "hooks": "EKS's node images run unchanged: no hooks of your own",
    "fileAssets": "EKS's node images run unchanged: no files of your own",
    "docker": "EKS's node images run containerd, as EKS configures it",
    "containerd": "EKS's node images run containerd, as EKS configures it",
    "egressProxy": "nodes reach AWS through NAT or VPC endpoints; no proxy setting",
    "assets": "EKS's nodes pull from EKS's own registries; no mirror of kops's assets",
    "updatePolicy": "EKS's node images are replaced, not patched in place: upgrade a group to a new AMI release",
    "rollingUpdate": "set how many nodes an update replaces per group: nodeGroups[].updateConfig",
}
# Add-ons kops installs that clusterdrop does not (and says how to get).
NOT_INSTALLED: dict[str, str] = {
    "certManager": "cert-manager",
    "awsLoadBalancerController": "the AWS Load Balancer Controller",
    "clusterAutoscaler": "the Cluster Autoscaler",
    "karpenter": "Karpenter",
    "podIdentityWebhook": "the pod identity webhook",
    "snapshotController": "the CSI snapshot controller",
    "nodeProblemDetector": "the node problem detector",
    "externalDns": "ExternalDNS",
}
_NOT_INSTALLED = (
    "clusterdrop does not install {what}: install it after the create (its Helm chart), with "
    "spec.podIdentities for its AWS permissions; or computeMode: auto, where EKS scales nodes itself"
)
# InstanceGroup.spec fields refused, with what to do instead.
GROUP_REFUSED: dict[str, str] = {
    "additionalUserData": "a node group runs EKS's images with EKS's bootstrap; no user data of your own",
    "additionalSecurityGroups": "a node group's nodes get the cluster's security group",
    "externalLoadBalancers": "expose services through Kubernetes load balancers instead",
    "suspendProcesses": "EKS manages the node group's Auto Scaling group",
    "detailedInstanceMonitoring": "not supported by clusterdrop's node groups",
    "cpuCredits": "not supported by clusterdrop's node groups (T instances run with their default credits)",
    "volumes": "a node group has one root volume (volume); no further volumes",
    "volumeMounts": "a node group has one root volume (volume); no further volumes",
    "packages": "EKS's node images run unchanged: no packages of your own",
    "kubelet": "EKS's node images configure the kubelet; a node group sets labels, taints and its size",
    "sysctlParameters": "EKS's node images run unchanged: no sysctls of your own",
    "hooks": "EKS's node images run unchanged: no hooks of your own",
    "fileAssets": "EKS's node images run unchanged: no files of your own",
    "instanceRequirements": "name the instance types (mixedInstancesPolicy.instances or machineType)",
    "warmPool": "EKS node groups have no warm pools",
    "manager": "Karpenter-managed groups: use computeMode: auto (EKS Auto Mode runs Karpenter for you)",
    "rollingUpdate": "set how many nodes an update replaces: nodeGroups[].updateConfig",
    "tenancy": "EKS node groups run on shared tenancy",
    "compressUserData": "a node group runs EKS's bootstrap; no user data of your own",
    "maxInstanceLifetime": "EKS replaces nodes on upgrades and repairs, not by age",
    "guestAccelerators": "accelerated instance types get EKS's accelerated AMI by their type",
}
CONTROL_PLANE_GROUP = (
    "EKS runs the control plane, highly available across the cluster's zones: the group's machines "
    "({what}) have no EKS counterpart"
)
GROUP_ROLES_REFUSED: dict[str, str] = {
    "Bastion": "reach nodes with SSM Session Manager instead of a bastion (the nodes' role allows it)",
    "APIServer": "EKS runs the API server",
}


def is_kops(data: Any) -> bool:
    return isinstance(data, dict) and str(data.get("apiVersion", "")).startswith(API_GROUP)


_NODE_GROUP_MAPPING = (
    "a node group: machineType or mixedInstancesPolicy.instances → instanceTypes, minSize → minSize and "
    "desiredSize, maxSize, subnets → zones and topology, nodeLabels → labels, taints, cloudLabels → tags, "
    "rootVolume* → diskSizeGiB and volume, maxPrice or onDemandAboveBase: 0 → spot, an AL2023 or Bottlerocket "
    "image → amiFamily"
)


def mapping_table() -> list[tuple[str, str]]:
    """What each kops field becomes, as the docs' kops reference page shows it: from the tables the
    converter itself reads, so the two cannot disagree."""
    rows = [
        ("metadata.name", "metadata.name: its first label (or --name)"),
        ("spec.kubernetesVersion", "spec.kubernetesVersion: the minor (EKS picks the patch)"),
        ("spec.subnets[].zone", "spec.region and spec.network.zones"),
        ("spec.networkID, subnets[].id", "spec.network.vpc.id, vpc.subnets: Private → private, Utility → public"),
        ("spec.networkCIDR", "spec.network.vpc.cidr (a new VPC; private subnets get a NAT gateway per zone)"),
        ("spec.api.loadBalancer.type", "Internal → controlPlane.endpointAccess: private"),
        ("spec.kubernetesApiAccess", "spec.controlPlane.adminCidrs"),
        ("spec.sshKeyName", "nodeGroups[].sshKeyName"),
        ("spec.cloudLabels", "metadata.tags"),
        ("spec.podCIDR, serviceClusterIPRange", "spec.network.podCidr, serviceCidr"),
        ("spec.authentication.aws.identityMappings", "spec.access (system:masters → cluster-admin)"),
        ("spec.iam.serviceAccountExternalPermissions", "spec.podIdentities"),
        ("spec.cloudConfig.awsEBSCSIDriver, metricsServer", "spec.addons"),
        ("InstanceGroup role Node", _NODE_GROUP_MAPPING),
        ("InstanceGroup role Master/ControlPlane", "said: " + CONTROL_PLANE_GROUP.format(what="type and count")),
    ]  # fmt: skip
    rows += [(f"networking.{k}", f"cni.name: {v}") for k, v in CNIS.items()]
    rows += [(f"networking.{k}", f"refused: {v}") for k, v in CNI_REFUSED.items()]
    rows += [(f"InstanceGroup role {k}", f"refused: {v}") for k, v in GROUP_ROLES_REFUSED.items()]
    rows += [(f"spec.{k}", f"said: {v}") for k, v in CLUSTER_SAID.items()]
    rows += [(f"spec.{k}", f"refused: {v}") for k, v in CLUSTER_REFUSED.items()]
    rows += [(f"spec.{k}", "refused: " + _NOT_INSTALLED.format(what=v)) for k, v in NOT_INSTALLED.items()]
    rows += [(f"InstanceGroup spec.{k}", f"refused: {v}") for k, v in GROUP_REFUSED.items()]
    return rows


class _Converter:
    def __init__(self, doc: Document, name: str | None):
        self.documents = [doc, *doc.siblings]
        self.ledger = Ledger(self.documents, self._label)
        self.notes: list[str] = []
        self.name_given = name
        self.subnets: dict[str, dict[str, Any]] = {}  # kops subnet name → {zone, kind}
        self.kept_zones: list[str] = []  # the zones of the region the cluster is converted to

    def _label(self, document: int, path: Path) -> str:
        data = self.documents[document].data
        kind = data.get("kind") if isinstance(data, dict) else None
        rendered = paths.render(path)
        if kind == "Cluster":
            return rendered or "Cluster"
        name = ((data.get("metadata") or {}).get("name") if isinstance(data, dict) else None) or f"#{document + 1}"
        where = f"{kind or 'document'}/{name}"
        return f"{where}/{rendered}" if rendered else where

    def note(self, message: str) -> None:
        self.notes.append(message)

    # --- the file -----------------------------------------------------------------------

    def convert(self) -> dict[str, Any]:
        clusters = [i for i, d in enumerate(self.documents) if _kind(d.data) == "Cluster"]
        groups = [i for i, d in enumerate(self.documents) if _kind(d.data) == "InstanceGroup"]
        for i in range(len(self.documents)):
            if i not in clusters and i not in groups:
                self.ledger.record(i, (), "refused", "a kops file holds a Cluster and its InstanceGroups")
        for extra in clusters[1:]:
            self.ledger.record(extra, (), "refused", "one cluster per file: convert each cluster on its own")
        if not clusters:
            self.ledger.record(0, (), "refused", "no kops Cluster in the file (kops get all NAME -o yaml prints it)")
            return {}
        top = Reader(self.ledger, self.documents[clusters[0]].data, (), clusters[0])
        version = str(top.get("apiVersion"))
        top.get("kind")
        metadata = self._metadata(top.child("metadata"))
        spec = top.child("spec")
        out: dict[str, Any] = {}
        network: dict[str, Any] = {}
        control_plane: dict[str, Any] = {}
        v1alpha3 = version.endswith("/v1alpha3")
        networking = spec.child("networking")
        net = networking if v1alpha3 else spec
        self._subnets(net, network, out)
        self._version(spec, out)
        self._api(spec, control_plane, v1alpha3)
        cni = self._cni(networking)
        tags = spec.carry("cloudLabels", "metadata.tags")
        if _given(tags):
            metadata["tags"] = tags
        addons = self._addons(spec)
        access = self._authentication(spec.child("authentication"))
        identities = self._iam(spec.child("iam"))
        key_name = spec.get("sshKeyName") or None
        self._ssh(spec, key_name)
        self._cloud_provider(spec, v1alpha3)
        node_groups = self._groups(groups)
        self._topology(net, network, node_groups)
        if key_name and not node_groups:
            self._row(clusters[0], ("spec", "sshKeyName"), "said", "no node group to take the key pair")
        elif key_name:
            for group in node_groups:
                group["sshKeyName"] = key_name
            self._row(clusters[0], ("spec", "sshKeyName"), "carried", "spec.nodeGroups[*].sshKeyName")
        elif spec.has("sshKeyName"):
            self._row(clusters[0], ("spec", "sshKeyName"), "said", "no key pair: no SSH to the nodes")
        for key, reason in CLUSTER_SAID.items():
            spec.say(key, reason)
        for key, what in NOT_INSTALLED.items():
            self._off_or_refused(spec, key, _NOT_INSTALLED.format(what=what))
        for key in ("cloudControllerManager", "kubeProxy", "kubeDNS", "kubelet", "masterKubelet"):
            self._empty_said(spec, key)
        self._authorization(spec)
        self._termination_handler(spec)
        if v1alpha3:
            for key, reason in CLUSTER_SAID.items():
                net.say(key, reason)
            net.finish(CLUSTER_REFUSED)
        else:
            networking.finish(default="not a CNI clusterdrop knows: name calico, cilium or amazonvpc")
        spec.finish(CLUSTER_REFUSED)
        top.finish()
        return self._assemble(metadata, out, network, control_plane, cni, node_groups, addons, access, identities)

    def _row(self, document: int, path: Path, outcome: Any, detail: str) -> None:
        self.ledger.record(document, path, outcome, detail)

    @staticmethod
    def _assemble(
        metadata: dict[str, Any],
        out: dict[str, Any],
        network: dict[str, Any],
        control_plane: dict[str, Any],
        cni: dict[str, Any] | None,
        node_groups: list[dict[str, Any]],
        addons: list[str],
        access: list[dict[str, Any]],
        identities: list[dict[str, Any]],
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {**out}
        if control_plane:
            spec["controlPlane"] = control_plane
        spec["network"] = network
        if cni:
            spec["cni"] = cni
        spec["nodeGroups"] = node_groups
        if addons:
            spec["addons"] = addons
        if access:
            spec["access"] = access
        if identities:
            spec["podIdentities"] = identities
        return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}

    def _metadata(self, meta: Reader) -> dict[str, Any]:
        full = str(meta.get("name") or "")
        if self.name_given:
            name = self.name_given
            self._row(meta.document, meta.at("name"), "said", f"named {name} by --name")
        else:
            name = full.split(".")[0].lower()[:40]
            self._row(meta.document, meta.at("name"), "carried", "metadata.name")
            if name != full:
                self.note(f"metadata.name: {full} is a DNS name; the cluster is named {name} (--name names it)")
        for key in ("creationTimestamp", "generation", "uid", "resourceVersion", "labels"):
            meta.say(key, "kops's bookkeeping")
        meta.finish()
        return {"name": name}

    def _version(self, spec: Reader, out: dict[str, Any]) -> None:
        if not spec.has("kubernetesVersion"):
            return
        given = str(spec.get("kubernetesVersion"))
        match = _VERSION.match(given)
        minor = f"{match.group(1)}.{match.group(2)}" if match else None
        if minor is None or minor not in facts.KUBERNETES_VERSIONS:
            spec.refuse(
                "kubernetesVersion",
                f"Kubernetes {given} is not supported by EKS (standard or extended support); supported: "
                + ", ".join(facts.KUBERNETES_VERSIONS),
            )
            return
        out["kubernetesVersion"] = minor
        detail = "spec.kubernetesVersion" + (f" ({minor}: EKS picks the patch level)" if match and match[3] else "")
        self._row(spec.document, spec.at("kubernetesVersion"), "carried", detail)

    # --- network ------------------------------------------------------------------------

    def _subnets(self, net: Reader, network: dict[str, Any], out: dict[str, Any]) -> None:
        vpc_id = net.carry("networkID", "spec.network.vpc.id")
        existing = net.has("networkID")
        if existing:
            network["vpc"] = {"id": vpc_id}
            net.say("networkCIDR", "the existing VPC's own CIDR")
        elif net.has("networkCIDR"):
            network["vpc"] = {"cidr": net.carry("networkCIDR", "spec.network.vpc.cidr")}
        for key, field in (("podCIDR", "podCidr"), ("serviceClusterIPRange", "serviceCidr")):
            if net.has(key):
                network[field] = net.carry(key, f"spec.network.{field}")
        items = net.items("subnets")
        zones: list[str] = []
        by_kind: dict[str, list[dict[str, Any]]] = {"private": [], "public": []}
        for i, raw in enumerate(items):
            subnet = Reader(self.ledger, raw, (*net.path, "subnets", i), net.document)
            zone = str(subnet.get("zone") or "")
            kind = subnet.get("type")
            native: str | None = None
            if kind in ("Private", "Public", "Utility"):
                native = "private" if kind == "Private" else "public"
                self._row(subnet.document, subnet.at("type"), "carried", f"spec.network.topology ({native} subnets)")
            else:
                subnet.refuse("type", f"type {kind}: clusterdrop's clusters are IPv4, with Private, Public or "
                              "Utility subnets")  # fmt: skip
            name = str(subnet.say("name", "kops's name of the subnet; instance groups name it"))
            self.subnets[name] = {"zone": zone, "kind": native}
            if zone and zone not in zones:
                zones.append(zone)
            if existing:
                self._existing_subnet(subnet, native, by_kind)
            else:
                subnet.say("cidr", "clusterdrop lays out a new VPC's subnets itself (a private and a public one per "
                           "zone)")  # fmt: skip
                if subnet.has("id"):
                    subnet.refuse("id", "a subnet by id needs its VPC by id: set networkID")
                if subnet.has("egress"):
                    subnet.refuse("egress", "a new VPC's egress is clusterdrop's NAT gateways: drop egress, or bring "
                                  "the VPC and its subnets by id")  # fmt: skip
            subnet.finish({"additionalRoutes": "clusterdrop makes no routes of yours: add them to an existing VPC",
                           "ipv6CIDR": "clusterdrop's clusters are IPv4"})  # fmt: skip
        if existing:
            network["vpc"]["subnets"] = {k: v for k, v in by_kind.items() if v}
        self._region(net, zones, out, network)

    def _existing_subnet(self, subnet: Reader, native: str | None, by_kind: dict[str, list[dict[str, Any]]]) -> None:
        subnet.say("cidr", "the existing subnet's own CIDR")
        if not subnet.has("id"):
            subnet.refuse(
                "id",
                "kops would create this subnet in the existing VPC; clusterdrop takes existing subnets: give its id",
            )
            return
        if native:
            index = len(by_kind[native])
            by_kind[native].append({"id": subnet.get("id"), "zone": str(subnet.data.get("zone"))})
            self._row(subnet.document, subnet.at("id"), "carried", f"spec.network.vpc.subnets.{native}[{index}].id")
        else:
            subnet.get("id")
        egress = subnet.get("egress")
        if egress is None:
            return
        if str(egress).startswith(("nat-", "i-")):
            detail = "your own NAT: clusterdrop leaves the existing VPC's routes alone"
            self._row(subnet.document, subnet.at("egress"), "said", detail)
        elif egress == "External" or str(egress).startswith("tgw-"):
            self._row(subnet.document, subnet.at("egress"), "said", f"{egress}: the existing VPC's routes, left alone")
        else:
            subnet.refuse("egress", f"unknown egress {egress!r}")

    def _region(self, net: Reader, zones: list[str], out: dict[str, Any], network: dict[str, Any]) -> None:
        """The region from the subnets' zones (kops has no region field: its zones say it)."""
        regions: list[str] = []
        kept: list[str] = []
        items = net.data.get("subnets")
        for j, subnet in enumerate(items if isinstance(items, list) else []):
            zone = str(subnet.get("zone") or "") if isinstance(subnet, dict) else ""
            path = (*net.path, "subnets", j, "zone")
            match = _ZONE.match(zone)
            region = match.group(1) if match else None
            if not zone:
                self._row(net.document, path, "refused", "a subnet needs its availability zone (zone)")
            elif region is None or region not in facts.REGIONS:
                reason = f"{zone!r} is not an availability zone of an AWS region where clusterdrop deploys EKS"
                self._row(net.document, path, "refused", reason)
            elif regions and region != regions[0]:
                self._row(net.document, path, "refused", f"{zone} is in {region}; the cluster's other subnets are "
                          f"in {regions[0]}")  # fmt: skip
            else:
                self._row(net.document, path, "carried", "spec.region, spec.network.zones")
                regions.append(region)
                if zone not in kept:
                    kept.append(zone)
        self.kept_zones = kept
        if regions:
            out["region"] = regions[0]
            network["zones"] = kept
        elif not zones:
            self._row(net.document, net.path, "refused", "no subnets: kops names the cluster's zones by its subnets")

    def _topology(self, net: Reader, network: dict[str, Any], groups: list[dict[str, Any]]) -> None:
        """Where nodes run: kops's topology.nodes where the file says it, else where the node
        groups' subnets are (Private subnets: the private topology). A group elsewhere says so."""
        topology = net.child("topology")
        kinds = [g.pop("_kind") for g in groups]
        stated = topology.get("nodes")
        if stated in ("private", "public"):
            chosen = str(stated)
            self._row(topology.document, topology.at("nodes"), "carried", "spec.network.topology")
        else:
            found = [k for k in kinds if k]
            any_private = any(s["kind"] == "private" for s in self.subnets.values())
            chosen = max(set(found), key=found.count) if found else ("private" if any_private else "public")
            if stated is not None:
                topology.refuse("nodes", f"topology {stated!r}: private or public")
        network["topology"] = chosen
        topology.say("masters", "EKS runs the control plane; its endpoint is public-and-private unless api says "
                     "Internal")  # fmt: skip
        topology.say("dns", "EKS gives the API endpoint a DNS name of its own")
        if topology.has("bastion"):
            topology.refuse("bastion", GROUP_ROLES_REFUSED["Bastion"])
        topology.finish()
        for group, kind in zip(groups, kinds, strict=True):
            if kind and kind != chosen:
                group["topology"] = kind
        if chosen == "private" and "id" not in network.get("vpc", {}):
            network["natGateways"] = "per-zone"
            self.note("network.natGateways: per-zone, as kops gives each zone's private subnets a NAT gateway")

    def _api(self, spec: Reader, control_plane: dict[str, Any], v1alpha3: bool) -> None:
        api = spec.child("api")
        api.say("dns", "EKS gives the API endpoint a DNS name of its own")
        api.say("publicName", "EKS gives the API endpoint a DNS name of its own")
        balancer = api.child("loadBalancer")
        kind = balancer.get("type")
        if kind == "Internal":
            control_plane["endpointAccess"] = "private"
            self._row(balancer.document, balancer.at("type"), "carried", "spec.controlPlane.endpointAccess: private")
        elif kind == "Public":
            self._row(balancer.document, balancer.at("type"), "said", "EKS's endpoint: public-and-private (default)")
        elif kind is not None:
            balancer.refuse("type", f"type {kind!r}: Public or Internal")
        balancer.say("class", "EKS's endpoint is AWS's own; no load balancer of the cluster's")
        balancer.finish(default="EKS's endpoint is AWS's own: the load balancer kops makes has no counterpart")
        given = spec.has("kubernetesApiAccess") or (v1alpha3 and api.has("access"))
        cidrs = spec.items("kubernetesApiAccess")
        source = spec.at("kubernetesApiAccess")
        if v1alpha3 and api.has("access"):
            cidrs, source = api.items("access"), api.at("access")
        api.finish()
        if not given:
            return
        kept: list[str] = []
        for i, cidr in enumerate(cidrs):
            text = str(cidr)
            if ":" in text:
                self._row(spec.document, (*source, i), "said", f"{text}: the cluster is IPv4; its endpoint is reached "
                          "over IPv4")  # fmt: skip
            elif text.startswith("pl-"):
                self._row(spec.document, (*source, i), "refused", "prefix lists: give the CIDRs (EKS's allowlist "
                          "takes CIDRs)")  # fmt: skip
            else:
                self._row(spec.document, (*source, i), "carried", f"spec.controlPlane.adminCidrs[{len(kept)}]")
                kept.append(text)
        if kept:
            control_plane["adminCidrs"] = kept

    def _ssh(self, spec: Reader, key_name: Any) -> None:
        for i, cidr in enumerate(spec.items("sshAccess")):
            path = spec.at("sshAccess")
            if str(cidr) in ("0.0.0.0/0", "::/0"):
                detail = "EKS opens SSH to any address on nodes with a key pair" if key_name else "no key pair: no SSH"
                self._row(spec.document, (*path, i), "said", detail)
            else:
                self._row(spec.document, (*path, i), "refused", "clusterdrop cannot limit SSH to source ranges: reach "
                          "nodes with SSM Session Manager, or drop sshAccess")  # fmt: skip

    def _cloud_provider(self, spec: Reader, v1alpha3: bool) -> None:
        provider = spec.data.get("cloudProvider")
        if provider in (None, "aws") or (
            isinstance(provider, dict) and set(provider) == {"aws"} and not provider["aws"]
        ):
            return
        spec.refuse("cloudProvider", "clusterdrop deploys to AWS (cloudProvider: aws)")

    # --- what runs in the cluster --------------------------------------------------------

    def _cni(self, networking: Reader) -> dict[str, Any] | None:
        chosen = [k for k in networking.data if k in _CNI_KEYS]
        for key in chosen[1:]:
            networking.refuse(key, f"one CNI per cluster ({chosen[0]} is named first)")
        if not chosen:
            return None
        key = chosen[0]
        options = networking.child(key)
        if key in CNI_REFUSED:
            options.used |= set(options.data)
            networking.refuse(key, CNI_REFUSED[key])
            return None
        name = CNIS[key]
        self._row(networking.document, networking.at(key), "carried", f"spec.cni.name: {name}")
        cni: dict[str, Any] = {"name": name}
        if key == "cilium":
            ipam = options.get("ipam")
            cni["mode"] = "eni" if ipam == "eni" else "overlay"
            if options.has("ipam"):
                self._row(options.document, options.at("ipam"), "carried", f"spec.cni.mode: {cni['mode']}")
            if options.get("enableNodePort") is True:
                cni["kubeProxyReplacement"] = True
                self._row(options.document, options.at("enableNodePort"), "carried", "spec.cni.kubeProxyReplacement")
            options.say("version", "the catalog's Cilium release, pinned by digest")
        if key == "calico":
            options.say("version", "the catalog's Calico release, pinned by digest")
        options.finish(default=f"clusterdrop installs {name} as the catalog's release publishes it; this option has "
                       "no clusterdrop form")  # fmt: skip
        return cni

    def _addons(self, spec: Reader) -> list[str]:
        addons: list[str] = []
        cloud = spec.child("cloudConfig")
        ebs = cloud.child("awsEBSCSIDriver")
        self._enabled(ebs, "ebs-csi", addons)
        ebs.say("managed", "the EBS CSI driver runs as EKS's add-on")
        ebs.finish(default="the EBS CSI driver runs as EKS's add-on, as EKS configures it")
        cloud.finish(default="not supported by clusterdrop (EKS configures its cloud provider)")
        metrics = spec.child("metricsServer")
        self._enabled(metrics, "metrics-server", addons)
        metrics.say("insecure", "EKS's metrics-server add-on verifies the kubelets' certificates")
        metrics.finish(default="metrics-server runs as EKS's add-on, as EKS configures it")
        return addons

    def _enabled(self, options: Reader, addon: str, addons: list[str]) -> None:
        """kops's `enabled: true` of an add-on EKS offers → spec.addons."""
        if options.get("enabled") is True:
            addons.append(addon)
            self._row(options.document, options.at("enabled"), "carried", f"spec.addons: {addon}")
        elif options.has("enabled"):
            self._row(options.document, options.at("enabled"), "said", "off")

    def _off_or_refused(self, spec: Reader, key: str, reason: str) -> None:
        if not spec.has(key):
            return
        value = spec.get(key)
        if isinstance(value, dict) and value.get("enabled") is False:
            self._row(spec.document, spec.at(key), "said", "off")
        else:
            spec.refuse(key, reason)

    def _empty_said(self, spec: Reader, key: str) -> None:
        """A component config that only says what EKS does anyway is said, not refused."""
        value = spec.data.get(key)
        if value == {} or (key in ("kubelet", "masterKubelet") and value == {"anonymousAuth": False}):
            spec.say(key, "what EKS does already" + (" (anonymous requests refused)" if value else ""))
        elif key == "kubeDNS" and value == {"provider": "CoreDNS"}:
            spec.say(key, "CoreDNS runs as EKS's add-on")

    def _authorization(self, spec: Reader) -> None:
        value = spec.data.get("authorization")
        if value is None:
            return
        if isinstance(value, dict) and set(value) == {"rbac"}:
            spec.say("authorization", "EKS authorizes with RBAC (and access entries)")
        else:
            spec.refuse("authorization", "EKS authorizes with RBAC and access entries; no other mode")

    def _termination_handler(self, spec: Reader) -> None:
        value = spec.data.get("nodeTerminationHandler")
        if value is None:
            return
        if isinstance(value, dict) and value.get("enabled") is False:
            spec.say("nodeTerminationHandler", "off")
        else:
            spec.say("nodeTerminationHandler", "EKS's managed node groups drain nodes on termination and Spot "
                     "interruption themselves")  # fmt: skip

    def _authentication(self, auth: Reader) -> list[dict[str, Any]]:
        aws = auth.child("aws")
        out: list[dict[str, Any]] = []
        for i, raw in enumerate(aws.items("identityMappings")):
            item = Reader(self.ledger, raw, (*aws.path, "identityMappings", i), aws.document)
            groups = [str(g) for g in item.items("groups")]
            entry, refusals = aws_auth_entry(
                item.carry("arn", f"spec.access[{len(out)}].principal"),
                groups,
                item.carry("username", f"spec.access[{len(out)}].username"),
            )
            if item.has("groups"):
                self._row(item.document, item.at("groups"), "carried", f"spec.access[{len(out)}] (groups, policies)")
            for reason in refusals:
                item.refuse("groups", reason)
            if "username" not in item.data:
                entry.pop("username", None)
            out.append(entry)
            item.finish()
        for key in ("backendMode", "clusterID"):
            aws.say(key, "aws-iam-authenticator's setting; EKS authenticates IAM principals itself")
        aws.finish(default="EKS authenticates IAM principals itself: map each principal (identityMappings)")
        auth.finish(default="EKS authenticates with IAM (access entries) or an OIDC provider (identityProviders)")
        return out

    def _iam(self, iam: Reader) -> list[dict[str, Any]]:
        iam.say("allowContainerRegistry", "EKS's nodes pull from ECR (the node role has ECR's pull policy)")
        iam.say("legacy", "clusterdrop's roles are least privilege")
        iam.say("useServiceAccountExternalPermissions", "pods get roles through EKS Pod Identity")
        out: list[dict[str, Any]] = []
        for i, raw in enumerate(iam.items("serviceAccountExternalPermissions")):
            item = Reader(self.ledger, raw, (*iam.path, "serviceAccountExternalPermissions", i), iam.document)
            at = f"spec.podIdentities[{len(out)}]"
            identity = {
                "namespace": item.carry("namespace", f"{at}.namespace"),
                "serviceAccount": item.carry("name", f"{at}.serviceAccount"),
            }
            aws = item.child("aws")
            if aws.has("policyARNs"):
                identity["policyArns"] = aws.carry("policyARNs", f"{at}.policyArns")
            if aws.has("inlinePolicy"):
                identity["policy"] = _json(aws.carry("inlinePolicy", f"{at}.policy"))
            aws.finish()
            item.finish()
            out.append(identity)
        iam.finish(
            {"permissionsBoundary": "clusterdrop's own roles take no boundary; a pod identity's role can "
             "(podIdentities[].permissionsBoundaryArn)"}
        )  # fmt: skip
        return out

    # --- instance groups ------------------------------------------------------------------

    def _groups(self, documents: list[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for index in documents:
            top = Reader(self.ledger, self.documents[index].data, (), index)
            top.get("apiVersion")
            top.get("kind")
            meta = top.child("metadata")
            spec = top.child("spec")
            role = str(spec.get("role", "Node"))
            if not spec.has("role"):
                self._row(index, ("spec",), "said", "role: Node (kops's default)")
            if role in _CONTROL_PLANE_ROLES:
                what = f"{spec.data.get('machineType', 'kops default type')} x{spec.data.get('minSize', 1)}"
                self._whole(top, "said", CONTROL_PLANE_GROUP.format(what=what))
                continue
            if role != "Node":
                reason = GROUP_ROLES_REFUSED.get(str(role), f"role {role!r}: Node, Master or ControlPlane")
                self._whole(top, "refused", f"role {role}: {reason}", line_of=("spec", "role"))
                continue
            if spec.has("role"):
                self._row(index, ("spec", "role"), "carried", f"spec.nodeGroups[{len(out)}]")
            name = meta.carry("name", f"spec.nodeGroups[{len(out)}].name")
            for key in ("creationTimestamp", "generation", "uid", "resourceVersion", "labels"):
                meta.say(key, "kops's bookkeeping")
            meta.finish()
            out.append(self._node_group(spec, str(name), len(out)))
            top.finish()
        return out

    def _whole(self, top: Reader, outcome: Any, detail: str, line_of: Path | None = None) -> None:
        """A whole instance group said or refused: one row for the document."""
        top.used |= set(top.data)
        self.ledger.record(top.document, (), outcome, detail, line_of=line_of)

    def _node_group(self, spec: Reader, name: str, index: int) -> dict[str, Any]:
        at = f"spec.nodeGroups[{index}]"
        group: dict[str, Any] = {"name": name}
        mixed = spec.child("mixedInstancesPolicy")
        instances = mixed.carry("instances", f"{at}.instanceTypes")
        machine = spec.get("machineType")
        if _given(instances):
            group["instanceTypes"] = instances
            among = isinstance(instances, list) and machine in instances
            if spec.has("machineType") and among:
                self._row(spec.document, spec.at("machineType"), "carried", f"{at}.instanceTypes")
            elif spec.has("machineType"):
                detail = "the launch template's default; the group launches mixedInstancesPolicy.instances"
                self._row(spec.document, spec.at("machineType"), "said", detail)
        elif _given(machine):
            group["instanceTypes"] = [machine]
            self._row(spec.document, spec.at("machineType"), "carried", f"{at}.instanceTypes")
        else:
            spec.refuse("machineType", "a node group needs its instance type (machineType)")
        low = spec.carry("minSize", f"{at}.minSize, {at}.desiredSize")
        high = spec.carry("maxSize", f"{at}.maxSize")
        low = DEFAULT_NODE_COUNT if low is None else low
        default_high = max(low, 1) if isinstance(low, int) else low
        group.update(minSize=low, desiredSize=low, maxSize=high if high is not None else default_high)
        self.note(f"{at} ({name}): desiredSize {low}, kops's minSize (kops starts a group at its minimum)")
        self._placement(spec, group, at)
        self._capacity(spec, mixed, group, at)
        self._image(spec, group, at)
        self._labels(spec, group, at)
        if spec.has("cloudLabels"):
            group["tags"] = spec.carry("cloudLabels", f"{at}.tags")
        self._taints(spec, group, at)
        self._root_volume(spec, group, at)
        metadata = spec.child("instanceMetadata")
        if metadata.get("httpTokens") not in (None, "required"):
            metadata.refuse("httpTokens", "clusterdrop's nodes require IMDSv2 (httpTokens: required)")
        elif metadata.has("httpTokens"):
            self._row(metadata.document, metadata.at("httpTokens"), "said", "the nodes require IMDSv2")
        metadata.say("httpPutResponseHopLimit", "clusterdrop's launch templates set a hop limit of 2 (pods reach "
                     "IMDS through the node)")  # fmt: skip
        metadata.finish()
        spec.say("associatePublicIp", "follows the group's topology: nodes in public subnets get public addresses")
        spec.finish(GROUP_REFUSED)
        return group

    def _labels(self, spec: Reader, group: dict[str, Any], at: str) -> None:
        labels = spec.get("nodeLabels")
        if not isinstance(labels, dict):
            if labels is not None:
                spec.refuse("nodeLabels", "expected a map of label names to values")
            return
        kept = {}
        for key, value in labels.items():
            path = (*spec.at("nodeLabels"), key)
            if str(key).startswith("kops.k8s.io/"):
                self._row(spec.document, path, "said", "kops's own label; EKS labels the nodes with "
                          "eks.amazonaws.com/nodegroup")  # fmt: skip
            else:
                kept[key] = value
                self._row(spec.document, path, "carried", f"{at}.labels")
        if kept:
            group["labels"] = kept

    def _placement(self, spec: Reader, group: dict[str, Any], at: str) -> None:
        zones: list[str] = []
        kinds: set[str] = set()
        for j, subnet in enumerate(spec.items("subnets")):
            known = self.subnets.get(str(subnet))
            if known is None:
                self._row(spec.document, (*spec.at("subnets"), j), "refused", f"no subnet {subnet} in the Cluster")
                continue
            if known["zone"] not in zones:
                zones.append(known["zone"])
            if known["kind"]:
                kinds.add(known["kind"])
        for zone in spec.items("zones"):
            if str(zone) not in zones:
                zones.append(str(zone))
        if len(kinds) > 1:
            spec.refuse("subnets", "a node group runs in private or in public subnets, not both: split the group")
        group["_kind"] = next(iter(kinds)) if len(kinds) == 1 else None
        all_zones = [s["zone"] for s in self.subnets.values()]
        if zones and sorted(set(zones)) != sorted(set(all_zones)):
            group["zones"] = zones
        target = f"{at}.zones" if "zones" in group else "spec.network.zones (the group runs in all of them)"
        outcome = "carried" if self.kept_zones else "said"
        if not self.kept_zones:
            target = "its zones, refused with the Cluster's subnets"
        for key in ("subnets", "zones"):
            if spec.has(key) and not (key == "subnets" and len(kinds) > 1):
                self._row(spec.document, spec.at(key), outcome, target)

    def _capacity(self, spec: Reader, mixed: Reader, group: dict[str, Any], at: str) -> None:
        price = spec.get("maxPrice")
        spot = price is not None
        if mixed.has("onDemandAboveBase"):
            above = mixed.get("onDemandAboveBase")
            if above in (0, 100):
                spot = above == 0
                self._row(mixed.document, mixed.at("onDemandAboveBase"), "carried", f"{at}.capacityType")
            else:
                mixed.refuse("onDemandAboveBase", f"{above}% On-Demand above the base: an EKS node group is all "
                             "On-Demand or all Spot; split it into an On-Demand and a Spot group")  # fmt: skip
                spot = False
        elif mixed.data:
            spot = spot and True
        base = mixed.get("onDemandBase")
        if base not in (None, 0):
            mixed.refuse("onDemandBase", "an EKS node group is all On-Demand or all Spot: make the base a group of "
                         "its own")  # fmt: skip
        elif mixed.has("onDemandBase"):
            self._row(mixed.document, mixed.at("onDemandBase"), "said", "no On-Demand base")
        if price is not None:
            detail = (
                f"{at}.capacityType: spot (EKS pays the Spot price, at most the On-Demand price; no maximum of yours)"
            )
            self._row(spec.document, spec.at("maxPrice"), "carried" if spot else "said", detail)
        for key in ("spotAllocationStrategy", "spotInstancePools"):
            mixed.say(key, "EKS chooses the Spot allocation of its node groups")
        mixed.finish({"instanceRequirements": GROUP_REFUSED["instanceRequirements"]})
        if spot:
            group["capacityType"] = "spot"

    def _image(self, spec: Reader, group: dict[str, Any], at: str) -> None:
        image = spec.get("image")
        if image is None:
            return
        text = str(image).lower()
        family = "bottlerocket" if "bottlerocket" in text else "al2023" if "al2023" in text else None
        if family:
            group["amiFamily"] = family
            self._row(spec.document, spec.at("image"), "carried", f"{at}.amiFamily: {family}")
        else:
            self._row(spec.document, spec.at("image"), "said", "not an EKS-optimized image: the group runs EKS's "
                      "Amazon Linux 2023 (amiFamily: al2023; bottlerocket the other)")  # fmt: skip

    def _taints(self, spec: Reader, group: dict[str, Any], at: str) -> None:
        out: list[dict[str, Any]] = []
        for j, text in enumerate(spec.items("taints")):
            match = _TAINT.match(str(text))
            if not match:
                self._row(spec.document, (*spec.at("taints"), j), "refused", f"{text!r} is not a taint "
                          "(key=value:Effect, Effect NoSchedule, PreferNoSchedule or NoExecute)")  # fmt: skip
                continue
            taint = {"key": match[1], "effect": match[3]}
            if match[2]:
                taint["value"] = match[2]
            self._row(spec.document, (*spec.at("taints"), j), "carried", f"{at}.taints[{len(out)}]")
            out.append(taint)
        if out:
            group["taints"] = out

    def _root_volume(self, spec: Reader, group: dict[str, Any], at: str) -> None:
        if spec.has("rootVolumeSize"):
            group["diskSizeGiB"] = spec.carry("rootVolumeSize", f"{at}.diskSizeGiB")
        volume: dict[str, Any] = {}
        for key, native in (
            ("rootVolumeType", "type"),
            ("rootVolumeIops", "iops"),
            ("rootVolumeThroughput", "throughput"),
            ("rootVolumeEncryption", "encrypted"),
            ("rootVolumeEncryptionKey", "kmsKeyId"),
        ):
            if spec.has(key):
                volume[native] = spec.carry(key, f"{at}.volume.{native}")
        if spec.get("rootVolumeDeleteOnTermination") is False:
            spec.refuse("rootVolumeDeleteOnTermination", "a node group's root volumes go with their nodes")
        elif spec.has("rootVolumeDeleteOnTermination"):
            spec.say("rootVolumeDeleteOnTermination", "root volumes go with their nodes")
        if volume:
            group["volume"] = volume


def _given(value: Any) -> bool:
    """Written with a value (a wrong one is carried, for the spec's validation to name)."""
    return value is not None and value != {} and value != []


def _kind(data: Any) -> str | None:
    return str(data.get("kind")) if is_kops(data) else None


def _json(value: Any) -> Any:
    """kops writes an inline policy as a JSON string; the spec takes the document."""
    import json

    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def convert(doc: Document, *, name: str | None = None) -> Conversion:
    """Convert a parsed kops file; refused fields are listed, not raised."""
    conv = _Converter(doc, name)
    spec = conv.convert()
    return Conversion(spec=spec, unsupported=conv.ledger.sorted_problems(), notes=conv.notes, table=conv.ledger.rows)


def with_references(spec: dict[str, Any], references: str) -> dict[str, Any]:
    """The existing VPC's IDs as references to where the network's IaC publishes them:
    `ssm:/prefix/` → SSM parameters PREFIX{vpc-id,private-subnet-ids,public-subnet-ids} (what a
    Terraform network's aws_ssm_parameter resources publish), `export:prefix-` → CloudFormation
    exports PREFIX{VpcId,PrivateSubnetIds,PublicSubnetIds}."""
    kind, _, prefix = references.partition(":")
    if kind not in ("ssm", "export") or not prefix:
        raise ValueError(f"--references {references!r}: ssm:/PREFIX/ or export:PREFIX")
    vpc = spec.get("spec", {}).get("network", {}).get("vpc", {})
    if "id" not in vpc:
        raise ValueError("--references: the kops file names no existing VPC (networkID)")

    def ref(ssm_name: str, export_name: str) -> dict[str, str]:
        return {"fromSsm": prefix + ssm_name} if kind == "ssm" else {"fromExport": prefix + export_name}

    vpc["id"] = ref("vpc-id", "VpcId")
    for native, ssm_name, export_name in (
        ("private", "private-subnet-ids", "PrivateSubnetIds"),
        ("public", "public-subnet-ids", "PublicSubnetIds"),
    ):
        if native in vpc.get("subnets", {}):
            vpc["subnets"][native] = ref(ssm_name, export_name)
    return spec
