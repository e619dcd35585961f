"""Cilium from its official Helm chart: the chart pinned by digest, each structural choice
rendered reproducibly (the output's digest pinned too), no private key in what is rendered, a
tampered archive refused by name, and no rendering where the engine is not (a Lambda)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clusterdrop.cni import catalog, fetch, manifests
from clusterdrop.errors import ArtifactDigestMismatch, ArtifactUnavailable, KubernetesOperationFailed
from tests.conftest import FIXTURES

CILIUM = catalog.releases("cilium")


def _chart_only(tmp_path: Path, version: str) -> fetch.DirectoryMirror:
    """A mirror holding the official chart archive and nothing rendered yet."""
    shutil.copy(FIXTURES / "cni" / f"cilium-{version}.tgz", tmp_path)
    return fetch.DirectoryMirror(tmp_path)


def test_the_catalog_pins_both_releases_by_the_charts_published_digests() -> None:
    assert [r.version for r in CILIUM] == ["1.18.12", "1.19.6"]
    for release in CILIUM:
        charts = {a.render.chart for arts in release.modes.values() for a in arts if a.render}
        [chart] = charts
        assert chart.url == f"https://helm.cilium.io/cilium-{release.version}.tgz"
        assert fetch.sha256((FIXTURES / "cni" / chart.name).read_bytes()) == chart.sha256
        assert sorted(release.modes) == ["eni", "eni-kpr", "overlay", "overlay-kpr"]


@pytest.mark.parametrize(("version", "mode"), [(r.version, m) for r in CILIUM for m in r.modes], ids=lambda v: str(v))
def test_rendering_the_pinned_chart_gives_the_pinned_bytes_and_no_private_key(
    tmp_path: Path, version: str, mode: str
) -> None:
    release = catalog.find("cilium", version)
    assert release is not None
    mirror = _chart_only(tmp_path, version)
    [staged] = fetch.stage(release, mode, mirror)
    assert fetch.sha256(staged.data) == staged.artifact.sha256  # stage checks it; said here too
    assert staged.source.endswith("rendered by helm-python-sdk")
    # Kept in the mirror: the next stage finds the rendered file by its digest.
    assert fetch.stage(release, mode, mirror)[0].source.endswith(f"{staged.artifact.sha256}-{staged.artifact.name}")
    objects = manifests.parse(staged.data, staged.artifact.name)
    assert b"PRIVATE KEY" not in staged.data
    assert not [o for o in objects if o["kind"] == "Secret" and (o.get("data") or o.get("stringData"))]
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "cilium-config")
    assert config["data"]["ipam"] == ("eni" if mode.startswith("eni") else "cluster-pool")
    assert config["data"]["kube-proxy-replacement"] == ("true" if mode.endswith("-kpr") else "false")
    images = [c["image"] for o in objects if o["kind"] in ("DaemonSet", "Deployment")
              for c in o["spec"]["template"]["spec"]["containers"]]  # fmt: skip
    assert images
    assert all("@sha256:" in i for i in images)  # the chart pins every image by digest


def test_a_tampered_chart_archive_is_refused_naming_the_file(tmp_path: Path) -> None:
    release = catalog.find("cilium", "1.19.6")
    assert release is not None
    mirror = _chart_only(tmp_path, "1.19.6")
    archive = tmp_path / "cilium-1.19.6.tgz"
    archive.write_bytes(archive.read_bytes() + b"\0")
    with pytest.raises(ArtifactDigestMismatch) as refused:
        fetch.stage(release, "eni", mirror, fetch=lambda url: pytest.fail(f"no download expected: {url}"))
    assert refused.value.artifact == "cilium-1.19.6.tgz"
    assert refused.value.source == str(archive)
    assert [p.name for p in tmp_path.iterdir()] == ["cilium-1.19.6.tgz"]  # nothing rendered from it


def test_a_lambda_never_renders_it_finds_the_output_in_the_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = catalog.find("cilium", "1.19.6")
    assert release is not None
    mirror = _chart_only(tmp_path, "1.19.6")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "clusterdrop-connect")
    with pytest.raises(ArtifactUnavailable, match=r"clusterdrop cni mirror cilium --version 1\.19\.6"):
        fetch.stage(release, "overlay", mirror)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    fetch.stage(release, "overlay", mirror)  # rendered on a person's machine, into the mirror
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "clusterdrop-connect")
    assert fetch.stage(release, "overlay", mirror)[0].artifact.name == "cilium-1.19.6-overlay.yaml"


def test_the_clusters_own_values_are_patched_on_the_parsed_objects(tmp_path: Path) -> None:
    release = catalog.find("cilium", "1.19.6")
    assert release is not None
    [staged] = fetch.stage(release, "overlay-kpr", _chart_only(tmp_path, "1.19.6"))
    objects = manifests.parse(staged.data, staged.artifact.name)
    params = manifests.Parameters(
        pod_cidr="10.48.0.0/16", cluster_name="demo", api_host="ABC.gr7.eu-west-1.eks.amazonaws.com", nodes=1
    )
    patched = manifests.patch("cilium", "overlay-kpr", objects, params)
    config = next(o for o in patched if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "cilium-config")
    assert (config["data"]["cluster-name"], config["data"]["cluster-pool-ipv4-cidr"]) == ("demo", "10.48.0.0/16")
    hosts = {
        e["value"]
        for o in patched if o["kind"] in ("DaemonSet", "Deployment")
        for c in [*o["spec"]["template"]["spec"].get("initContainers", []), *o["spec"]["template"]["spec"]["containers"]]
        for e in c.get("env") or [] if e["name"] == "KUBERNETES_SERVICE_HOST"
    }  # fmt: skip
    assert hosts == {"ABC.gr7.eu-west-1.eks.amazonaws.com"}
    operator = next(o for o in patched if o["kind"] == "Deployment" and o["metadata"]["name"] == "cilium-operator")
    assert operator["spec"]["replicas"] == 1  # one node: the second replica would never be placed
    with pytest.raises(KubernetesOperationFailed, match="needs the cluster's API server host"):
        manifests.patch("cilium", "overlay-kpr", objects, manifests.Parameters(pod_cidr=None))


def test_the_operators_policy_is_the_pinned_releases_documented_list() -> None:
    """Review finding: without ec2:DescribeRouteTables (Cilium 1.18+'s route-table-aware subnet
    selection) the operator's first resync fails and no pod gets an address."""
    from clusterdrop.render.cluster import cilium_eni_policy
    from clusterdrop.spec.source import load_spec
    from tests.conftest import REPO

    cluster = load_spec((REPO / "examples" / "cilium.yaml").read_bytes()).cluster
    [statement] = cilium_eni_policy(cluster)["Statement"]
    release = cluster.spec.cni.release()
    assert statement["Action"] == list(release.operator_privileges)
    assert {"ec2:DescribeRouteTables", "ec2:DescribeInstanceTypes", "ec2:AssignPrivateIpAddresses"} <= set(
        statement["Action"]
    )
    assert release.privileges_source.endswith("/network/concepts/ipam/eni/")


@pytest.mark.parametrize("version", ["1.18.12", "1.19.6"])
def test_the_cluster_name_limit_is_the_charts_and_the_emulators(version: str) -> None:
    """Three copies of one fact: the catalog's, the emulated agent's, and the chart's own check."""
    import tarfile

    from clusterdrop.local.kubeapi import workloads

    release = catalog.find("cilium", version)
    assert release is not None
    with tarfile.open(FIXTURES / "cni" / f"cilium-{version}.tgz") as chart:
        member = chart.extractfile("cilium/templates/validate.yaml")
        assert member is not None
        check = member.read().decode()
    assert f"gt (len .Values.cluster.name) {release.cluster_name_max}" in check
    assert release.cluster_name_max == workloads.CILIUM_NAME_MAX


def test_a_cilium_cluster_name_over_32_characters_is_refused_naming_the_field() -> None:
    from clusterdrop.errors import SpecInvalid
    from clusterdrop.spec.source import load_spec
    from tests.conftest import REPO

    text = (REPO / "examples" / "cilium.yaml").read_text()
    name = load_spec(text.encode()).cluster.metadata.name
    long = "c" * 33
    with pytest.raises(SpecInvalid, match=r"metadata\.name: cilium .* refuses one over 32 characters"):
        load_spec(text.replace(f"name: {name}\n", f"name: {long}\n", 1).encode())
    load_spec(text.replace(f"name: {name}\n", f"name: {'c' * 32}\n", 1).encode())
