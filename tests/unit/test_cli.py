"""The command line: outputs, exit codes (0 ok, 1 wrong input, 2 usage/I-O), never a traceback."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterdrop.cli import main
from tests.conftest import EXAMPLES, FIXTURES, REPO

QUICKSTART = REPO / "examples" / "quickstart.yaml"


def run(*argv: str, stdin: bytes | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", [[], ["validate"], ["schema"], ["convert"], ["plan"], ["kubeconfig"], ["token"]])
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    assert "usage: clusterdrop" in capsys.readouterr().out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert main(["validate"]) == 2
    assert "usage" in capsys.readouterr().err


def test_validate_valid_files() -> None:
    code, out, _ = run("validate", *map(str, EXAMPLES))
    assert code == 0
    assert out.count(": valid") == len(EXAMPLES)


def test_validate_reports_problems_with_positions(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("maxSize: 4", "maxSize: 1\n      capacityType: reserved"))
    code, out, _ = run("validate", str(bad), str(QUICKSTART))
    assert code == 1
    assert "bad.yaml: 2 problems" in out
    assert f"{bad}:" in out
    assert ":15:16: spec.nodeGroups[0].maxSize: maxSize (1) is less than minSize (2)" in out
    assert ":16:21: spec.nodeGroups[0].capacityType: 'reserved' is not allowed; use one of: on-demand, spot" in out
    assert "quickstart.yaml: valid" in out


def test_validate_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("region: eu-west-1", "region: mars-1"))
    code, out, _ = run("validate", "--json", str(bad))
    assert code == 1
    [result] = json.loads(out)["files"]
    assert result["valid"] is False
    [error] = result["errors"]
    assert error["path"] == "spec.region"
    assert error["line"] == 8
    assert error["column"] == 11


def test_validate_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run("validate", "-", stdin=QUICKSTART.read_bytes(), monkeypatch=monkeypatch)
    assert code == 0
    assert out.startswith("<stdin>: valid")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\x00\x01binary", "binary"),
        (b"\xff\xfe\xfa", "not UTF-8"),
        (b"a: !!python/object:os.system x", "tag"),
        (b"#" * (1024 * 1024 + 10), "1 MiB"),
        (b"- just\n- a list\n", "(document)"),
    ],
)
def test_bad_input_is_a_clean_exit_1(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "input.yaml"
    path.write_bytes(content)
    code, out, err = run("validate", str(path))
    assert code == 1
    assert fragment in out
    assert "Traceback" not in out + err


def test_missing_file_exits_2(tmp_path: Path) -> None:
    code, _, err = run("validate", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "cannot read" in err
    code, _, err = run("plan", str(tmp_path))
    assert code == 2


def test_internal_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("kaput")

    monkeypatch.setattr("clusterdrop.cli.spec_tools.load_spec", boom)
    code, _, err = run("validate", str(QUICKSTART))
    assert code == 2
    assert err == "clusterdrop: internal error: RuntimeError: kaput\n"


def test_schema_describes_the_spec() -> None:
    code, out, _ = run("schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["properties"]["apiVersion"]["const"] == "clusterdrop.io/v1alpha1"
    assert "eu-west-1" in schema["$defs"]["ClusterSpec"]["properties"]["region"]["enum"]


def test_examples_match_the_schema() -> None:
    import jsonschema

    code, out, _ = run("schema")
    assert code == 0
    validator = jsonschema.Draft202012Validator(json.loads(out))
    for path in EXAMPLES:
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path
    bad = yaml.safe_load(QUICKSTART.read_text())
    bad["spec"]["nodeGroups"][0]["maxsize"] = 3
    assert list(validator.iter_errors(bad))


def test_convert_writes_yaml_and_notes() -> None:
    code, out, err = run("convert", str(FIXTURES / "eksctl" / "09-nat-gateways.yaml"))
    assert code == 0
    spec = yaml.safe_load(out)
    assert spec["kind"] == "Cluster"
    assert spec["spec"]["network"]["natGateways"] == "per-zone"
    assert "note: " in err


def test_convert_json_output() -> None:
    code, out, _ = run("convert", "-o", "json", str(FIXTURES / "eksctl" / "01-simple-cluster.yaml"))
    assert code == 0
    assert json.loads(out)["metadata"]["name"] == "cluster-1"


def test_convert_refuses_unsupported_fields_by_eksctl_path() -> None:
    code, out, err = run("convert", str(FIXTURES / "eksctl" / "29-cluster-with-karpenter.yaml"))
    assert code == 1
    assert out == ""
    assert "29-cluster-with-karpenter.yaml:14:1: karpenter: Karpenter is not supported by clusterdrop" in err
    assert "--allow-partial" in err


def test_convert_allow_partial_lists_what_was_dropped() -> None:
    code, out, err = run("convert", "--allow-partial", str(FIXTURES / "eksctl" / "29-cluster-with-karpenter.yaml"))
    assert code == 0
    assert "dropped: karpenter" in err
    assert yaml.safe_load(out)["spec"]["nodeGroups"]


def test_convert_refuses_a_native_spec() -> None:
    code, _, err = run("convert", str(QUICKSTART))
    assert code == 1
    assert "neither an eksctl ClusterConfig" in err
    assert "nor a kops file" in err


def test_plan_writes_one_template_per_stack(tmp_path: Path) -> None:
    spec = REPO / "examples" / "existing-vpc.yaml"
    code, out, _ = run("plan", str(spec), "--out", str(tmp_path), "--json")
    assert code == 0
    summary = json.loads(out)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(s["file"] for s in summary["stacks"])
    assert len(files) == 3
    template = json.loads((tmp_path / "clusterdrop-payments.template.json").read_text())
    assert "Cluster" in template["Resources"]
    assert [g["name"] for g in summary["nodeGroups"]] == ["system", "batch"]


def test_plan_text_summary(tmp_path: Path) -> None:
    code, out, _ = run("plan", str(QUICKSTART), "--out", str(tmp_path))
    assert code == 0
    assert "AWS::EKS::Cluster" in out
    assert "workers: t3.medium on-demand, min 2 / desired 2 / max 4" in out
    assert "1. Validate spec" in out
    # What it takes of the account's quotas (checked against the account's at Plan).
    assert "  VPCs per Region (vpc L-F678F1CE): 1" in out
    assert "  EC2-VPC Elastic IPs (ec2 L-0263D0A3): 1" in out
    assert "  Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances (ec2 L-1216C47A): 4 vCPUs" in out


def test_a_quota_option_is_a_known_key_and_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "up", "--quota", "vpcs=ten"]) == 2
    assert "--quota vpcs=ten: 'ten' is not a number" in capsys.readouterr().err
    assert main(["local", "run", "examples/quickstart.yaml", "--quota", "vpc=10"]) == 2
    assert "expected KEY=NUMBER with KEY one of" in capsys.readouterr().err


def test_plan_of_invalid_spec_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("aws-vpc-cni", "flannel"))
    out_dir = tmp_path / "out"
    code, _, err = run("plan", str(bad), "--out", str(out_dir))
    assert code == 1
    assert "spec.cni.name" in err
    assert not out_dir.exists()


def test_console_script_and_module_run() -> None:
    script = Path(sys.executable).parent / "clusterdrop"
    for argv in ([str(script)], [sys.executable, "-m", "clusterdrop"]):
        done = subprocess.run([*argv, "validate", str(QUICKSTART)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "valid" in done.stdout


def test_faults_combine_with_a_comma_and_an_unknown_one_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    from clusterdrop.cli.local import faults

    assert faults("stack-failure,delete-failed") == ["stack-failure", "delete-failed"]
    assert main(["local", "run", "examples/quickstart.yaml", "--inject", "stack-failure,nope"]) == 2
    assert "unknown fault nope (choose from stack-failure" in capsys.readouterr().err


def test_validate_warns_of_a_version_past_standard_support(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(
        QUICKSTART.read_text().replace("region: eu-west-1", 'region: eu-west-1\n  kubernetesVersion: "1.32"')
    )
    code, out, _ = run("validate", str(old))
    assert code == 0  # a warning, not an error: EKS still runs 1.32
    assert "warning: Kubernetes 1.32 " in out
    assert "EKS extended support" in out
    code, out, _ = run("validate", "--json", str(old))
    [result] = json.loads(out)["files"]
    [warning] = result["warnings"]
    assert "upgrade to 1.33" in warning


def test_validate_reports_every_file_even_beside_an_unreadable_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("maxSize: 4", "maxSize: 1"))
    code, out, err = run("validate", str(bad), str(tmp_path), str(QUICKSTART), str(tmp_path / "missing.yaml"))
    assert code == 2  # one path could not be read; the others are still reported
    assert f"{bad}: 1 problem" in out
    assert f"{QUICKSTART}: valid" in out
    assert f"{tmp_path}: cannot read: Is a directory" in err
    assert "missing.yaml: cannot read: No such file or directory" in err


def test_an_oversized_spec_is_refused_by_its_real_size(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 3_000_000)
    code, out, _ = run("validate", str(big))
    assert code == 1
    assert "input is 3000000 bytes; a spec may be at most 1048576 bytes (1 MiB)" in out


def test_every_field_of_the_schema_is_described() -> None:
    _, out, _ = run("schema")
    schema = json.loads(out)
    undescribed = [
        f"{owner}.{name}"
        for owner, node in [("Cluster", schema), *schema["$defs"].items()]
        for name, prop in (node.get("properties") or {}).items()
        if not prop.get("description")
    ]
    assert undescribed == []


def test_plan_shows_the_network_and_the_addons() -> None:
    code, out, _ = run("plan", str(REPO / "examples" / "calico-ha.yaml"))
    assert code == 0
    spec = yaml.safe_load((REPO / "examples" / "calico-ha.yaml").read_text())["spec"]
    network = out[out.index("Network:") : out.index("Stacks:")]
    for value in (spec["network"]["podCidr"], *spec["controlPlane"].get("adminCidrs", [])):
        assert value in network
    assert f"{spec['network']['topology']} topology" in network
    assert "Add-ons: " + ", ".join(spec["addons"]) in network


def test_local_run_help_lists_each_fault_on_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    from clusterdrop.local import FAULTS

    assert main(["local", "run", "--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, what in FAULTS.items():
        assert any(line.split() == [name, *what.split()] for line in lines), name


def _no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A shell where AWS was never configured: no region, no keys, no profile, no instance role."""
    import os

    for key in list(os.environ):
        if key.startswith(("AWS_", "CLUSTERDROP_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize("argv", [["status"], ["watch", "quickstart", "--wait", "0"], ["describe", "quickstart"]])
def test_without_a_region_the_deployer_commands_say_how_to_reach_one(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_aws(monkeypatch, tmp_path)
    code, _, err = run(*argv)
    assert code == 2
    assert "You must specify a region" in err  # AWS's words, then what to do
    assert "export AWS_DEFAULT_REGION=" in err
    assert "clusterdrop local up" in err
    assert "Traceback" not in err


def test_without_credentials_the_token_says_how_to_get_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_aws(monkeypatch, tmp_path)
    code, out, err = run("token", "--cluster", "quickstart", "--region", "eu-west-1")
    assert (code, out) == (2, "")
    assert "no AWS credentials found" in err
    assert "start `clusterdrop local up`" in err


def test_a_missing_deployer_stack_says_how_to_deploy_one() -> None:
    import botocore.exceptions

    from clusterdrop.cli.deployer import aws_setup_hint

    missing = botocore.exceptions.ClientError(
        {"Error": {"Code": "ValidationError", "Message": "Stack with id clusterdrop does not exist"}}, "DescribeStacks"
    )
    hint = aws_setup_hint(missing)
    assert hint is not None
    assert "no deployer stack 'clusterdrop'" in hint
    assert "npx aws-cdk@2 deploy" in hint
    refused = botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeStacks")
    assert aws_setup_hint(refused) is None  # AWS's own refusal is said as it is
