"""The EKS add-ons and access-entries APIs, which moto has not."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from moto.eks import responses as eks_responses
from moto.eks import urls as eks_urls
from moto.eks.exceptions import InvalidParameterException, ResourceInUseException, ResourceNotFoundException
from moto.eks.models import EKSBackend

from clusterdrop.local import eks_addons
from clusterdrop.local.eks.emulation import (
    LOG,
    EmulatedCluster,
    Obj,
    current,
)
from clusterdrop.local.eks.nodes import install_addon, remove_addon
from clusterdrop.local.kubeapi.errors import ApiError


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:2])


def addon_versions(name: str) -> list[tuple[str, str, str]]:
    """The versions the emulated EKS offers of an add-on: (version, oldest and newest Kubernetes
    minor it supports), oldest first. Stand-ins in EKS's version format, not EKS's actual list —
    but shaped as EKS's is (`aws eks describe-addon-versions`): kube-proxy has a version per
    Kubernetes minor, CoreDNS moves on with newer Kubernetes, the VPC CNI is offered in several
    minors at once, each over a range of Kubernetes versions. The emulator's own table: it reads
    nothing of the product's catalog."""
    table: dict[str, list[tuple[str, str, str]]] = {
        "vpc-cni": [
            ("v1.21.1-eksbuild.3", "1.28", "1.34"),
            ("v1.22.4-eksbuild.1", "1.30", "1.36"),
            ("v1.23.1-eksbuild.2", "1.32", "1.37"),
        ],
        "kube-proxy": [(f"v1.{m}.0-eksbuild.1", f"1.{m}", f"1.{m}") for m in range(28, 38)],
        "coredns": [("v1.11.4-eksbuild.2", "1.28", "1.33"), ("v1.12.2-eksbuild.1", "1.34", "1.37")],
        # Two for the same Kubernetes versions: a spec may pin the older one.
        "metrics-server": [("v0.7.2-eksbuild.1", "1.28", "1.37"), ("v0.8.0-eksbuild.1", "1.30", "1.37")],
    }
    return table.get(name, [("v1.0.0-eksbuild.1", "1.28", "1.37")])


# UpdateAddon refuses a VPC CNI move of more than one minor version, up or down: InvalidParameter
# "Updating VPC-CNI can only go up or down 1 minor version at a time" (as EKS answers it, quoted in
# awsdocs/amazon-eks-user-guide#672 and terraform-aws-eks#2749; the user guide: "you can only update
# one minor version at a time").
ONE_MINOR_AT_A_TIME = {"vpc-cni": "VPC-CNI"}


def _minor_jump(installed: str, wanted: str) -> int:
    def minor(version: str) -> tuple[int, int]:
        major, rest = version.lstrip("v").split("-", 1)[0].split(".")[:2]
        return int(major), int(rest)

    (a, b), (c, d) = minor(installed), minor(wanted)
    return abs((c - a) * 1000 + d - b)


def supports(name: str, version: str, kubernetes: str) -> bool:
    return any(v == version and _minor(lo) <= _minor(kubernetes) <= _minor(hi) for v, lo, hi in addon_versions(name))


def addon_version(name: str, kubernetes: str) -> str:
    """The version EKS installs when none is asked for: its default for the cluster's Kubernetes
    version (the newest that supports it)."""
    fitting = [v for v, lo, hi in addon_versions(name) if _minor(lo) <= _minor(kubernetes) <= _minor(hi)]
    return fitting[-1] if fitting else addon_versions(name)[-1][0]


def _addon_view(cluster: str, name: str, region: str, version: str) -> Obj:
    return {
        "addonName": name,
        "clusterName": cluster,
        "status": "ACTIVE",
        "addonVersion": version,
        "addonArn": f"arn:aws:eks:{region}:123456789012:addon/{cluster}/{name}/local",
        "health": {"issues": []},
        "tags": {},
    }


# EKS's tag rules (EKS User Guide, "Tag restrictions"): at most 50 tags on a resource, keys of
# 1..128 characters, values of at most 256, and no key beginning with aws: (AWS's own).
MAX_TAGS = 50


def _tags_problem(tags: dict[str, str]) -> str | None:
    if len(tags) > MAX_TAGS:
        return f"A resource can have at most {MAX_TAGS} tags; {len(tags)} given"
    for key, value in tags.items():
        if key.lower().startswith("aws:"):
            return f"Tag key {key} uses the reserved prefix aws:"
        if not 1 <= len(key) <= 128 or len(value) > 256:
            return f"Tag {key}: keys are 1..128 characters, values at most 256"
    return None


# EKS changes an add-on asynchronously: CreateAddon answers CREATING, UpdateAddon leaves it
# UPDATING and DeleteAddon DELETING until its workloads are applied or removed, and it refuses
# another change meanwhile with ResourceInUseException (409) — "Addon vpc-cni cannot be updated as
# it is currently in CREATING state", as eksctl and CDK users have met it.
_BUSY = ("CREATING", "UPDATING", "DELETING")


def _refuse_busy(cluster: EmulatedCluster, view: Obj, verb: str) -> None:
    if view["status"] in _BUSY:
        name = view["addonName"]
        raise ResourceInUseException(
            clusterName=cluster.name,
            nodegroupName=None,
            addonName=name,
            message=f"Addon {name} cannot be {verb} as it is currently in {view['status']} state",
        )


def _later(view: Obj, status: str, work: Callable[[], None]) -> None:
    """The add-on in `status` until `work` has run (settings.addon_delay from now), then ACTIVE."""

    def finish() -> None:
        try:
            work()
        except ApiError as exc:
            LOG.warning("add-on %s could not apply its objects: %s", view["addonName"], exc)
        if view["status"] == status:
            view["status"] = "ACTIVE"

    view["status"] = status
    delay = current().settings.addon_delay
    if delay <= 0:
        finish()
        return
    timer = threading.Timer(delay, finish)
    timer.daemon = True
    timer.start()


def _addon_of(arn: str) -> Obj | None:
    """The emulated add-on an ARN names (moto's EKS tags clusters only)."""
    for cluster in current().clusters.values():
        for addon in cluster.addons.values():
            if addon["addonArn"] == arn:
                return addon
    return None


def _unsupported(cluster: EmulatedCluster, addon: str) -> InvalidParameterException:
    return _invalid(f"Addon version specified is not supported for Kubernetes {cluster.version}", cluster.name, addon)


def _invalid(message: str, cluster: str, addon: str) -> InvalidParameterException:
    """EKS's InvalidParameterException (400), raised so that moto answers with its status."""
    return InvalidParameterException(clusterName=cluster, nodegroupName=None, addonName=addon, message=message)


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
            raise _invalid(str(exc), cluster.name, name) from None
        version = body.get("addonVersion") or addon_version(name, cluster.version)
        if not supports(name, version, cluster.version):
            raise _unsupported(cluster, name)
        tags = body.get("tags") or {}
        problem = _tags_problem(tags)
        if problem:
            raise _invalid(problem, cluster.name, name)
        cluster.addons[name] = _addon_view(cluster.name, name, cluster.region, version)
        cluster.addons[name]["tags"] = dict(tags)
        if body.get("configurationValues"):
            cluster.addons[name]["configurationValues"] = body["configurationValues"]
        _later(cluster.addons[name], "CREATING", lambda: install_addon(cluster, name, config, version))
        return 200, {}, json.dumps({"addon": cluster.addons[name]})

    def update_addon(self: Any) -> Any:
        """UpdateAddon: another version (one that supports the cluster's Kubernetes version) or
        configuration; the add-on's workloads are applied again with the new images."""
        cluster = _cluster(self)
        name = self.path.rstrip("/").split("/")[-2]
        if name not in cluster.addons:
            raise _not_found(cluster.name, f"No addon: {name} found in cluster: {cluster.name}", addon=name)
        body = json.loads(self.body or "{}")
        view = cluster.addons[name]
        version = body.get("addonVersion") or view["addonVersion"]
        if not supports(name, version, cluster.version):
            raise _unsupported(cluster, name)
        if name in ONE_MINOR_AT_A_TIME and _minor_jump(view["addonVersion"], version) > 1:
            raise _invalid(
                f"Updating {ONE_MINOR_AT_A_TIME[name]} can only go up or down 1 minor version at a time",
                cluster.name,
                name,
            )
        raw = body.get("configurationValues", view.get("configurationValues"))
        try:
            config = eks_addons.check_configuration(name, raw)
        except ValueError as exc:
            raise _invalid(str(exc), cluster.name, name) from None
        _refuse_busy(cluster, view, "updated")
        # DescribeAddon names the version asked for at once; the workloads move when the update ends.
        view.update(addonVersion=version, **({"configurationValues": raw} if raw else {}))
        _later(view, "UPDATING", lambda: install_addon(cluster, name, config, version))
        update = {"id": str(uuid.uuid4()), "status": "InProgress", "type": "AddonUpdate", "params": [
            {"type": "AddonVersion", "value": version}
        ], "errors": []}  # fmt: skip
        return 200, {}, json.dumps({"update": update})

    def delete_addon(self: Any) -> Any:
        """DeleteAddon: DELETING, then the add-on's workloads removed and the add-on gone."""
        cluster = _cluster(self)
        name = self.path.rstrip("/").split("/")[-1]
        view = cluster.addons.get(name)
        if view is None:
            raise _not_found(cluster.name, f"No addon: {name} found in cluster: {cluster.name}", addon=name)
        _refuse_busy(cluster, view, "deleted")
        config = eks_addons.check_configuration(name, view.get("configurationValues"))

        def remove() -> None:
            remove_addon(cluster, name, config, view["addonVersion"])
            cluster.addons.pop(name, None)

        _later(view, "DELETING", remove)
        return 200, {}, json.dumps({"addon": view})

    def describe_addon_versions(self: Any) -> Any:
        query = self.querystring or parse_qs(urlsplit(self.uri).query)  # moto parses the query string
        kubernetes = (query.get("kubernetesVersion") or [""])[0]
        names = query.get("addonName") or ["vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver", "metrics-server"]
        out = []
        for name in names:
            default = addon_version(name, kubernetes) if kubernetes else None
            versions = [
                {
                    "addonVersion": v,
                    "architecture": ["amd64", "arm64"],
                    "compatibilities": [
                        {"clusterVersion": f"1.{m}", "platformVersions": ["*"], "defaultVersion": v == default}
                        for m in range(_minor(lo)[1], _minor(hi)[1] + 1)
                        if not kubernetes or f"1.{m}" == kubernetes
                    ],
                    "requiresConfiguration": False,
                }
                for v, lo, hi in reversed(addon_versions(name))
                if not kubernetes or supports(name, v, kubernetes)
            ]
            out.append({"addonName": name, "type": "networking", "addonVersions": versions})
        return 200, {}, json.dumps({"addons": out})

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

    def _association_view(cluster: EmulatedCluster, a: Obj, *, full: bool) -> Obj:
        view = {
            "clusterName": cluster.name,
            "namespace": a["Namespace"],
            "serviceAccount": a["ServiceAccount"],
            "associationArn": a["associationArn"],
            "associationId": a["associationId"],
        }
        if full:
            view |= {"roleArn": a["RoleArn"], "tags": {t["Key"]: t["Value"] for t in a.get("Tags", [])}}
            view |= {"disableSessionTags": bool(a.get("DisableSessionTags", False))}
            if a.get("TargetRoleArn"):  # EKS Pod Identity's role chaining (another account's role)
                view |= {"targetRoleArn": a["TargetRoleArn"], "externalId": a["associationId"]}
        return view

    def list_pod_identity_associations(self: Any) -> Any:
        cluster = _cluster(self)
        namespace = self._get_param("namespace")
        found = [
            _association_view(cluster, a, full=False)
            for a in cluster.pod_identities.values()
            if namespace in (None, a["Namespace"])
        ]
        return 200, {}, json.dumps({"associations": sorted(found, key=lambda a: (a["namespace"], a["serviceAccount"]))})

    def describe_pod_identity_association(self: Any) -> Any:
        cluster = _cluster(self)
        association_id = self.path.rstrip("/").split("/")[-1]
        found = cluster.pod_identities.get(association_id)
        if found is None:
            raise _not_found(cluster.name, f"No association found for id: {association_id}")
        return 200, {}, json.dumps({"association": _association_view(cluster, found, full=True)})

    eks_responses.EKSResponse.list_pod_identity_associations = list_pod_identity_associations  # type: ignore[attr-defined]
    eks_responses.EKSResponse.describe_pod_identity_association = describe_pod_identity_association  # type: ignore[attr-defined]
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/pod-identity-associations$"] = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/pod-identity-associations/(?P<associationId>[^/]+)$"] = (
        eks_urls.response.dispatch
    )

    def list_identity_provider_configs(self: Any) -> Any:
        names = sorted(_cluster(self).identity_providers)
        return 200, {}, json.dumps({"identityProviderConfigs": [{"type": "oidc", "name": n} for n in names]})

    def describe_identity_provider_config(self: Any) -> Any:
        cluster = _cluster(self)
        wanted = str((json.loads(self.body or "{}").get("identityProviderConfig") or {}).get("name"))
        found = cluster.identity_providers.get(wanted)
        if found is None:
            raise _not_found(cluster.name, f"Identity provider config {wanted} not found")
        oidc = found.get("Oidc") or {}
        view = {k[0].lower() + k[1:]: v for k, v in oidc.items() if k != "RequiredClaims"}
        view |= {
            "identityProviderConfigName": found["IdentityProviderConfigName"],
            "identityProviderConfigArn": found["arn"],
            "clusterName": cluster.name,
            "requiredClaims": {c["Key"]: c["Value"] for c in oidc.get("RequiredClaims", [])},
            "tags": {t["Key"]: t["Value"] for t in found.get("Tags") or []},
            "status": "ACTIVE",
        }
        return 200, {}, json.dumps({"identityProviderConfig": {"oidc": view}})

    eks_responses.EKSResponse.list_identity_provider_configs = list_identity_provider_configs  # type: ignore[attr-defined]
    eks_responses.EKSResponse.describe_identity_provider_config = describe_identity_provider_config  # type: ignore[attr-defined]
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/identity-provider-configs$"] = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/identity-provider-configs/describe$"] = eks_urls.response.dispatch
    eks_responses.EKSResponse.list_access_entries = list_access_entries  # type: ignore[attr-defined]
    eks_responses.EKSResponse.describe_access_entry = describe_access_entry  # type: ignore[attr-defined]
    eks_responses.EKSResponse.list_associated_access_policies = list_associated_access_policies  # type: ignore[attr-defined]
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/access-entries$"] = eks_urls.response.dispatch
    # Routed on the decoded path, where the ARN's '/' is a separator: one rule for both reads
    # (the action is then chosen on the raw path).
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$"] = eks_urls.response.dispatch
    backend_tag, backend_untag, backend_list = (
        EKSBackend.tag_resource,
        EKSBackend.untag_resource,
        EKSBackend.list_tags_for_resource,
    )

    def tag_resource(self: Any, resource_arn: str, tags: dict[str, str]) -> None:
        addon = _addon_of(resource_arn)
        if addon is None:
            return backend_tag(self, resource_arn, tags)
        problem = _tags_problem({**addon["tags"], **tags})
        if problem:
            raise _invalid(problem, addon["clusterName"], addon["addonName"])
        addon["tags"].update(tags)
        return None

    def untag_resource(self: Any, resource_arn: str, tag_keys: list[str]) -> None:
        addon = _addon_of(resource_arn)
        if addon is None:
            return backend_untag(self, resource_arn, tag_keys)
        for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
            addon["tags"].pop(key, None)
        return None

    def list_tags_for_resource(self: Any, resource_arn: str) -> dict[str, str]:
        addon = _addon_of(resource_arn)
        return dict(addon["tags"]) if addon is not None else backend_list(self, resource_arn)

    EKSBackend.tag_resource = tag_resource  # type: ignore[method-assign]
    EKSBackend.untag_resource = untag_resource  # type: ignore[method-assign]
    EKSBackend.list_tags_for_resource = list_tags_for_resource  # type: ignore[method-assign]
    eks_responses.EKSResponse.create_addon = create_addon  # type: ignore[attr-defined]
    eks_responses.EKSResponse.list_addons = list_addons  # type: ignore[attr-defined]
    eks_responses.EKSResponse.describe_addon = describe_addon  # type: ignore[attr-defined]
    eks_responses.EKSResponse.update_addon = update_addon  # type: ignore[attr-defined]
    eks_responses.EKSResponse.delete_addon = delete_addon  # type: ignore[attr-defined]
    eks_responses.EKSResponse.describe_addon_versions = describe_addon_versions  # type: ignore[attr-defined]
    eks_urls.url_paths["{0}/addons/supported-versions$"] = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)/update$"] = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/addons$"] = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$"] = eks_urls.response.dispatch
