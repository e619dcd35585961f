"""The catalog of supported CNI versions, each pinned to its official artifacts by sha256.

The digests are those of the files the projects publish at the URLs below; a file whose digest
differs is refused wherever it comes from (mirror or network).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Render:
    """How an artifact is made from an official chart: the chart archive (pinned like any
    artifact) rendered with fixed values. The rendered bytes are pinned too (the artifact's
    sha256): the same chart, engine and values give the same bytes, or nothing is applied."""

    chart: Artifact
    values: str  # JSON, sorted keys: the values of one structural choice, nothing per cluster
    release: str  # the Helm release name the templates see
    namespace: str


@dataclass(frozen=True)
class Artifact:
    """One official release file, or one rendered from an official chart (`render`)."""

    name: str
    url: str
    sha256: str
    render: Render | None = None


@dataclass(frozen=True)
class CniRelease:
    """One version of one CNI and the artifacts each of its installation modes applies."""

    name: str
    version: str
    modes: dict[str, tuple[Artifact, ...]]
    default_mode: str
    flavors: frozenset[str]
    # Overlay CNIs give pods addresses from their own pool; the AWS VPC CNI uses VPC addresses.
    overlay: bool
    # The EKS add-on that installs this CNI, when there is one.
    eks_addon: str | None = None
    # An overlay CNI's pods use no VPC addresses, so the node's pod limit is not the VPC CNI's
    # ENI-derived one: the kubelet's maxPods its EKS guide recommends.
    max_pods: int | None = None
    # The Kubernetes minor versions the CNI's makers e2e-test this release on, as their
    # compatibility page (`tested_source`) lists them; empty where they publish none. Calico and
    # Cilium both call other versions untested, not unsupported ("will depend on the forward /
    # backward compatibility offered by Kubernetes"): see `pin_problem` and `untested`.
    tested_kubernetes: tuple[str, ...] = ()
    tested_source: str = ""
    # The AWS actions the CNI's own controller calls with a role of its own (Cilium's operator in
    # ENI mode), as its makers' documentation lists them for this release (`privileges_source`).
    operator_privileges: tuple[str, ...] = ()
    privileges_source: str = ""
    # The longest cluster name the CNI takes (Cilium's agent and operator exit on a longer one;
    # its chart's templates/validate.yaml: "must not be more than 32 characters").
    cluster_name_max: int | None = None

    @property
    def has_modes(self) -> bool:
        return len(self.modes) > 1


# CNIs people ask for by name that clusterdrop will not install, and why (answered at validation
# instead of "not one of ...").
RETIRED: dict[str, str] = {
    "weave": (
        "Weave Net is no longer maintained (Weaveworks closed in 2024, its last release was 2.8.1) and kops "
        "dropped it; use calico (an overlay with network policy, the closest match)"
    ),
}

_CALICO_RAW = "https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests"

CATALOG: tuple[CniRelease, ...] = (
    CniRelease(
        name="aws-vpc-cni",
        version="v1.23.1",
        # On EKS the workflow installs it as the managed add-on; the manifest is the fallback
        # (and what `clusterdrop cni apply` applies).
        eks_addon="vpc-cni",
        modes={
            "manifest": (
                Artifact(
                    name="aws-k8s-cni.yaml",
                    url="https://raw.githubusercontent.com/aws/amazon-vpc-cni-k8s/v1.23.1/config/master/aws-k8s-cni.yaml",
                    sha256="d5f38ce2f1e00960a6f5e0dc2f07d8a1c61d88c21778bcdc5a041ced0345ba0c",
                ),
            ),
        },
        default_mode="manifest",
        flavors=frozenset({"eks"}),
        overlay=False,
    ),
    CniRelease(
        name="calico",
        version="v3.32.1",
        modes={
            "manifest": (
                Artifact(
                    name="calico-vxlan.yaml",
                    url=f"{_CALICO_RAW}/calico-vxlan.yaml",
                    sha256="c2ab4f9a4ecde01d66e6f040d6745cd7f174d5ded573164c809ffb9f40a9d566",
                ),
            ),
            "operator": (
                Artifact(
                    name="operator-crds.yaml",
                    url=f"{_CALICO_RAW}/operator-crds.yaml",
                    sha256="192f8b2d934ef24b62e86b7e1a6e1762d1c8af26a916f78057bc13fa5ed60f71",
                ),
                Artifact(
                    name="tigera-operator.yaml",
                    url=f"{_CALICO_RAW}/tigera-operator.yaml",
                    sha256="f18e073794207d372606bc3ea6f8fd73972f86d6828f4ba666dfe0d4aa8ab07f",
                ),
                Artifact(
                    name="custom-resources.yaml",
                    url=f"{_CALICO_RAW}/custom-resources.yaml",
                    sha256="4fb598a7fce1ad1f8bbfb9004f5efcdb835082e92e06323cb7b8ce60260ed891",
                ),
            ),
        },
        default_mode="manifest",
        flavors=frozenset({"eks", "kubeadm"}),
        overlay=True,
        # Calico's EKS guide creates its node groups with `--max-pods-per-node 100`.
        max_pods=100,
        tested_kubernetes=("1.34", "1.35", "1.36"),
        tested_source="https://docs.tigera.io/calico/3.32/getting-started/kubernetes/requirements",
    ),
    CniRelease(
        name="flannel",
        version="v0.28.9",
        modes={
            "manifest": (
                Artifact(
                    name="kube-flannel.yml",
                    url="https://github.com/flannel-io/flannel/releases/download/v0.28.9/kube-flannel.yml",
                    sha256="e875824be2f552b45711dbda91af81b17eb961d00025d914d9fef18fad8f09c0",
                ),
            ),
        },
        default_mode="manifest",
        # EKS allocates no node podCIDRs, which flannel's subnet manager needs.
        flavors=frozenset({"kubeadm"}),
        overlay=True,
    ),
)

# Cilium's official artifact is a Helm chart; each structural choice (datapath mode, kube-proxy
# replacement) is the chart rendered with fixed values, as Cilium's EKS guide installs it
# ("Installation using Helm", EKS tab): ENI mode gives pods VPC addresses from the node's ENIs
# (native routing, masquerading out of eth+); overlay mode is VXLAN over cluster-pool IPAM (the
# pod CIDR set per cluster). Hubble is off: its chart-made TLS would put private keys in the output.
# Per-cluster values (cluster name, API server host, pod CIDR, operator replicas) are patched on
# the parsed objects, never rendered. The API host rendered in is a placeholder the patch replaces.
CILIUM_API_PLACEHOLDER = "api.clusterdrop.invalid"
CILIUM_STRUCTURE: dict[str, dict[str, Any]] = {
    "eni": {"eni": {"enabled": True}, "ipam": {"mode": "eni"}, "egressMasqueradeInterfaces": "eth+",
            "routingMode": "native"},
    "overlay": {"routingMode": "tunnel", "tunnelProtocol": "vxlan", "ipam": {"mode": "cluster-pool"}},
}  # fmt: skip


def cilium_values(datapath: str, kube_proxy_replacement: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"hubble": {"enabled": False}, **CILIUM_STRUCTURE[datapath]}
    values["kubeProxyReplacement"] = kube_proxy_replacement
    if kube_proxy_replacement:  # the agent reaches the API server itself, not through kube-proxy
        values.update(k8sServiceHost=CILIUM_API_PLACEHOLDER, k8sServicePort=443)
    return values


# Cilium's ENI IPAM, "Required Privileges" (Documentation/network/concepts/ipam/eni.rst; 1.18 added
# DescribeRouteTables, for route-table-aware subnet selection, and DescribeInstanceTypes, for ENI
# limits read from EC2): the operator exits at its first resync without any of them. DescribeTags
# is listed for ENI garbage collection, on by default; the conditional ones for options the chart
# values here leave off (releasing excess IPs, instance tag filters) are not granted.
CILIUM_ENI_PRIVILEGES = tuple(
    f"ec2:{action}"
    for action in (
        "DeleteNetworkInterface", "DescribeInstanceTypes", "DescribeNetworkInterfaces", "DescribeSubnets",
        "DescribeVpcs", "DescribeRouteTables", "DescribeSecurityGroups", "CreateNetworkInterface",
        "AttachNetworkInterface", "ModifyNetworkInterfaceAttribute", "AssignPrivateIpAddresses", "CreateTags",
        "DescribeTags",
    )
)  # fmt: skip


def _cilium(version: str, chart_sha256: str, rendered: dict[str, str], tested: tuple[str, ...]) -> CniRelease:
    chart = Artifact(
        name=f"cilium-{version}.tgz", url=f"https://helm.cilium.io/cilium-{version}.tgz", sha256=chart_sha256
    )
    modes: dict[str, tuple[Artifact, ...]] = {}
    for mode, digest in rendered.items():
        datapath, _, kpr = mode.partition("-")
        values = json.dumps(cilium_values(datapath, bool(kpr)), sort_keys=True)
        modes[mode] = (
            Artifact(
                name=f"cilium-{version}-{mode}.yaml",
                url=chart.url,
                sha256=digest,
                render=Render(chart=chart, values=values, release="cilium", namespace="kube-system"),
            ),
        )
    return CniRelease(
        name="cilium",
        version=version,
        modes=modes,
        default_mode="eni",
        flavors=frozenset({"eks"}),
        overlay=False,  # per mode: see `overlay_mode`
        tested_kubernetes=tested,
        tested_source=f"https://docs.cilium.io/en/v{version.rsplit('.', 1)[0]}/network/kubernetes/compatibility/",
        operator_privileges=CILIUM_ENI_PRIVILEGES,
        cluster_name_max=32,
        privileges_source=f"https://docs.cilium.io/en/v{version.rsplit('.', 1)[0]}/network/concepts/ipam/eni/",
    )


CATALOG += (
    # Chart digests as helm.cilium.io's index.yaml publishes them; rendered digests recorded with
    # helm-python-sdk 0.2.2 (Helm v4), checked again by tests/unit/test_cilium.py.
    _cilium(
        "1.18.12",
        "5923f9d9fcb11bc4692ad52353cc791b935d96e09ba0c535c5a8b88ea8a37572",
        {
            "eni": "32d933528c284e07c8a5d1c08095d05457a95c154baf1ca02c936f55a8d05a8b",
            "eni-kpr": "a88b2f00033e1b0a2be6910b6553dde629a3373b181220045b378bee8a32a6b8",
            "overlay": "5a168871b3da7642e7e4a845489f704317089054010248b3a9cd1ceac7dda521",
            "overlay-kpr": "05bb7be4234812e0a13e3ca9469a644e160ea57444290f04eb8caa50a65f32bc",
        },
        ("1.30", "1.31", "1.32", "1.33"),
    ),
    _cilium(
        "1.19.6",
        "21c43cf53841f9ab0375047d95aa4c64051ea52bbd2c679416e6408f5f1c9179",
        {
            "eni": "4c0898b6946175cad3ac5ddde0632d15b60ffac00d5e50a3253f92046f26cbff",
            "eni-kpr": "57b68070152e8d0bbb6c04a86c1382ceb767a67cc1ffe2ca0989280e29c5430d",
            "overlay": "989b7368a1ee6dedfb7acd9fe4aa41d88a1b083380cc159ead3af79bfc913bb9",
            "overlay-kpr": "3f093f94ec45197a3b090d64edc823139142628d7ef06ef1c7b9ed5cc8791138",
        },
        ("1.32", "1.33", "1.34", "1.35"),
    ),
)


def overlay_mode(release: CniRelease, mode: str) -> bool:
    """Whether pods of this release and mode get addresses the VPC (and EKS's control plane) does
    not route: an overlay CNI, or Cilium's overlay mode."""
    return mode.startswith("overlay") if release.name == "cilium" else release.overlay


# Cilium's overlay gives each node a /24 of the cluster pool: the kubelet's limit is Kubernetes'
# own default of 110 pods per node ("Considerations for large clusters"), not the VPC CNI's
# ENI-derived one (ENI mode keeps that: its pods take the node's ENI addresses, as the VPC CNI's).
CILIUM_OVERLAY_MAX_PODS = 110


def max_pods(release: CniRelease, mode: str) -> int | None:
    """The kubelet's pod limit this release and mode ask for (None: the VPC CNI's, per instance type)."""
    if release.name == "cilium":
        return CILIUM_OVERLAY_MAX_PODS if overlay_mode(release, mode) else None
    return release.max_pods


# CNIs the spec can name, whether or not a release of them is in the catalog yet.
CNI_NAMES: tuple[str, ...] = ("aws-vpc-cni", "calico", "cilium", "flannel")

# Why a CNI cannot run on a flavour, said to the user.
UNSUPPORTED_ON: dict[tuple[str, str], str] = {
    ("flannel", "eks"): (
        "flannel does not work on EKS: EKS assigns no pod CIDRs to nodes (node.spec.podCIDR), "
        "which flannel needs; use calico or aws-vpc-cni"
    ),
    ("aws-vpc-cni", "kubeadm"): "aws-vpc-cni is for EKS clusters",
}


def releases(name: str) -> list[CniRelease]:
    """Catalogued releases of one CNI, oldest first."""
    return [r for r in CATALOG if r.name == name]


def find(name: str, version: str | None) -> CniRelease | None:
    """The release named, or the newest one when version is None."""
    candidates = releases(name)
    if not candidates:
        return None
    if version is None:
        return candidates[-1]
    return next((r for r in candidates if r.version == version), None)


def tested_on(release: CniRelease, kubernetes: str) -> bool | None:
    """Whether the release's makers test it on this Kubernetes version (None: they publish no list)."""
    return kubernetes in release.tested_kubernetes if release.tested_kubernetes else None


def tested_range(release: CniRelease) -> str:
    tested = release.tested_kubernetes
    return f"{tested[0]} to {tested[-1]}" if len(tested) > 1 else ", ".join(tested)


def choose(name: str, kubernetes: str, *, pinned: str | None = None, running: str | None = None) -> CniRelease | None:
    """The release a cluster on `kubernetes` gets: the pinned one; else the one it runs, as long as
    that is tested on its Kubernetes version or no release is (a newer clusterdrop must not move a
    running CNI by itself); else the newest release tested on it; else the newest."""
    if pinned is not None:
        return find(name, pinned)
    candidates = releases(name)
    tested = [r for r in candidates if tested_on(r, kubernetes)]
    kept = find(name, running) if running else None
    if kept is not None and (tested_on(kept, kubernetes) is not False or not tested):
        return kept
    return tested[-1] if tested else find(name, None)


def untested(name: str, version: str | None, kubernetes: str) -> str | None:
    """A warning when the named release's makers do not test it on this Kubernetes version."""
    release = find(name, version) if version else None
    if release is None or tested_on(release, kubernetes) is not False:
        return None
    better = [r for r in releases(name) if tested_on(r, kubernetes)]
    return (
        f"{name} {version} is not tested by its makers on Kubernetes {kubernetes} (they test it on "
        f"{tested_range(release)}: {release.tested_source}); "
        + (f"{name} {better[-1].version} is" if better else "no release in clusterdrop's catalog is: it runs untested")
    )


def pin_problem(release: CniRelease, kubernetes: str) -> str | None:
    """Why a pinned release is refused on this Kubernetes version: its makers do not test it there
    while another catalogued release is (with none, `untested` warns instead)."""
    if tested_on(release, kubernetes) is not False:
        return None
    better = [r for r in releases(release.name) if tested_on(r, kubernetes)]
    if not better:
        return None
    return (
        f"{release.name} {release.version} is tested by its makers on Kubernetes {tested_range(release)} "
        f"({release.tested_source}), not on {kubernetes}; {release.name} {better[-1].version} is: set "
        f"spec.cni.version to {better[-1].version}, or leave it out and clusterdrop picks it"
    )
