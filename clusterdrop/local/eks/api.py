"""The EKS add-ons and access-entries APIs, which moto has not."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from moto.eks import responses as eks_responses
from moto.eks import urls as eks_urls
from moto.eks.exceptions import ResourceNotFoundException

from clusterdrop.local import eks_addons
from clusterdrop.local.eks.emulation import (
    LOG,
    EmulatedCluster,
    Obj,
    current,
)
from clusterdrop.local.eks.nodes import install_addon
from clusterdrop.local.kubeapi.errors import ApiError


def addon_version(name: str, kubernetes: str) -> str:
    """The version the emulated EKS installs when none is asked for (EKS installs the add-on's
    default for the cluster's Kubernetes version): stand-ins in EKS's version format, not EKS's
    actual defaults, and for the VPC CNI deliberately not the catalog's pin — the workflow must
    report what EKS installed, not what it expected."""
    from clusterdrop.cni import catalog

    vpc_cni = catalog.find("aws-vpc-cni", None)
    defaults = {
        "vpc-cni": f"{vpc_cni.version if vpc_cni else 'v1.0.0'}-eksbuild.2",
        "kube-proxy": f"v{kubernetes}.0-eksbuild.1",
        "coredns": "v1.12.2-eksbuild.1",
    }
    return defaults.get(name, "v1.0.0-eksbuild.1")


def _addon_view(cluster: str, name: str, region: str, kubernetes: str = "1.36") -> Obj:
    return {
        "addonName": name,
        "clusterName": cluster,
        "status": "ACTIVE",
        "addonVersion": addon_version(name, kubernetes),
        "addonArn": f"arn:aws:eks:{region}:123456789012:addon/{cluster}/{name}/local",
        "health": {"issues": []},
        "tags": {},
    }


def _not_found(cluster: str, message: str, *, addon: str | None = None) -> ResourceNotFoundException:
    """EKS's ResourceNotFoundException, as moto shapes it (404 with the resource's names)."""
    return ResourceNotFoundException(
        clusterName=cluster, nodegroupName=None, fargateProfileName=None, addonName=addon, message=message
    )


def install() -> None:
    def _cluster(self: Any) -> EmulatedCluster:
        name = self.path.split("/clusters/")[1].split("/")[0]
        cluster = current().clusters.get(name)
        if cluster is None:
            raise _not_found(name, f"No cluster found for name: {name}.")
        return cluster

    def create_addon(self: Any) -> Any:
        cluster = _cluster(self)
        body = json.loads(self.body or "{}")
        name = body["addonName"]
        try:
            config = eks_addons.check_configuration(name, body.get("configurationValues"))
        except ValueError as exc:
            return (
                400,
                {"x-amzn-ErrorType": "InvalidParameterException"},
                json.dumps({"message": str(exc), "clusterName": cluster.name, "addonName": name}),
            )
        cluster.addons[name] = _addon_view(cluster.name, name, cluster.region, cluster.version)
        if body.get("configurationValues"):
            cluster.addons[name]["configurationValues"] = body["configurationValues"]
        try:
            install_addon(cluster, name, config)
        except ApiError as exc:
            LOG.warning("add-on %s could not apply its objects: %s", name, exc)
        return 200, {}, json.dumps({"addon": cluster.addons[name]})

    def list_addons(self: Any) -> Any:
        return 200, {}, json.dumps({"addons": sorted(_cluster(self).addons)})

    def describe_addon(self: Any) -> Any:
        cluster = _cluster(self)
        name = self.path.rstrip("/").split("/")[-1]
        if name not in cluster.addons:
            raise _not_found(cluster.name, f"No addon: {name} found in cluster: {cluster.name}", addon=name)
        return 200, {}, json.dumps({"addon": cluster.addons[name]})

    def _entry(self: Any) -> tuple[EmulatedCluster, Obj]:
        cluster = _cluster(self)
        # The principal is an ARN (with a '/'), URL-encoded in the raw path.
        tail = self.raw_path.split("/access-entries/", 1)[1].split("?", 1)[0]
        principal = unquote(tail.removesuffix("/access-policies"))
        entry = cluster.access_entries.get(principal)
        if entry is None:
            raise _not_found(cluster.name, f"The specified principalArn could not be found: {principal}")
        return cluster, entry

    def list_access_entries(self: Any) -> Any:
        return 200, {}, json.dumps({"accessEntries": sorted(_cluster(self).access_entries)})

    def describe_access_entry(self: Any) -> Any:
        cluster, entry = _entry(self)
        view = {
            "clusterName": cluster.name,
            "principalArn": entry["PrincipalArn"],
            "accessEntryArn": entry["arn"],
            "type": entry.get("Type", "STANDARD"),
            "kubernetesGroups": entry.get("KubernetesGroups", []),
            "username": entry.get("Username", entry["PrincipalArn"]),
            "tags": {t["Key"]: t["Value"] for t in entry.get("Tags", [])},
        }
        return 200, {}, json.dumps({"accessEntry": view})

    def list_associated_access_policies(self: Any) -> Any:
        cluster, entry = _entry(self)
        policies = [
            {"policyArn": a["PolicyArn"], "accessScope": {"type": a["AccessScope"]["Type"], **(
                {"namespaces": a["AccessScope"]["Namespaces"]} if "Namespaces" in a["AccessScope"] else {}
            )}}
            for a in entry.get("AccessPolicies", [])
        ]  # fmt: skip
        body = {"clusterName": cluster.name, "principalArn": entry["PrincipalArn"]}
        return 200, {}, json.dumps({**body, "associatedAccessPolicies": policies})

    eks_responses.EKSResponse.list_access_entries = list_access_entries  # type: ignore[attr-defined]
    eks_responses.EKSResponse.describe_access_entry = describe_access_entry  # type: ignore[attr-defined]
    eks_responses.EKSResponse.list_associated_access_policies = list_associated_access_policies  # type: ignore[attr-defined]
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/access-entries$"] = eks_urls.response.dispatch
    # Routed on the decoded path, where the ARN's '/' is a separator: one rule for both reads
    # (the action is then chosen on the raw path).
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$"] = eks_urls.response.dispatch
    eks_responses.EKSResponse.create_addon = create_addon  # type: ignore[attr-defined]
    eks_responses.EKSResponse.list_addons = list_addons  # type: ignore[attr-defined]
    eks_responses.EKSResponse.describe_addon = describe_addon  # type: ignore[attr-defined]
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/addons$"] = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$"] = eks_urls.response.dispatch
