"""Every official CNI manifest applied through clusterdrop's code to the emulated API, and the
catalog's digests guarding the way in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterdrop.cni import catalog, install, manifests
from clusterdrop.cni.fetch import DirectoryMirror, sha256, stage
from clusterdrop.errors import ArtifactDigestMismatch, ArtifactUnavailable
from clusterdrop.kube import readiness
from clusterdrop.kube.client import Kube
from clusterdrop.local.kubeapi import KubeApiServer
from tests.conftest import FIXTURES

CNI_FIXTURES = FIXTURES / "cni"
MIRROR = DirectoryMirror(CNI_FIXTURES)
PARAMS = manifests.Parameters(pod_cidr="10.244.0.0/16")


def _no_network(url: str) -> bytes:
    raise OSError(f"network unreachable ({url})")


def _subset(expected: Any, actual: Any) -> bool:
    """Everything the manifest says is in the served object (the server may add more)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _subset(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(map(_subset, expected, actual))
    return bool(expected == actual)


def _served(kube: Kube, obj: dict[str, Any]) -> dict[str, Any] | None:
    meta = obj["metadata"]
    return kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))


def test_catalog_digests_are_the_official_files() -> None:
    """The fixtures are the official release files; the catalog pins exactly their digests (a
    chart's rendered output is pinned too: tests/unit/test_cilium.py renders it)."""
    digests = {sha256(p.read_bytes()) for p in CNI_FIXTURES.iterdir()}
    artifacts = [a for r in catalog.CATALOG for arts in r.modes.values() for a in arts]
    pinned = {a.render.chart.sha256 if a.render else a.sha256 for a in artifacts}
    assert pinned <= digests


@pytest.mark.parametrize(
    ("name", "mode", "objects", "crds"),
    [
        ("calico", "manifest", 38, 23),
        ("calico", "operator", 32 + 7 + 4, 32),
        ("aws-vpc-cni", "manifest", 6, 1),
    ],
)
def test_apply_official_manifest(
    kube: Kube, kube_api: KubeApiServer, name: str, mode: str, objects: int, crds: int
) -> None:
    release = catalog.find(name, None)
    assert release is not None
    plan = install.prepare(release, mode, PARAMS, MIRROR, fetch=_no_network)
    assert len(plan.objects) == objects
    install.install(plan, kube.applier)
    assert plan.applied["CustomResourceDefinition"] == crds
    assert sum(plan.applied.values()) == objects
    for obj in plan.objects:
        served = _served(kube, obj)
        assert served is not None, obj["metadata"]
        assert _subset({k: v for k, v in obj.items() if k != "status"}, served), obj["metadata"]["name"]
    # Re-applying the same version changes nothing: not one resourceVersion moves.
    before = {json.dumps(o["metadata"]): _served(kube, o)["metadata"]["resourceVersion"] for o in plan.objects}  # type: ignore[index]
    install.install(plan, kube.applier)
    after = {json.dumps(o["metadata"]): _served(kube, o)["metadata"]["resourceVersion"] for o in plan.objects}  # type: ignore[index]
    assert before == after


def test_flannel_applies_to_its_own_namespace(kube: Kube) -> None:
    release = catalog.find("flannel", None)
    assert release is not None
    plan = install.prepare(release, "manifest", PARAMS, MIRROR, fetch=_no_network)
    install.install(plan, kube.applier)
    assert plan.applied["Namespace"] == 1
    ds = kube.get("apps/v1", "DaemonSet", "kube-flannel-ds", "kube-flannel")
    assert ds is not None
    assert kube.get("apps/v1", "DaemonSet", "kube-flannel-ds", "default") is None
    config = kube.get("v1", "ConfigMap", "kube-flannel-cfg", "kube-flannel")
    assert config is not None
    assert json.loads(config["data"]["net-conf.json"])["Network"] == "10.244.0.0/16"


def test_every_object_keeps_its_namespace(kube: Kube) -> None:
    release = catalog.find("calico", None)
    assert release is not None
    plan = install.prepare(release, "manifest", PARAMS, MIRROR, fetch=_no_network)
    install.install(plan, kube.applier)
    namespaced = [o for o in plan.objects if o["metadata"].get("namespace")]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"kube-system"}
    for obj in namespaced:
        assert kube.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], "default") is None


def test_largest_crd_goes_through(kube: Kube) -> None:
    release = catalog.find("calico", None)
    assert release is not None
    plan = install.prepare(release, "operator", PARAMS, MIRROR, fetch=_no_network)
    biggest = max(
        (o for o in plan.objects if o["kind"] == "CustomResourceDefinition"), key=lambda o: len(json.dumps(o))
    )
    assert len(json.dumps(biggest)) > 600_000
    install.install(plan, kube.applier)
    assert _served(kube, biggest) is not None


def test_calico_manifest_parameters_are_set_on_objects() -> None:
    release = catalog.find("calico", None)
    assert release is not None
    plan = install.prepare(release, "manifest", PARAMS, MIRROR, fetch=_no_network)
    node = next(o for o in plan.objects if o["kind"] == "DaemonSet")
    container = next(c for c in node["spec"]["template"]["spec"]["containers"] if c["name"] == "calico-node")
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CALICO_IPV4POOL_CIDR"] == "10.244.0.0/16"
    assert env["CALICO_IPV4POOL_VXLAN"] == "Always"
    assert env["CALICO_IPV4POOL_IPIP"] == "Never"
    assert env["FELIX_AWSSRCDSTCHECK"] == "Disable"
    assert sum(1 for e in container["env"] if e["name"] == "CALICO_IPV4POOL_CIDR") == 1


def test_calico_operator_installation_is_set_for_eks() -> None:
    release = catalog.find("calico", None)
    assert release is not None
    plan = install.prepare(release, "operator", PARAMS, MIRROR, fetch=_no_network)
    installation = next(o for o in plan.objects if o["kind"] == "Installation")
    spec = installation["spec"]
    assert spec["kubernetesProvider"] == "EKS"
    assert spec["cni"] == {"type": "Calico", "ipam": {"type": "Calico"}}
    assert spec["calicoNetwork"]["bgp"] == "Disabled"
    assert spec["calicoNetwork"]["ipPools"][0]["cidr"] == "10.244.0.0/16"
    assert spec["calicoNetwork"]["ipPools"][0]["encapsulation"] == "VXLAN"


def test_operator_resources_follow_the_crds(kube: Kube, kube_api: KubeApiServer) -> None:
    release = catalog.find("calico", None)
    assert release is not None
    plan = install.prepare(release, "operator", PARAMS, MIRROR, fetch=_no_network)
    install.install(plan, kube.applier)
    writes = [path for method, path in kube_api.request_log if method == "PATCH"]
    last_crd = max(i for i, p in enumerate(writes) if "customresourcedefinitions" in p)
    first_cr = min(i for i, p in enumerate(writes) if "/operator.tigera.io/" in p)
    assert last_crd < first_cr


def test_new_version_updates_in_place(kube: Kube) -> None:
    release = catalog.find("aws-vpc-cni", None)
    assert release is not None
    plan = install.prepare(release, "manifest", PARAMS, MIRROR, fetch=_no_network)
    install.install(plan, kube.applier)
    config = next(o for o in plan.objects if o["kind"] == "ConfigMap")
    old_keys = set(config.get("data", {}))
    newer = [dict(o) for o in plan.objects]
    changed = next(o for o in newer if o["kind"] == "ConfigMap")
    changed["data"] = {"only-this": "1"}
    kube.applier.apply(newer)
    served = _served(kube, config)
    assert served is not None
    assert served["data"] == {"only-this": "1"}
    assert "only-this" not in old_keys  # the keys of the old version are gone, not merged


def test_tampered_file_fails_on_its_digest(tmp_path: Path) -> None:
    source = CNI_FIXTURES / "calico-vxlan-v3.32.1.yaml"
    tampered = tmp_path / source.name
    tampered.write_bytes(source.read_bytes().replace(b"CALICO_IPV4POOL_VXLAN", b"CALICO_IPV4POOL_VXLAM", 1))
    release = catalog.find("calico", None)
    assert release is not None
    with pytest.raises(ArtifactDigestMismatch) as info:
        stage(release, "manifest", DirectoryMirror(tmp_path), fetch=_no_network)
    message = str(info.value)
    assert "calico-vxlan.yaml" in message
    assert release.modes["manifest"][0].sha256 in message
    assert sha256(tampered.read_bytes()) in message


def test_any_file_name_works_in_the_mirror(tmp_path: Path) -> None:
    shutil.copy(CNI_FIXTURES / "flannel-v0.28.9.yaml", tmp_path / "whatever.bin")
    release = catalog.find("flannel", None)
    assert release is not None
    [staged] = stage(release, "manifest", DirectoryMirror(tmp_path), fetch=_no_network)
    assert staged.source.endswith("whatever.bin")


def test_download_goes_into_the_mirror(tmp_path: Path) -> None:
    official = (CNI_FIXTURES / "flannel-v0.28.9.yaml").read_bytes()
    release = catalog.find("flannel", None)
    assert release is not None
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return official

    stage(release, "manifest", DirectoryMirror(tmp_path), fetch=fetch)
    assert fetched == [release.modes["manifest"][0].url]
    assert [sha256(p.read_bytes()) for p in tmp_path.iterdir()] == [release.modes["manifest"][0].sha256]
    stage(release, "manifest", DirectoryMirror(tmp_path), fetch=_no_network)  # now served by the mirror


def test_no_mirror_and_no_network_says_how_to_seed(tmp_path: Path) -> None:
    release = catalog.find("calico", None)
    assert release is not None
    with pytest.raises(ArtifactUnavailable) as info:
        stage(release, "manifest", DirectoryMirror(tmp_path / "empty"), fetch=_no_network)
    message = str(info.value)
    assert "Seed the mirror" in message
    assert release.modes["manifest"][0].url in message
    assert release.modes["manifest"][0].sha256 in message
    # The command that seeds this mirror, from a machine with internet access.
    assert f"`clusterdrop cni mirror calico --version {release.version} --dir {tmp_path / 'empty'}`" in message


def test_readiness_follows_the_workloads(kube: Kube, kube_api: KubeApiServer) -> None:
    release = catalog.find("calico", None)
    assert release is not None
    plan = install.prepare(release, "manifest", PARAMS, MIRROR, fetch=_no_network)
    install.install(plan, kube.applier)
    verdicts = readiness.cni_verdicts(plan, kube)
    assert set(verdicts) == {"DaemonSet kube-system/calico-node", "Deployment kube-system/calico-kube-controllers"}
    assert not readiness.all_ready(verdicts)
    from clusterdrop.local.kubeapi import controllers

    controllers.attach(kube_api.store)
    install.install(plan, kube.applier)  # a no-op write: the controllers only react to changes
    assert not readiness.all_ready(readiness.cni_verdicts(plan, kube))
    for kind, name in (("DaemonSet", "calico-node"), ("Deployment", "calico-kube-controllers")):
        kube.merge_patch("apps/v1", kind, name, {"spec": {"minReadySeconds": 1}}, "kube-system")
    assert readiness.all_ready(readiness.cni_verdicts(plan, kube))


def test_manifest_documents_must_be_objects() -> None:
    with pytest.raises(Exception, match="without apiVersion and kind"):
        manifests.parse(yaml.safe_dump({"just": "data"}).encode(), "x.yaml")
