"""`clusterdrop diff FILE --against OLD`: what a new spec changes on the cluster running the old
one, field by field, and what Plan would refuse — offline, with Plan's own checks."""

from __future__ import annotations

import io
import json
from pathlib import Path

from clusterdrop.cli import main
from tests.conftest import REPO

QUICKSTART = (REPO / "examples" / "quickstart.yaml").read_text()


def _diff(tmp_path: Path, old: str, new: str, *extra: str) -> tuple[int, str, str]:
    (tmp_path / "old.yaml").write_text(old)
    (tmp_path / "new.yaml").write_text(new)
    out, err = io.StringIO(), io.StringIO()
    code = main(["diff", str(tmp_path / "new.yaml"), "--against", str(tmp_path / "old.yaml"), *extra], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_the_same_spec_changes_nothing(tmp_path: Path) -> None:
    code, out, err = _diff(tmp_path, QUICKSTART, QUICKSTART)
    assert code == 0, err
    assert out.startswith("No changes:")


def test_scaling_and_a_new_group_are_listed_with_what_they_do(tmp_path: Path) -> None:
    new = QUICKSTART.replace("desiredSize: 2", "desiredSize: 3") + (
        "    - name: batch\n      instanceTypes: [m5.large]\n      desiredSize: 1\n      maxSize: 2\n"
    )
    code, out, err = _diff(tmp_path, QUICKSTART, new)
    assert code == 0, err
    lines = out.splitlines()
    assert "  ~ spec.nodeGroups[workers].desiredSize: 2 → 3 (in place: scaling)" in lines
    assert "  + spec.nodeGroups[batch]: a new node group is created" in lines
    # minSize follows desiredSize where the spec does not set it: a change too, and said.
    assert "  ~ spec.nodeGroups[workers].minSize: 2 → 3 (in place: scaling)" in lines
    assert len(lines) == 5  # the heading, three changes, where CloudFormation's answer is
    assert "clusterdrop diff" in lines[-1]
    assert "--live" in lines[-1]


def test_a_removed_group_is_said_to_be_drained(tmp_path: Path) -> None:
    two = QUICKSTART + "    - name: batch\n      instanceTypes: [m5.large]\n      desiredSize: 1\n      maxSize: 2\n"
    code, out, _ = _diff(tmp_path, two, QUICKSTART)
    assert code == 0
    assert "  - spec.nodeGroups[batch]: its nodes are drained and the group deleted" in out.splitlines()


def test_what_plan_refuses_is_named_by_field_and_exits_1(tmp_path: Path) -> None:
    code, out, err = _diff(tmp_path, QUICKSTART, QUICKSTART.replace("name: aws-vpc-cni", "name: calico"))
    assert code == 1
    assert "  ~ spec.cni.name: 'aws-vpc-cni' → 'calico' (refused: a CNI switch" in out
    # The pod CIDR the user never wrote is said to be the default.
    assert "~ spec.network.podCidr: unset → the default '192.168.0.0/16' (refused:" in out
    assert "Plan would refuse" in err
    assert "; nothing would change:" in err
    assert "spec.cni.name: cannot change on a running cluster" in err
    assert "--live" not in out  # nothing to ask CloudFormation about


def test_a_node_group_replaced_under_its_own_name_is_refused_with_the_way_that_works(tmp_path: Path) -> None:
    code, out, err = _diff(tmp_path, QUICKSTART, QUICKSTART.replace("[t3.medium]", "[m5.large]"))
    assert code == 1
    assert "~ spec.nodeGroups[workers].instanceTypes: ['t3.medium'] → ['m5.large'] (refused" in out
    assert "spec.nodeGroups[0].instanceTypes" in err
    assert "Give the group a new name in the same upload" in err


def test_a_version_jump_is_refused_as_eks_refuses_it(tmp_path: Path) -> None:
    old = QUICKSTART.replace("  region: eu-west-1\n", '  region: eu-west-1\n  kubernetesVersion: "1.33"\n')
    code, _, err = _diff(tmp_path, old, old.replace('"1.33"', '"1.35"'))
    assert code == 1
    assert "skips a minor version" in err
    code, out, err = _diff(tmp_path, old, old.replace('"1.33"', '"1.34"'))
    assert code == 0, err
    assert "~ spec.kubernetesVersion: '1.33' → '1.34'" in out


def test_json_lists_changes_and_refusals(tmp_path: Path) -> None:
    code, out, _ = _diff(tmp_path, QUICKSTART, QUICKSTART.replace("maxSize: 4", "maxSize: 6"), "--json")
    assert code == 0
    found = json.loads(out)
    assert found["refused"] == []
    assert [(c["path"], c["was"], c["now"], c["kind"]) for c in found["changes"]] == [
        ("spec.nodeGroups[workers].maxSize", 4, 6, "in place")
    ]
