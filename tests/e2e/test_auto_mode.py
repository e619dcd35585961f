"""EKS Auto Mode end to end in the embedded mode: a cluster without node groups is created, its
first pods get a node from a built-in pool, the workflow validates Auto Mode's node class and
pools instead of CoreDNS, a pool is removed in place, and the teardown leaves nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clusterdrop.local import session
from tests.conftest import REPO
from tests.e2e.test_embedded import _run, _spec, _torn_down, _wait_for

AUTO = (REPO / "examples" / "auto-mode.yaml").read_text()
NAME = "auto-mode"


def _pool_nodes(local: session.LocalDeployer) -> dict[str, str]:
    """Each node's pool, as Auto Mode labels its nodes."""
    nodes = local.aws.eks.clusters[NAME].api.store.objects[("", "nodes")].values()
    assert all(n["metadata"]["labels"]["eks.amazonaws.com/compute-type"] == "auto" for n in nodes)
    return {n["metadata"]["name"]: n["metadata"]["labels"]["karpenter.sh/nodepool"] for n in nodes}


def test_an_auto_mode_cluster_starts_nodes_for_its_pods_and_validates_its_pools(
    local: session.LocalDeployer, tmp_path: Path
) -> None:
    created = _run(local, _spec(tmp_path, NAME, AUTO))
    sns = created["notifications"]["sns"]
    assert created["status"] == "SUCCEEDED", (sns or {}).get("text")
    table = sns["outcome"]["validation"]
    for row in ("NodeClass  default          ok", "NodePool   general-purpose  ok", "NodePool   system           ok"):
        assert row in table
    assert "coredns" not in table  # Auto Mode runs DNS on its nodes, outside Kubernetes
    assert "CNI: aws-vpc-cni (run by EKS Auto Mode on its nodes)" in sns["text"]
    names = [s["name"] for s in created["steps"]]
    assert "Apply CNI" not in names

    # What EKS reports: compute, storage and load balancing on, the node pools with the stack's node
    # role, which EKS gave an access entry of its own (type EC2); no managed node group.
    eks = local.aws.client("eks")
    cluster = eks.describe_cluster(name=NAME)["cluster"]
    node_role = cluster["computeConfig"]["nodeRoleArn"]
    assert cluster["computeConfig"] == {
        "enabled": True,
        "nodePools": ["general-purpose", "system"],
        "nodeRoleArn": node_role,
    }
    assert cluster["storageConfig"] == {"blockStorage": {"enabled": True}}
    assert cluster["kubernetesNetworkConfig"]["elasticLoadBalancing"] == {"enabled": True}
    assert eks.list_nodegroups(clusterName=NAME)["nodegroups"] == []
    assert eks.describe_access_entry(clusterName=NAME, principalArn=node_role)["accessEntry"]["type"] == "EC2"
    assert eks.list_addons(clusterName=NAME)["addons"] == ["metrics-server"]  # no VPC CNI, kube-proxy, CoreDNS

    # metrics-server's pods needed a node: Auto Mode started one from the pool that takes them,
    # an EC2 instance of the account (what its vCPU quotas count).
    pools = _pool_nodes(local)
    assert len(pools) >= 1
    store = local.aws.eks.clusters[NAME].api.store
    running = [p for p in store.objects[("", "pods")].values() if p["metadata"]["namespace"] == "kube-system"]
    assert running
    assert all(p["status"]["phase"] == "Running" and p["spec"]["nodeName"] in pools for p in running)
    ec2 = local.aws.client("ec2")
    tagged = [
        {"Name": "tag:eks:cluster-name", "Values": [NAME]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]
    instances = [i for r in ec2.describe_instances(Filters=tagged)["Reservations"] for i in r["Instances"]]
    assert sorted(
        next(t["Value"] for t in i["Tags"] if t["Key"] == "eks:kubernetes-node-pool-name") for i in instances
    ) == sorted(pools.values())
    assert {o["metadata"]["name"] for (_, _), o in store.objects[("karpenter.sh", "nodepools")].items()} == {
        "general-purpose",
        "system",
    }

    assert eks.describe_addon(clusterName=NAME, addonName="metrics-server")["addon"]["addonVersion"] == (
        "v0.8.0-eksbuild.1"  # EKS's default for the version: nothing pinned
    )
    # A pin EKS does not offer for the cluster's version is refused at Plan, naming what it offers.
    unknown = AUTO + "  addonVersions: {metrics-server: v0.6.0-eksbuild.1}\n"
    refused = _run(local, _spec(tmp_path, NAME, unknown), plan=True)
    failure = refused["notifications"]["sns"]["outcome"]["failure"]
    assert (refused["status"], failure["step"]) == ("FAILED", "Plan")
    assert "spec.addonVersions.metrics-server: v0.6.0-eksbuild.1 is not offered for Kubernetes 1.36" in failure["cause"]
    assert "v0.8.0-eksbuild.1, v0.7.2-eksbuild.1" in failure["cause"]

    # A pool removed in place (UpdateClusterConfig): its NodePool and nodes go, its pods move to a
    # node of the pool that is left. And metrics-server pinned to the older version EKS offers.
    changed = AUTO.replace("nodePools: [general-purpose, system]", "nodePools: [general-purpose]")
    changed += "  addonVersions: {metrics-server: v0.7.2-eksbuild.1}\n"
    updated = _run(local, _spec(tmp_path, NAME, changed))
    assert updated["status"] == "SUCCEEDED", (updated["notifications"]["sns"] or {}).get("text")
    pinned = eks.describe_addon(clusterName=NAME, addonName="metrics-server")["addon"]["addonVersion"]
    assert pinned == "v0.7.2-eksbuild.1"
    assert "metrics-server v0.8.0-eksbuild.1 → v0.7.2-eksbuild.1" in updated["notifications"]["sns"]["text"]
    assert eks.describe_cluster(name=NAME)["cluster"]["computeConfig"]["nodePools"] == ["general-purpose"]
    assert set(_pool_nodes(local).values()) == {"general-purpose"}
    assert list(store.objects[("karpenter.sh", "nodepools")]) == [("", "general-purpose")]

    # Pods that need another node get one; once they are gone, so is the node (the pool consolidates)
    # and its instance.
    nodes_before = set(_pool_nodes(local))
    pods = store.types[("", "pods")]
    for n in (1, 2):  # one host port: the second pod cannot share a node with the first
        store.create(pods, "v1", "default", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"burst-{n}"},
                     "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80,
                                                                                          "hostPort": 9999}]}]}})  # fmt: skip

    def is_running(name: str) -> bool:
        pod = store.objects[("", "pods")].get(("default", name))
        return pod is not None and pod.get("status", {}).get("phase") == "Running"

    _wait_for(lambda: is_running("burst-1") and is_running("burst-2"), timeout=60)
    grown = set(_pool_nodes(local))
    assert len(grown) == len(nodes_before) + 1
    [added] = grown - nodes_before
    for n in (1, 2):
        store.delete(pods, "v1", "default", f"burst-{n}")
    _wait_for(lambda: added not in _pool_nodes(local), timeout=60)
    gone = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [added]}])["Reservations"]
    assert [i["State"]["Name"] for r in gone for i in r["Instances"]] == ["terminated"]

    # Switching to managed node groups is refused by field, the cluster untouched.
    switched = _run(local, _spec(tmp_path, NAME, (REPO / "examples" / "quickstart.yaml").read_text().replace(
        "name: quickstart", f"name: {NAME}")))  # fmt: skip
    failure = switched["notifications"]["sns"]["outcome"]["failure"]
    assert (switched["status"], failure["step"]) == ("FAILED", "Plan")
    assert "spec.computeMode: cannot change on a running cluster" in failure["cause"]

    # The teardown leaves nothing: stacks, cluster, agent, the Auto Mode instances.
    _torn_down(local, NAME)


def _auto_cluster_stack(subnets: list[str], *, trust: list[str], storage: bool = True) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": trust}
    template = {
        "Resources": {
            "ClusterRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}},
            },
            "NodeRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}},
            },
            "Cluster": {
                "Type": "AWS::EKS::Cluster",
                "Properties": {
                    "Name": f"auto-{'-'.join(trust).replace(':', '').lower()}-{storage}".lower(),
                    "RoleArn": {"Fn::GetAtt": ["ClusterRole", "Arn"]},
                    "ResourcesVpcConfig": {"SubnetIds": subnets},
                    "ComputeConfig": {"Enabled": True, "NodePools": ["system"],
                                      "NodeRoleArn": {"Fn::GetAtt": ["NodeRole", "Arn"]}},
                    "StorageConfig": {"BlockStorage": {"Enabled": storage}},
                    "KubernetesNetworkConfig": {"ElasticLoadBalancing": {"Enabled": True}},
                },
            },
        }
    }  # fmt: skip
    return json.dumps(template)


def _two_subnets(local: session.LocalDeployer, octet: int) -> list[str]:
    """Subnets in two zones of a new VPC 10.OCTET.0.0/16, for a cluster stack of the test's own."""
    ec2 = local.aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=f"10.{octet}.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    return [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{octet}.{i}.0/24", AvailabilityZone=z)["Subnet"]["SubnetId"]
        for i, z in enumerate(zones)
    ]


def test_the_emulated_eks_refuses_an_auto_mode_cluster_as_eks_does(local: session.LocalDeployer) -> None:
    """A cluster role whose trust lacks sts:TagSession, or Auto Mode's three parts enabled apart:
    the cluster's create fails, naming why."""
    cfn = local.aws.client("cloudformation")
    subnets = _two_subnets(local, 91)
    cases = {
        "auto-trust": (_auto_cluster_stack(subnets, trust=["sts:AssumeRole"]), "for sts:TagSession as well"),
        "auto-apart": (_auto_cluster_stack(subnets, trust=["sts:AssumeRole", "sts:TagSession"], storage=False),
                       "must all have the same value"),
    }  # fmt: skip
    for stack, (body, words) in cases.items():
        cfn.create_stack(StackName=stack, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
        failed = [e for e in events if e["LogicalResourceId"] == "Cluster" and e["ResourceStatus"] == "CREATE_FAILED"]
        assert failed, [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]
        assert words in failed[0]["ResourceStatusReason"]
        cfn.delete_stack(StackName=stack)
    # Refused at create: no cluster of either name exists.
    assert [c for c in local.aws.client("eks").list_clusters()["clusters"] if c.startswith("auto-sts")] == []


def test_the_emulated_eks_associates_one_identity_provider_per_cluster(local: session.LocalDeployer) -> None:
    """A second OIDC identity provider config for a cluster fails, as EKS takes one per cluster."""
    cfn = local.aws.client("cloudformation")
    subnets = _two_subnets(local, 92)
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}  # fmt: skip

    def provider(name: str) -> dict[str, Any]:
        return {
            "Type": "AWS::EKS::IdentityProviderConfig",
            "Properties": {
                "ClusterName": {"Ref": "Cluster"},
                "Type": "oidc",
                "IdentityProviderConfigName": name,
                "Oidc": {"IssuerUrl": f"https://{name}.example.com", "ClientId": "kubernetes"},
            },
        }

    template = {
        "Resources": {
            "ClusterRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}},
            "Cluster": {
                "Type": "AWS::EKS::Cluster",
                "Properties": {
                    "Name": "two-providers",
                    "RoleArn": {"Fn::GetAtt": ["ClusterRole", "Arn"]},
                    "ResourcesVpcConfig": {"SubnetIds": subnets},
                },
            },
            "First": provider("first"),
            "Second": {**provider("second"), "DependsOn": "First"},
        }
    }
    cfn.create_stack(StackName="two-providers", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    events = cfn.describe_stack_events(StackName="two-providers")["StackEvents"]
    [failed] = [e for e in events if e["LogicalResourceId"] == "Second" and e["ResourceStatus"] == "CREATE_FAILED"]
    assert (
        "already has identity provider config first associated; a cluster takes one" in failed["ResourceStatusReason"]
    )
    cfn.delete_stack(StackName="two-providers")
