"""Addons on the cluster side. The EKS add-ons themselves (aws-ebs-csi-driver, metrics-server)
are created by a workflow step outside the VPC; here: their in-cluster settings and readiness."""

from __future__ import annotations

from typing import Any, Protocol

from clusterdrop.kube.readiness import Verdict, workload_verdicts

Obj = dict[str, Any]
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"

GP3_STORAGE_CLASS: Obj = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {"name": "gp3", "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
    "provisioner": "ebs.csi.aws.com",
    "volumeBindingMode": "WaitForFirstConsumer",
    "allowVolumeExpansion": True,
    "parameters": {"type": "gp3", "encrypted": "true"},
}

# What each addon runs, judged like the CNI's workloads.
WORKLOADS: dict[str, list[tuple[str, str, str]]] = {
    "ebs-csi": [("Deployment", "kube-system", "ebs-csi-controller"), ("DaemonSet", "kube-system", "ebs-csi-node")],
    "metrics-server": [("Deployment", "kube-system", "metrics-server")],
    "pod-identity-agent": [("DaemonSet", "kube-system", "eks-pod-identity-agent")],
}


class AddonPort(Protocol):
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None: ...

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]: ...

    def merge_patch(self, api_version: str, kind: str, name: str, patch: Obj, namespace: str | None = None) -> None: ...


class Applies(Protocol):
    def apply_one(self, obj: Obj) -> Obj: ...


def configure(addons: list[str], kube: AddonPort, applier: Applies) -> list[str]:
    """In-cluster settings of the addons; returns what was done, for the notification."""
    done = []
    if "ebs-csi" in addons:
        applier.apply_one(GP3_STORAGE_CLASS)
        done.append("StorageClass gp3 applied as the default")
        gp2 = kube.get("storage.k8s.io/v1", "StorageClass", "gp2")
        if gp2 and (gp2.get("metadata", {}).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true":
            kube.merge_patch(
                "storage.k8s.io/v1",
                "StorageClass",
                "gp2",
                {"metadata": {"annotations": {DEFAULT_CLASS_ANNOTATION: "false"}}},
            )
            done.append("default flag removed from StorageClass gp2")
    return done


MANAGED_BY = {"app.kubernetes.io/managed-by": "clusterdrop"}


def service_accounts(accounts: list[Obj], applier: Applies) -> list[str]:
    """The service accounts Pod Identity associations ask clusterdrop to create, each with its
    namespace: EKS needs none to exist to associate a role, but a pod cannot name a missing one.
    Applied server-side: an existing namespace or account keeps what others set."""
    done = []
    for account in accounts:
        namespace, name = account["namespace"], account["name"]
        applier.apply_one({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        labels = {**account.get("labels", {}), **MANAGED_BY}
        applier.apply_one(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace,
                                                                         "labels": labels}}
        )  # fmt: skip
        done.append(f"ServiceAccount {namespace}/{name} applied (Pod Identity)")
    return done


def readiness(addons: list[str], kube: AddonPort) -> dict[str, Verdict]:
    return workload_verdicts(kube, [w for addon in addons for w in WORKLOADS.get(addon, [])])
