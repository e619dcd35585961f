"""The catalog of supported CNI versions, each pinned to its official artifacts by sha256.

The digests are those of the files the projects publish at the URLs below; a file whose digest
differs is refused wherever it comes from (mirror or network).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    """One official release file."""

    name: str
    url: str
    sha256: str


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

    @property
    def has_modes(self) -> bool:
        return len(self.modes) > 1


# CNIs people ask for by name that clusterdrop will not install, and why (answered at validation
# instead of "not one of ...").
RETIRED: dict[str, str] = {
    "weave": (
        "Weave Net is no longer maintained (Weaveworks closed in 2024, its last release was 2.8.1) and kops "
        "dropped it; use calico (an overlay with network policy, the closest match) or flannel (the simplest overlay)"
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
