"""`clusterdrop local up` and `local run`: the whole deployer on one machine.

up: the embedded AWS starts, the CDK app is synthesized (with the embedded mode's short poll
intervals) and deployed into it, a Slack webhook receiver and an SQS queue subscribed to the
topic make notifications observable as delivered. run: up, submit a spec, watch the execution
until it ends, and report what happened (including anything a failed creation left behind).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from clusterdrop import ops
from clusterdrop.history import step_timings
from clusterdrop.local.aws import ADMIN_ARN, EmbeddedAws
from clusterdrop.local.receiver import JsonReceiver
from clusterdrop.render.common import CLUSTER_TAG, NAME_PREFIX, agent_function_name

REPO = Path(__file__).resolve().parents[2]
STACK = "clusterdrop"
DEFAULT_REGION = "eu-west-1"


class Inbox:
    """Where `local up` leaves each notification as a person would get it: the email's text and
    the Slack message, one file each, numbered in arrival order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.lock = threading.Lock()
        # An HTTP subscription to the topic stands in for the email one (moto delivers no email):
        # it gets the same text, the message's "default" (notify.sns_message).
        self.mail = JsonReceiver(self._email, path="/email")

    def _next(self, suffix: str) -> Path:
        with self.lock:
            self.count += 1
            return self.directory / f"{self.count:03d}-{suffix}"

    def _email(self, delivery: dict[str, Any]) -> None:
        text = f"Subject: {delivery.get('Subject', '')}\n\n{delivery.get('Message', '')}"
        self._next("email.txt").write_text(text, encoding="utf-8")

    def slack(self, payload: dict[str, Any]) -> None:
        self._next("slack.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    def stop(self) -> None:
        self.mail.stop()


class SlackReceiver:
    """A local incoming webhook: records every payload posted to it (and leaves it in the inbox)."""

    def __init__(self, inbox: Inbox | None = None) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.inbox = inbox
        self.receiver = JsonReceiver(self._receive, path="/slack")

    def _receive(self, payload: dict[str, Any]) -> None:
        self.payloads.append(payload)
        if self.inbox is not None:
            self.inbox.slack(payload)

    @property
    def url(self) -> str:
        return self.receiver.url

    def stop(self) -> None:
        self.receiver.stop()


def quiet_logs() -> None:
    """The emulators log every request and every expected failure: keep only what is wrong."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("werkzeug", "moto", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # moto's ASL interpreter logs every Fail state as an error: the workflow's own failure path.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)


# Synthesized cloud assemblies, by what they are made from: a synth takes ~10 s and copies every
# bundle into the assembly, and `local up` (the tests start two) would do it again each time.
SYNTH_CACHE = REPO / "build" / "embedded-cdk-out"
_SYNTH_INPUTS = ("app.py", "cdk.json", "stacks", "statemachine", "clusterdrop", "requirements.txt")
_KEEP = 2


def _synth_context() -> dict[str, str]:
    # The embedded administrator may use every cluster (its access entry), as on AWS a platform
    # team names itself in clusterAdmins.
    return {"embedded": "true", "clusterAdmins": ADMIN_ARN}


def synth_key() -> str:
    """What the assembly is made from: the sources' contents, the bundles' files (by size and
    modification time: `make build` rewrites what it rebuilds) and the context."""
    digest = hashlib.sha256(json.dumps(_synth_context(), sort_keys=True).encode())
    for name in _SYNTH_INPUTS:
        root = REPO / name
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" not in path.parts:
                digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    build = REPO / "build"
    for part in ("functions", "layer", "agent"):
        for path in sorted(p for p in (build / part).rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(build).as_posix()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def synthesize(out_dir: Path | None = None) -> Path:
    """The same CDK app as `cdk deploy`, with the embedded mode's short intervals: from the cache
    when nothing it is made from changed (`out_dir`: synthesize there instead, uncached)."""
    if out_dir is not None:
        return _synth(out_dir)
    cached = SYNTH_CACHE / synth_key()
    if (cached / "manifest.json").is_file():
        return cached
    SYNTH_CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".synth-", dir=SYNTH_CACHE))
    _synth(staging)
    try:
        staging.rename(cached)
    except OSError:  # another `local up` made it first: the same assembly
        shutil.rmtree(staging, ignore_errors=True)
    for old in sorted(
        (p for p in SYNTH_CACHE.iterdir() if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime
    )[:-_KEEP]:
        if old != cached:
            shutil.rmtree(old, ignore_errors=True)
    return cached


def _synth(out_dir: Path) -> Path:
    env = {
        **os.environ,
        "CDK_OUTDIR": str(out_dir),
        "CDK_CONTEXT_JSON": json.dumps(_synth_context()),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    done = subprocess.run(  # noqa: S603 - our own app
        [sys.executable, str(REPO / "app.py")], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"cdk synth failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return out_dir


def tampered_mirror(source: Path, target: Path) -> Path:
    """A copy of a CNI mirror whose files are all altered by one byte (the cni-digest fault)."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file():
            data = path.read_bytes()
            altered = data.replace(b"apiVersion", b"apiversion", 1)
            (target / path.name).write_bytes(altered if altered != data else data + b"\0")  # an archive: a byte more
    return target


def rendered_mirror(source: Path, target: Path) -> Path:
    """The CNI mirror the embedded functions read: the given one's files, and what the catalog
    renders from the charts among them — rendered here, on the person's machine, as `clusterdrop
    cni mirror` does before a real deployment (the functions never render). A chart that is not
    there, or not the official one, is left to the functions to report."""
    from clusterdrop.cni import catalog, render
    from clusterdrop.cni.fetch import DirectoryMirror, stage
    from clusterdrop.errors import ClusterdropError

    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and not (target / path.name).exists():
            (target / path.name).symlink_to(path)
    if not render.available():
        return target
    mirror = DirectoryMirror(target)
    for release in catalog.CATALOG:
        for mode, artifacts in release.modes.items():
            if any(a.render is not None for a in artifacts):
                with contextlib.suppress(ClusterdropError):
                    stage(release, mode, mirror, fetch=_offline)
    return target


def _offline(url: str) -> bytes:
    raise OSError(f"the embedded mode does not download ({url})")


@dataclass
class LocalDeployer:
    aws: EmbeddedAws
    deployer: ops.Deployer
    outputs: dict[str, str]
    slack: SlackReceiver
    queue_url: str
    workdir: Path
    faults: set[str] = field(default_factory=set)
    # Where each execution's status page is saved (a file that outlives the embedded AWS).
    pages: Path | None = None

    @property
    def environment(self) -> dict[str, str]:
        """What another shell exports to use this deployer (aws CLI, clusterdrop submit/watch)."""
        return {
            "AWS_ENDPOINT_URL": self.aws.url,
            "AWS_ACCESS_KEY_ID": self.aws.admin_keys[0],
            "AWS_SECRET_ACCESS_KEY": self.aws.admin_keys[1],
            "AWS_DEFAULT_REGION": self.aws.region,
            "CLUSTERDROP_STACK": STACK,
        }

    def stop(self) -> None:
        self.slack.stop()
        if self.slack.inbox is not None:
            self.slack.inbox.stop()  # its files stay: they are the user's
        self.aws.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def notifications(self, timeout: float = 10) -> list[dict[str, Any]]:
        """Messages delivered to the queue subscribed to the topic, as delivered."""
        sqs = self.aws.client("sqs")
        deadline = time.monotonic() + timeout
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            response = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = response.get("Messages", [])
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if found and not messages:  # drained
                return found
            if not messages:
                time.sleep(0.2)
        return found

    def leftovers(self, cluster: str) -> list[str]:
        """Stacks, EKS clusters, agent functions and node instances of a cluster still in the emulator."""
        cfn, eks, lam = self.aws.client("cloudformation"), self.aws.client("eks"), self.aws.client("lambda")
        out = [
            f"stack {s['StackName']}"
            for s in cfn.list_stacks()["StackSummaries"]
            if s["StackStatus"] != "DELETE_COMPLETE"
            and (
                s["StackName"] == f"{NAME_PREFIX}{cluster}" or s["StackName"].startswith(f"{NAME_PREFIX}{cluster}-ng-")
            )
        ]
        out += [f"eks cluster {c}" for c in eks.list_clusters()["clusters"] if c == cluster]
        out += [
            f"function {f['FunctionName']}"
            for f in lam.list_functions()["Functions"]
            if f["FunctionName"] == agent_function_name(cluster)
        ]
        running = self.aws.client("ec2").describe_instances(
            Filters=[
                {"Name": "tag:eks:cluster-name", "Values": [cluster]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )
        out += [f"instance {i['InstanceId']}" for r in running["Reservations"] for i in r["Instances"]]
        return out + self._tagged_leftovers(cluster)

    def _tagged_leftovers(self, cluster: str) -> list[str]:
        """Every other kind of resource a cluster's stacks make, by the cluster's tag or name: what a
        deleted stack must not leave (CloudFormation deletes what it made)."""
        ec2, logs, iam = self.aws.client("ec2"), self.aws.client("logs"), self.aws.client("iam")
        tagged = [{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}]
        out = [f"address {a.get('AllocationId')}" for a in ec2.describe_addresses(Filters=tagged)["Addresses"]]
        for kind, call, key, ident in (
            ("internet gateway", ec2.describe_internet_gateways, "InternetGateways", "InternetGatewayId"),
            ("vpc", ec2.describe_vpcs, "Vpcs", "VpcId"),
            ("subnet", ec2.describe_subnets, "Subnets", "SubnetId"),
            ("route table", ec2.describe_route_tables, "RouteTables", "RouteTableId"),
            ("security group", ec2.describe_security_groups, "SecurityGroups", "GroupId"),
            ("network interface", ec2.describe_network_interfaces, "NetworkInterfaces", "NetworkInterfaceId"),
            ("volume", ec2.describe_volumes, "Volumes", "VolumeId"),
            ("launch template", ec2.describe_launch_templates, "LaunchTemplates", "LaunchTemplateId"),
        ):
            out += [f"{kind} {r[ident]}" for r in call(Filters=tagged)[key]]
        # moto's DescribeNatGateways ignores tag filters: matched on the gateways' tags here.
        for gateway in ec2.describe_nat_gateways()["NatGateways"]:
            tags = {t["Key"]: t["Value"] for t in gateway.get("Tags") or []}
            if tags.get(CLUSTER_TAG) == cluster and gateway["State"] not in ("deleted", "deleting"):
                out.append(f"nat gateway {gateway['NatGatewayId']}")
        # The stacks' log groups carry the cluster's tag; one EKS made itself (logging on, no
        # retention set) is EKS's and stays after the cluster, as on AWS.
        for prefix in (f"/aws/eks/{cluster}/", f"/aws/lambda/{agent_function_name(cluster)}"):
            for group in logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]:
                group_tags = logs.list_tags_log_group(logGroupName=group["logGroupName"]).get("tags", {})
                if group_tags.get(CLUSTER_TAG) == cluster:
                    out.append(f"log group {group['logGroupName']}")
        for role in iam.list_roles()["Roles"]:
            name = role["RoleName"]
            if name.startswith(f"{NAME_PREFIX}{cluster}-"):
                out.append(f"role {name}")
            elif role.get("Path", "/") != "/" and not name.startswith("AWSServiceRole"):
                tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name).get("Tags", [])}
                if tags.get(CLUSTER_TAG) == cluster:
                    out.append(f"role {name}")
        return out


def up(
    *,
    faults: set[str] | None = None,
    mirror: str | None = None,
    node_ready_delay: float = 0.0,
    region: str = DEFAULT_REGION,
    inbox: Path | None = None,
    pages: Path | None = None,
    quotas: dict[str, float] | None = None,
) -> LocalDeployer:
    """A deployer lives in one region, as on AWS: the specs it takes name that region. With an
    inbox, every notification is also written there as a file (the email's text, the Slack message)."""
    faults = set(faults or ())
    workdir = Path(tempfile.mkdtemp(prefix="clusterdrop-local-"))
    runtime_env = {"CLUSTERDROP_EMBEDDED": "1"}  # notifications point at `clusterdrop watch`, not the console
    mirror = mirror or os.environ.get("CLUSTERDROP_CNI_MIRROR")
    if mirror:
        # Relative to where it was given: the functions run in directories of their own.
        mirror = str(Path(mirror).resolve())
    if "cni-digest" in faults:
        mirror = str(tampered_mirror(Path(mirror or REPO.parent / "shared" / "fixtures" / "cni"), workdir / "mirror"))
    if mirror:
        runtime_env["CLUSTERDROP_CNI_MIRROR"] = str(rendered_mirror(Path(mirror), workdir / "cni-mirror"))
    cdk_out = synthesize()
    aws = EmbeddedAws(
        region=region, runtime_env=runtime_env, faults=faults, node_ready_delay=node_ready_delay, quotas=quotas or {}
    ).start()
    try:
        outputs = aws.deploy(cdk_out, STACK)
        deployer = ops.Deployer(
            outputs["SpecBucketName"],
            outputs["DeployStateMachineArn"],
            outputs["TeardownStateMachineArn"],
            outputs["ClustersTableName"],
        )
        mailbox = Inbox(inbox) if inbox is not None else None
        slack = SlackReceiver(mailbox)
        resources = aws.client("cloudformation").describe_stack_resources(StackName=STACK)["StackResources"]
        secret = next(r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::SecretsManager::Secret")
        aws.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=json.dumps({"url": slack.url}))
        sqs = aws.client("sqs")
        queue_url = sqs.create_queue(QueueName="clusterdrop-notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        aws.client("sns").subscribe(TopicArn=outputs["TopicArn"], Protocol="sqs", Endpoint=queue_arn)
        if mailbox is not None:
            aws.client("sns").subscribe(TopicArn=outputs["TopicArn"], Protocol="http", Endpoint=mailbox.mail.url)
    except BaseException:  # a SIGTERM (SystemExit) or Ctrl-C half-way cleans up too
        aws.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return LocalDeployer(aws, deployer, outputs, slack, queue_url, workdir, faults, pages)


def run(local: LocalDeployer, spec: Path, progress: TextIO, *, plan: bool = False, team: str = "") -> dict[str, Any]:
    """Submit a spec, follow its execution to the end, and report it."""
    from clusterdrop.spec.source import load_spec

    loaded = load_spec(spec.read_bytes())
    cluster = loaded.cluster.metadata.name
    started = time.monotonic()
    submitted_at = datetime.now(UTC) - timedelta(seconds=1)
    ops.submit(
        local.aws.client("s3"),
        local.deployer,
        cluster,
        spec.read_bytes(),
        plan=plan,
        suffix=spec.suffix or ".yaml",
        team=team,
    )
    sfn = local.aws.client("stepfunctions")
    # Every wait of the state machine is bounded and ends in a FAILED execution that names it;
    # the stack states how long that can take in all (every wait and retry used up). Past that,
    # something outside the workflow is broken.
    longest = float(local.outputs.get("LongestExecutionSeconds") or 3600)
    watched = ops.follow(
        sfn,
        local.deployer,
        cluster,
        progress,
        wait_for_start=60,
        poll=0.3,
        started_after=submitted_at,
        timeout=longest + 60,
        nodes=ops.NodeChanges(local.aws.client("ec2"), cluster),
    )
    status, execution, history = watched.status, watched.execution, watched.events
    item = (
        local.aws.session()
        .resource("dynamodb", endpoint_url=local.aws.url)
        .Table(local.deployer.clusters_table)
        .get_item(Key={"cluster": cluster})
        .get("Item")
        or {}
    )
    deadline = time.monotonic() + 10
    while not local.slack.payloads and time.monotonic() < deadline:
        time.sleep(0.1)
    delivered = local.notifications()
    sns_message = json.loads(delivered[-1]["Message"]) if delivered else None
    page = _save_status_page(local, ((sns_message or {}).get("outcome") or {}).get("status_page"))
    spec_cni = loaded.cluster.spec.cni
    return {
        "cluster": cluster,
        "status": status,
        "execution": execution["executionArn"],
        "seconds": round(time.monotonic() - started, 1),
        "steps": [{"name": s.name, "status": s.status, "seconds": s.seconds} for s in step_timings(history)],
        "nodes": {
            "expected": sum(g.desired_size for g in loaded.cluster.spec.node_groups),
            "registered": int(item.get("nodesReady", 0)) if status == "SUCCEEDED" else _registered(history),
            "ready": int(item.get("nodesReady", 0)) if status == "SUCCEEDED" else 0,
        },
        "cni": {"name": spec_cni.name, "version": spec_cni.version},
        "code": ((sns_message or {}).get("outcome", {}).get("failure") or {}).get("code"),
        "versions": versions(local, cluster),
        "addons": _installed_addons(local, cluster),
        "notifications": {"sns": sns_message, "slack": local.slack.payloads[-1] if local.slack.payloads else None},
        "leftovers": local.leftovers(cluster) if status != "SUCCEEDED" else [],
        "statusPage": str(page) if page else None,
    }


def _save_status_page(local: LocalDeployer, where: dict[str, str] | None) -> Path | None:
    """The execution's status page, copied out of the embedded S3 into the pages directory
    (<cluster>/<execution>.html and <cluster>/index.html, the latest)."""
    if not where or local.pages is None:
        return None
    body = local.aws.client("s3").get_object(Bucket=where["bucket"], Key=where["key"])["Body"].read()
    target = local.pages / where["key"].removeprefix("status/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    (target.parent / "index.html").write_bytes(body)
    return target


def versions(local: LocalDeployer, cluster: str) -> dict[str, Any]:
    """What the cluster runs, as AWS and the cluster report it: the control plane's version from
    EKS, the nodes per kubelet minor version from the cluster's API ({} when there is no cluster)."""
    from clusterdrop.kube.client import Kube
    from clusterdrop.kube.connect import for_eks
    from clusterdrop.kube.nodes import kubelet_minor

    eks = local.aws.client("eks")
    try:
        described = eks.describe_cluster(name=cluster)["cluster"]
    except eks.exceptions.ResourceNotFoundException:
        return {}
    # As the embedded administrator, whom every cluster's access entries admit.
    ca = (described.get("certificateAuthority") or {}).get("data") or None
    kube = Kube(for_eks(described["endpoint"], ca, cluster, local.aws.region, local.aws.session().get_credentials()))
    kubelets: dict[str, int] = {}
    cont: str | None = None
    while True:
        nodes, cont = kube.list_nodes(limit=500, cont=cont)
        for node in nodes:
            minor = kubelet_minor(node)
            kubelets[minor] = kubelets.get(minor, 0) + 1
        if not cont:
            break
    return {"controlPlane": described["version"], "kubelets": dict(sorted(kubelets.items()))}


def _installed_addons(local: LocalDeployer, cluster: str) -> dict[str, str]:
    from clusterdrop.aws import eks

    client = local.aws.client("eks")
    try:
        return eks.installed_versions(client, cluster)
    except client.exceptions.ResourceNotFoundException:
        return {}


def _registered(events: list[dict[str, Any]]) -> int:
    """Nodes registered at the last check of "Wait for nodes Ready", from the history."""
    for event in reversed(events):
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "Wait for nodes Ready":
            return int(ops.nodes_poll(details.get("output") or "{}").get("registered", 0))
    return 0


def import_key_pair(ec2: Any, name: str) -> bool:
    """Import a new public key as EC2 key pair `name` unless the account has one (True: imported)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if any(k["KeyName"] == name for k in ec2.describe_key_pairs()["KeyPairs"]):
        return False
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    material = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    ec2.import_key_pair(KeyName=name, PublicKeyMaterial=material)
    return True
