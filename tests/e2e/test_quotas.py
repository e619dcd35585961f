"""Service quotas end to end in the embedded mode: creates submitted at once share what the account
has left (the last ones end at Plan with nothing created), a spec needing vCPUs the account does
not have is refused the same way, and — the preflight switched off — AWS's own refusal mid-create
is rolled back, cleaned up and coded. Runs after test_embedded.py, on the same deployer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from clusterdrop import ops
from clusterdrop.aws import stacks
from clusterdrop.local import session
from clusterdrop.local.aws import ACCOUNT
from tests.e2e.test_embedded import QUICKSTART, _executions, _wait_for

GPU_GROUP = "    - name: gpu\n      instanceTypes: [g5.xlarge]\n      desiredSize: 1\n"


def _named(name: str) -> str:
    return QUICKSTART.replace("name: quickstart", f"name: {name}")


_SEEN: list[dict[str, Any]] = []  # the queue is drained as it is read: what was read so far


def _outcome(local: session.LocalDeployer, cluster: str) -> dict[str, Any]:
    _SEEN.extend(json.loads(m["Message"])["outcome"] for m in local.notifications())
    return next(o for o in reversed(_SEEN) if o["cluster"] == cluster)


def _ended(local: session.LocalDeployer, cluster: str) -> str:
    _wait_for(lambda: any(e["status"] != "RUNNING" for e in _executions(local, cluster)), timeout=300)
    return str(_executions(local, cluster)[0]["status"])


@pytest.fixture
def account(local: session.LocalDeployer) -> Iterator[Any]:
    quotas = local.aws.account_quotas
    before = dict(quotas.applied)
    yield quotas
    with quotas.lock:
        quotas.applied.clear()
        quotas.applied.update(before)


def test_creates_at_once_share_the_vpc_quota_and_the_rest_end_at_plan(
    local: session.LocalDeployer, account: Any
) -> None:
    ec2 = local.aws.client("ec2")
    cfn = local.aws.client("cloudformation")
    sq = local.aws.client("service-quotas")
    in_use = {
        "vpcs": len(ec2.describe_vpcs()["Vpcs"]),
        "internet-gateways": len(ec2.describe_internet_gateways()["InternetGateways"]),
        "elastic-ips": len(ec2.describe_addresses()["Addresses"]),
    }
    # Room for two more VPCs; gateways and addresses raised past them, so the VPCs are what runs out.
    account.set("vpcs", in_use["vpcs"] + 2)
    account.set("internet-gateways", in_use["internet-gateways"] + 10)
    account.set("elastic-ips", in_use["elastic-ips"] + 10)
    account.reset("vcpus-g-vt")  # a new account's: no G instances
    assert sq.get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")["Quota"]["Value"] == in_use["vpcs"] + 2
    with pytest.raises(sq.exceptions.NoSuchResourceException):  # never changed: only the default is known
        sq.get_service_quota(ServiceCode="ec2", QuotaCode="L-DB2E81BA")

    s3 = local.aws.client("s3")
    names = ["quota-a", "quota-b", "quota-c"]
    # Their secrets encrypted with a key of the account (the stacks' role may use it, EKS checks it).
    # The key policy lets the account's IAM decide, and the Auto Scaling service-linked role (which
    # launches the nodes) use the key: without it EC2 does not start the nodes (InvalidKMSKey).
    autoscaling = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
             "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": autoscaling},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
                        "kms:CreateGrant"], "Resource": "*"},
        ],
    }  # fmt: skip
    key = local.aws.client("kms").create_key(Description="cluster secrets", Policy=json.dumps(policy))
    key = key["KeyMetadata"]["Arn"]
    encrypted = f"  controlPlane:\n    secretsKey: {key}\n"
    # Their audit logs kept a week: the stack makes the log group, with that retention, before the cluster.
    encrypted += "    logging: [audit]\n    logRetentionDays: 7\n"
    # And their nodes' volumes: gp3 with provisioned performance, encrypted with that key.
    volume = f"      volume: {{iops: 4000, throughput: 250, kmsKeyId: '{key}'}}\n"
    # Running Bottlerocket, with EKS's node auto repair on.
    volume += "      amiFamily: bottlerocket\n      nodeRepair: {enabled: true}\n      instanceName: quota-node\n"
    # And IAM roles for two service accounts (EKS Pod Identity): an existing role, and one made.
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
             "Action": ["sts:AssumeRole", "sts:TagSession"]}]}  # fmt: skip
    app_role = local.aws.client("iam").create_role(RoleName="quota-app", AssumeRolePolicyDocument=json.dumps(trust))
    # The role made for the second one named (as the company's IAM conventions want: the same
    # name in every account) and bounded by the company's permissions boundary.
    bounds = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}
    boundary = local.aws.client("iam").create_policy(PolicyName="quota-boundary", PolicyDocument=json.dumps(bounds))
    boundary = boundary["Policy"]["Arn"]
    identities = (
        "  podIdentities:\n"
        f"    - {{namespace: payments, serviceAccount: api, roleArn: '{app_role['Role']['Arn']}',\n"
        "       targetRoleArn: 'arn:aws:iam::444455556666:role/reports'}\n"
        "    - {namespace: default, serviceAccount: reader, policyArns: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess],\n"
        f"       createServiceAccount: true, labels: {{team: data}}, roleName: NAME-reader, permissionsBoundaryArn: '{boundary}'}}\n"
        "  addonTags: {pod-identity-agent: {owner: identity}}\n"
    )
    # And a viewer: EKS's view access policy, in one namespace only.
    account_trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    viewer = local.aws.client("iam").create_role(
        RoleName="quota-viewer", AssumeRolePolicyDocument=json.dumps(account_trust)
    )["Role"]["Arn"]
    access = f"  access:\n    - principal: {viewer}\n      policies: [{{policy: view, namespaces: [payments]}}]\n"
    # And people signing in through the company's OIDC provider.
    sso = (
        "  identityProviders:\n    - {name: corp-sso, issuerUrl: 'https://login.example.com', clientId: kubernetes, "
        "groupsClaim: groups, groupsPrefix: 'sso:'}\n"
    )
    for name in names:
        text = _named(name).replace("  region: eu-west-1\n", "  region: eu-west-1\n" + encrypted)
        text = text.replace("      maxSize: 4\n", "      maxSize: 4\n" + volume) + identities.replace("NAME", name)
        text += access + sso
        ops.submit(s3, local.deployer, name, text.encode(), plan=False, suffix=".yaml")
    ops.submit(s3, local.deployer, "quota-gpu", (_named("quota-gpu") + GPU_GROUP).encode(), plan=False, suffix=".yaml")
    ended = {name: _ended(local, name) for name in [*names, "quota-gpu"]}

    assert sorted(ended[n] for n in names) == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    [refused] = [n for n in names if ended[n] == "FAILED"]
    failure = _outcome(local, refused)["failure"]
    assert failure["code"] == "ERR_QUOTA_EXCEEDED"
    assert failure["step"] == "Plan"
    # Full with the other two: created already (in use) or still creating (reserved).
    found = re.search(
        r"VPCs per Region \(vpc L-F678F1CE\): the cluster needs 1; (\d+) of (\d+) in use(?:, (\d+) more reserved)?",
        failure["cause"],
    )
    assert found is not None, failure["cause"]
    assert int(found[1]) + int(found[3] or 0) == int(found[2]) == in_use["vpcs"] + 2
    # The embedded account has no console: the cause names the option that raises its quota.
    assert "start it with more: clusterdrop local up (or run) --quota vpcs=N" in failure["cause"]
    assert "console.aws.amazon.com" not in failure["cause"]
    assert stacks.status(cfn, f"clusterdrop-{refused}") is None  # nothing created
    assert len(ec2.describe_vpcs()["Vpcs"]) == in_use["vpcs"] + 2
    # The nodes are EC2 instances, as EKS's Auto Scaling groups launch them: what the vCPU quotas count.
    for name in (n for n in names if ended[n] == "SUCCEEDED"):
        tagged = [{"Name": "tag:eks:cluster-name", "Values": [name]}]
        nodes = [i for r in ec2.describe_instances(Filters=tagged)["Reservations"] for i in r["Instances"]]
        assert sorted(i["InstanceType"] for i in nodes) == ["t3.medium", "t3.medium"]
        # Named by the launch template's instance tags, as EC2 Auto Scaling names them.
        assert [next(t["Value"] for t in i["Tags"] if t["Key"] == "Name") for i in nodes] == ["quota-node"] * 2
        attached = [{"Name": "attachment.instance-id", "Values": [i["InstanceId"] for i in nodes]}]
        volumes = ec2.describe_volumes(Filters=attached)["Volumes"]
        # Bottlerocket's data volume (/dev/xvdb) is the one the spec sizes; its OS volume is its own.
        data = [v for v in volumes if v["Attachments"][0]["Device"] == "/dev/xvdb"]
        assert [(v["VolumeType"], v["Size"], v.get("Iops"), v.get("Throughput"), v["Encrypted"], v.get("KmsKeyId"))
                for v in data] == [("gp3", 80, 4000, 250, True, key)] * 2  # fmt: skip
        eks = local.aws.client("eks")
        group = eks.describe_nodegroup(clusterName=name, nodegroupName="workers")["nodegroup"]
        assert group["amiType"] == "BOTTLEROCKET_x86_64"
        assert group["nodeRepairConfig"] == {"enabled": True}
        assert "id" in group["launchTemplate"]
        kube_nodes = local.aws.eks.clusters[name].api.store.objects[("", "nodes")].values()
        assert [n["status"]["nodeInfo"]["osImage"].split(" (")[0] for n in kube_nodes] == ["Bottlerocket OS 1.50.0"] * 2
        described = eks.describe_cluster(name=name)["cluster"]
        assert described["encryptionConfig"] == [{"resources": ["secrets"], "provider": {"keyArn": key}}]
        [log_group] = local.aws.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/eks/{name}/")["logGroups"]
        assert (log_group["logGroupName"], log_group.get("retentionInDays")) == (f"/aws/eks/{name}/cluster", 7)
        associations = eks.list_pod_identity_associations(clusterName=name)["associations"]
        assert [(a["namespace"], a["serviceAccount"]) for a in associations] == [
            ("default", "reader"),
            ("payments", "api"),
        ]
        roles = [
            eks.describe_pod_identity_association(clusterName=name, associationId=a["associationId"])["association"][
                "roleArn"
            ]
            for a in associations
        ]
        assert roles[1] == app_role["Role"]["Arn"]
        chained = eks.describe_pod_identity_association(
            clusterName=name, associationId=associations[1]["associationId"]
        )
        assert chained["association"]["targetRoleArn"] == "arn:aws:iam::444455556666:role/reports"
        # The reader's service account, created by the workflow (pods cannot name a missing one).
        accounts = local.aws.eks.clusters[name].api.store.objects[("", "serviceaccounts")]
        assert accounts[("default", "reader")]["metadata"]["labels"]["team"] == "data"
        assert ("payments", "api") not in accounts  # not asked for
        made = local.aws.client("iam").get_role(RoleName=roles[0].rsplit("/", 1)[1])["Role"]
        assert made["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        assert (
            roles[0] == f"arn:aws:iam::{ACCOUNT}:role/clusterdrop/{name}-reader"
        )  # the spec's name, clusterdrop's path
        assert made["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
        agent_tags = eks.describe_addon(clusterName=name, addonName="eks-pod-identity-agent")["addon"]["tags"]
        assert (agent_tags["owner"], agent_tags["clusterdrop:cluster"]) == ("identity", name)
        agents = local.aws.eks.clusters[name].api.store.objects[("apps", "daemonsets")][
            ("kube-system", "eks-pod-identity-agent")
        ]
        assert agents["status"]["numberReady"] == 2  # on every node
        _the_viewer_views_its_namespace_only(local, name, viewer)
        assert eks.list_identity_provider_configs(clusterName=name)["identityProviderConfigs"] == [
            {"type": "oidc", "name": "corp-sso"}
        ]
        oidc = eks.describe_identity_provider_config(
            clusterName=name, identityProviderConfig={"type": "oidc", "name": "corp-sso"}
        )["identityProviderConfig"]["oidc"]
        assert (oidc["issuerUrl"], oidc["clientId"], oidc["groupsClaim"], oidc["groupsPrefix"], oidc["status"]) == (
            "https://login.example.com", "kubernetes", "groups", "sso:", "ACTIVE"
        )  # fmt: skip

    assert ended["quota-gpu"] == "FAILED"
    gpu = _outcome(local, "quota-gpu")["failure"]
    assert gpu["code"] == "ERR_QUOTA_EXCEEDED"
    assert "Running On-Demand G and VT instances (ec2 L-DB2E81BA): the cluster needs 4 vCPUs; 0 of 0" in gpu["cause"]
    assert stacks.status(cfn, "clusterdrop-quota-gpu") is None

    # What the successful creates reserved was released with their locks: their VPCs count now.
    table = local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(local.deployer.clusters_table)
    held = table.get_item(Key={"cluster": "#quota-reservations"}).get("Item") or {}
    assert held.get("holds", {}) == {}

    # The preflight switched off (quotaPreflight false): EC2 refuses the VPC in the middle of the
    # cluster stack; the stack rolls back, the clean-up deletes it, the failure is coded.
    lam = local.aws.client("lambda")
    definition = json.loads(
        local.aws.client("stepfunctions").describe_state_machine(stateMachineArn=local.deployer.deploy_machine)[
            "definition"
        ]
    )
    plan_function = definition["States"]["Plan"]["Resource"]
    environment = lam.get_function_configuration(FunctionName=plan_function)["Environment"]["Variables"]
    lam.update_function_configuration(
        FunctionName=plan_function, Environment={"Variables": {**environment, "QUOTA_PREFLIGHT": "off"}}
    )
    try:
        ops.submit(s3, local.deployer, "quota-late", _named("quota-late").encode(), plan=False, suffix=".yaml")
        assert _ended(local, "quota-late") == "FAILED"
    finally:
        lam.update_function_configuration(FunctionName=plan_function, Environment={"Variables": environment})
    late = _outcome(local, "quota-late")["failure"]
    assert late["code"] == "ERR_QUOTA_EXCEEDED"
    assert late["step"] != "Plan"
    assert "The maximum number of VPCs has been reached." in late["cause"]
    assert "clusterdrop-quota-late" in late["cleaned_up"]
    assert stacks.status(cfn, "clusterdrop-quota-late") is None
    assert len(ec2.describe_vpcs()["Vpcs"]) == in_use["vpcs"] + 2
    assert len(ec2.describe_internet_gateways()["InternetGateways"]) == in_use["internet-gateways"] + 2


def test_nodes_do_not_start_on_a_volume_key_the_autoscaling_role_cannot_use(local: session.LocalDeployer) -> None:
    """EC2 Auto Scaling launches a managed node group's instances as its service-linked role, which
    may use a customer managed key only if the key policy says so (else InvalidKMSKey)."""
    from clusterdrop.local.eks import resources

    kms, ec2 = local.aws.client("kms"), local.aws.client("ec2")
    default_policy = kms.create_key(Description="root only")["KeyMetadata"]["Arn"]
    disabled = kms.create_key(Description="disabled")["KeyMetadata"]
    kms.disable_key(KeyId=disabled["KeyId"])

    def refusal(key: str) -> tuple[str, str] | None:
        mapping = {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20, "Encrypted": True, "KmsKeyId": key}}
        template = ec2.create_launch_template(
            LaunchTemplateName=f"volume-key-{key.rsplit('/', 1)[1][:8]}",
            LaunchTemplateData={"BlockDeviceMappings": [mapping]},
        )["LaunchTemplate"]
        p = {"LaunchTemplate": {"Id": template["LaunchTemplateId"], "Version": "1"}}
        return resources._volume_key_refusal(p, ACCOUNT, local.aws.region)

    refused = refusal(default_policy)
    assert refused is not None
    assert refused[0] == "Client.InvalidKMSKey.InvalidState"
    assert "does not let AWSServiceRoleForAutoScaling use it" in refused[1]
    assert "incorrect state" in str(refusal(disabled["Arn"]))


def _the_viewer_views_its_namespace_only(local: session.LocalDeployer, name: str, viewer: str) -> None:
    """An access entry's policy and scope decide what its principal may do (403 Forbidden, as the
    API server words it, for the rest)."""
    from botocore.credentials import Credentials
    from kubernetes import client as kube_client
    from kubernetes.client.exceptions import ApiException

    from clusterdrop.kube.connect import for_eks

    cluster = local.aws.client("eks").describe_cluster(name=name)["cluster"]
    creds = local.aws.client("sts").assume_role(RoleArn=viewer, RoleSessionName="viewer")["Credentials"]
    as_viewer = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    core: Any = kube_client.CoreV1Api(
        for_eks(cluster["endpoint"], cluster["certificateAuthority"]["data"], name, local.aws.region, as_viewer)
    )
    assert core.list_namespaced_pod("payments").items == []
    calls: list[tuple[Callable[[], Any], str]] = [
        (lambda: core.list_namespaced_pod("kube-system"), 'cannot list resource "pods" in API group "" in the namespace "kube-system"'),
        (lambda: core.list_node(), 'cannot list resource "nodes" in API group "" at the cluster scope'),
        (lambda: core.create_namespaced_config_map("payments", {"metadata": {"name": "x"}}), 'cannot create resource "configmaps"'),
        (lambda: core.list_namespaced_secret("payments"), 'cannot list resource "secrets"'),
    ]  # fmt: skip
    for call, what in calls:
        with pytest.raises(ApiException) as refused:
            call()
        assert refused.value.status == 403
        status = json.loads(refused.value.body or "{}")
        assert status["reason"] == "Forbidden"
        assert f'User "{viewer}" {what}' in status["message"]
