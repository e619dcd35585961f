"""A newcomer's first hour, scripted: what `make demo` tells them to do next, followed as written
— `clusterdrop local up` in one process, the commands in another shell with its exports — then
the things a new user runs into: an update the running cluster refuses, a spec far over Step
Functions' state limit, a CNI missing from the mirror, an EC2 key pair that does not exist, and
the embedded mode stopped with SIGTERM. Each stop says what happened and what to run next, and
the test runs that next command as printed.

The deployer here is a process of its own (`local up`, as the demo's last line says), not the
suite's: moto's backends belong to a process, and this walk needs a deployer without a CNI
mirror, as a new account has."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from clusterdrop.cli.local import STOPPED_WITH_THE_RUN
from tests.conftest import FIXTURES, REPO, pod_identities

QUICKSTART = (REPO / "examples" / "quickstart.yaml").read_text()
BIN = REPO / ".venv" / "bin"


class Shell:
    """The second shell: the exports `local up` printed, the README's `clusterdrop` on PATH."""

    def __init__(self, cwd: Path, exports: dict[str, str]):
        self.cwd = cwd
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLUSTERDROP_"))}
        self.env = {
            **env,
            **exports,
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "KUBECONFIG": str(cwd / "kubeconfig"),
        }

    def run(self, command: str, *, check_rc: int | None = 0, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", command],
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        said = done.stdout + done.stderr
        if check_rc is not None:
            assert done.returncode == check_rc, f"$ {command}\n{said[-4000:]}"
        return said

    def write(self, name: str, text: str) -> str:
        (self.cwd / name).write_text(text)
        return name

    def aws(self, service: str) -> Any:
        """A client as the AWS CLI in that shell would make it (endpoint, keys and region from the exports)."""
        return boto3.client(
            service,
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    def stacks_of(self, cluster: str) -> list[str]:
        live = self.aws("cloudformation").list_stacks()["StackSummaries"]
        return sorted(
            s["StackName"]
            for s in live
            if s["StackName"].startswith(f"clusterdrop-{cluster}") and s["StackStatus"] != "DELETE_COMPLETE"
        )


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[str], Path, dict[str, str]]]:
    """`clusterdrop local up` with no CNI mirror (a new account's artifacts bucket is empty), its
    temporary files in a directory of its own so the walk can look at what it leaves."""
    scratch = tmp_path_factory.mktemp("tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLUSTERDROP_"))}
    proc = subprocess.Popen(
        [str(BIN / "clusterdrop"), "local", "up"],
        cwd=scratch,
        env={**env, "TMPDIR": str(scratch), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
        stdout=subprocess.PIPE,
        stderr=(scratch.parent / "local-up.err").open("w"),
        text=True,
    )
    assert proc.stdout is not None
    banner = []
    for line in proc.stdout:  # until the banner's last line: it is up
        banner.append(line)
        if line.startswith("# (the next start is empty)"):
            break
    exports = dict(re.findall(r"^export (\w+)=(.*)$", "".join(banner), flags=re.M))
    assert "AWS_ENDPOINT_URL" in exports, "".join(banner) + (scratch.parent / "local-up.err").read_text()[-3000:]
    try:
        yield proc, scratch, exports
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)


def test_a_newcomers_first_hour(up: tuple[subprocess.Popen[str], Path, dict[str, str]], tmp_path: Path) -> None:
    proc, scratch, exports = up
    sh = Shell(tmp_path, exports)

    # make demo's last words: the way to keep a cluster and use the commands the notification names.
    assert "clusterdrop local up in another shell, run the exports it prints" in STOPPED_WITH_THE_RUN

    # --- the quickstart, and the notification's suggestions followed as printed ---------------
    sh.write("quickstart.yaml", QUICKSTART)
    sh.run("clusterdrop submit quickstart.yaml")
    created = sh.run("clusterdrop watch quickstart")
    assert "Cluster quickstart: create succeeded" in created, created[-3000:]
    [kubeconfig] = re.findall(r"^  (clusterdrop kubeconfig quickstart .*)$", created, flags=re.M)
    sh.run(kubeconfig)
    nodes = sh.run(
        f"{sys.executable} -c "
        + repr(
            "from kubernetes import client, config; config.load_kube_config(); "
            "print(sorted(all(c.status == 'True' for c in n.status.conditions if c.type == 'Ready') "
            "for n in client.CoreV1Api().list_node().items))"
        )
    )
    assert nodes.strip().splitlines()[-1] == "[True, True]", nodes
    [page] = re.findall(r": (clusterdrop status quickstart --page)$", created, flags=re.M)
    saved = sh.run(page).strip().splitlines()[-1]
    assert "quickstart" in (tmp_path / saved).read_text()

    # --- an update the running cluster refuses: said as refused, the cluster untouched --------
    sh.write("calico.yaml", QUICKSTART.replace("name: aws-vpc-cni", "name: calico"))
    sh.run("clusterdrop submit calico.yaml")
    refused = sh.run("clusterdrop watch quickstart", check_rc=1)
    assert "Cluster quickstart: update refused, nothing changed" in refused, refused[-3000:]
    assert "spec.cni.name: cannot change on a running cluster ('aws-vpc-cni' → 'calico')" in refused
    assert "same upload as its the launch template" not in refused  # once, by its replacement
    assert "Fix the cause, then upload the spec again: clusterdrop submit quickstart.yaml" in refused
    status = sh.run("clusterdrop status")
    assert re.search(r"^quickstart\s+ACTIVE\s+1\.\d+\s+2/2\s.*ERR_INVALID_SPEC at Plan", status, flags=re.M), status

    # --- a spec far over the 256 KiB a workflow's state may hold: validated, planned ----------
    identities = pod_identities(40, 80)
    huge = sh.write("huge.yaml", QUICKSTART + f"  podIdentities: {json.dumps(identities)}\n")
    assert (tmp_path / huge).stat().st_size > 256 * 1024
    assert "huge.yaml: valid" in sh.run(f"clusterdrop validate {huge}")
    sh.run(f"clusterdrop submit --plan {huge}")
    planned = sh.run("clusterdrop watch quickstart")
    assert "Cluster quickstart: plan ready, 80 changes, none applied" in planned, planned[-3000:]

    # --- a CNI the deployer's mirror lacks: refused at Plan, the command that seeds it works ---
    sh.write("overlay.yaml", QUICKSTART.replace("name: quickstart", "name: overlay").replace("aws-vpc-cni", "calico"))
    sh.run("clusterdrop submit overlay.yaml")
    unmirrored = sh.run("clusterdrop watch overlay", check_rc=1)
    assert "Code: ERR_CNI_FAILED" in unmirrored, unmirrored[-3000:]
    assert "Failed step: Plan" in unmirrored
    assert sh.stacks_of("overlay") == []  # found before anything was created
    [seed] = re.findall(r"`(clusterdrop cni mirror calico [^`]+)`", unmirrored)[:1]
    # The official files, as the internet would serve them (this machine reaches no GitHub).
    sh.run(seed, env={"CLUSTERDROP_CNI_MIRROR": str(FIXTURES / "cni")})
    sh.run("clusterdrop submit overlay.yaml")
    assert "Cluster overlay: create succeeded" in sh.run("clusterdrop watch overlay")

    # --- an EC2 key pair the account does not hold: refused at Plan, then imported ------------
    keyed = QUICKSTART.replace("name: quickstart", "name: keyed").replace(
        "      desiredSize: 2\n", "      desiredSize: 2\n      sshKeyName: ops\n"
    )
    sh.write("keyed.yaml", keyed)
    sh.run("clusterdrop submit keyed.yaml")
    missing = sh.run("clusterdrop watch keyed", check_rc=1)
    assert "spec.nodeGroups[0].sshKeyName: EC2 key pair 'ops' does not exist in eu-west-1" in missing, missing[-3000:]
    assert "aws ec2 import-key-pair --key-name ops" in missing
    assert sh.stacks_of("keyed") == []
    public_key = textwrap.dedent(
        """\
        ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl newcomer@laptop
        """
    )
    sh.aws("ec2").import_key_pair(KeyName="ops", PublicKeyMaterial=public_key.encode())
    sh.run("clusterdrop submit keyed.yaml")
    assert "Cluster keyed: create succeeded" in sh.run("clusterdrop watch keyed")

    # --- every cluster on one page, as the notifications leave it ------------------------------
    fleet = sh.run("clusterdrop status --page --no-open").strip().splitlines()[-1]
    assert fleet == "clusterdrop-status/index.html"
    listed = re.findall(r'<tr class="cluster"><td><a href="([^"]+)/index.html">', (tmp_path / fleet).read_text())
    assert listed == ["keyed", "overlay", "quickstart"]

    # --- stopped as a supervisor stops it: nothing left but the notifications it promised -----
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    left = sorted(p.name for p in scratch.iterdir())
    assert [name for name in left if not name.startswith("clusterdrop-inbox-")] == [], left
    [inbox] = [scratch / name for name in left]
    assert any(f.name.endswith("-email.txt") for f in inbox.iterdir())
