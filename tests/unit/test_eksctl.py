"""eksctl import: every real eksctl example either converts faithfully or names what it refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clusterdrop import facts
from clusterdrop.errors import SpecInvalid, UnsupportedFields
from clusterdrop.spec import eksctl, well_known
from clusterdrop.spec.loader import load
from clusterdrop.spec.source import load_spec
from tests.conftest import EKSCTL_FIXTURES, FIXTURES, REPO

# For each fixture: None when it converts, else eksctl paths that must be among the refused.
EXPECTED: dict[str, set[str] | None] = {
    "01-simple-cluster.yaml": None,
    "03-two-nodegroups.yaml": None,
    "05-advanced-nodegroups.yaml": {
        "nodeGroups[0].ami",
        "nodeGroups[0].amiFamily",
        "nodeGroups[0].iam.withAddonPolicies.autoScaler",
        "nodeGroups[1].targetGroupARNs",
        "nodeGroups[1].preBootstrapCommands",
        "nodeGroups[2].classicLoadBalancerNames",
        "nodeGroups[2].asgMetricsCollection",
    },
    "07-ssh-keys.yaml": {
        "nodeGroups[0].ssh.publicKeyPath",
        "nodeGroups[1].ssh.allow",
        "nodeGroups[3].ssh.publicKey",
        "nodeGroups[4].ssh.allow",
    },
    "09-nat-gateways.yaml": None,
    "11-cloudwatch-cluster-logging.yaml": None,
    # IRSA service accounts become Pod Identity associations, eksctl's well-known policies the
    # controllers' documented ones; two controllers publish none clusterdrop could follow.
    "13-iamserviceaccounts.yaml": {
        "iam.serviceAccounts[1].wellKnownPolicies.awsLoadBalancerController",
        "iam.serviceAccounts[7].wellKnownPolicies.imageBuilder",
    },
    "15-managed-nodes.yaml": {
        "managedNodeGroups[0].securityGroups",
        "managedNodeGroups[0].ssh.publicKeyPath",
        "managedNodeGroups[2].overrideBootstrapCommand",
        "managedNodeGroups[3].launchTemplate",
    },
    # A Pod Identity role's boundary maps; the cluster, Fargate and node roles' do not.
    "17-permissions-boundary.yaml": {
        "iam.serviceRolePermissionsBoundary",
        "iam.fargatePodExecutionRolePermissionsBoundary",
        "nodeGroups[0].iam.instanceRolePermissionsBoundary",
    },
    "19-kms-cluster.yaml": None,
    "23-kubeflow-spot-instance.yaml": {"nodeGroups[2].instancesDistribution"},
    # withOIDC is said on stderr (Pod Identity instead); Kubernetes 1.18 left EKS long ago.
    "25-addons.yaml": {"metadata.version"},
    "27-oidc-provider.yaml": None,
    "29-cluster-with-karpenter.yaml": {"karpenter"},
    "31-override-bootstrap-command-unmanaged-nodegroup.yaml": {"nodeGroups[0].overrideBootstrapCommand"},
    "33-local-zones.yaml": {"localZones", "nodeGroups[0].localZones"},
    # aws-auth mappings of principals become access entries; an account's or a service's do not.
    "35-iamidentitymappings.yaml": {"iamIdentityMappings[2].serviceName", "iamIdentityMappings[3].account"},
    "35-outposts.yaml": {"outpost"},
    "37-outposts-fully-private.yaml": {"outpost", "privateCluster"},
    # Every association maps: role names, boundaries, well-known policies; the add-on's tags too.
    "39-pod-identity-association.yaml": None,
    # Zonal shift maps (controlPlane.zonalShift); without node groups, a control plane alone.
    "41-zonal-shift.yaml": None,
    "43-hybrid-nodes.yaml": {"remoteNetworkConfig"},
    "45-upgrade-policy-example.yaml": None,
    # Auto Mode maps (computeMode: auto); EKS Capabilities do not.
    "47-auto-mode-with-ack-kro-capabilities.yaml": {"capabilities"},
    "49-control-plane-on-private-subnets.yaml": None,
}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in EKSCTL_FIXTURES) == sorted(EXPECTED)


@pytest.mark.parametrize("path", EKSCTL_FIXTURES, ids=lambda p: p.name)
def test_fixture_converts_or_names_what_it_refuses(path: Path) -> None:
    expected = EXPECTED[path.name]
    if expected is None:
        loaded = load_spec(path.read_bytes())
        assert loaded.source_format == "eksctl"
        assert loaded.dropped == []
        return
    with pytest.raises(UnsupportedFields) as info:
        load_spec(path.read_bytes())
    refused = {p.path for p in info.value.problems}
    assert expected <= refused
    # Every refusal points at the line of the field in the eksctl file.
    text = path.read_text().splitlines()
    for problem in info.value.problems:
        assert problem.line is not None
        field = problem.path.rsplit(".", 1)[-1].split("[")[0]
        assert field in text[problem.line - 1], (problem, text[problem.line - 1])


def test_simple_cluster_maps_faithfully() -> None:
    cluster = load_spec((FIXTURES / "eksctl" / "01-simple-cluster.yaml").read_bytes()).cluster
    spec = cluster.spec
    assert cluster.metadata.name == "cluster-1"
    assert spec.region == "eu-north-1"
    assert spec.kubernetes_version == facts.DEFAULT_KUBERNETES_VERSION
    assert spec.cni.name == "aws-vpc-cni"  # eksctl's default CNI, made explicit
    assert spec.network.vpc.cidr == eksctl.DEFAULT_VPC_CIDR
    assert spec.network.nat_gateways == "single"
    assert spec.network.topology == "public"  # privateNetworking defaults to false
    assert spec.control_plane.endpoint_access == "public-and-private"
    assert spec.control_plane.logging == ["audit", "authenticator", "controllerManager"]
    [group] = spec.node_groups
    assert (group.name, group.instance_types, group.desired_size) == ("ng-1", ["m5.large"], 1)
    assert (group.min_size, group.max_size, group.disk_size_gi_b) == (1, 1, eksctl.DEFAULT_VOLUME_GIB)


def test_nat_and_private_networking_map() -> None:
    spec = load_spec((FIXTURES / "eksctl" / "09-nat-gateways.yaml").read_bytes()).cluster.spec
    assert spec.network.nat_gateways == "per-zone"
    assert spec.network.topology == "private"
    assert spec.node_groups[0].desired_size == 2


def test_endpoints_and_zones_map() -> None:
    loaded = load_spec((FIXTURES / "eksctl" / "49-control-plane-on-private-subnets.yaml").read_bytes())
    spec = loaded.cluster.spec
    assert spec.network.zones == ["us-west-2a", "us-west-2b"]
    assert spec.control_plane.endpoint_access == "public-and-private"
    group = spec.node_groups[0]
    assert group.instance_types == [eksctl.DEFAULT_INSTANCE_TYPE]
    assert group.desired_size == eksctl.DEFAULT_DESIRED
    assert any("controlPlaneOnPrivateSubnets" in n for n in loaded.notes)


def test_allow_partial_keeps_what_maps_and_lists_what_was_dropped() -> None:
    raw = (FIXTURES / "eksctl" / "15-managed-nodes.yaml").read_bytes()
    conversion = eksctl.convert(load(raw))
    groups = {g["name"]: g for g in conversion.spec["spec"]["nodeGroups"]}
    public = groups["managed-ng-public"]
    assert (public["minSize"], public["desiredSize"], public["maxSize"]) == (2, 3, 4)
    assert public["zones"] == ["us-west-2a", "us-west-2b"]
    assert public["diskSizeGiB"] == 20
    assert public["labels"] == {"role": "worker"}
    assert public["taints"] == [
        {"key": "key1", "effect": "NoSchedule", "value": "value1"},
        {"key": "key2", "effect": "NoExecute"},
    ]
    assert public["tags"] == {"nodegroup-role": "worker"}
    assert public["updateConfig"] == {"maxUnavailable": 3}
    assert {p.path for p in conversion.unsupported} >= {
        "managedNodeGroups[0].iam.withAddonPolicies.externalDNS",
        "managedNodeGroups[0].iam.withAddonPolicies.certManager",
    }
    assert not {p.path for p in conversion.unsupported} & {
        "managedNodeGroups[0].tags",
        "managedNodeGroups[0].updateConfig",
    }


def test_taints_in_map_form_and_access_entries() -> None:
    raw = b"""
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: t, region: eu-west-1, version: "1.34", tags: {team: a}}
availabilityZones: [eu-west-1a, eu-west-1b]
vpc:
  id: vpc-0a1b2c3d
  subnets:
    private:
      eu-west-1a: {id: subnet-0a1b2c3d}
      eu-west-1b: {id: subnet-1a1b2c3d}
  clusterEndpoints: {publicAccess: false, privateAccess: true}
accessConfig:
  authenticationMode: API
  accessEntries:
    - principalARN: arn:aws:iam::123456789012:role/admin
      accessPolicies:
        - policyARN: arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy
          accessScope: {type: cluster}
managedNodeGroups:
  - name: ng
    instanceTypes: [m6g.large]
    spot: true
    privateNetworking: true
    taints: {dedicated: "db:NoSchedule", gpu: ":NoExecute"}
    ssh: {publicKeyName: ops}
  - name: system
    instanceTypes: [m6g.large]
    privateNetworking: true
addons:
  - name: aws-ebs-csi-driver
    wellKnownPolicies: {ebsCSIController: true}
"""
    loaded = load_spec(raw)
    spec = loaded.cluster.spec
    assert loaded.cluster.metadata.tags == {"team": "a"}
    assert spec.kubernetes_version == "1.34"
    assert spec.network.vpc.id == "vpc-0a1b2c3d"
    assert spec.network.vpc.subnets is not None
    assert [(s.id, s.zone) for s in spec.network.vpc.subnets.private] == [
        ("subnet-0a1b2c3d", "eu-west-1a"),
        ("subnet-1a1b2c3d", "eu-west-1b"),
    ]
    assert spec.control_plane.endpoint_access == "private"
    assert spec.control_plane.admins == ["arn:aws:iam::123456789012:role/admin"]
    group = spec.node_groups[0]
    assert group.capacity_type == "spot"
    assert group.ssh_key_name == "ops"
    assert [(t.key, t.value, t.effect) for t in group.taints] == [
        ("dedicated", "db", "NoSchedule"),
        ("gpu", None, "NoExecute"),
    ]
    assert spec.addons == ["ebs-csi", "pod-identity-agent"]  # the driver's role comes through Pod Identity


def test_converted_spec_that_is_invalid_names_native_paths() -> None:
    raw = (
        b"apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\n"
        b"metadata: {name: old, region: us-west-2}\nmanagedNodeGroups: [{name: Web_Nodes}]\n"
    )
    with pytest.raises(SpecInvalid) as info:
        load_spec(raw)
    [problem] = info.value.problems
    assert problem.path == "spec.nodeGroups[0].name"
    assert "converted spec" in problem.message


def test_volume_settings_map_to_the_groups_volume() -> None:
    text = (FIXTURES / "eksctl" / "01-simple-cluster.yaml").read_text()
    assert load_spec(text.encode()).cluster.spec.node_groups[0].volume is None
    key = "arn:aws:kms:eu-north-1:000000000000:key/00000000-0000-0000-0000-000000000000"
    settings = f"    volumeType: io2\n    volumeIOPS: 6000\n    volumeEncrypted: true\n    volumeKmsKeyID: {key}\n"
    with_volume = text.replace("    desiredCapacity: 1\n", "    desiredCapacity: 1\n" + settings, 1)
    volume = load_spec(with_volume.encode()).cluster.spec.node_groups[0].volume
    assert volume is not None
    assert (volume.type, volume.iops, volume.encrypted, volume.kms_key_id) == ("io2", 6000, True, key)
    plain = text.replace("    desiredCapacity: 1\n", "    desiredCapacity: 1\n    volumeType: gp2\n", 1)
    loaded = load_spec(plain.encode())
    gp2 = loaded.cluster.spec.node_groups[0].volume
    assert gp2 is not None
    assert (gp2.type, gp2.encrypted) == ("gp2", False)  # as eksctl leaves them, and said
    assert any("volumes not encrypted" in note for note in loaded.notes)


def test_bottlerocket_maps_and_its_settings_are_refused_by_name() -> None:
    text = (FIXTURES / "eksctl" / "01-simple-cluster.yaml").read_text()
    bottlerocket = text.replace("    desiredCapacity: 1\n", "    desiredCapacity: 1\n    amiFamily: Bottlerocket\n", 1)
    assert load_spec(bottlerocket.encode()).cluster.spec.node_groups[0].ami_family == "bottlerocket"
    tuned = bottlerocket.replace(
        "    amiFamily: Bottlerocket\n",
        "    amiFamily: Bottlerocket\n    bottlerocket:\n      enableAdminContainer: true\n",
    )
    with pytest.raises(UnsupportedFields, match="Bottlerocket settings are not supported"):
        load_spec(tuned.encode())
    with pytest.raises(
        UnsupportedFields, match="Ubuntu2204: clusterdrop node groups run Amazon Linux 2023 or Bottlerocket"
    ):
        load_spec(bottlerocket.replace("amiFamily: Bottlerocket", "amiFamily: Ubuntu2204").encode())


def test_pod_identity_associations_map_with_their_agent() -> None:
    text = (FIXTURES / "eksctl" / "01-simple-cluster.yaml").read_text()
    role = "arn:aws:iam::111122223333:role/role-1"
    with_identities = text + (
        "addons:\n  - name: eks-pod-identity-agent\n"
        "iam:\n  podIdentityAssociations:\n"
        f"  - namespace: default\n    serviceAccountName: s3-reader\n    roleARN: {role}\n"
        "  - namespace: dev\n    serviceAccountName: cache\n"
        "    permissionPolicyARNs: [arn:aws:iam::111122223333:policy/cache]\n"
    )
    spec = load_spec(with_identities.encode()).cluster.spec
    assert [(p.namespace, p.service_account, p.role_arn, p.policy_arns) for p in spec.pod_identities] == [
        ("default", "s3-reader", role, None),
        ("dev", "cache", None, ["arn:aws:iam::111122223333:policy/cache"]),
    ]
    assert spec.addons == ["pod-identity-agent"]


def test_zonal_shift_and_the_upgrade_policy_map_to_the_control_plane() -> None:
    spec = load_spec((FIXTURES / "eksctl" / "45-upgrade-policy-example.yaml").read_bytes()).cluster.spec
    assert spec.control_plane.support_type == "extended"
    kms = load_spec((FIXTURES / "eksctl" / "19-kms-cluster.yaml").read_bytes()).cluster.spec
    assert (
        kms.control_plane.secrets_key == "arn:aws:kms:us-west-2:000000000000:key/00000000-0000-0000-0000-000000000000"
    )
    text = (FIXTURES / "eksctl" / "41-zonal-shift.yaml").read_text()
    alone = load_spec(text.encode())
    assert (alone.cluster.spec.node_groups, alone.cluster.spec.cni.name) == ([], "aws-vpc-cni")
    # eksctl's default node groups are public: groups added later as eksctl writes them keep the
    # cluster's subnets (another topology would replace the EKS cluster).
    assert alone.cluster.spec.network.topology == "public"
    assert any("a control plane alone, as eksctl creates it" in n for n in alone.notes)
    with_nodes = text + "managedNodeGroups:\n  - name: ng\n    desiredCapacity: 2\n"
    assert load_spec(with_nodes.encode()).cluster.spec.control_plane.zonal_shift is True
    with pytest.raises(UnsupportedFields, match="unknown support type 'LTS'"):
        load_spec(
            with_nodes.replace("zonalShiftConfig", "upgradePolicy:\n  supportType: LTS\nzonalShiftConfig").encode()
        )


def test_node_repair_is_mapped_and_its_thresholds_refused_by_path() -> None:
    raw = b"""
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: t, region: eu-west-1, version: "1.34"}
managedNodeGroups:
  - name: mng
    nodeRepairConfig: {enabled: true}
  - name: tuned
    nodeRepairConfig: {enabled: true, maxUnhealthyNodeThresholdCount: 2}
"""
    conversion = eksctl.convert(load(raw))
    groups = {g["name"]: g for g in conversion.spec["spec"]["nodeGroups"]}
    assert groups["mng"]["nodeRepair"] == {"enabled": True}
    assert [p.path for p in conversion.unsupported] == [
        "managedNodeGroups[1].nodeRepairConfig.maxUnhealthyNodeThresholdCount"
    ]


def test_access_entries_with_other_policies_scopes_and_groups_map_to_access() -> None:
    raw = (
        (FIXTURES / "eksctl" / "01-simple-cluster.yaml").read_text()
        + """
accessConfig:
  accessEntries:
    - principalARN: arn:aws:iam::123456789012:role/admin
      accessPolicies:
        - policyARN: arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy
          accessScope: {type: cluster}
    - principalARN: arn:aws:iam::123456789012:role/dev
      kubernetesGroups: [developers]
      accessPolicies:
        - policyARN: arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy
          accessScope: {type: namespace, namespaces: [team-a, team-b]}
"""
    )
    spec = load_spec(raw.encode()).cluster.spec
    assert spec.control_plane.admins == ["arn:aws:iam::123456789012:role/admin"]
    [entry] = spec.access
    assert entry.principal == "arn:aws:iam::123456789012:role/dev"
    assert [(p.policy, p.namespaces) for p in entry.policies] == [("view", ["team-a", "team-b"])]
    assert entry.groups == ["developers"]
    odd = raw.replace("AmazonEKSViewPolicy", "AmazonEKSSecretReaderPolicy").replace(
        "      kubernetesGroups: [developers]\n", "      username: dev\n"
    )
    with pytest.raises(UnsupportedFields) as refused:
        load_spec(odd.encode())
    paths = {p.path for p in refused.value.problems}
    assert paths == {"accessConfig.accessEntries[1].accessPolicies[0].policyARN"}
    # A username is the entry's (for RBAC bindings to a user).
    named = load_spec(odd.replace("AmazonEKSSecretReaderPolicy", "AmazonEKSViewPolicy").encode()).cluster.spec
    assert named.access[0].username == "dev"


def test_log_types_and_their_retention_map_to_the_control_plane() -> None:
    spec = load_spec((FIXTURES / "eksctl" / "11-cloudwatch-cluster-logging.yaml").read_bytes()).cluster.spec
    assert spec.control_plane.logging == ["audit", "authenticator", "controllerManager"]
    assert spec.control_plane.log_retention_days == 60


def test_an_oidc_identity_provider_maps_field_by_field() -> None:
    spec = load_spec((FIXTURES / "eksctl" / "27-oidc-provider.yaml").read_bytes()).cluster.spec
    [provider] = spec.identity_providers
    assert (provider.name, provider.client_id, provider.username_claim) == (
        "cognito-user-pool-1",
        "10basodnbu3gs9b1bf9r566btu",
        "email",
    )
    assert provider.issuer_url == "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Ur78RxTra"


def test_auto_mode_maps_to_compute_mode_and_its_pools() -> None:
    text = (FIXTURES / "eksctl" / "47-auto-mode-with-ack-kro-capabilities.yaml").read_text()
    # The file without its capabilities, and with one of the two built-in pools.
    kept = text.split("capabilities:")[0].replace("  enabled: true\n", "  enabled: true\n  nodePools: [system]\n")
    spec = load_spec(kept.encode())
    assert (spec.cluster.spec.compute_mode, spec.cluster.spec.node_groups) == ("auto", [])
    assert spec.cluster.spec.node_pools == ["system"]
    assert spec.cluster.spec.cni.version is None


def test_irsa_service_accounts_become_pod_identity_associations() -> None:
    text = (FIXTURES / "eksctl" / "13-iamserviceaccounts.yaml").read_text()
    with pytest.raises(SpecInvalid) as info:  # the fixture's attachRoleARN names account "123"
        load_spec(text.encode(), allow_partial=True)
    assert "spec.podIdentities[8].roleArn" in {p.path for p in info.value.problems}
    fixed = text.replace("arn:aws:iam::123:role/", "arn:aws:iam::123456789012:role/")
    loaded = load_spec(fixed.encode(), allow_partial=True)
    by_account = {(p.namespace, p.service_account): p for p in loaded.cluster.spec.pod_identities}
    # The two whose only permissions were refused well-known policies are dropped with them.
    assert sorted(by_account) == [
        ("backend-apps", "cache-access"),
        ("backend-apps", "s3-reader"),
        ("cert-manager", "cert-manager"),
        ("default", "some-app"),
        ("kube-system", "autoscaler-service"),
        ("kube-system", "cluster-autoscaler"),
        ("kube-system", "ebs-csi-controller-sa"),
        ("kube-system", "efs-csi-controller-sa"),
        ("kube-system", "external-dns"),
    ]
    # Well-known policies: AWS's managed policy where AWS publishes one, else the controller's
    # documented statements, the autoscaler's writes scoped to this cluster's groups.
    assert by_account[("kube-system", "efs-csi-controller-sa")].policy_arns == [
        "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
    ]
    scaler = by_account[("kube-system", "cluster-autoscaler")].policy
    assert scaler is not None
    assert scaler["Statement"][1]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/cluster-13": "owned"}
    }
    dns = by_account[("kube-system", "external-dns")].policy
    assert dns is not None
    assert dns["Statement"][0]["Action"] == ["route53:ChangeResourceRecordSets"]
    reader = by_account[("backend-apps", "s3-reader")]
    assert (reader.create_service_account, reader.labels) == (True, {"aws-usage": "application"})
    assert reader.policy_arns == ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]
    inline = by_account[("kube-system", "autoscaler-service")].policy
    assert inline is not None
    assert inline["Statement"][0]["Resource"] == "*"
    assert by_account[("default", "some-app")].role_arn == "arn:aws:iam::123456789012:role/already-created-role-for-app"
    assert any(
        "iam.serviceAccounts: IRSA service accounts become EKS Pod Identity associations" in n for n in loaded.notes
    )


def test_pod_identity_extras_map_service_accounts_inline_policies_and_target_roles() -> None:
    text = (FIXTURES / "eksctl" / "39-pod-identity-association.yaml").read_text()
    identities = {
        (p.namespace, p.service_account): p
        for p in load_spec(text.encode(), allow_partial=True).cluster.spec.pod_identities
    }
    assert identities[("default", "s3-reader")].create_service_account is True
    assert identities[("dev", "nginx")].policy is not None
    chained = identities[("default", "cross-account-s3-reader")]
    assert (chained.target_role_arn, chained.disable_session_tags) == ("arn:aws:iam::444455556666:role/role-b", True)


def test_pod_identity_association_fixture_converts_whole() -> None:
    loaded = load_spec((FIXTURES / "eksctl" / "39-pod-identity-association.yaml").read_bytes())
    spec = loaded.cluster.spec
    identities = {(p.namespace, p.service_account): p for p in spec.pod_identities}
    cache = identities[("dev", "app-cache-access")]
    assert cache.role_name == "pod-identity-role-app-cache"
    assert cache.permissions_boundary_arn == "arn:aws:iam::111122223333:policy/permission-boundary"
    assert cache.policy_arns == [
        "arn:aws:iam::111122223333:policy/permission-policy-1",
        "arn:aws:iam::111122223333:policy/permission-policy-2",
    ]
    # autoScaler and externalDNS: the controllers' documented statements, in the inline policy.
    assert cache.policy is not None
    actions = {
        a
        for st in cache.policy["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert {"autoscaling:SetDesiredCapacity", "route53:ChangeResourceRecordSets"} <= actions
    assert identities[("default", "cross-account-s3-reader-b")].role_name == "pod-identity-role-cross-account"
    assert spec.addon_tags == {"pod-identity-agent": {"team": "eks"}}
    assert any("roleName: the role is made under the path /clusterdrop/" in n for n in loaded.notes)


def test_node_group_add_on_policies_become_the_add_on_or_are_refused_by_name() -> None:
    ebs = (
        "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: ebs, region: eu-west-1, version: '1.35'}\n"
        "managedNodeGroups:\n  - name: ng\n    iam:\n      withAddonPolicies:\n        ebs: true\n        xRay: false\n"
    )
    loaded = load_spec(ebs.encode())
    assert "ebs-csi" in loaded.cluster.spec.addons  # with its own Pod Identity role, not the node role's
    assert any("withAddonPolicies.ebs: the ebs-csi add-on" in n for n in loaded.notes)
    with pytest.raises(UnsupportedFields) as info:
        load_spec(ebs.replace("xRay: false", "autoScaler: true").encode())
    [problem] = info.value.problems
    assert problem.path.endswith("iam.withAddonPolicies.autoScaler")
    assert "clusterdrop installs no Cluster Autoscaler" in problem.message


def test_eksctl_add_on_versions_become_pins() -> None:
    text = (FIXTURES / "eksctl" / "01-simple-cluster.yaml").read_text()
    pinned = (
        text.rstrip()
        + "\naddons:\n  - {name: coredns, version: v1.12.2-eksbuild.1}\n  - {name: kube-proxy, version: latest}\n"
        + "  - {name: vpc-cni, version: v1.23.1-eksbuild.2, tags: {team: net}}\n"
    )
    spec = load_spec(pinned.encode()).cluster.spec
    # The VPC CNI is the EKS add-on vpc-cni: pinned and tagged as the others.
    assert spec.addon_versions == {"coredns": "v1.12.2-eksbuild.1", "vpc-cni": "v1.23.1-eksbuild.2"}
    assert spec.addon_tags == {"vpc-cni": {"team": "net"}}


def test_node_groups_placed_apart_and_instance_names_map() -> None:
    spec = load_spec((FIXTURES / "eksctl" / "03-two-nodegroups.yaml").read_bytes()).cluster.spec
    public, private = spec.node_groups
    assert spec.network.topology == "public"  # the first group's
    assert (public.topology, public.instance_name) == (None, "custom-node-name")
    assert private.topology == "private"  # privateNetworking: true, apart from the cluster's


def test_aws_auth_mappings_become_access_entries_as_eks_migrates_them() -> None:
    loaded = load_spec((FIXTURES / "eksctl" / "35-iamidentitymappings.yaml").read_bytes(), allow_partial=True)
    entries = {e.principal: e for e in loaded.cluster.spec.access}
    admin = entries["arn:aws:iam::000000000000:role/myAdminRole"]
    # system:masters, which no access entry may carry, is EKS's cluster-admin access policy.
    assert ([p.policy for p in admin.policies], admin.groups, admin.username) == (["cluster-admin"], [], "admin")
    user = entries["arn:aws:iam::000000000000:user/myUser"]
    assert (user.policies, user.username) == ([], "myUser")  # for RBAC bindings to the user
    assert sorted(p.path for p in loaded.dropped) == ["iamIdentityMappings[2].namespace",
                                                      "iamIdentityMappings[2].serviceName",
                                                      "iamIdentityMappings[3].account"]  # fmt: skip
    nodes = (
        "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: m, region: eu-west-1}\n"
        "managedNodeGroups: [{name: ng}]\niamIdentityMappings:\n"
        "  - {arn: 'arn:aws:iam::000000000000:role/nodes', groups: [system:bootstrappers, system:nodes]}\n"
    )
    with pytest.raises(UnsupportedFields, match="EKS refuses system: groups in access entries"):
        load_spec(nodes.encode())


def test_a_volume_key_by_id_and_the_control_plane_tier_convert() -> None:
    """eksctl's own examples give volumeKmsKeyID as a key ID (EBS takes an ID, an alias or an ARN;
    Plan resolves it), and controlPlaneScalingConfig is EKS Provisioned Control Plane's tier."""
    text = (FIXTURES / "eksctl" / "01-simple-cluster.yaml").read_text()
    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    settings = f"    volumeEncrypted: true\n    volumeKmsKeyID: {key_id}\n"
    text = text.replace("    desiredCapacity: 1\n", "    desiredCapacity: 1\n" + settings, 1)
    text += "controlPlaneScalingConfig:\n  tier: tier-xl\n"
    loaded = load_spec(text.encode())
    volume = loaded.cluster.spec.node_groups[0].volume
    assert volume is not None
    assert volume.kms_key_id == key_id
    assert loaded.cluster.spec.control_plane.scaling_tier == "tier-xl"
    for alias in ("alias/nodes", "arn:aws:kms:eu-north-1:000000000000:alias/nodes"):
        aliased = text.replace(key_id, alias)
        kms_key = load_spec(aliased.encode()).cluster.spec.node_groups[0].volume
        assert kms_key is not None
        assert kms_key.kms_key_id == alias
    with pytest.raises(SpecInvalid) as info:
        load_spec(text.replace(key_id, "nodes-key").encode())
    assert "a KMS key: its ID, an alias (alias/NAME), its ARN or an alias ARN" in str(info.value)
    with pytest.raises(UnsupportedFields) as refused:
        load_spec(text.replace("tier: tier-xl", "tier: tier-xl\n  burst: true").encode())
    assert [p.path for p in refused.value.problems] == ["controlPlaneScalingConfig.burst"]


# --- the mapping table: the docs' eksctl page, and what the converter does with each row ---------


def _converted(**top: Any) -> Any:
    import yaml

    data = {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": {"name": "table", "region": "eu-west-1"},
        "managedNodeGroups": [{"name": "ng"}],
        **top,
    }
    return eksctl.convert(load(yaml.safe_dump(data).encode()))


def test_the_docs_show_the_converters_own_table() -> None:
    page = (REPO / "docs" / "reference" / "eksctl.md").read_text()
    for field, becomes in eksctl.mapping_table():
        assert f"| `{field}` | {becomes} |" in page, field


def _refused_rows() -> list[tuple[dict[str, Any], str, str]]:
    """(the file's extra top-level fields, the refused path, its reason) for every refusal by name
    the table lists."""
    ng = "managedNodeGroups[0]"
    rows: list[tuple[dict[str, Any], str, str]] = [({k: {"x": 1}}, k, v) for k, v in eksctl.CLUSTER_REFUSED.items()]
    rows += [({"managedNodeGroups": [{"name": "ng", "ssh": {k: "x"}}]}, f"{ng}.ssh.{k}", v)
             for k, v in eksctl.SSH_REFUSED.items()]  # fmt: skip
    rows += [({"managedNodeGroups": [{"name": "ng", "iam": {k: "x"}}]}, f"{ng}.iam.{k}", eksctl.NODE_ROLE)
             for k in eksctl.ON_NODE_ROLE]  # fmt: skip
    rows += [
        ({"managedNodeGroups": [{"name": "ng", "iam": {"withAddonPolicies": {k: True}}}]},
         f"{ng}.iam.withAddonPolicies.{k}", f"clusterdrop installs no {what}")
        for k, what in eksctl._UNINSTALLED_ADDON_POLICIES.items()
    ]  # fmt: skip
    association = {"namespace": "n", "serviceAccountName": "s"}
    rows += [
        ({"iam": {"podIdentityAssociations": [{**association, "wellKnownPolicies": {k: True}}]}},
         f"iam.podIdentityAssociations[0].wellKnownPolicies.{k}", v)
        for k, v in well_known.REFUSED.items()
    ]  # fmt: skip
    return rows


@pytest.mark.parametrize(("top", "path", "reason"), _refused_rows(), ids=[r[1] for r in _refused_rows()])
def test_every_field_the_table_refuses_is_refused_with_its_reason(top: dict[str, Any], path: str, reason: str) -> None:
    said = {p.path: p.message for p in _converted(**top).unsupported}
    assert path in said, said
    assert reason in said[path]


def test_every_field_the_table_carries_arrives_where_it_says() -> None:
    value = {"any": "value"}  # copied as given: the spec's own validation judges it afterwards
    association = {"namespace": "n", "serviceAccountName": "s"}
    for key, target in eksctl.POD_IDENTITY_FIELDS.items():
        spec = _converted(iam={"podIdentityAssociations": [{**association, key: value}]}).spec["spec"]
        assert spec["podIdentities"][0][target] == value, key
    account = {"metadata": {"name": "s", "namespace": "n"}, "attachPolicyARNs": ["arn:aws:iam::aws:policy/P"]}
    for key, target in eksctl.IRSA_FIELDS.items():
        spec = _converted(iam={"serviceAccounts": [{**account, key: value}]}).spec["spec"]
        assert spec["podIdentities"][0][target] == value, key
    for key, target in eksctl.IDENTITY_PROVIDER_FIELDS.items():
        spec = _converted(identityProviders=[{"type": "oidc", key: value}]).spec["spec"]
        assert spec["identityProviders"][0][target] == value, key
    for key, target in eksctl.NODE_GROUP_FIELDS.items():
        spec = _converted(managedNodeGroups=[{"name": "ng", key: value}]).spec["spec"]
        assert spec["nodeGroups"][0][target] == value, key
    for name, addon in eksctl._ADDONS.items():
        assert addon in _converted(addons=[{"name": name}]).spec["spec"]["addons"]
    for gateway, mode in eksctl._NAT.items():
        assert _converted(vpc={"nat": {"gateway": gateway}}).spec["spec"]["network"]["natGateways"] == mode


def test_the_documented_well_known_flags_are_the_ones_spelled_out() -> None:
    flags = {*well_known.DOCUMENTED, *well_known.MANAGED, *well_known.REFUSED, "notAFlag"}
    assert {f for f in flags if well_known.statements(f, "c") is not None} == set(well_known.DOCUMENTED)
