"""Spec values taken from other infrastructure as code instead of copied: `{fromSsm: NAME}` (an SSM
parameter, a StringList for a list) or `{fromExport: NAME}` (a CloudFormation export, a
comma-separated list for a list), wherever the spec takes an ID or a CIDR of the network.

Terraform users publish their VPC's outputs as SSM parameters (`aws_ssm_parameter`); CloudFormation
users export them. The deployer resolves the references at *Validate spec*, with read access only
to the parameter paths and export names its CDK context allows, and validates the spec as resolved;
offline (`validate`, `plan` without `--resolve`) the references stay references, and the rules
that would need their values wait for them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from clusterdrop.errors import Problem, SpecInvalid
from clusterdrop.spec import paths
from clusterdrop.spec.loader import Path

KINDS = {"fromSsm": "SSM parameter", "fromExport": "CloudFormation export"}
# SSM parameter names and export names: what AWS allows in each (SSM API Reference, PutParameter
# "Name"; CloudFormation "Outputs" Export Name: alphanumerics, colons and hyphens).
_SSM_NAME = re.compile(r"^[a-zA-Z0-9_.\-/]{1,2048}$")
_EXPORT_NAME = re.compile(r"^[a-zA-Z0-9:\-]{1,255}$")

# Where a reference is taken: the value's path ("*" any list position) and whether it is a list.
REFERABLE: dict[Path, bool] = {
    ("spec", "network", "vpc", "id"): False,
    ("spec", "network", "vpc", "cidr"): False,
    ("spec", "network", "podCidr"): False,
    ("spec", "network", "serviceCidr"): False,
    ("spec", "network", "vpc", "subnets", "private"): True,
    ("spec", "network", "vpc", "subnets", "public"): True,
    ("spec", "network", "vpc", "subnets", "private", "*"): False,
    ("spec", "network", "vpc", "subnets", "public", "*"): False,
    ("spec", "controlPlane", "adminCidrs"): True,
    ("spec", "controlPlane", "adminCidrs", "*"): False,
}


@dataclass(frozen=True)
class Reference:
    path: Path
    kind: str  # fromSsm | fromExport
    name: str
    many: bool  # a list is taken from it

    def describe(self) -> str:
        return f"{KINDS[self.kind]} {self.name}"


def _shape(path: Path) -> Path:
    return tuple("*" if isinstance(p, int) else p for p in path)


def _walk(data: Any, path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    if isinstance(data, dict):
        if set(data) & set(KINDS):
            yield path, data
            return
        for key, value in data.items():
            yield from _walk(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _walk(value, (*path, i))


def find(data: Any) -> list[Reference]:
    """Every reference in a native spec document; a malformed one, or one where the spec takes
    none, is a problem named by its path."""
    found: list[Reference] = []
    problems: list[Problem] = []
    taken = ", ".join(paths.render(p).replace("[*]", "[i]") for p in REFERABLE)
    for path, ref in _walk(data):
        where = paths.render(path)
        if _shape(path) not in REFERABLE:
            problems.append(Problem(where, f"a reference ({', '.join(ref)}) is not taken here; it is taken at {taken}"))
            continue
        if len(ref) != 1:
            problems.append(Problem(where, "a reference is one key: fromSsm: NAME or fromExport: NAME"))
            continue
        kind, name = next(iter(ref.items()))
        pattern = _SSM_NAME if kind == "fromSsm" else _EXPORT_NAME
        if not isinstance(name, str) or not pattern.match(name):
            problems.append(Problem(where, f"{name!r} is not a valid {KINDS[kind]} name"))
            continue
        found.append(Reference(path, kind, name, REFERABLE[_shape(path)]))
    if problems:
        raise SpecInvalid(problems)
    return found


def substitute(data: Any, values: dict[Path, Any]) -> Any:
    """A copy of the document with each reference replaced by its value."""
    out = copy.deepcopy(data)
    for path, value in values.items():
        target = out
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return out


def stand_ins(refs: Sequence[Reference]) -> dict[Path, Any]:
    """Valid values of the right kind for validating a spec offline: checked for their shape
    only, and every rule about them left to the resolved spec."""

    def one(ref: Reference, i: int) -> Any:
        leaf = next(p for p in reversed(ref.path) if isinstance(p, str))
        if leaf == "id":
            return f"vpc-{i:017x}"
        if leaf in ("private", "public"):
            return f"subnet-{i:017x}"
        return f"10.{i}.0.0/16" if leaf != "adminCidrs" else "0.0.0.0/0"

    return {
        ref.path: [one(ref, 2 * i), one(ref, 2 * i + 1)] if ref.many else one(ref, 2 * i)
        for i, ref in enumerate(refs, 1)
    }


Resolver = Callable[[Sequence[Reference]], dict[Path, Any]]

# What a deployer may read unless its CDK context says otherwise: parameters under /clusterdrop/
# (a path a platform team publishes network outputs to), any export (ListExports cannot be
# scoped by IAM: the names are held to `referenceExports` here, when it is set).
DEFAULT_PARAMETER_PATHS = ("/clusterdrop/",)


def parameter_arn(path: str, *, partition: str, region: str, account: str) -> str:
    """The ARN pattern IAM matches for the parameters under a path (`/a/b/` → `parameter/a/b/*`:
    the ARN of a name that starts with "/" drops that slash)."""
    return f"arn:{partition}:ssm:{region}:{account}:parameter/{path.lstrip('/')}*"


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def allowed(name: str, prefixes: Sequence[str]) -> bool:
    return any(name.startswith(prefix) for prefix in prefixes)


def resolver(
    ssm: Any, cfn: Any, *, parameter_paths: Sequence[str] | None = None, export_prefixes: Sequence[str] | None = None
) -> Resolver:
    """Resolve references with these clients: SSM GetParameter (String, or StringList for a list;
    a SecureString is refused: IDs and CIDRs are not secrets, and reading one needs kms:Decrypt)
    and CloudFormation ListExports. `parameter_paths` / `export_prefixes` (None: any) are what the
    deployer may read; every failure is a problem naming the field and the reference."""

    def resolve(refs: Sequence[Reference]) -> dict[Path, Any]:
        values: dict[Path, Any] = {}
        problems: list[Problem] = []
        exports: dict[str, str] | None = None
        for ref in refs:
            where = paths.render(ref.path)
            if ref.kind == "fromSsm":
                if parameter_paths is not None and not allowed(ref.name, parameter_paths):
                    problems.append(
                        Problem(
                            where,
                            f"{ref.describe()} is outside the paths this deployer may read "
                            f"({', '.join(parameter_paths)}; CDK context referenceParameterPaths)",
                        )
                    )
                    continue
                try:
                    parameter = ssm.get_parameter(Name=ref.name)["Parameter"]
                except ssm.exceptions.ParameterNotFound:
                    problems.append(Problem(where, f"{ref.describe()} does not exist"))
                    continue
                except ssm.exceptions.ClientError as exc:
                    problems.append(Problem(where, f"{ref.describe()} cannot be read: {exc}"))
                    continue
                if parameter["Type"] == "SecureString":
                    problems.append(Problem(where, f"{ref.describe()} is a SecureString; store IDs as String"))
                    continue
                text = parameter["Value"]
            else:
                if export_prefixes is not None and not allowed(ref.name, export_prefixes):
                    problems.append(
                        Problem(
                            where,
                            f"{ref.describe()} is outside the exports this deployer may read "
                            f"({', '.join(export_prefixes)}; CDK context referenceExports)",
                        )
                    )
                    continue
                if exports is None:
                    exports = {}
                    for page in cfn.get_paginator("list_exports").paginate():
                        exports.update({e["Name"]: e["Value"] for e in page.get("Exports", [])})
                if ref.name not in exports:
                    problems.append(Problem(where, f"{ref.describe()} does not exist in this account and region"))
                    continue
                text = exports[ref.name]
            items = _split(text)
            if ref.many:
                values[ref.path] = items
            elif len(items) == 1:
                values[ref.path] = items[0]
            else:
                problems.append(Problem(where, f"{ref.describe()} holds {len(items)} values; one is taken here"))
        if problems:
            raise SpecInvalid(problems)
        return values

    return resolve
