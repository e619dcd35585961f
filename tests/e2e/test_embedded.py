"""End to end in the embedded mode: the synthesized CDK app deployed into moto, the real handlers,
the real state machines, an emulated EKS with its Kubernetes API and simulated nodes."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clusterdrop.aws import intake
from clusterdrop.kube.nodes import NODEGROUP_LABEL
from clusterdrop.local import session
from clusterdrop.local.aws import ADMIN_ARN
from tests.conftest import REPO, pod_identities
from tests.conftest import until as wait_until

QUICKSTART = (REPO / "examples" / "quickstart.yaml").read_text()


def _spec(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _run(
    local: session.LocalDeployer, spec: Path, *, plan: bool = False, progress: io.StringIO | None = None
) -> dict[str, Any]:
    return session.run(local, spec, progress or io.StringIO(), plan=plan)


def _run_with_faults(
    local: session.LocalDeployer, spec: Path, *faults: str, progress: io.StringIO | None = None
) -> dict[str, Any]:
    """A run with faults injected into the embedded AWS, removed again whatever happens."""
    local.aws.eks.settings.faults.update(faults)
    try:
        return _run(local, spec, progress=progress)
    finally:
        local.aws.eks.settings.faults.difference_update(faults)


def _eks_agrees_with_the_cluster(local: session.LocalDeployer, name: str, *, desired: int) -> None:
    """What the EKS API reports is what the stacks set and what the cluster's API shows."""
    from kubernetes import client as kube_client

    from clusterdrop.kube.connect import for_eks

    eks = local.aws.client("eks")
    cluster = eks.describe_cluster(name=name)["cluster"]
    ca = cluster["certificateAuthority"]["data"]  # an HTTPS endpoint, as EKS's, with its authority
    api_client = for_eks(cluster["endpoint"], ca, name, local.aws.region, local.aws.session().get_credentials())
    served = kube_client.VersionApi(api_client).get_code()
    assert f"{served.major}.{served.minor}" == f"{cluster['version']}+"  # EKS's form: "1.35+"
    [group_name] = eks.list_nodegroups(clusterName=name)["nodegroups"]
    group = eks.describe_nodegroup(clusterName=name, nodegroupName=group_name)["nodegroup"]
    assert group["version"] == cluster["version"]
    assert group["releaseVersion"].startswith(cluster["version"] + ".")
    assert group["scalingConfig"]["desiredSize"] == desired
    core: Any = kube_client.CoreV1Api(api_client)
    nodes = core.list_node().items
    assert len(nodes) == desired
    region = cluster["arn"].split(":")[3]
    ec2 = local.aws.client("ec2")
    for node in nodes:
        zone = node.metadata.labels["topology.kubernetes.io/zone"]
        assert zone.startswith(region)
        assert node.status.node_info.kubelet_version.startswith(f"v{cluster['version']}.")
        assert node.status.allocatable["pods"] == "17"  # t3.medium under the VPC CNI
        # The node is its EC2 instance: the cloud provider's ID names it, in its zone, and the
        # node's name and address are the instance's private DNS name and address.
        prefix, instance_id = node.spec.provider_id.rsplit("/", 1)
        assert prefix == f"aws:///{zone}"
        [[instance]] = [r["Instances"] for r in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]]
        assert instance["Placement"]["AvailabilityZone"] == zone
        assert {"Key": "eks:cluster-name", "Value": name} in instance["Tags"]
        internal = [a.address for a in node.status.addresses if a.type == "InternalIP"]
        assert internal == [instance["PrivateIpAddress"]]
        assert node.metadata.name == f"ip-{instance['PrivateIpAddress'].replace('.', '-')}.{region}.compute.internal"
    assert sorted(eks.list_addons(clusterName=name)["addons"]) == ["coredns", "kube-proxy", "vpc-cni"]
    apps: Any = kube_client.AppsV1Api(api_client)
    coredns = apps.read_namespaced_deployment("coredns", "kube-system")
    assert coredns.status.available_replicas == coredns.spec.replicas == 2


def test_create_update_plan_delete(local: session.LocalDeployer, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "quickstart", QUICKSTART)
    created = _run(local, spec)
    assert created["status"] == "SUCCEEDED", (created["notifications"]["sns"] or {}).get("text")
    assert created["nodes"] == {"expected": 2, "registered": 2, "ready": 2}
    sns = created["notifications"]["sns"]
    assert sns["outcome"]["outcome"] == "SUCCEEDED"
    assert sns["outcome"]["action"] == "create"
    assert sns["outcome"]["nodes"] == {"workers": {"ready": 2, "desired": 2}}
    assert "Nodes Ready:" in sns["text"]
    assert created["notifications"]["slack"]["text"] == "[clusterdrop] quickstart: create succeeded"
    names = [s["name"] for s in created["steps"]]
    assert names[:3] == ["Validate spec", "Take cluster lock", "Plan"]
    assert "Wait for nodes Ready" in names
    assert "Superseded?" not in names  # plumbing is not a step
    table = local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(local.deployer.clusters_table)
    assert table.get_item(Key={"cluster": "quickstart"})["Item"]["status"] == "ACTIVE"
    # Who may use the cluster: the agent's role and the deployer's clusterAdmins (the embedded
    # administrator), each with the cluster-admin access policy (aws eks …).
    eks = local.aws.client("eks")
    entries = eks.list_access_entries(clusterName="quickstart")["accessEntries"]
    [agent] = [e for e in entries if ":role/" in e]
    assert sorted(entries) == sorted([agent, ADMIN_ARN])
    entry = eks.describe_access_entry(clusterName="quickstart", principalArn=agent)["accessEntry"]
    assert (entry["type"], entry["principalArn"]) == ("STANDARD", agent)
    policies = eks.list_associated_access_policies(clusterName="quickstart", principalArn=agent)
    assert [
        (p["policyArn"].rsplit("/", 1)[1], p["accessScope"]["type"]) for p in policies["associatedAccessPolicies"]
    ] == [("AmazonEKSClusterAdminPolicy", "cluster")]
    _eks_agrees_with_the_cluster(local, "quickstart", desired=2)
    _only_access_entries_reach_the_api(local, "quickstart")
    api = local.aws.eks.clusters["quickstart"].api
    assert api.refused >= 1, "the new cluster's 401 window was met (and survived)"

    # A plan: the notification lists the change, nothing changes.
    scaled = _spec(tmp_path, "quickstart", QUICKSTART.replace("desiredSize: 2", "desiredSize: 3"))
    planned = _run(local, scaled, plan=True)
    assert planned["status"] == "SUCCEEDED"
    outcome = planned["notifications"]["sns"]["outcome"]
    assert (outcome["action"], outcome["outcome"]) == ("plan", "PLANNED")
    changed = {c["stack"]: c for c in outcome["changes"] if any(c["counts"].values())}
    assert list(changed) == ["clusterdrop-quickstart-ng-workers"]  # the cluster stack: no change
    assert [
        (r["action"], r["logical_id"], r["replacement"])
        for r in changed["clusterdrop-quickstart-ng-workers"]["changes"]
    ] == [
        ("Modify", "NodeGroup", "False")  # scaled in place, not replaced
    ]
    assert local.aws.eks.clusters["quickstart"].nodegroups["workers"]["desired"] == 2

    # An update of every in-place kind at once: the node group grows and gets labels and a taint,
    # the control plane logs and its public endpoint narrows, every resource gets a tag — and EKS
    # and the nodes report each, not only the stacks.
    created = eks.describe_cluster(name="quickstart")["cluster"]
    assert created["controlPlaneScalingConfig"] == {"tier": "standard"}
    assert created["zonalShiftConfig"] == {"enabled": False}  # EKS's defaults for a new cluster
    assert created["upgradePolicy"] == {"supportType": "EXTENDED"}
    assert eks.describe_cluster(name="quickstart")["cluster"]["logging"]["clusterLogging"] == [
        {"types": ["api", "audit", "authenticator", "controllerManager", "scheduler"], "enabled": False}
    ]
    in_place = (
        scaled.read_text()
        .replace("  name: quickstart\n", "  name: quickstart\n  tags: {team: platform}\n")
        .replace(
            "  region: eu-west-1\n",
            "  region: eu-west-1\n  controlPlane:\n    logging: [api, audit]\n    adminCidrs: [203.0.113.0/24]\n"
            "    scalingTier: tier-xl\n    zonalShift: true\n    supportType: standard\n"
            "  addonTags: {coredns: {owner: dns}}\n",
        )
        .replace(
            "      maxSize: 4\n",
            "      maxSize: 4\n      labels: {tier: web}\n      taints: [{key: dedicated, value: web, effect: PreferNoSchedule}]\n",
        )
    )
    updated = _run(local, _spec(tmp_path, "quickstart", in_place))
    assert updated["status"] == "SUCCEEDED", (updated["notifications"]["sns"] or {}).get("text")
    assert updated["notifications"]["sns"]["outcome"]["action"] == "update"
    assert updated["nodes"]["ready"] == 3
    _eks_agrees_with_the_cluster(local, "quickstart", desired=3)
    described = eks.describe_cluster(name="quickstart")["cluster"]
    assert described["logging"]["clusterLogging"][0] == {"types": ["api", "audit"], "enabled": True}
    assert described["resourcesVpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert described["controlPlaneScalingConfig"] == {"tier": "tier-xl"}  # was EKS's standard
    assert described["zonalShiftConfig"] == {"enabled": True}
    assert described["upgradePolicy"] == {"supportType": "STANDARD"}
    assert described["tags"]["team"] == "platform"
    # The add-ons carry the cluster's new tags, and CoreDNS its own beside them.
    addon_tags = {
        a: eks.describe_addon(clusterName="quickstart", addonName=a)["addon"]["tags"] for a in ("coredns", "kube-proxy")
    }
    assert (addon_tags["coredns"]["team"], addon_tags["coredns"]["owner"]) == ("platform", "dns")
    assert addon_tags["kube-proxy"]["team"] == "platform"
    assert "owner" not in addon_tags["kube-proxy"]
    group = eks.describe_nodegroup(clusterName="quickstart", nodegroupName="workers")["nodegroup"]
    assert group["labels"] == {"tier": "web"}
    assert group["taints"] == [{"key": "dedicated", "value": "web", "effect": "PREFER_NO_SCHEDULE"}]
    assert group["tags"]["team"] == "platform"
    for node in local.aws.eks.clusters["quickstart"].api.store.objects[("", "nodes")].values():
        assert node["metadata"]["labels"]["tier"] == "web"
        assert {"key": "dedicated", "value": "web", "effect": "PreferNoSchedule"} in node["spec"]["taints"]

    # Logging on, EKS made the log group (keeping the logs forever): a retention set now is refused
    # at Plan — CloudFormation cannot make a group that exists — naming it and how to set one instead.
    logs = local.aws.client("logs")
    retained = in_place.replace("    logging: [api, audit]\n", "    logging: [api, audit]\n    logRetentionDays: 30\n")
    refused_retention = _run(local, _spec(tmp_path, "quickstart", retained), plan=True)
    assert refused_retention["status"] == "FAILED"
    failure = refused_retention["notifications"]["sns"]["outcome"]["failure"]
    assert (failure["step"], refused_retention["code"]) == ("Plan", "ERR_INVALID_SPEC")
    assert "the log group /aws/eks/quickstart/cluster exists already" in failure["cause"]
    [made] = logs.describe_log_groups(logGroupNamePrefix="/aws/eks/quickstart/")["logGroups"]
    assert "retentionInDays" not in made

    # Guardrails set by the platform team (here as `cdk deploy -c guardrails=…` would, by the
    # function's configuration): a spec within them applies; one that would scale the cluster past
    # maxNodesPerCluster is refused at Validate spec, the cluster left as it was.
    with _guardrails(
        local, {"maxNodesPerCluster": 4, "allowedInstanceTypes": ["t3.*"], "requiredTags": {"team": None}}
    ):
        within = _run(local, _spec(tmp_path, "quickstart", in_place))
        assert within["status"] == "SUCCEEDED", (within["notifications"]["sns"] or {}).get("text")
        beyond = _run(
            local,
            _spec(
                tmp_path,
                "quickstart",
                in_place.replace("desiredSize: 3", "desiredSize: 5").replace("maxSize: 4", "maxSize: 6"),
            ),
        )
        assert beyond["status"] == "FAILED"
        failure = beyond["notifications"]["sns"]["outcome"]["failure"]
        assert (failure["step"], failure["error"], beyond["code"]) == (
            "Validate spec",
            "PolicyRefused",
            "ERR_POLICY_REFUSED",
        )
        assert (
            "spec.nodeGroups: up to 6 nodes (the groups' maxSize); at most 4 per cluster (guardrail maxNodesPerCluster)"
            in failure["cause"]
        )
        assert local.aws.eks.clusters["quickstart"].nodegroups["workers"]["desired"] == 3
        assert table.get_item(Key={"cluster": "quickstart"})["Item"]["lastFailure"]["code"] == "ERR_POLICY_REFUSED"
    # Another team's prefix cannot take the cluster over.
    other = session.run(local, _spec(tmp_path, "quickstart", in_place), io.StringIO(), team="web")
    assert other["status"] == "FAILED"
    assert (
        "cluster 'quickstart' belongs to clusters/quickstart.yaml; a spec under clusters/web/ cannot change"
        in (other["notifications"]["sns"]["outcome"]["failure"]["cause"])
    )
    # Nor delete it: the delete marker on its key starts a teardown that refuses, the cluster stays.
    from clusterdrop import ops

    before_web = datetime.now(UTC) - timedelta(seconds=1)
    local.aws.client("s3").delete_object(Bucket=local.deployer.spec_bucket, Key="clusters/web/quickstart.yaml")
    sfn = local.aws.client("stepfunctions")
    watched = ops.watch(
        sfn, local.deployer, "quickstart", io.StringIO(), poll=0.3, started_after=before_web, timeout=300
    )
    assert watched == "FAILED"
    refused = json.loads(local.notifications()[-1]["Message"])["outcome"]
    assert (refused["action"], refused["failure"]["step"]) == ("delete", "Read last applied spec")
    assert "a spec under clusters/web/ cannot change or delete it" in refused["failure"]["cause"]
    assert table.get_item(Key={"cluster": "quickstart"})["Item"]["status"] == "ACTIVE"

    # Delete: the teardown leaves nothing of the cluster.
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert ops.delete(local.aws.client("s3"), local.deployer, "quickstart") is not None
    sfn = local.aws.client("stepfunctions")
    final = ops.watch(sfn, local.deployer, "quickstart", io.StringIO(), poll=0.3, started_after=before, timeout=300)
    assert final == "SUCCEEDED"
    assert ops.newest_execution(sfn, local.deployer, "quickstart")["name"].startswith("teardown-quickstart-")  # type: ignore[index]
    assert local.leftovers("quickstart") == []
    assert table.get_item(Key={"cluster": "quickstart"})["Item"]["status"] == "DELETED"
    deleted = json.loads(local.notifications()[-1]["Message"])["outcome"]
    assert (deleted["action"], deleted["outcome"]) == ("delete", "SUCCEEDED")


ROLLING = """\
apiVersion: clusterdrop.io/v1alpha1
kind: Cluster
metadata:
  name: rolling
spec:
  region: eu-west-1
  network:
    podCidr: 10.48.0.0/16
  cni:
    name: calico
    version: v3.32.1
    mode: manifest
  nodeGroups:
    - name: apps
      instanceTypes: [t3.medium]
      desiredSize: 2
    - name: system
      instanceTypes: [t3.medium]
      desiredSize: 1
"""


def _kubelets(local: session.LocalDeployer, cluster: str) -> dict[str, list[str]]:
    """Each node group's kubelet versions, as its nodes report them."""
    out: dict[str, list[str]] = {}
    for node in local.aws.eks.clusters[cluster].api.store.objects[("", "nodes")].values():
        group = node["metadata"]["labels"][NODEGROUP_LABEL]
        out.setdefault(group, []).append(node["status"]["nodeInfo"]["kubeletVersion"])
    return {g: sorted(v) for g, v in sorted(out.items())}


def _entered(local: session.LocalDeployer, execution: str) -> list[str]:
    sfn = local.aws.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def test_a_calico_cluster_upgrades_group_by_group_and_refuses_what_eks_would(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    def at(version: str, extra: str = "") -> Path:
        text = ROLLING.replace("  region: eu-west-1\n", f'  region: eu-west-1\n  kubernetesVersion: "{version}"\n')
        return _spec(tmp_path, "rolling", text + extra)

    eks = local.aws.client("eks")
    created = _run(local, at("1.33"))
    assert created["status"] == "SUCCEEDED", (created["notifications"]["sns"] or {}).get("text")
    assert _kubelets(local, "rolling") == {"apps": ["v1.33.0-eks-local"] * 2, "system": ["v1.33.0-eks-local"]}
    assert created["addons"] == {"coredns": "v1.11.4-eksbuild.2", "kube-proxy": "v1.33.0-eksbuild.1"}
    # 1.33 left EKS's standard support on 2026-07-29: every notification says what that costs.
    assert "Warning: Kubernetes 1.33 " in created["notifications"]["sns"]["text"]
    assert "EKS extended support" in created["notifications"]["sns"]["outcome"]["warnings"][0]
    # Two minors at once: refused at Plan, nothing touched.
    skipped = _run(local, at("1.35"))
    assert skipped["status"] == "FAILED"
    assert skipped["code"] == "ERR_INVALID_SPEC"
    failure = skipped["notifications"]["sns"]["outcome"]["failure"]
    assert failure["step"] == "Plan"
    assert "1.33 → 1.35 skips a minor version" in failure["cause"]
    assert "Set 1.34 first" in failure["cause"]
    assert eks.describe_cluster(name="rolling")["cluster"]["version"] == "1.33"

    # One minor: the control plane, then each node group in the spec's order, node by node, the
    # cluster validated after each group (the execution's history shows the order).
    progress = io.StringIO()
    upgraded = _run(local, at("1.34"), progress=progress)
    assert upgraded["status"] == "SUCCEEDED", (upgraded["notifications"]["sns"] or {}).get("text")
    # What `watch` shows while a group rolls: its instances, one by one, as EC2 reports them.
    rolling = progress.getvalue().split("▶ Apply node-group stacks", 1)[1]
    assert re.search(r"\n  \+ apps: i-[0-9a-f]+ launched \(\S+, eu-west-1[abc]\)", rolling), rolling
    assert re.search(r"\n  - apps: i-[0-9a-f]+ (shutting-down|terminated)", rolling), rolling
    entered = _entered(local, upgraded["execution"])
    rolled = [n for n in entered if n in ("Apply cluster stack", "Apply node-group stacks", "Validate cluster")]
    assert [n for i, n in enumerate(rolled) if i == 0 or n != rolled[i - 1]] == [
        "Apply cluster stack",
        "Apply node-group stacks",
        "Validate cluster",
        "Apply node-group stacks",
        "Validate cluster",
    ]
    # EKS takes minutes over a version update, and CloudFormation waits it out: the workflow
    # found the cluster stack still UPDATE_IN_PROGRESS and checked again.
    assert entered.count("Check cluster stack") >= 2
    assert eks.describe_cluster(name="rolling")["cluster"]["version"] == "1.34"
    assert _kubelets(local, "rolling") == {"apps": ["v1.34.0-eks-local"] * 2, "system": ["v1.34.0-eks-local"]}
    outcome = upgraded["notifications"]["sns"]["outcome"]
    assert outcome["kubernetes_version"] == "1.34"
    assert outcome["kubelets"] == {"1.34": 3}
    # Where Plan expected each add-on to move (DescribeAddonVersions' defaults for 1.34); Calico is pinned.
    assert outcome["upgrade"] == {
        "from": "1.33",
        "to": "1.34",
        "nodeGroups": ["apps", "system"],
        "cni": "",
        "addons": {
            "coredns": "v1.11.4-eksbuild.2 → v1.12.2-eksbuild.1",
            "kube-proxy": "v1.33.0-eksbuild.1 → v1.34.0-eksbuild.1",
        },
        "held": {},
    }
    text = upgraded["notifications"]["sns"]["text"]
    assert "Upgrade 1.33 → 1.34 ran in this order:" in text
    # Each phase with what it took.
    assert re.search(r"  1\. control plane 1\.33 → 1\.34 \(the cluster stack\) — [\d.]+ s\n", text), text
    assert re.search(r"coredns v1\.11\.4-eksbuild\.2 → v1\.12\.2-eksbuild\.1.*\) — [\d.]+ s\n", text), text
    assert re.search(r"validated before the next — [\d.]+ s\n", text), text
    # Each stack's own changes, property by property.
    cluster_changes = text.split("  clusterdrop-rolling (UPDATE)")[1].split("  clusterdrop-rolling-ng-apps")[0]
    assert "    Modify Cluster AWS::EKS::Cluster\n      Version: 1.33 → 1.34\n" in cluster_changes
    apps = text.split("  clusterdrop-rolling-ng-apps (UPDATE)")[1].split("  clusterdrop-rolling-ng-system")[0]
    assert "      Version: 1.33 → 1.34\n" in apps
    assert upgraded["versions"] == {"controlPlane": "1.34", "kubelets": {"1.34": 3}}
    # The add-ons moved to EKS's defaults for 1.34 (DescribeAddonVersions), their images with them.
    assert upgraded["addons"] == {"coredns": "v1.12.2-eksbuild.1", "kube-proxy": "v1.34.0-eksbuild.1"}
    assert outcome["addons_updated"] == {
        "coredns": "v1.11.4-eksbuild.2 → v1.12.2-eksbuild.1",
        "kube-proxy": "v1.33.0-eksbuild.1 → v1.34.0-eksbuild.1",
    }
    # EKS refuses an add-on version that does not support the cluster's Kubernetes version.
    with pytest.raises(eks.exceptions.InvalidParameterException, match=r"not supported for Kubernetes 1\.34"):
        eks.update_addon(clusterName="rolling", addonName="kube-proxy", addonVersion="v1.33.0-eksbuild.1")
    # And a configuration value its schema does not have.
    with pytest.raises(eks.exceptions.InvalidParameterException, match=r"\$\.replica: is not defined in the schema"):
        eks.create_addon(clusterName="rolling", addonName="metrics-server", configurationValues='{"replica": 2}')
    assert "metrics-server" not in eks.list_addons(clusterName="rolling")["addons"]
    proxy = _object(local, "rolling", "apps", "daemonsets", "kube-system", "kube-proxy")
    assert proxy["spec"]["template"]["spec"]["containers"][0]["image"].endswith("/eks/kube-proxy:v1.34.0-eksbuild.1")
    # EKS changes an add-on asynchronously and refuses another change meanwhile.
    eks.update_addon(clusterName="rolling", addonName="kube-proxy", configurationValues="{}")
    assert eks.describe_addon(clusterName="rolling", addonName="kube-proxy")["addon"]["status"] == "UPDATING"
    with pytest.raises(eks.exceptions.ResourceInUseException, match="currently in UPDATING state"):
        eks.update_addon(clusterName="rolling", addonName="kube-proxy", configurationValues="{}")
    _wait_for(lambda: eks.describe_addon(clusterName="rolling", addonName="kube-proxy")["addon"]["status"] == "ACTIVE")
    table = local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(local.deployer.clusters_table)
    assert table.get_item(Key={"cluster": "rolling"})["Item"]["kubernetesVersion"] == "1.34"
    # A downgrade: refused.
    downgraded = _run(local, at("1.33"))
    assert downgraded["status"] == "FAILED"
    assert "EKS cannot downgrade" in downgraded["notifications"]["sns"]["outcome"]["failure"]["cause"]
    # A CNI switch: refused by field, nothing touched.
    vpc_cni = ROLLING.replace("  network:\n    podCidr: 10.48.0.0/16\n", "").replace(
        "    name: calico\n    version: v3.32.1\n    mode: manifest\n", "    name: aws-vpc-cni\n"
    )
    switched = _run(local, _spec(tmp_path, "rolling", vpc_cni))
    assert switched["status"] == "FAILED"
    failure = switched["notifications"]["sns"]["outcome"]["failure"]
    assert (failure["step"], failure["error"]) == ("Plan", "SpecInvalid")
    assert "spec.cni.name: cannot change on a running cluster ('calico' → 'aws-vpc-cni')" in failure["cause"]
    assert _object(local, "rolling", "apps", "daemonsets", "kube-system", "aws-node") is None

    # A budget that allows no eviction: the upgrade stops before any node group moves, naming
    # the pods and the budget; the cluster keeps working (its control plane one minor ahead).
    # (The fault pdb-blocks-eviction puts in a user's two-replica Deployment with minAvailable 2.)
    local.aws.eks.settings.faults.add("pdb-blocks-eviction")
    blocked = _run(local, at("1.35"))
    assert blocked["status"] == "FAILED"
    failure = blocked["notifications"]["sns"]["outcome"]["failure"]
    assert (failure["step"], failure["error"]) == ("Check disruption budgets", "EvictionBlocked")
    assert blocked["code"] == "ERR_EVICTION_BLOCKED"
    assert "blocked by PodDisruptionBudget default/web (needs 2 healthy pods, has 2)" in failure["cause"]
    assert "PodEvictionFailure: default/web-" in failure["cause"]
    assert eks.describe_cluster(name="rolling")["cluster"]["version"] == "1.35"
    assert _kubelets(local, "rolling") == {"apps": ["v1.34.0-eks-local"] * 2, "system": ["v1.34.0-eks-local"]}
    assert all(v == "1.34" for v in [g["version"] for g in local.aws.eks.clusters["rolling"].nodegroups.values()])
    # Forced, as EKS forces it: the groups behind the control plane roll, one at a time.
    # Forced, as EKS forces it: the groups behind the control plane roll, one at a time — but for
    # system, which the spec holds one minor behind for now. metrics-server comes in on the way.
    held = at("1.35", "  upgradePolicy: {force: true}\n  addons: [metrics-server]\n").read_text()
    held = held.replace("      desiredSize: 1\n", '      desiredSize: 1\n      kubernetesVersion: "1.34"\n')
    forced = _run_with_faults(local, _spec(tmp_path, "rolling", held), "pdb-blocks-eviction")
    assert forced["status"] == "SUCCEEDED", (forced["notifications"]["sns"] or {}).get("text")
    assert "metrics-server" in eks.list_addons(clusterName="rolling")["addons"]
    upgrade = forced["notifications"]["sns"]["outcome"]["upgrade"]
    assert (upgrade["from"], upgrade["nodeGroups"], upgrade["held"]) == ("1.34", ["apps"], {"system": "1.34"})
    assert "system stays at 1.34" in forced["notifications"]["sns"]["text"]
    assert _kubelets(local, "rolling") == {"apps": ["v1.35.0-eks-local"] * 2, "system": ["v1.34.0-eks-local"]}

    # No version named: the cluster keeps 1.35 (not clusterdrop's default), and says so; system,
    # no longer held, rolls alone; metrics-server, no longer listed, is deleted with its workloads.
    kept = _run(local, _spec(tmp_path, "rolling", ROLLING + "  upgradePolicy: {force: true}\n"))
    assert kept["status"] == "SUCCEEDED", (kept["notifications"]["sns"] or {}).get("text")
    assert eks.describe_cluster(name="rolling")["cluster"]["version"] == "1.35"
    assert kept["notifications"]["sns"]["outcome"]["upgrade"]["nodeGroups"] == ["apps", "system"]
    assert kept["versions"]["kubelets"] == {"1.35": 3}
    assert kept["notifications"]["sns"]["outcome"]["addons_removed"] == ["metrics-server"]
    assert "Removed (no longer in spec.addons" in kept["notifications"]["sns"]["text"]
    _wait_for(lambda: "metrics-server" not in eks.list_addons(clusterName="rolling")["addons"], 10)
    assert _object(local, "rolling", "apps", "deployments", "kube-system", "metrics-server") is None


@contextlib.contextmanager
def _guardrails(local: session.LocalDeployer, rules: dict[str, Any]) -> Iterator[None]:
    """The deployer's guardrails replaced for a while, in the Validate spec function's configuration."""
    client = local.aws.client("lambda")
    name = next(
        f["FunctionName"]
        for f in client.list_functions()["Functions"]
        if f["FunctionName"].startswith("clusterdrop-WorkflowValidateSpecFunction")
    )
    before = client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {**before, "GUARDRAILS": json.dumps(rules)}}
    )
    try:
        yield
    finally:
        client.update_function_configuration(FunctionName=name, Environment={"Variables": before})


def test_an_admin_from_another_account_is_refused_with_nothing_created(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    outside = "arn:aws:iam::999988887777:role/contractor"
    text = QUICKSTART.replace("name: quickstart", "name: outsider").replace(
        "  region: eu-west-1\n", f"  region: eu-west-1\n  controlPlane:\n    admins: [{outside}]\n"
    )
    result = _run(local, _spec(tmp_path, "outsider", text))
    assert result["status"] == "FAILED"
    failure = result["notifications"]["sns"]["outcome"]["failure"]
    assert (failure["step"], failure["error"], result["code"]) == (
        "Validate spec",
        "PolicyRefused",
        "ERR_POLICY_REFUSED",
    )
    assert (
        f"spec.controlPlane.admins[0]: {outside} is in account 999988887777; this deployer allows admins from "
        "123456789012 only (guardrail allowedAdminAccounts)" in failure["cause"]
    )
    assert local.leftovers("outsider") == []
    assert stacks_of(local, "outsider") == []


def stacks_of(local: session.LocalDeployer, cluster: str) -> list[str]:
    summaries = local.aws.client("cloudformation").list_stacks()["StackSummaries"]
    return [s["StackName"] for s in summaries if s["StackName"].startswith(f"clusterdrop-{cluster}")]


def test_invalid_spec_fails_naming_the_field(local: session.LocalDeployer, tmp_path: Path) -> None:
    # Valid for the CLI's local check is not required here: upload straight to the bucket.
    bad = QUICKSTART.replace("name: quickstart", "name: broken").replace("t3.medium", "t3medium")
    local.aws.client("s3").put_object(Bucket=local.deployer.spec_bucket, Key="clusters/broken.yaml", Body=bad.encode())
    from clusterdrop import ops

    final = ops.watch(local.aws.client("stepfunctions"), local.deployer, "broken", io.StringIO(), poll=0.3, timeout=300)
    assert final == "FAILED"
    delivered = local.notifications()
    failure = json.loads(delivered[-1]["Message"])["outcome"]["failure"]
    assert failure["step"] == "Validate spec"
    assert failure["error"] == "SpecInvalid"
    assert "spec.nodeGroups[0].instanceTypes[0]" in failure["cause"]
    assert local.leftovers("broken") == []


def test_nodes_that_never_turn_ready_fail_and_retain_keeps_everything(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    """The spec's deadline (here 5 minutes) runs 30 times faster in the embedded mode, as its poll
    intervals do: 10 s, and the message says both."""
    text = QUICKSTART.replace("name: quickstart", "name: stuck").replace(
        "  cni:\n", "  deletionPolicy: retain\n  nodeReadyTimeoutMinutes: 5\n  cni:\n"
    )
    spec = _spec(tmp_path, "stuck", text)
    result = _run_with_faults(local, spec, "nodes-not-ready")
    assert result["status"] == "FAILED"
    failure = result["notifications"]["sns"]["outcome"]["failure"]
    assert failure["step"] == "Wait for nodes Ready"
    assert failure["error"] == "NodesNotReady"
    assert result["code"] == failure["code"] == "ERR_NODES_NOT_READY"
    assert "cni plugin not initialized" in failure["cause"]
    assert "after 5 minutes (10 s in the embedded mode) 0/2 nodes are Ready" in failure["cause"]
    assert failure["cleaned_up"] == []
    assert set(failure["kept"]) == {"clusterdrop-stuck", "clusterdrop-stuck-ng-workers"}
    assert "stack clusterdrop-stuck" in result["leftovers"]  # retain keeps everything
    assert result["nodes"] == {"expected": 2, "registered": 2, "ready": 0}


def test_stack_failure_is_diagnosed_with_the_real_cause(local: session.LocalDeployer, tmp_path: Path) -> None:
    text = QUICKSTART.replace("name: quickstart", "name: nocap")  # deletionPolicy: delete, the default
    spec = _spec(tmp_path, "nocap", text)
    progress = io.StringIO()
    result = _run_with_faults(local, spec, "stack-failure", progress=progress)
    assert result["status"] == "FAILED"
    failure = result["notifications"]["sns"]["outcome"]["failure"]
    assert failure["step"] == "Wait for cluster stack"
    # No task failed (a Choice saw the stack's status): watch, the step list and the notification
    # all put the failure on that step, with the diagnosed cause; the failure path is not a failure.
    watched = progress.getvalue()
    assert "✖ Wait for cluster stack" in watched
    assert "  StackFailed: clusterdrop-nocap Cluster (AWS::EKS::Cluster) CREATE_FAILED" in watched
    assert "✔ Release cluster lock after failure" in watched
    assert {s["name"]: s["status"] for s in result["steps"]}["Wait for cluster stack"] == "FAILED"
    # The embedded mode's inbox holds the email's text and the Slack message as files; the
    # execution link is the watch command (there is no console here).
    assert local.slack.inbox is not None
    mails = [p.read_text() for p in sorted(local.slack.inbox.directory.glob("*-email.txt"))]
    mail = next(m for m in reversed(mails) if "Cluster nocap: create FAILED" in m)
    assert mail.startswith("Subject: [clusterdrop] nocap: create FAILED ERR_INSUFFICIENT_CAPACITY at")
    assert "Execution: deploy-nocap-" in mail
    assert "(embedded mode: follow it with clusterdrop watch nocap)" in mail
    # (The Slack message is delivered on its own, by the topic's other subscriber: waited for.)
    _wait_for(
        lambda: any('"nocap: create FAILED"' in p.read_text() for p in local.slack.inbox.directory.glob("*-slack.json"))
    )
    # The status page, written by Notify (its own role) and saved by local run: the code, the
    # failing step marked on the timeline.
    page = Path(result["statusPage"]).read_text()
    assert "ERR_INSUFFICIENT_CAPACITY" in page
    assert 'class="step failed" data-step="Wait for cluster stack"' in page
    assert "status/nocap/deploy-nocap-" in mail  # the notification says where the page is
    assert result["code"] == "ERR_INSUFFICIENT_CAPACITY"
    # In the headline (the subject), the text's first lines and a message attribute to filter on.
    assert "create FAILED ERR_INSUFFICIENT_CAPACITY at" in result["notifications"]["slack"]["text"]
    assert "Code: ERR_INSUFFICIENT_CAPACITY — " in result["notifications"]["sns"]["text"]
    registry = local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(local.deployer.clusters_table)
    assert registry.get_item(Key={"cluster": "nocap"})["Item"]["lastFailure"]["code"] == "ERR_INSUFFICIENT_CAPACITY"
    assert "Cluster (AWS::EKS::Cluster) CREATE_FAILED" in failure["cause"]
    assert "does not currently have sufficient capacity" in failure["cause"]
    assert "Resource creation cancelled" not in failure["cause"]
    assert failure["cleaned_up"] == ["clusterdrop-nocap"]  # the node-group stack never existed
    assert result["leftovers"] == []  # a failed first creation is cleaned up
    # The registry says so (not a blank status), and a delete removes the record.
    assert registry.get_item(Key={"cluster": "nocap"})["Item"]["status"] == "CREATE_FAILED"
    from clusterdrop import ops

    before = datetime.now(UTC) - timedelta(seconds=1)
    assert ops.delete(local.aws.client("s3"), local.deployer, "nocap") is not None
    sfn = local.aws.client("stepfunctions")
    status = ops.watch(sfn, local.deployer, "nocap", io.StringIO(), poll=0.3, started_after=before, timeout=300)
    assert status == "SUCCEEDED"  # nothing to tear down is not a failure
    said = json.loads(local.notifications()[-1]["Message"])["outcome"]
    assert (said["action"], said["outcome"]) == ("delete", "SUCCEEDED")
    assert "'nocap' was never created (its first create failed at Wait for cluster stack)" in said["note"]
    assert "nothing to tear down" in said["note"]
    assert "Item" not in registry.get_item(Key={"cluster": "nocap"})


# --- Calico, from the mirror ---------------------------------------------------------------------

CALICO_HA = (REPO / "examples" / "calico-ha.yaml").read_text()


def _calico(name: str, mode: str) -> str:
    # A pod CIDR that is not Calico's default shows the spec's value reached the cluster.
    return (
        CALICO_HA.replace("name: demo", f"name: {name}")
        .replace("mode: manifest", f"mode: {mode}")
        .replace("podCidr: 192.168.0.0/16", "podCidr: 10.48.0.0/16")
    )


def _object(local: session.LocalDeployer, cluster: str, group: str, plural: str, namespace: str, name: str) -> Any:
    return local.aws.eks.clusters[cluster].api.store.objects[(group, plural)].get((namespace, name))


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def _system_pods_by_group(local: session.LocalDeployer, cluster: str) -> dict[str, set[str]]:
    """For each system workload (namespace/owner), the node groups its pods run in."""
    store = local.aws.eks.clusters[cluster].api.store
    groups = {
        n["metadata"]["name"]: n["metadata"]["labels"][NODEGROUP_LABEL] for n in store.objects[("", "nodes")].values()
    }
    out: dict[str, set[str]] = {}
    for pod in store.objects[("", "pods")].values():
        owner = pod["metadata"]["ownerReferences"][0]
        if owner["kind"] == "Deployment":
            key = f"{pod['metadata']['namespace']}/{owner['name']}"
            out.setdefault(key, set()).add(groups[pod["spec"]["nodeName"]])
    return out


def test_calico_manifest_from_the_mirror(local: session.LocalDeployer, tmp_path: Path) -> None:
    result = _run(local, _spec(tmp_path, "calico-manifest", _calico("calico-manifest", "manifest")))
    assert result["status"] == "SUCCEEDED", (result["notifications"]["sns"] or {}).get("text")
    assert result["nodes"] == {"expected": 5, "registered": 5, "ready": 5}
    assert result["cni"] == {"name": "calico", "version": "v3.32.1"}
    names = [s["name"] for s in result["steps"]]
    assert names.index("Apply CNI") < names.index("Apply node-group stacks") < names.index("Check CNI")
    node = _object(local, "calico-manifest", "apps", "daemonsets", "kube-system", "calico-node")
    container = next(c for c in node["spec"]["template"]["spec"]["containers"] if c["name"] == "calico-node")
    env = _env(container)
    assert env["CALICO_IPV4POOL_CIDR"] == "10.48.0.0/16"
    assert (env["CALICO_IPV4POOL_VXLAN"], env["CALICO_IPV4POOL_IPIP"]) == ("Always", "Never")
    assert _object(local, "calico-manifest", "apps", "deployments", "kube-system", "calico-kube-controllers")
    sns = result["notifications"]["sns"]
    assert sns["outcome"]["cni"] == {"name": "calico", "version": "v3.32.1"}
    # The workers are tainted dedicated=db: every system Deployment runs on the system group
    # (tainted CriticalAddonsOnly, which they tolerate).
    assert _system_pods_by_group(local, "calico-manifest") == {
        "kube-system/coredns": {"system"},
        "kube-system/calico-kube-controllers": {"system"},
        "kube-system/metrics-server": {"system"},
        "kube-system/ebs-csi-controller": {"system"},
    }
    # The control plane cannot reach Calico's pod addresses: metrics-server serves the metrics
    # API on the node's network, and the APIService is Available.
    metrics = _object(local, "calico-manifest", "apps", "deployments", "kube-system", "metrics-server")
    pod_spec = metrics["spec"]["template"]["spec"]
    assert pod_spec["hostNetwork"] is True
    assert pod_spec["containers"][0]["ports"][0]["containerPort"] == 4443
    apiservice = _object(
        local, "calico-manifest", "apiregistration.k8s.io", "apiservices", "", "v1beta1.metrics.k8s.io"
    )
    assert apiservice["status"]["conditions"][0]["status"] == "True", apiservice["status"]
    coredns = next(
        p
        for p in local.aws.eks.clusters["calico-manifest"].api.store.objects[("", "pods")].values()
        if p["metadata"]["name"].startswith("coredns-")
    )
    assert coredns["status"]["podIP"].startswith("10.48."), "pods get addresses from the spec's pod CIDR"
    # The EBS CSI controller's permissions come through Pod Identity (the agent runs on every node).
    associations = local.aws.client("eks").list_pod_identity_associations(clusterName="calico-manifest")
    assert [(a["namespace"], a["serviceAccount"]) for a in associations["associations"]] == [
        ("kube-system", "ebs-csi-controller-sa")
    ]
    agent = _object(local, "calico-manifest", "apps", "daemonsets", "kube-system", "eks-pod-identity-agent")
    assert agent["status"]["numberReady"] == 5
    # Calico's pod limit reached the kubelets through the launch template's NodeConfig.
    nodes = local.aws.eks.clusters["calico-manifest"].api.store.objects[("", "nodes")].values()
    assert {n["status"]["allocatable"]["pods"] for n in nodes} == {"100"}
    _eks_refuses_a_disk_size_beside_a_launch_template(local, "calico-manifest")
    _a_claim_gets_an_ebs_volume_from_the_drivers_own_role(local, "calico-manifest")


def _a_claim_gets_an_ebs_volume_from_the_drivers_own_role(local: session.LocalDeployer, name: str) -> None:
    """The EBS CSI controller calls EC2 with its Pod Identity role: a claim of the default gp3 class
    gets a volume in its consumer's zone, as the class asks; without AmazonEBSCSIDriverPolicy the
    claim stays Pending with the provisioner's event; a deleted claim's volume goes."""
    from kubernetes import client as kube_client

    from clusterdrop.kube.connect import for_eks

    eks, iam, ec2 = local.aws.client("eks"), local.aws.client("iam"), local.aws.client("ec2")
    cluster = eks.describe_cluster(name=name)["cluster"]
    api = for_eks(cluster["endpoint"], cluster["certificateAuthority"]["data"], name, local.aws.region,
                  local.aws.session().get_credentials())  # fmt: skip
    core: Any = kube_client.CoreV1Api(api)

    def claim(claim_name: str) -> None:
        core.create_namespaced_persistent_volume_claim("default", {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim_name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "4Gi"}}},
        })  # fmt: skip
        core.create_namespaced_pod("default", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{claim_name}-user"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], "tolerations": [{"operator": "Exists"}],
                     "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim_name}}]},
        })  # fmt: skip

    def until(condition: Any, seconds: float = 30) -> Any:
        def said() -> Any:
            return [(e.involved_object.name, e.reason, e.message) for e in core.list_namespaced_event("default").items]

        return wait_until(condition, seconds, said=said)

    claim("data")
    bound = until(
        lambda: (
            (c := core.read_namespaced_persistent_volume_claim("data", "default")).status
            and c.status.phase == "Bound"
            and c
        )
    )
    assert bound.spec.storage_class_name == "gp3"  # the default class Configure addons applied
    pod = until(
        lambda: (p := core.read_namespaced_pod("data-user", "default")).status and p.status.phase == "Running" and p
    )
    zone = core.read_node(pod.spec.node_name).metadata.labels["topology.kubernetes.io/zone"]
    handle = core.read_persistent_volume(bound.spec.volume_name).spec.csi.volume_handle
    [volume] = ec2.describe_volumes(VolumeIds=[handle])["Volumes"]
    assert (volume["Size"], volume["VolumeType"], volume["Encrypted"], volume["AvailabilityZone"]) == (
        4,
        "gp3",
        True,
        zone,
    )
    tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
    assert tags["ebs.csi.aws.com/cluster"] == "true"
    assert tags["kubernetes.io/created-for/pvc/name"] == "data"

    [association] = [a for a in eks.list_pod_identity_associations(clusterName=name)["associations"]
                     if a["serviceAccount"] == "ebs-csi-controller-sa"]  # fmt: skip
    role = eks.describe_pod_identity_association(clusterName=name, associationId=association["associationId"])[
        "association"
    ]["roleArn"].rsplit("/", 1)[1]
    policy = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    assert policy in [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
    iam.detach_role_policy(RoleName=role, PolicyArn=policy)
    try:
        claim("more")

        def refused() -> Any:
            events = core.list_namespaced_event("default", field_selector="involvedObject.name=more").items
            return [e for e in events if e.reason == "ProvisioningFailed"]

        [event] = until(refused)
        assert "could not create volume in EC2: operation error EC2: CreateVolume" in event.message
        assert "UnauthorizedOperation" in event.message
        assert core.read_namespaced_persistent_volume_claim("more", "default").status.phase == "Pending"
        assert core.read_namespaced_pod("more-user", "default").status.phase == "Pending"
    finally:
        iam.attach_role_policy(RoleName=role, PolicyArn=policy)
    again = until(
        lambda: (
            (c := core.read_namespaced_persistent_volume_claim("more", "default")).status
            and c.status.phase == "Bound"
            and c
        )
    )
    handles = [handle, core.read_persistent_volume(again.spec.volume_name).spec.csi.volume_handle]

    for claim_name in ("data", "more"):
        core.delete_namespaced_pod(f"{claim_name}-user", "default")
        core.delete_namespaced_persistent_volume_claim(claim_name, "default")
    until(lambda: not core.list_persistent_volume().items)
    left = list(ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": handles}])["Volumes"])
    assert left == []  # the driver deleted them (reclaim policy Delete)


def _eks_refuses_a_disk_size_beside_a_launch_template(local: session.LocalDeployer, cluster: str) -> None:
    """The emulated EKS is as strict as CreateNodegroup: a disk size belongs in the launch template."""
    cfn = local.aws.client("cloudformation")
    group = cfn.describe_stack_resource(StackName=f"clusterdrop-{cluster}-ng-workers", LogicalResourceId="NodeGroup")
    described = local.aws.client("eks").describe_nodegroup(
        clusterName=cluster, nodegroupName=group["StackResourceDetail"]["PhysicalResourceId"].split("/")[-1]
    )["nodegroup"]
    template = {
        "Resources": {
            "Template": {"Type": "AWS::EC2::LaunchTemplate", "Properties": {"LaunchTemplateData": {}}},
            "Group": {
                "Type": "AWS::EKS::Nodegroup",
                "Properties": {
                    "ClusterName": cluster,
                    "NodegroupName": "conflicting",
                    "NodeRole": described["nodeRole"],
                    "Subnets": described["subnets"],
                    "DiskSize": 50,
                    "LaunchTemplate": {"Id": {"Ref": "Template"}},
                },
            },
        }
    }
    cfn.create_stack(StackName="probe-conflicting-nodegroup", TemplateBody=json.dumps(template))
    try:
        events = cfn.describe_stack_events(StackName="probe-conflicting-nodegroup")["StackEvents"]
        [failed] = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
        assert "Disk size must be specified within the launch template." in failed["ResourceStatusReason"]
        assert cfn.describe_stacks(StackName="probe-conflicting-nodegroup")["Stacks"][0]["StackStatus"] == (
            "ROLLBACK_COMPLETE"
        )
    finally:
        cfn.delete_stack(StackName="probe-conflicting-nodegroup")


def test_calico_operator_from_the_mirror(local: session.LocalDeployer, tmp_path: Path) -> None:
    # The system group untainted this time: the system pods still keep off the tainted workers.
    # And Bottlerocket nodes: Calico's pod limit reaches them as TOML settings, not a NodeConfig.
    text = (
        _calico("calico-operator", "operator")
        .replace('taints: [{key: CriticalAddonsOnly, value: "true", effect: NoSchedule}]', "labels: {role: system}")
        .replace(
            "      instanceTypes: [t3.medium]\n", "      instanceTypes: [t3.medium]\n      amiFamily: bottlerocket\n"
        )
    )
    result = _run(local, _spec(tmp_path, "calico-operator", text))
    assert result["status"] == "SUCCEEDED", (result["notifications"]["sns"] or {}).get("text")
    assert result["nodes"] == {"expected": 5, "registered": 5, "ready": 5}
    nodes = local.aws.eks.clusters["calico-operator"].api.store.objects[("", "nodes")].values()
    assert {n["status"]["nodeInfo"]["osImage"] for n in nodes} == {"Bottlerocket OS 1.50.0 (aws-k8s-1.35)"}
    assert {n["status"]["allocatable"]["pods"] for n in nodes} == {"100"}
    eks = local.aws.client("eks")
    for group in eks.list_nodegroups(clusterName="calico-operator")["nodegroups"]:
        described = eks.describe_nodegroup(clusterName="calico-operator", nodegroupName=group)["nodegroup"]
        assert described["amiType"] == "BOTTLEROCKET_x86_64"
    placed = _system_pods_by_group(local, "calico-operator")
    assert placed["kube-system/coredns"] == placed["calico-system/calico-kube-controllers"] == {"system"}
    assert _object(local, "calico-operator", "apps", "deployments", "tigera-operator", "tigera-operator")
    installation = _object(local, "calico-operator", "operator.tigera.io", "installations", "", "default")
    pools = installation["spec"]["calicoNetwork"]["ipPools"]
    assert [p["cidr"] for p in pools] == ["10.48.0.0/16"]
    status = _object(local, "calico-operator", "operator.tigera.io", "tigerastatuses", "", "calico")
    assert any(c["type"] == "Available" and c["status"] == "True" for c in status["status"]["conditions"])


def test_cni_digest_fault_from_the_command_line(tmp_path: Path) -> None:
    """`clusterdrop local run --json --inject cni-digest` as a user runs it: its own embedded
    deployer, the mirror named by CLUSTERDROP_CNI_MIRROR, one JSON object on stdout, exit 1."""
    import os
    import subprocess
    import sys

    from tests.conftest import FIXTURES

    spec = _spec(tmp_path, "tampered", _calico("tampered", "manifest"))
    later = _spec(tmp_path, "later", _calico("tampered", "manifest").replace('"1.35"', '"1.36"'))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "CLUSTERDROP_CNI_MIRROR": str(FIXTURES / "cni"), "TMPDIR": str(scratch)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "clusterdrop",
            "local",
            "run",
            "--json",
            "--inject",
            "cni-digest",
            str(spec),
            str(later),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    # Nothing but results on stdout, one line per spec run: the first failed, so the second was not submitted.
    [line] = done.stdout.splitlines()
    result = json.loads(line)
    assert f"Not submitted after that failure: {later}" in done.stderr
    assert result["status"] == "FAILED"
    failure = result["notifications"]["sns"]["outcome"]["failure"]
    assert failure["step"] == "Plan"  # where the CNI's files are first staged, before anything is created
    assert failure["error"] == "ArtifactDigestMismatch"
    assert "refusing a file that is not the official release" in failure["cause"]
    assert failure["cleaned_up"] == []  # nothing was created
    assert result["leftovers"] == []
    assert {"name": "Plan", "status": "FAILED"}.items() <= next(
        s for s in result["steps"] if s["name"] == "Plan"
    ).items()
    assert "✖ Plan" in done.stderr  # the progress went to stderr
    # Nothing suggested outlives the run without saying so: the embedded AWS stopped with it.
    assert "The embedded AWS stopped with this run" in done.stderr
    assert "clusterdrop local up in another shell" in done.stderr
    # The synthesized app, the functions' code and the tampered mirror went with the run.
    assert list(scratch.iterdir()) == []
    assert result["notifications"]["slack"]["text"] == "[clusterdrop] tampered: create FAILED ERR_CNI_FAILED at Plan"
    assert result["code"] == "ERR_CNI_FAILED"


# --- delivery: duplicates and quick successive uploads -------------------------------------------


def _intake_queue(local: session.LocalDeployer) -> str:
    resources = local.aws.client("cloudformation").describe_stack_resources(StackName=session.STACK)["StackResources"]
    queue = next(
        r["PhysicalResourceId"]
        for r in resources
        if r["ResourceType"] == "AWS::SQS::Queue" and r["LogicalResourceId"].startswith("IntakeQueue")
    )
    return str(
        queue if queue.startswith("http") else local.aws.client("sqs").get_queue_url(QueueName=queue)["QueueUrl"]
    )


def _executions(local: session.LocalDeployer, cluster: str) -> list[dict[str, Any]]:
    sfn = local.aws.client("stepfunctions")
    found = sfn.list_executions(stateMachineArn=local.deployer.deploy_machine, maxResults=1000)["executions"]
    return [e for e in found if e["name"].startswith(f"deploy-{cluster}-")]


def _trigger_calls(local: session.LocalDeployer) -> int:
    return sum(1 for i in local.aws.runtime.invocations if "Trigger" in i["function"])


def _torn_down(local: session.LocalDeployer, name: str) -> None:
    """The spec deleted: the teardown succeeds and leaves nothing of the cluster."""
    from clusterdrop import ops

    before = datetime.now(UTC) - timedelta(seconds=1)
    assert ops.delete(local.aws.client("s3"), local.deployer, name) is not None
    sfn = local.aws.client("stepfunctions")
    watched = ops.watch(sfn, local.deployer, name, io.StringIO(), poll=0.3, started_after=before, timeout=300)
    assert watched == "SUCCEEDED"
    assert local.leftovers(name) == []


def _wait_for(predicate: Any, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_a_duplicate_event_delivery_starts_one_execution(local: session.LocalDeployer, tmp_path: Path) -> None:
    from clusterdrop import ops

    text = QUICKSTART.replace("name: quickstart", "name: dup")
    s3 = local.aws.client("s3")
    calls = _trigger_calls(local)
    ops.submit(s3, local.deployer, "dup", text.encode(), plan=False, suffix=".yaml")
    _wait_for(lambda: len(_executions(local, "dup")) == 1)
    head = s3.head_object(Bucket=local.deployer.spec_bucket, Key="clusters/dup.yaml")
    # S3 delivers at least once: the same record (key, version) again, while the first runs.
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": local.aws.region,
        "eventTime": head["LastModified"].isoformat(),
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": local.deployer.spec_bucket},
            "object": {"key": "clusters/dup.yaml", "versionId": head["VersionId"], "size": head["ContentLength"]},
        },
    }
    local.aws.client("sqs").send_message(QueueUrl=_intake_queue(local), MessageBody=json.dumps({"Records": [record]}))
    _wait_for(lambda: _trigger_calls(local) >= calls + 2)  # the duplicate was handled
    sfn = local.aws.client("stepfunctions")
    assert ops.watch(sfn, local.deployer, "dup", io.StringIO(), poll=0.3, timeout=300) == "SUCCEEDED"
    assert len(_executions(local, "dup")) == 1
    errored = [i for i in local.aws.runtime.invocations if "Trigger" in i["function"] and i["errored"]]
    assert errored == []  # a duplicate is a success, not a retry that ends in the dead-letter queue


def test_two_quick_uploads_are_applied_in_order(local: session.LocalDeployer) -> None:
    from clusterdrop import ops

    first = QUICKSTART.replace("name: quickstart", "name: twice")
    second = first.replace("desiredSize: 2", "desiredSize: 3")
    s3 = local.aws.client("s3")
    uploaded = [
        ops.submit(s3, local.deployer, "twice", body.encode(), plan=False, suffix=".yaml")["versionId"]
        for body in (first, second)
    ]
    _wait_for(lambda: len(_executions(local, "twice")) == 2)
    sfn = local.aws.client("stepfunctions")
    _wait_for(lambda: all(e["status"] != "RUNNING" for e in _executions(local, "twice")), timeout=600)
    executions = sorted(_executions(local, "twice"), key=lambda e: e["stopDate"])
    assert [e["status"] for e in executions] == ["SUCCEEDED", "SUCCEEDED"]
    # Both applied, in the order they were uploaded, one after the other (the cluster's lock).
    inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions]
    assert [i["versionId"] for i in inputs] == uploaded
    history = sfn.get_execution_history(executionArn=executions[1]["executionArn"], maxResults=1000)["events"]
    entered = [e for e in history if e["type"].endswith("StateEntered")]
    planned = next(e for e in entered if e["stateEnteredEventDetails"]["name"] == "Plan")
    assert planned["timestamp"] >= executions[0]["stopDate"] - timedelta(seconds=5)
    assert not any(e["stateEnteredEventDetails"]["name"] == "Notify skipped" for e in entered)
    outcomes = [json.loads(m["Message"])["outcome"] for m in local.notifications()]
    mine = [(o["action"], o["outcome"]) for o in outcomes if o["cluster"] == "twice"]
    assert sorted(mine) == [("create", "SUCCEEDED"), ("update", "SUCCEEDED")]
    # The final state is the second spec.
    assert local.aws.eks.clusters["twice"].nodegroups["workers"]["desired"] == 3
    table = local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(local.deployer.clusters_table)
    assert table.get_item(Key={"cluster": "twice"})["Item"]["specVersion"] == uploaded[1]


# --- an existing VPC -----------------------------------------------------------------------------


def test_existing_vpc_subnets_are_tagged_shared_and_untagged_on_delete(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    from clusterdrop import ops
    from clusterdrop.local import network

    # The network a platform team's IaC made (the embedded stand-in `local run` deploys for
    # examples/existing-vpc.yaml): its IDs published as SSM parameters and CloudFormation exports.
    ec2, ssm = local.aws.client("ec2"), local.aws.client("ssm")
    zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert network.deploy(local.aws.client("cloudformation"), ssm, "shared", "eu-west-1", zones)
    assert not network.deploy(local.aws.client("cloudformation"), ssm, "shared", "eu-west-1", zones)  # once
    vpc = ssm.get_parameter(Name="/clusterdrop/network/shared/vpc-id")["Parameter"]["Value"]
    subnets = {
        kind: ssm.get_parameter(Name=f"/clusterdrop/network/shared/{kind}-subnet-ids")["Parameter"]["Value"].split(",")
        for kind in ("private", "public")
    }
    # As the template says (the embedded EC2 used to ignore both): DNS hostnames on, each private
    # subnet routed through the private table (NAT and the S3 endpoint).
    assert ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
    routed = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": subnets["private"]}])
    assert {r.get("NatGatewayId", "")[:4] for t in routed["RouteTables"] for r in t["Routes"]} >= {"nat-"}
    # Another cluster already shares the VPC: its tag must survive this cluster's life.
    ec2.create_tags(Resources=subnets["private"], Tags=[{"Key": "kubernetes.io/cluster/other", "Value": "shared"}])

    text = f"""apiVersion: clusterdrop.io/v1alpha1
kind: Cluster
metadata:
  name: shared-vpc
spec:
  region: eu-west-1
  network:
    zones: [{", ".join(zones)}]
    topology: private
    vpc:
      id: {{fromSsm: /clusterdrop/network/shared/vpc-id}}
      subnets:
        private: {{fromSsm: /clusterdrop/network/shared/private-subnet-ids}}
        public: {{fromExport: shared-network-PublicSubnetIds}}
  cni:
    name: aws-vpc-cni
  nodeGroups:
    - name: workers
      instanceTypes: [t3.medium]
      desiredSize: 2
"""
    result = _run(local, _spec(tmp_path, "shared-vpc", text))
    assert result["status"] == "SUCCEEDED", (result["notifications"]["sns"] or {}).get("text")
    # Resolved at Validate spec (the function's own role reads them), shown both ways.
    said = result["notifications"]["sns"]["text"]
    assert f"spec.network.vpc.id = {vpc} (SSM parameter /clusterdrop/network/shared/vpc-id)" in said
    assert f"spec.network.vpc.subnets.public = {', '.join(subnets['public'])} (CloudFormation export" in said

    def tags() -> dict[str, dict[str, str]]:
        described = ec2.describe_subnets(SubnetIds=subnets["private"] + subnets["public"])["Subnets"]
        return {s["SubnetId"]: {t["Key"]: t["Value"] for t in s.get("Tags", [])} for s in described}

    tagged = tags()
    for subnet in subnets["private"]:
        assert tagged[subnet]["kubernetes.io/cluster/shared-vpc"] == "shared"  # never "owned"
        assert tagged[subnet]["kubernetes.io/role/internal-elb"] == "1"
        assert tagged[subnet]["kubernetes.io/cluster/other"] == "shared"
    for subnet in subnets["public"]:
        assert tagged[subnet]["kubernetes.io/role/elb"] == "1"
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:clusterdrop:cluster", "Values": ["shared-vpc"]}])["Vpcs"]

    before = datetime.now(UTC) - timedelta(seconds=1)
    ops.delete(local.aws.client("s3"), local.deployer, "shared-vpc")
    sfn = local.aws.client("stepfunctions")
    assert ops.watch(sfn, local.deployer, "shared-vpc", io.StringIO(), poll=0.3, started_after=before, timeout=300) == (
        "SUCCEEDED"
    )
    assert local.leftovers("shared-vpc") == []
    untagged = tags()
    for subnet in subnets["private"] + subnets["public"]:
        assert "kubernetes.io/cluster/shared-vpc" not in untagged[subnet]
    for subnet in subnets["private"]:
        assert untagged[subnet]["kubernetes.io/cluster/other"] == "shared"  # the other cluster's tag stays
    # The VPC and its subnets were never clusterdrop's: they stay.
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]) == 6


def test_a_delete_right_after_an_upload_creates_then_tears_down(local: session.LocalDeployer) -> None:
    from clusterdrop import ops

    s3 = local.aws.client("s3")
    text = QUICKSTART.replace("name: quickstart", "name: oops")
    ops.submit(s3, local.deployer, "oops", text.encode(), plan=False, suffix=".yaml")
    ops.delete(s3, local.deployer, "oops")
    sfn = local.aws.client("stepfunctions")

    def runs() -> list[dict[str, Any]]:
        found = []
        for machine in (local.deployer.deploy_machine, local.deployer.teardown_machine):
            found += [
                e
                for e in sfn.list_executions(stateMachineArn=machine, maxResults=1000)["executions"]
                if intake.is_execution_of(e["name"], "oops")
            ]
        return found

    _wait_for(lambda: len(runs()) == 2 and all(e["status"] != "RUNNING" for e in runs()), timeout=600)
    done = sorted(runs(), key=lambda e: e["stopDate"])
    # The upload came first, so it is applied first; the teardown then removes what it made.
    assert [(e["name"].split("-")[0], e["status"]) for e in done] == [
        ("deploy", "SUCCEEDED"),
        ("teardown", "SUCCEEDED"),
    ]
    assert local.leftovers("oops") == []
    table = local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(local.deployer.clusters_table)
    assert table.get_item(Key={"cluster": "oops"})["Item"]["status"] == "DELETED"


# --- IAM as AWS enforces it --------------------------------------------------------------------


def test_the_stacks_role_is_enforced_a_removed_permission_fails_the_create(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    """CloudFormation runs the cluster's stacks with the deployer's service role: without
    iam:PassRole on the cluster's roles, EKS's handler is refused as on AWS, the stack rolls
    back, and the notification names the action and the role."""
    iam = local.aws.client("iam")
    role_name = _cfn_role_name(local)
    (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    original = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    statements = []
    for statement in original["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        kept = [a for a in actions if a != "iam:PassRole"]
        if kept:
            statements.append({**statement, "Action": kept})
    without = {**original, "Statement": statements}
    assert "iam:PassRole" not in json.dumps(without)
    iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(without))
    spec = _spec(tmp_path, "nopass", QUICKSTART.replace("name: quickstart", "name: nopass"))
    try:
        result = _run(local, spec)
    finally:
        iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(original))
    assert result["status"] == "FAILED"
    failure = result["notifications"]["sns"]["outcome"]["failure"]
    assert failure["step"] == "Wait for cluster stack"
    assert "CREATE_FAILED" in failure["cause"]
    assert f"assumed-role/{role_name}/AWSCloudFormation is not authorized to perform: iam:PassRole" in failure["cause"]
    assert result["code"] == "ERR_UNAUTHORIZED"
    assert ":role/clusterdrop-nopass-" in failure["cause"]  # the cluster's own role, by its ARN
    assert result["leftovers"] == []  # rolled back, then the failed first creation is cleaned up


def _cfn_role_name(local: session.LocalDeployer) -> str:
    resources = local.aws.client("cloudformation").describe_stack_resources(StackName="clusterdrop")["StackResources"]
    return str(
        next(
            r["PhysicalResourceId"]
            for r in resources
            if r["ResourceType"] == "AWS::IAM::Role" and r["LogicalResourceId"].startswith("ClusterStacksRole")
        )
    )


def _stack_status(cfn: Any, name: str) -> tuple[str, list[str]]:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events if e["ResourceStatus"].endswith("FAILED")]
    return stack["StackStatus"], reasons


def test_the_stacks_role_is_enforced_on_update_and_delete(local: session.LocalDeployer) -> None:
    """Update and delete run with the stack's role too: a refused update rolls back
    (UPDATE_ROLLBACK_COMPLETE), a refused delete leaves the stack DELETE_FAILED with AWS's
    reason, and once the role allows it the delete completes."""
    iam, cfn = local.aws.client("iam"), local.aws.client("cloudformation")
    role_name = _cfn_role_name(local)
    role_arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    original = json.dumps(iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"])

    def template(days: int) -> str:
        group = {"LogGroupName": "/aws/lambda/clusterdrop-probe-agent", "RetentionInDays": days}
        return json.dumps({"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": group}}})

    def without(action: str) -> None:
        document = original.replace(f'"{action}", ', "").replace(f', "{action}"', "")
        assert action not in document
        iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=document)

    name = "clusterdrop-probe"
    cfn.create_stack(StackName=name, TemplateBody=template(7), RoleARN=role_arn)
    try:
        assert _stack_status(cfn, name)[0] == "CREATE_COMPLETE"
        without("logs:PutRetentionPolicy")
        cfn.create_change_set(
            StackName=name, ChangeSetName="c1", TemplateBody=template(30), RoleARN=role_arn, ChangeSetType="UPDATE"
        )
        cfn.execute_change_set(StackName=name, ChangeSetName="c1")
        # As on AWS the update runs after ExecuteChangeSet has answered: wait for its end.
        _wait_for(lambda: not _stack_status(cfn, name)[0].endswith("IN_PROGRESS"), 10)
        status, reasons = _stack_status(cfn, name)
        assert status == "UPDATE_ROLLBACK_COMPLETE"
        assert any("not authorized to perform: logs:PutRetentionPolicy" in r for r in reasons), reasons
        without("logs:DeleteLogGroup")
        cfn.delete_stack(StackName=name)
        status, reasons = _stack_status(cfn, name)
        assert status == "DELETE_FAILED"
        assert any(
            "not authorized to perform: logs:DeleteLogGroup on resource: "
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/clusterdrop-probe-agent" in r
            for r in reasons
        ), reasons
    finally:
        iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=original)
    cfn.delete_stack(StackName=name)
    assert "clusterdrop-probe" not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]


def _function_role(local: session.LocalDeployer, construct: str) -> str:
    functions = local.aws.client("lambda").list_functions()["Functions"]
    return str(
        next(f["Role"] for f in functions if f["FunctionName"].startswith(f"clusterdrop-Workflow{construct}Function"))
    )


def _only_access_entries_reach_the_api(local: session.LocalDeployer, name: str) -> None:
    """EKS's authenticator: a caller without an access entry, an expired token, no token at all
    get 401 (kubectl: "You must be logged in to the server"), through the official client."""
    from botocore.credentials import Credentials
    from kubernetes import client as kube_client
    from kubernetes.client.exceptions import ApiException

    from clusterdrop.kube.connect import eks_token, for_eks, for_server

    described = local.aws.client("eks").describe_cluster(name=name)["cluster"]
    endpoint, ca = described["endpoint"], described["certificateAuthority"]["data"]
    assert endpoint.startswith("https://")
    region = local.aws.region
    # A role of the account that no access entry names (the trigger function's).
    functions = local.aws.client("lambda").list_functions()["Functions"]
    role = next(f["Role"] for f in functions if "IntakeTrigger" in f["FunctionName"])
    creds = local.aws.client("sts").assume_role(RoleArn=role, RoleSessionName="probe")["Credentials"]
    stranger = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    # The administrator's own token, as signed 16 minutes ago (EKS accepts 15).
    fresh = eks_token(name, region, local.aws.session().get_credentials()).value
    url = base64.urlsafe_b64decode(fresh.removeprefix("k8s-aws-v1.") + "==").decode()
    then = (datetime.now(UTC) - timedelta(minutes=16)).strftime("%Y%m%dT%H%M%SZ")
    stale = re.sub(r"X-Amz-Date=\d{8}T\d{6}Z", f"X-Amz-Date={then}", url)
    expired = "k8s-aws-v1." + base64.urlsafe_b64encode(stale.encode()).decode().rstrip("=")
    for client, why in (
        (for_eks(endpoint, ca, name, region, stranger), f"{role} has no access entry on this cluster"),
        (for_server(endpoint, token=expired, ca_data=ca), "the token expired"),
        (for_server(endpoint, ca_data=ca), "no bearer token"),
    ):
        with pytest.raises(ApiException) as refused:
            kube_client.CoreV1Api(client).list_node()
        assert refused.value.status == 401
        assert why in local.aws.eks.clusters[name].api.unauthorized[-1]
    # The public paths stay public, as on EKS.
    assert kube_client.VersionApi(for_server(endpoint, ca_data=ca)).get_code().major == "1"


def _client_as(local: session.LocalDeployer, role_arn: str, service: str) -> Any:
    """A client with the credentials of a role, assumed through the embedded STS."""
    import boto3

    creds = local.aws.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="probe")["Credentials"]
    return boto3.client(
        service,
        endpoint_url=local.aws.url,
        region_name=local.aws.region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def test_s3_answers_403_for_a_missing_key_unless_the_caller_may_list_the_bucket(local: session.LocalDeployer) -> None:
    import dataclasses

    import botocore.exceptions
    import pytest

    from clusterdrop.cni import catalog
    from clusterdrop.cni.s3mirror import S3Mirror
    from clusterdrop.errors import ArtifactUnavailable

    iam, bucket = local.aws.client("iam"), local.outputs["ArtifactsBucketName"]
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    role = iam.create_role(RoleName="probe-reader", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    read = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}

    def grant(*statements: dict[str, Any]) -> None:
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_role_policy(RoleName="probe-reader", PolicyName="p", PolicyDocument=json.dumps(document))

    grant(read)
    s3 = _client_as(local, role, "s3")
    release = catalog.find("calico", None)
    assert release is not None
    # A file no test has staged: the mirror has no object under its digest.
    artifact = dataclasses.replace(release.modes["manifest"][0], sha256="0" * 64)
    key = f"cni/sha256/{artifact.sha256}"
    for call in (s3.get_object, s3.head_object):
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            call(Bucket=bucket, Key=key)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ArtifactUnavailable, match=r"AccessDenied.*s3:ListBucket"):
        S3Mirror(s3, bucket).find(artifact)
    grant(read, {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"})
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        s3.head_object(Bucket=bucket, Key=key)
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # The Connect step's own role tells a file not mirrored yet from a refusal.
    connect = _client_as(local, _function_role(local, "Connect"), "s3")
    assert S3Mirror(connect, bucket).find(artifact) is None


def test_every_function_calls_aws_with_its_own_role(local: session.LocalDeployer, tmp_path: Path) -> None:
    """Each function's calls were authorized against its own role (removing the statement that
    allowed one of them refuses it), and a real run fails when a permission is taken away."""
    from clusterdrop.local import iam_enforce
    from clusterdrop.local.aws import ACCOUNT
    from clusterdrop.local.iam_policy import evaluate, statements

    spec = _spec(tmp_path, "ownroles", QUICKSTART.replace("name: quickstart", "name: ownroles"))
    assert _run(local, spec)["status"] == "SUCCEEDED"
    iam = local.aws.client("iam")
    seen = iam_enforce.allowed()
    roles = {role for role, _ in seen}
    functions = local.aws.client("lambda").list_functions()["Functions"]
    workflow_roles = {f["Role"] for f in functions if f["FunctionName"].startswith("clusterdrop-")}
    # Every step of a create that calls AWS did so with its own role (the agent's included).
    assert len(roles & workflow_roles) >= 10, sorted(roles)
    existing = {r["Arn"] for r in iam.list_roles(MaxItems=1000)["Roles"]}  # other tests' clusters are gone
    for role in roles & existing:
        request = next(r for (who, _), r in seen.items() if who == role)
        # moto's GetRolePolicy cannot serialize the inline policies CloudFormation gave a role:
        # read them as the enforcement does.
        documents = [json.loads(d) if isinstance(d, str) else d for d in iam_enforce.role_documents(ACCOUNT, role)]
        assert evaluate(documents, request).allowed, (role, request)
        kept = [
            {"Statement": [s for s in statements([d]) if not evaluate([{"Statement": [s]}], request).allowed]}
            for d in documents
        ]
        assert not evaluate(kept, request).allowed, (role, request)
    # A real run with one permission taken away: the lock step may not write its lock.
    lock_role = _function_role(local, "TakeClusterLock").rsplit("/", 1)[-1]
    (policy,) = iam.list_role_policies(RoleName=lock_role)["PolicyNames"]
    original = json.dumps(iam.get_role_policy(RoleName=lock_role, PolicyName=policy)["PolicyDocument"])
    iam.put_role_policy(
        RoleName=lock_role, PolicyName=policy, PolicyDocument=original.replace('"dynamodb:PutItem", ', "")
    )
    try:
        failed = _run(local, _spec(tmp_path, "nolock", QUICKSTART.replace("name: quickstart", "name: nolock")))
    finally:
        iam.put_role_policy(RoleName=lock_role, PolicyName=policy, PolicyDocument=original)
    assert failed["status"] == "FAILED"
    failure = failed["notifications"]["sns"]["outcome"]["failure"]
    assert failure["step"] == "Take cluster lock"
    assert "AccessDeniedException" in failure["cause"]
    assert f"assumed-role/{lock_role}/" in failure["cause"]
    assert "is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:" in failure["cause"]
    assert failed["leftovers"] == []


def test_the_emulated_eks_refuses_a_zone_where_eks_places_no_control_plane(local: session.LocalDeployer) -> None:
    """us-east-1e is use1-az3 in the embedded account: CreateCluster with a subnet there fails as
    on AWS (UnsupportedAvailabilityZoneException), naming the zones it would take."""
    import boto3

    def client(service: str) -> Any:
        return boto3.client(
            service, endpoint_url=local.aws.url, region_name="us-east-1", aws_access_key_id="local",
            aws_secret_access_key="local",
        )  # fmt: skip

    ec2, cfn = client("ec2"), client("cloudformation")
    vpc = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.90.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(["us-east-1a", "us-east-1e"])
    ]
    cluster = {
        "Type": "AWS::EKS::Cluster",
        "Properties": {
            "Name": "az3",
            "RoleArn": "arn:aws:iam::123456789012:role/clusterdrop-az3-ClusterRole",
            "ResourcesVpcConfig": {"SubnetIds": subnets},
        },
    }
    cfn.create_stack(StackName="clusterdrop-az3", TemplateBody=json.dumps({"Resources": {"Cluster": cluster}}))
    status, reasons = _stack_status(cfn, "clusterdrop-az3")
    assert status == "ROLLBACK_COMPLETE"
    assert any("EKS does not support creating control plane instances in us-east-1e" in r for r in reasons), reasons
    assert any("us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1f" in r for r in reasons), reasons
    cfn.delete_stack(StackName="clusterdrop-az3")


def test_the_embedded_aws_refuses_iam_templates_and_roles_as_aws_does(local: session.LocalDeployer) -> None:
    """CloudFormation's capabilities (a named role needs CAPABILITY_NAMED_IAM, nothing created
    without it), IAM's case-blind role names and boundaries that must exist."""
    cfn, iam = local.aws.client("cloudformation"), local.aws.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                        "Principal": {"Service": "pods.eks.amazonaws.com"}}]})  # fmt: skip
    properties: dict[str, Any] = {"AssumeRolePolicyDocument": json.loads(trust)}
    unnamed = json.dumps({"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": properties}}})
    named = json.dumps(
        {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {**properties, "RoleName": "Caps"}}}}
    )
    for body, given, needed in ((unnamed, [], "CAPABILITY_IAM"), (named, ["CAPABILITY_IAM"], "CAPABILITY_NAMED_IAM")):
        with pytest.raises(
            cfn.exceptions.InsufficientCapabilitiesException, match=f"Requires capabilities : .{needed}"
        ):
            cfn.create_stack(StackName="caps", TemplateBody=body, Capabilities=given)
        assert not [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "caps"]
    with pytest.raises(cfn.exceptions.InsufficientCapabilitiesException):  # a change set is checked alike
        cfn.create_change_set(StackName="caps", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=named)
    iam.create_role(RoleName="Caps", AssumeRolePolicyDocument=trust)
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName="caps", AssumeRolePolicyDocument=trust)
    assert iam.get_role(RoleName="CAPS")["Role"]["RoleName"] == "Caps"
    missing = "arn:aws:iam::123456789012:policy/no-such-boundary"
    with pytest.raises(
        iam.exceptions.NoSuchEntityException, match=r"Scope ARN: .* does not exist or is not attachable"
    ):
        iam.create_role(RoleName="bounded", AssumeRolePolicyDocument=trust, PermissionsBoundary=missing)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.put_role_permissions_boundary(RoleName="Caps", PermissionsBoundary=missing)
    boundary = "arn:aws:iam::aws:policy/ReadOnlyAccess"  # AWS's managed policies exist everywhere
    iam.put_role_permissions_boundary(RoleName="Caps", PermissionsBoundary=boundary)
    assert iam.get_role(RoleName="Caps")["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    iam.delete_role_permissions_boundary(RoleName="Caps")
    iam.delete_role(RoleName="Caps")


# --- stacks that will not delete ------------------------------------------------------------------


def _drop_stuck_stacks(local: session.LocalDeployer, cluster: str) -> None:
    """What a person does after reading the notification: remove what blocked, delete the stack."""
    local.aws.eks.settings.faults.discard("delete-failed")
    cfn = local.aws.client("cloudformation")
    for stack in cfn.describe_stacks()["Stacks"]:
        if stack["StackName"].startswith(f"clusterdrop-{cluster}"):
            cfn.delete_stack(StackName=stack["StackName"])
    assert local.leftovers(cluster) == []


def test_a_clean_up_that_cannot_delete_ends_naming_what_is_left(local: session.LocalDeployer, tmp_path: Path) -> None:
    """A failed first creation whose security group will not go (a dependent ENI): the clean-up
    asks a bounded number of times, then the execution ends FAILED, and the notification, the
    run's summary and the registry all name the resource, its reason and where to see it."""
    spec = _spec(tmp_path, "undeletable", QUICKSTART.replace("name: quickstart", "name: undeletable"))
    result = _run_with_faults(local, spec, "stack-failure", "delete-failed")
    try:
        assert result["status"] == "FAILED", ([s["name"] for s in result["steps"]], local.aws.eks.settings.faults)
        failure = result["notifications"]["sns"]["outcome"]["failure"]
        assert failure["step"] == "Wait for cluster stack"
        assert result["code"] == "ERR_INSUFFICIENT_CAPACITY"  # the cause; what was left is listed beside it
        (left,) = failure["left_behind"]
        assert (left["stack"], left["resource"], left["type"]) == (
            "clusterdrop-undeletable",
            "ControlPlaneSecurityGroup",
            "AWS::EC2::SecurityGroup",
        )
        assert "has a dependent object" in left["reason"]
        assert left["link"].startswith("https://eu-west-1.console.aws.amazon.com/cloudformation/home")
        assert "Left behind (could not be deleted" in result["notifications"]["sns"]["text"]
        assert "stack clusterdrop-undeletable" in result["leftovers"]
        table = (
            local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(local.deployer.clusters_table)
        )
        item = table.get_item(Key={"cluster": "undeletable"})["Item"]
        assert item["status"] == "DELETE_FAILED"
        assert item["leftovers"][0]["resource"] == "ControlPlaneSecurityGroup"
        # Asked a bounded number of times (each refusal is a DELETE_FAILED of the stack), then stopped.
        from clusterdrop.aws.stacks import DELETE_ATTEMPTS

        events = local.aws.client("cloudformation").describe_stack_events(StackName="clusterdrop-undeletable")[
            "StackEvents"
        ]
        refusals = [
            e
            for e in events
            if e["ResourceType"] == "AWS::CloudFormation::Stack" and e["ResourceStatus"] == "DELETE_FAILED"
        ]
        assert len(refusals) == DELETE_ATTEMPTS
    finally:
        _drop_stuck_stacks(local, "undeletable")


def test_a_create_whose_rollback_fails_ends_naming_the_cause_and_what_is_left(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    """The cluster fails to create and its rollback cannot delete the security group: the stack
    ends ROLLBACK_FAILED; the notification gives EKS's reason for the failure, and the clean-up's
    bounded deletes end naming the resource left."""
    spec = _spec(tmp_path, "norollback", QUICKSTART.replace("name: quickstart", "name: norollback"))
    result = _run_with_faults(local, spec, "rollback-failed")
    try:
        assert result["status"] == "FAILED"
        assert result["code"] == "ERR_INSUFFICIENT_CAPACITY"
        events = local.aws.client("cloudformation").describe_stack_events(StackName="clusterdrop-norollback")
        statuses = [
            e["ResourceStatus"] for e in events["StackEvents"] if e["LogicalResourceId"] == "clusterdrop-norollback"
        ]
        assert "ROLLBACK_FAILED" in statuses, list(reversed(statuses))
        failure = result["notifications"]["sns"]["outcome"]["failure"]
        assert "does not currently have sufficient capacity" in failure["cause"]
        (left,) = failure["left_behind"]
        assert (left["stack"], left["resource"]) == ("clusterdrop-norollback", "ControlPlaneSecurityGroup")
        assert "has a dependent object" in left["reason"]
        assert "stack clusterdrop-norollback" in result["leftovers"]
    finally:
        _drop_stuck_stacks(local, "norollback")


def test_a_teardown_that_cannot_delete_fails_naming_what_is_left(local: session.LocalDeployer, tmp_path: Path) -> None:
    from clusterdrop import ops

    spec = _spec(tmp_path, "sticky", QUICKSTART.replace("name: quickstart", "name: sticky"))
    assert _run(local, spec)["status"] == "SUCCEEDED"
    local.aws.eks.settings.faults.add("delete-failed")
    try:
        before = datetime.now(UTC) - timedelta(seconds=1)
        assert ops.delete(local.aws.client("s3"), local.deployer, "sticky") is not None
        sfn = local.aws.client("stepfunctions")
        final = ops.watch(sfn, local.deployer, "sticky", io.StringIO(), poll=0.3, started_after=before, timeout=300)
        assert final == "FAILED"
        outcome = json.loads(local.notifications()[-1]["Message"])["outcome"]
        assert (outcome["action"], outcome["outcome"]) == ("delete", "FAILED")
        cause = outcome["failure"]["cause"]
        assert "ControlPlaneSecurityGroup" in cause
        assert "has a dependent object" in cause
        assert outcome["failure"]["code"] == "ERR_CLEANUP_INCOMPLETE"
        table = (
            local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(local.deployer.clusters_table)
        )
        assert table.get_item(Key={"cluster": "sticky"})["Item"]["status"] == "DELETE_FAILED"
    finally:
        _drop_stuck_stacks(local, "sticky")


def test_an_update_that_rolls_back_leaves_the_previous_cluster_working_and_recorded(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    name = "rollback"
    first = _spec(tmp_path, name, QUICKSTART.replace("name: quickstart", f"name: {name}"))
    created = _run(local, first)
    assert created["status"] == "SUCCEEDED"
    table = local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(local.deployer.clusters_table)
    applied = table.get_item(Key={"cluster": name})["Item"]["specVersion"]
    bigger = _spec(
        tmp_path,
        name,
        QUICKSTART.replace("name: quickstart", f"name: {name}").replace("desiredSize: 2", "desiredSize: 3"),
    )
    updated = _run_with_faults(local, bigger, "update-rollback")
    assert updated["status"] == "FAILED"
    outcome = updated["notifications"]["sns"]["outcome"]
    assert outcome["action"] == "update"
    assert "UPDATE_FAILED" in outcome["failure"]["cause"]
    assert updated["code"] == "ERR_INSUFFICIENT_CAPACITY"
    assert "InsufficientInstanceCapacity" in outcome["failure"]["cause"]
    assert outcome["failure"]["cleaned_up"] == []  # an update never destroys a working cluster
    assert f"keeps running on its previously applied spec (version {applied})" in (outcome["note"] or ""), outcome[
        "failure"
    ]
    item = table.get_item(Key={"cluster": name})["Item"]
    assert (item["status"], item["specVersion"]) == ("ACTIVE", applied)
    assert local.aws.eks.clusters[name].nodegroups["workers"]["desired"] == 2  # the previous size
    cfn = local.aws.client("cloudformation")
    assert cfn.describe_stacks(StackName=f"clusterdrop-{name}-ng-workers")["Stacks"][0]["StackStatus"] == (
        "UPDATE_ROLLBACK_COMPLETE"
    )
    for stack in (f"clusterdrop-{name}-ng-workers", f"clusterdrop-{name}"):
        cfn.delete_stack(StackName=stack)
    assert local.leftovers(name) == []


def _probe(sfn: Any, name: str, definition: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A state machine of its own, run once to its end: the execution and how it ended."""
    machine = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/probe"
    )["stateMachineArn"]
    execution: str = sfn.start_execution(stateMachineArn=machine, name="probe")["executionArn"]
    return execution, _ended(sfn, execution)


def _ended(sfn: Any, execution: str) -> dict[str, Any]:
    import time

    for _ in range(100):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.1)
    raise AssertionError(f"{execution} still running after 10 s")


def test_a_state_over_256_kib_fails_the_execution_as_on_aws(local: session.LocalDeployer) -> None:
    """Step Functions refuses a state input or output over 256 KiB with States.DataLimitExceeded,
    which no Catch (not even States.ALL) catches: the embedded Step Functions does too (the
    workflow keeps its state small, see the 5,000-node test)."""
    sfn = local.aws.client("stepfunctions")
    big = "x" * (257 * 1024)
    definition = {
        "StartAt": "Grow",
        "States": {
            "Grow": {"Type": "Pass", "Result": big, "Next": "Use"},
            "Use": {"Type": "Pass", "End": True},
        },
    }
    _, described = _probe(sfn, "probe-data-limit", definition)
    assert described["status"] == "FAILED"
    assert described.get("error") == "States.DataLimitExceeded"


def test_a_terminal_error_passes_every_retry_and_catch_as_on_aws(local: session.LocalDeployer) -> None:
    """States.DataLimitExceeded is "a terminal error that can't be caught by the States.ALL error
    type" (Step Functions Developer Guide): a task whose result is over 256 KiB (a DynamoDB item
    read through the SDK integration) fails the execution past a States.ALL Retry and Catch —
    where moto alone would retry it and run the Catch."""
    sfn = local.aws.client("stepfunctions")
    dynamodb = local.aws.client("dynamodb")
    dynamodb.create_table(
        TableName="probe-terminal",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="probe-terminal", Item={"k": {"S": "big"}, "v": {"S": "x" * (300 * 1024)}})
    definition = {
        "StartAt": "Read",
        "States": {
            "Read": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
                "Parameters": {"TableName": "probe-terminal", "Key": {"k": {"S": "big"}}},
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    execution, described = _probe(sfn, "probe-terminal-error", definition)
    assert (described["status"], described.get("error")) == ("FAILED", "States.DataLimitExceeded")
    history = sfn.get_execution_history(executionArn=execution)["events"]
    assert [e["type"] for e in history].count("TaskScheduled") == 1  # not retried
    assert not any(e.get("stateEnteredEventDetails", {}).get("name") == "Caught" for e in history)


def test_a_spec_far_over_the_state_limit_runs(local: session.LocalDeployer, tmp_path: Path) -> None:
    """A spec of some 300 KiB once validated (forty Pod Identity roles with inline policies):
    the workflow's state carries its key, not the spec, so Step Functions' 256 KiB limit is no
    limit on a spec (which `validate` caps at 1 MiB)."""
    identities = pod_identities(40, 100)
    text = QUICKSTART.replace("name: quickstart", "name: sizable") + f"  podIdentities: {json.dumps(identities)}\n"
    spec = _spec(tmp_path, "sizable", text)
    from clusterdrop.spec.source import load_spec

    normalized = load_spec(spec.read_bytes()).cluster.model_dump_json(by_alias=True, exclude_none=True)
    assert len(normalized) > 256 * 1024
    created = _run(local, spec)
    assert created["status"] == "SUCCEEDED", (created["notifications"]["sns"] or {}).get("text")
    eks = local.aws.client("eks")
    assert len(eks.list_pod_identity_associations(clusterName="sizable")["associations"]) == 40
