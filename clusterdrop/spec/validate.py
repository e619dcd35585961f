"""Validation of a native spec: types and formats (the models), then the rules that relate
fields to each other, then defaults made explicit.

Every problem is collected, not just the first, and named by its path.
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import json
import re
import types
import typing
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import pydantic

from clusterdrop import facts
from clusterdrop.cni import catalog
from clusterdrop.errors import Problem, SpecInvalid
from clusterdrop.spec import paths
from clusterdrop.spec.loader import Document, Path
from clusterdrop.spec.models import Cluster, ClusterSpec, Cni, Model, Network, NodeGroup

_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_RESERVED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io")
_DEFAULT_VPC_CIDR = "10.0.0.0/16"
# Overlay pod pools tried in order; the first that overlaps neither the VPC nor the services wins.
_POD_CIDR_CANDIDATES = ("192.168.0.0/16", "10.244.0.0/16", "172.16.0.0/16")

Issue = tuple[Path, str]


def validate(doc: Document, *, unchecked: Sequence[Path] = ()) -> Cluster:
    """Validate a parsed native document and return the spec with every default explicit.
    `unchecked` are paths holding stand-ins (unresolved references): the rules about them, or
    comparing with them, wait for their values."""
    try:
        cluster = Cluster.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        problems = [_from_pydantic(err, doc) for err in exc.errors()]
        problems += _rules_beside_type_errors(doc, exc)
        raise SpecInvalid(_in_reading_order(problems)) from None
    resolved = with_defaults(cluster)
    waiting = [paths.render(p) for p in unchecked]
    issues = [
        (path, message)
        for path, message in check(cluster, resolved)
        if not any(_under(path, p) for p in unchecked) and not any(w in message for w in waiting)
    ]
    if issues:
        raise SpecInvalid(_in_reading_order([_problem(path, message, doc) for path, message in issues]))
    return resolved


def _in_reading_order(problems: list[Problem]) -> list[Problem]:
    """Sort by position in the file where there is one (a stable sort keeps the rest in order)."""
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def _rules_beside_type_errors(doc: Document, exc: pydantic.ValidationError) -> list[Problem]:
    """Report cross-field problems even when some fields have type errors.

    The fields in error are left out (so their defaults apply), or, when they are required,
    given a stand-in (`_STAND_INS`); if what remains is a valid spec, the rules run on it and what
    they say about the pruned fields, or about the fields that depend on them, is dropped. A
    broken name and region then no longer hide a duplicate node group or a size out of order.
    """
    pruned_paths: list[Path] = []
    data = copy.deepcopy(doc.data)
    for err in exc.errors():
        loc: Path = tuple(err["loc"])
        # Removing a list item would shift the paths of the items after it: drop the list.
        while loc and isinstance(loc[-1], int):
            loc = loc[:-1]
        if loc and _delete(data, loc):
            pruned_paths.append(loc)
        if loc and _stand_in(data, loc):
            pruned_paths.append(loc)
            pruned_paths.extend(_STAND_INS[_shape(loc)][1])
    try:
        cluster = Cluster.model_validate(data)
    except pydantic.ValidationError:
        return []
    resolved = with_defaults(cluster)
    # A rule about a pruned field, or one that compares with it (it now holds a default the
    # user never wrote), would be noise.
    pruned_text = [paths.render(p) for p in pruned_paths]
    return [
        _problem(path, message, doc)
        for path, message in check(cluster, resolved)
        if not any(_under(path, p) for p in pruned_paths) and not any(t in message for t in pruned_text)
    ]


def _under(path: Path, pruned: Path) -> bool:
    """Whether a rule's path falls under a pruned one; "*" in a pruned path matches any part."""
    return len(path) >= len(pruned) and all(p == "*" or p == q for p, q in zip(pruned, path, strict=False))


def _shape(loc: Path) -> Path:
    return tuple("*" if isinstance(part, int) else part for part in loc)


def _group_size(group: dict[str, Any]) -> Any:
    # Inside the sizes the user gave, so no size rule fires about a number they never wrote.
    low, high = group.get("minSize"), group.get("maxSize")
    return low if isinstance(low, int) and not isinstance(low, bool) else high if isinstance(high, int) else 1


# Required fields a type error would otherwise leave missing (and the spec unable to be checked
# further): a valid stand-in for each, made from its parent map, and the paths whose rules depend on
# it (their problems would be about the stand-in, not the user's spec).
_STAND_INS: dict[Path, tuple[Any, tuple[Path, ...]]] = {
    ("apiVersion",): (lambda parent: "clusterdrop.io/v1alpha1", ()),
    ("kind",): (lambda parent: "Cluster", ()),
    ("metadata", "name"): (lambda parent: "stand-in", ()),
    ("spec", "region"): (
        lambda parent: next(iter(facts.REGIONS)),
        (("spec", "network", "zones"), ("spec", "network", "vpc", "subnets"), ("spec", "nodeGroups", "*", "zones")),
    ),
    ("spec", "nodeGroups", "*", "name"): (lambda parent: f"stand-in-{id(parent)}", ()),
    ("spec", "nodeGroups", "*", "instanceTypes"): (lambda parent: ["m5.large"], ()),
    ("spec", "nodeGroups", "*", "desiredSize"): (_group_size, ()),
}


def _stand_in(data: Any, loc: Path) -> bool:
    """Put a valid stand-in at loc, a required field just removed or never given."""
    make = _STAND_INS.get(_shape(loc))
    parent = data
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return False
    if make is None or not isinstance(parent, dict):
        return False
    parent[loc[-1]] = make[0](parent)
    return True


def _delete(data: Any, loc: Path) -> bool:
    target = data
    for part in loc[:-1]:
        try:
            target = target[part]
        except (KeyError, IndexError, TypeError):
            return False
    if isinstance(target, dict) and loc[-1] in target:
        del target[loc[-1]]
        return True
    return False


def _problem(path: Path, message: str, doc: Document, *, key: bool = False) -> Problem:
    where = doc.locate(path, key=key) if doc.is_yaml else None
    return Problem(
        path=paths.render(path),
        message=message,
        line=where[0] if where else None,
        column=where[1] if where else None,
    )


def _from_pydantic(err: Any, doc: Document) -> Problem:
    loc: Path = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        field = str(loc[-1])
        known = _known_fields(loc[:-1])
        hint = difflib.get_close_matches(field, known, n=1, cutoff=0.6)
        message = f"unknown field {field!r}"
        home = _homes_of(field)
        if hint:
            message += f"; did you mean {hint[0]!r}?"
        elif home:
            message += f"; it belongs at {' or '.join(home)}"
        elif known:
            message += f"; known fields here: {', '.join(known)}"
        return _problem(loc, message, doc, key=True)
    if kind == "missing":
        return _problem(loc, "required field is missing", doc)
    if kind == "literal_error":
        return _problem(loc, _not_one_of(loc, err["input"], re.findall(r"'([^']*)'", err["ctx"]["expected"])), doc)
    if kind == "list_type" and isinstance(err["input"], str):
        return _problem(loc, f"write a list, even of one: [{err['input']}]", doc)
    message = str(err["msg"])
    message = message.removeprefix("Value error, ")
    return _problem(loc, message, doc)


def _not_one_of(loc: Path, given: Any, allowed: list[str]) -> str:
    """A value outside a fixed set: why, when it is a name people know from elsewhere (a retired
    CNI), else the closest allowed value ignoring case (`Calico` is `calico`), else the list."""
    retired = catalog.RETIRED.get(str(given).lower()) if loc[-2:] == ("cni", "name") else None
    if retired:
        return f"{given!r} is not offered: {retired}"
    folded = {value.lower(): value for value in allowed}
    hint = difflib.get_close_matches(str(given).lower(), list(folded), n=1, cutoff=0.6)
    if hint:
        return f"{given!r} is not allowed; did you mean {folded[hint[0]]!r}?"
    return f"{given!r} is not allowed; use one of: {', '.join(allowed)}"


def _homes_of(field: str, model: Any = Cluster, at: str = "") -> list[str]:
    """Where a field of that name lives in the spec (`region` written under metadata is spec.region)."""
    found: list[str] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        here = f"{at}.{key}" if at else key
        if key == field:
            found.append(here)
        inner = _model_in(info.annotation)
        if inner is not None and inner is not model:
            found += _homes_of(field, inner, here + ("[]" if typing.get_origin(info.annotation) is list else ""))
    return found


def _known_fields(loc: Path) -> list[str]:
    """Field names (as users write them) of the model found at loc, for 'did you mean'."""
    model: Any = Cluster
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, Model)):
            return []
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        model = _model_in(field.annotation)
    if isinstance(model, type) and issubclass(model, Model):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    """The Model class inside an annotation such as `list[NodeGroup] | None`."""
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _model_in(args[0])
    if origin in (list, typing.Union, types.UnionType):
        for arg in args:
            found = _model_in(arg)
            if found is not None:
                return found
    return None


# --- defaults -----------------------------------------------------------------------------


def _overlaps(cidr: str, others: Iterable[str | None]) -> bool:
    net = ipaddress.IPv4Network(cidr)
    return any(other and net.overlaps(ipaddress.IPv4Network(other)) for other in others)


def with_defaults(cluster: Cluster) -> Cluster:
    """Make every default explicit, so the normalized spec says exactly what will be built."""
    spec = cluster.spec
    net = spec.network
    vpc = net.vpc
    if vpc.id is None and vpc.cidr is None:
        vpc = vpc.model_copy(update={"cidr": _DEFAULT_VPC_CIDR})
    service_cidr = net.service_cidr
    if service_cidr is None:
        # What EKS itself picks: 172.20.0.0/16 when the VPC is in 10.0.0.0/8, else 10.100.0.0/16.
        in_ten = vpc.cidr is not None and ipaddress.IPv4Network(vpc.cidr).subnet_of(ipaddress.IPv4Network("10.0.0.0/8"))
        service_cidr = "172.20.0.0/16" if in_ten or vpc.cidr is None else "10.100.0.0/16"
    kubernetes = spec.kubernetes_version or facts.DEFAULT_KUBERNETES_VERSION
    release = catalog.choose(spec.cni.name, kubernetes, pinned=spec.cni.version)
    pod_cidr = net.pod_cidr
    if pod_cidr is None and release is not None and _overlay(release, spec.cni):
        pod_cidr = next(
            (c for c in _POD_CIDR_CANDIDATES if not _overlaps(c, (vpc.cidr, service_cidr))),
            None,
        )
    cni = spec.cni
    if release is not None and spec.compute_mode != "auto":  # Auto Mode's VPC CNI is EKS's, unversioned here
        cni = cni.model_copy(
            update={
                "version": cni.version or release.version,
                "mode": cni.mode or (release.default_mode if release.has_modes else None),
            }
        )
    control_plane = spec.control_plane
    if control_plane.admin_cidrs is None and control_plane.endpoint_access == "public-and-private":
        control_plane = control_plane.model_copy(update={"admin_cidrs": ["0.0.0.0/0"]})
    node_groups = [
        ng.model_copy(
            update={
                "min_size": ng.desired_size if ng.min_size is None else ng.min_size,
                "max_size": max(ng.desired_size, 1) if ng.max_size is None else ng.max_size,
            }
        )
        for ng in spec.node_groups
    ]
    auto = spec.compute_mode == "auto"
    new_spec = spec.model_copy(
        update={
            "node_pools": (spec.node_pools if spec.node_pools is not None else ["general-purpose", "system"])
            if auto
            else None,
            "kubernetes_version": kubernetes,
            "network": net.model_copy(update={"vpc": vpc, "service_cidr": service_cidr, "pod_cidr": pod_cidr}),
            "cni": cni,
            "control_plane": control_plane,
            "node_groups": node_groups,
            # Pod Identity needs its agent on every node (an EKS add-on): for the spec's associations,
            # and for the EBS CSI driver's controller, which gets its permissions that way.
            # (EKS Auto Mode runs the agent on its nodes itself.)
            # Cilium's operator in ENI mode gets its EC2 permissions that way too.
            "addons": [*spec.addons, "pod-identity-agent"]
            if not auto
            and (spec.pod_identities or "ebs-csi" in spec.addons or _cilium_eni(spec.cni))
            and "pod-identity-agent" not in spec.addons
            else spec.addons,
        }
    )
    return cluster.model_copy(update={"spec": new_spec})


# --- rules across fields ---------------------------------------------------------------------


def check(given: Cluster, cluster: Cluster) -> Iterator[Issue]:
    """Every rule that relates fields to each other, on the spec as given and with defaults."""
    yield from _check_tags(cluster.metadata.tags)
    spec = cluster.spec
    yield from _check_versions(spec)
    yield from _check_zones(spec)
    yield from _check_vpc(spec, given.spec.network)
    yield from _check_cidrs(spec, given.spec.network)
    yield from _check_cni(spec, given.spec.cni)
    yield from _check_control_plane(spec)
    yield from _check_compute(spec, given.spec)
    for i, group in enumerate(spec.node_groups):
        yield from _check_node_group(spec, i, group)
        yield from _check_node_group_extras(cluster, i, group)
    yield from _check_system_nodes(spec)
    yield from _check_cilium_operator_nodes(spec)
    yield from _check_cni_cluster_name(cluster)
    yield from _duplicates(("spec", "nodeGroups"), [g.name for g in spec.node_groups], "name")
    yield from _duplicates(("spec", "addons"), spec.addons)
    yield from _check_pod_identities(spec)
    yield from _check_access(spec)
    yield from _check_identity_providers(spec)
    yield from _check_addon_versions(spec, cluster.metadata.tags)
    yield from _duplicates(("spec", "notifications", "emails"), spec.notifications.emails)


def _check_addon_versions(spec: ClusterSpec, tags: dict[str, str]) -> Iterator[Issue]:
    """A pin or tags for an add-on the cluster runs as an EKS add-on; an add-on's tags beside the
    cluster's within AWS's limit."""
    core = spec.compute_mode != "auto"  # Auto Mode runs kube-proxy and CoreDNS itself
    replaced = spec.cni.kube_proxy_replacement  # Cilium does kube-proxy's work: no add-on
    for field, names, what in (("addonVersions", spec.addon_versions, "pin"), ("addonTags", spec.addon_tags, "tag")):
        for name in names:
            installed = name in spec.addons or (core and name in ("kube-proxy", "coredns"))
            installed = installed and not (replaced and name == "kube-proxy")
            if name == "vpc-cni":  # the add-on the AWS VPC CNI is installed as, outside Auto Mode
                installed = core and spec.cni.name == "aws-vpc-cni"
            if not installed:
                why = "EKS Auto Mode runs it itself" if name in ("kube-proxy", "coredns") else "add it to spec.addons"
                if name == "vpc-cni":
                    why = "EKS Auto Mode runs it itself" if not core else f"the cluster's CNI is {spec.cni.name}"
                why = (
                    "Cilium replaces kube-proxy (cni.kubeProxyReplacement)"
                    if replaced and name == "kube-proxy"
                    else why
                )
                yield ("spec", field, name), f"the cluster has no {name} add-on to {what} ({why})"
    for name, own in spec.addon_tags.items():
        base: Path = ("spec", "addonTags", name)
        yield from _check_tags(own, base)
        together = len({**tags, **own})
        if len(own) <= facts.MAX_USER_TAGS < together:
            yield base, f"{together} tags with metadata.tags; at most {facts.MAX_USER_TAGS} (AWS allows 50)"


# What EKS Auto Mode runs on its nodes itself: an add-on for it would be a second copy.
AUTO_MODE_BUILT_IN = {
    "ebs-csi": "EKS Auto Mode's block storage (StorageConfig) provisions EBS volumes itself",
    "pod-identity-agent": "EKS Auto Mode runs the Pod Identity agent on its nodes",
}


def _check_compute(spec: ClusterSpec, given: ClusterSpec) -> Iterator[Issue]:
    """Managed node groups (at least one), or EKS Auto Mode (node pools, the AWS VPC CNI built in:
    "EKS Auto Mode", Amazon EKS User Guide)."""
    if spec.compute_mode != "auto":
        if given.node_pools is not None:
            yield ("spec", "nodePools"), "node pools are EKS Auto Mode's: set computeMode: auto"
        if not any(g.desired_size > 0 for g in spec.node_groups):
            yield from _check_control_plane_alone(spec)
        return
    if spec.node_groups:
        yield (
            ("spec", "nodeGroups"),
            (
                "EKS Auto Mode makes the nodes from its node pools (spec.nodePools): a cluster with managed node "
                "groups is computeMode: node-groups"
            ),
        )
    if spec.cni.name != "aws-vpc-cni":
        yield ("spec", "cni", "name"), f"EKS Auto Mode runs the AWS VPC CNI on its nodes; {spec.cni.name} cannot run"
    elif given.cni.version is not None or given.cni.mode is not None:
        yield ("spec", "cni"), "EKS Auto Mode runs and updates the VPC CNI itself: leave out its version and mode"
    if given.network.pod_cidr is not None:
        yield ("spec", "network", "podCidr"), "EKS Auto Mode gives pods VPC addresses: there is no pod CIDR"
    for i, addon in enumerate(spec.addons):
        if addon in AUTO_MODE_BUILT_IN:
            yield ("spec", "addons", i), f"{addon}: {AUTO_MODE_BUILT_IN[addon]}"
    yield from _duplicates(("spec", "nodePools"), list(spec.node_pools or []))


def _check_control_plane_alone(spec: ClusterSpec) -> Iterator[Issue]:
    """No node groups, or none with nodes: a control plane alone, as eksctl creates one; node
    groups come with a later upload. What would wait for nodes forever is refused: an overlay
    CNI's controllers and the add-ons that run Deployments (the Pod Identity agent, a DaemonSet,
    simply has no pods yet)."""
    why = "the cluster has no nodes (no node groups, or none with desiredSize above 0)"
    if spec.cni.name != "aws-vpc-cni":
        yield (
            ("spec", "cni", "name"),
            (
                f"{spec.cni.name}'s controllers run on nodes and {why}: give a node group nodes, or use aws-vpc-cni "
                "for a control plane alone"
            ),
        )
    for i, addon in enumerate(spec.addons):
        if addon != "pod-identity-agent":
            yield ("spec", "addons", i), f"{addon} runs on nodes and {why}: add it with the node groups"


def _check_identity_providers(spec: ClusterSpec) -> Iterator[Issue]:
    """EKS's rules for an OIDC provider config (OidcIdentityProviderConfigRequest): the issuer is an
    https:// URL without a query; neither prefix may contain system: (Kubernetes' own names)."""
    for i, provider in enumerate(spec.identity_providers):
        base: Path = ("spec", "identityProviders", i)
        url = urlsplit(provider.issuer_url)
        if url.scheme != "https" or not url.hostname:
            yield (*base, "issuerUrl"), f"{provider.issuer_url!r}: EKS takes an https:// issuer URL"
        elif url.query or url.fragment:
            yield (*base, "issuerUrl"), "an issuer URL has no query or fragment (the iss claim of the tokens)"
        for field, prefix in (("usernamePrefix", provider.username_prefix), ("groupsPrefix", provider.groups_prefix)):
            if prefix is not None and "system:" in prefix:
                yield (*base, field), "may not contain system: (Kubernetes' own users and groups)"
        for key, value in provider.required_claims.items():
            if not 1 <= len(key) <= 63 or not 1 <= len(value) <= 253:
                yield (*base, "requiredClaims", key), "a claim's name is 1-63 characters, its value 1-253"


# User names EKS keeps for itself (EKS User Guide, "Create access entries").
RESERVED_USERNAME_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")


def _check_access(spec: ClusterSpec) -> Iterator[Issue]:
    """One access entry per principal (EKS's rule), not beside controlPlane.admins; an entry grants
    something; system: groups are Kubernetes' own (EKS refuses them)."""
    admins = set(spec.control_plane.admins)
    for i, entry in enumerate(spec.access):
        base: Path = ("spec", "access", i)
        if entry.principal in admins:
            yield (*base, "principal"), "already in controlPlane.admins (one access entry per principal)"
        if not entry.policies and not entry.groups and entry.username is None:
            yield base, "grants nothing: give it policies, groups or a username (for RBAC bindings to it)"
        if entry.username is not None and entry.username.lower().startswith(RESERVED_USERNAME_PREFIXES):
            yield (*base, "username"), f"EKS keeps user names beginning {', '.join(RESERVED_USERNAME_PREFIXES)}"
        for j, group in enumerate(entry.groups):
            if group.startswith("system:"):
                yield (*base, "groups", j), "system: groups are Kubernetes' own; EKS refuses them in an access entry"
        yield from _duplicates((*base, "policies"), [p.policy for p in entry.policies])
    yield from _duplicates(("spec", "access"), [e.principal for e in spec.access], "principal")


# The EBS CSI driver's controller: its service account, which Pod Identity gives its EC2 permissions.
EBS_CSI_SERVICE_ACCOUNT = "kube-system/ebs-csi-controller-sa"


def _check_pod_identities(spec: ClusterSpec) -> Iterator[Issue]:
    """One role per service account (EKS: one association per namespace and service account)."""
    for i, identity in enumerate(spec.pod_identities):
        base: Path = ("spec", "podIdentities", i)
        made = identity.policy_arns is not None or identity.policy is not None
        if (identity.role_arn is None) != made:
            yield base, "set roleArn, or policyArns and/or policy (a role clusterdrop makes)"
        made_only = (("roleName", identity.role_name), ("permissionsBoundaryArn", identity.permissions_boundary_arn))
        for field, value in made_only:
            if value is not None and identity.role_arn is not None:
                yield (*base, field), f"{field} is for the role clusterdrop makes; with roleArn it makes none"
        if identity.policy is not None:
            yield from _check_inline_policy((*base, "policy"), identity.policy)
        if identity.labels and not identity.create_service_account:
            yield (*base, "labels"), "labels are for the service account clusterdrop creates: set createServiceAccount"
        if identity.target_role_arn and identity.target_role_arn == identity.role_arn:
            yield (*base, "targetRoleArn"), "the target role is another account's role, not roleArn itself"
    pairs = [f"{p.namespace}/{p.service_account}" for p in spec.pod_identities]
    yield from _duplicates(("spec", "podIdentities"), pairs)
    # IAM role names are unique in an account, whatever their case (IAM User Guide, "IAM identifiers").
    named: dict[str, int] = {}
    for i, identity in enumerate(spec.pod_identities):
        if identity.role_name is None:
            continue
        first = named.setdefault(identity.role_name.lower(), i)
        if first != i:
            yield (
                ("spec", "podIdentities", i, "roleName"),
                (
                    f"podIdentities[{first}] names its role {identity.role_name!r} already (IAM: unique in the "
                    "account, whatever the case)"
                ),
            )
    if "ebs-csi" in spec.addons and EBS_CSI_SERVICE_ACCOUNT in pairs:
        where = ("spec", "podIdentities", pairs.index(EBS_CSI_SERVICE_ACCOUNT))
        yield where, f"{EBS_CSI_SERVICE_ACCOUNT} is the EBS CSI driver's: the ebs-csi add-on gives it its role"


# IAM's limit on a role's inline policies, in characters without whitespace (IAM User Guide, "IAM
# and AWS STS quotas": role policy size).
ROLE_POLICY_CHARS = 10240


def _check_inline_policy(path: Path, policy: dict[str, Any]) -> Iterator[Issue]:
    statements = policy.get("Statement")
    if policy.get("Version") not in ("2012-10-17", "2008-10-17") or not isinstance(statements, list | dict):
        yield path, "an IAM policy document: Version 2012-10-17 and a Statement"
        return
    for j, statement in enumerate(statements if isinstance(statements, list) else [statements]):
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            yield (*path, "Statement", j), "a statement has Effect Allow or Deny"
        elif not ({"Action", "NotAction"} & set(statement)) or not ({"Resource", "NotResource"} & set(statement)):
            yield (*path, "Statement", j), "a statement names its Action and Resource"
    size = len(json.dumps(policy, separators=(",", ":")))
    if size > ROLE_POLICY_CHARS:
        yield path, f"{size} characters; IAM takes at most {ROLE_POLICY_CHARS} in a role's inline policies"


def _check_node_group_extras(cluster: Cluster, i: int, group: Any) -> Iterator[Issue]:
    """A node group's own tags (checked as metadata.tags are, and counted with them: AWS allows 50
    per resource) and its update config (one of its two forms)."""
    base: Path = ("spec", "nodeGroups", i)
    yield from _check_tags(group.tags, (*base, "tags"))
    together = len(set(cluster.metadata.tags) | set(group.tags))
    if group.tags and together > facts.MAX_USER_TAGS:
        yield (*base, "tags"), f"{together} tags with metadata.tags; at most {facts.MAX_USER_TAGS} on a resource"
    update = group.update_config
    if update is not None and (update.max_unavailable is None) == (update.max_unavailable_percentage is None):
        yield (*base, "updateConfig"), "set exactly one of maxUnavailable and maxUnavailablePercentage"
    if group.volume is not None:
        yield from _check_volume(cluster.spec.region, group.volume, group.disk_size_gi_b, (*base, "volume"))


# EBS's limits per volume type (EC2 User Guide, "Amazon EBS volume types"): size in GiB, IOPS and
# the IOPS a GiB may have.
_EBS: dict[str, tuple[int, tuple[int, int] | None, int]] = {
    "gp3": (1, (3000, 16000), 500),
    "gp2": (1, None, 0),
    "io1": (4, (100, 64000), 50),
    "io2": (4, (100, 256000), 1000),
}


def _check_volume(region: str, volume: Any, disk_size: int, base: Path) -> Iterator[Issue]:
    size = volume.size_gi_b or disk_size
    least, iops_range, per_gib = _EBS[volume.type]
    if size < least:
        yield (*base, "sizeGiB"), f"{volume.type} volumes are at least {least} GiB"
    if iops_range is None and volume.iops is not None:
        yield (*base, "iops"), f"{volume.type} volumes have no provisioned IOPS (their IOPS follow their size)"
    elif volume.type in ("io1", "io2") and volume.iops is None:
        yield (*base, "iops"), f"{volume.type} volumes need provisioned IOPS"
    elif iops_range is not None and volume.iops is not None:
        low, high = iops_range
        if not low <= volume.iops <= high:
            yield (*base, "iops"), f"{volume.type} takes {low}..{high} IOPS"
        elif volume.iops > per_gib * size:
            yield (*base, "iops"), f"{volume.iops} IOPS on {size} GiB; {volume.type} allows {per_gib} per GiB"
    if volume.throughput is not None:
        if volume.type != "gp3":
            yield (*base, "throughput"), "only gp3 volumes take a throughput"
        elif volume.throughput * 4 > (volume.iops or 3000):
            # gp3: at most 0.25 MiB/s per provisioned IOPS.
            yield (*base, "throughput"), f"{volume.throughput} MiB/s needs at least {volume.throughput * 4} IOPS on gp3"
    if volume.kms_key_id is not None:
        if not volume.encrypted:
            yield (*base, "kmsKeyId"), "a KMS key encrypts: set encrypted: true (the default) or drop the key"
        elif volume.kms_key_id.startswith("arn:") and volume.kms_key_id.split(":")[3] != region:
            yield (
                (*base, "kmsKeyId"),
                f"the KMS key is in {volume.kms_key_id.split(':')[3]}; volumes take a key of {region}",
            )


def _duplicates(base: Path, values: list[Any], attr: str | None = None) -> Iterator[Issue]:
    """Report each repeated value at its later occurrence."""
    seen: dict[Any, int] = {}
    for i, value in enumerate(values):
        path = (*base, i, attr) if attr else (*base, i)
        if value in seen:
            yield path, f"duplicate {value!r} (first at {paths.render((*base, seen[value]))})"
        else:
            seen[value] = i


def _check_tags(tags: dict[str, str], base: Path = ("metadata", "tags")) -> Iterator[Issue]:
    if len(tags) > facts.MAX_USER_TAGS:
        yield base, f"{len(tags)} tags; at most {facts.MAX_USER_TAGS} (AWS allows 50, clusterdrop adds its own)"
    for key, value in tags.items():
        path = (*base, key)
        if key.lower().startswith("aws:"):
            yield path, "tag keys starting with 'aws:' are reserved by AWS"
        elif key.lower().startswith("clusterdrop:"):
            yield path, "tag keys starting with 'clusterdrop:' are set by clusterdrop itself"
        if not 1 <= len(key) <= 128:
            yield path, f"tag key is {len(key)} characters; AWS allows 1..128"
        elif not _TAG_TEXT.match(key):
            yield path, "tag key may hold only letters, digits, spaces and _ . : / = + - @"
        if len(value) > 256:
            yield path, f"tag value is {len(value)} characters; AWS allows at most 256"
        elif not _TAG_TEXT.match(value):
            yield path, "tag value may hold only letters, digits, spaces and _ . : / = + - @"


def _check_versions(spec: ClusterSpec) -> Iterator[Issue]:
    version = spec.kubernetes_version
    if version not in facts.KUBERNETES_VERSIONS:
        yield (
            ("spec", "kubernetesVersion"),
            (
                f"Kubernetes {version} is not supported by EKS (standard or extended support); "
                f"supported: {', '.join(facts.KUBERNETES_VERSIONS)}"
            ),
        )
        return
    # A managed node group may trail its control plane, but EKS moves a control plane on only
    # while every managed node group is at its version: a group is at most one minor behind.
    major, minor = _minor(version)
    previous = f"{major}.{minor - 1}"
    for i, group in enumerate(spec.node_groups):
        wanted = group.kubernetes_version
        if wanted is not None and wanted not in (version, previous):
            yield (
                ("spec", "nodeGroups", i, "kubernetesVersion"),
                (
                    f"{wanted} is not the control plane's {version} or the minor before it ({previous}): EKS keeps "
                    "a node group at most one minor behind its control plane (it upgrades a control plane only once "
                    "every node group is at its version) and never ahead of it"
                ),
            )
    if spec.control_plane.flavor == "kubeadm":
        yield (
            ("spec", "controlPlane", "flavor"),
            "the kubeadm flavour is not supported yet; use eks",
        )


def _zone_of(region: str, zone: str) -> bool:
    return re.fullmatch(re.escape(region) + "[a-z]", zone) is not None


def _check_zones(spec: ClusterSpec) -> Iterator[Issue]:
    zones = spec.network.zones
    if zones is None:
        return
    base: Path = ("spec", "network", "zones")
    for i, zone in enumerate(zones):
        if not _zone_of(spec.region, zone):
            yield (*base, i), f"{zone!r} is not a zone of region {spec.region} (zones look like {spec.region}a)"
    yield from _duplicates(base, zones)
    if len(set(zones)) < 2:
        yield base, "EKS needs subnets in at least 2 zones; give 2 to 6 zones (3 for an HA control plane)"
    elif len(zones) > 6:
        yield base, f"{len(zones)} zones; at most 6"


def _check_vpc(spec: ClusterSpec, given: Network) -> Iterator[Issue]:
    net = spec.network
    vpc = net.vpc
    base: Path = ("spec", "network", "vpc")
    if vpc.id is not None and vpc.cidr is not None:
        yield (*base, "id"), "give either cidr (a new VPC) or id (an existing VPC), not both"
        return
    if vpc.id is None:
        if vpc.subnets is not None:
            yield (*base, "subnets"), "subnets belong to an existing VPC: set vpc.id too, or drop subnets"
        if vpc.cidr is not None:
            prefix = ipaddress.IPv4Network(vpc.cidr).prefixlen
            if not 16 <= prefix <= 24:
                yield (*base, "cidr"), f"a VPC CIDR must be between /16 and /24 (got /{prefix})"
        private_groups = [i for i, g in enumerate(spec.node_groups) if (g.topology or net.topology) == "private"]
        if private_groups and net.nat_gateways == "none":
            where: Path = ("spec", "network", "natGateways")
            if net.topology != "private":  # the cluster's public: a group asks for private subnets
                where = ("spec", "nodeGroups", private_groups[0], "topology")
            yield (
                where,
                (
                    "a private topology needs NAT gateways: nodes in private subnets reach ECR and the "
                    "internet only through NAT (use single or per-zone, or topology: public)"
                ),
            )
        return
    # An existing VPC.
    if "nat_gateways" in given.model_fields_set:
        yield ("spec", "network", "natGateways"), "natGateways applies to a new VPC; an existing VPC keeps its own"
    subnets = vpc.subnets
    if subnets is None or not (subnets.private or subnets.public):
        yield (*base, "subnets"), "an existing VPC needs its subnets: subnets: {private: [...], public: [...]}"
        return
    needed = net.topology
    if not getattr(subnets, needed):
        yield (*base, "subnets", needed), f"topology {needed} needs {needed} subnets in the existing VPC"
    for i, group in enumerate(spec.node_groups):
        if group.topology and group.topology != needed and not getattr(subnets, group.topology):
            yield (
                ("spec", "nodeGroups", i, "topology"),
                f"topology {group.topology} needs {group.topology} subnets in the existing VPC (vpc.subnets)",
            )
    ids: list[str] = []
    for kind in ("private", "public"):
        for i, ref in enumerate(getattr(subnets, kind)):
            ids.append(ref.id)
            if ref.zone is None:
                continue
            path = (*base, "subnets", kind, i, "zone")
            if not _zone_of(spec.region, ref.zone):
                yield path, f"{ref.zone!r} is not a zone of region {spec.region}"
            elif net.zones is not None and ref.zone not in net.zones:
                yield path, f"{ref.zone!r} is not one of spec.network.zones"
    seen: set[str] = set()
    for kind in ("private", "public"):
        for i, ref in enumerate(getattr(subnets, kind)):
            if ref.id in seen:
                yield (*base, "subnets", kind, i, "id"), f"subnet {ref.id} is listed twice"
            seen.add(ref.id)
    used = getattr(subnets, needed)
    zones = {ref.zone for ref in used}
    if used and None not in zones and len(zones) < 2:
        yield (*base, "subnets", needed), "EKS needs subnets in at least 2 zones"


def _overlay(release: catalog.CniRelease, cni: Cni) -> bool:
    """Whether the CNI as asked (its mode defaulted) is an overlay; a mode the release lacks is
    refused elsewhere."""
    mode = (cni.mode or release.default_mode) + ("-kpr" if cni.kube_proxy_replacement else "")
    return catalog.overlay_mode(release, mode) if mode in release.modes else release.overlay


def _cilium_eni(cni: Cni) -> bool:
    return cni.name == "cilium" and (cni.mode or "eni") == "eni"


def _check_cidrs(spec: ClusterSpec, given: Network) -> Iterator[Issue]:
    net = spec.network
    base: Path = ("spec", "network")
    release = catalog.find(spec.cni.name, spec.cni.version)
    overlay = release is not None and _overlay(release, spec.cni)
    if given.pod_cidr is not None and release and not overlay:
        yield (*base, "podCidr"), f"{spec.cni.name} gives pods VPC addresses; podCidr applies to overlay CNIs only"
    if net.pod_cidr is None and release is not None and overlay:
        yield (*base, "podCidr"), "no default pod CIDR fits beside the VPC and service CIDRs; set podCidr"
    ordered: list[tuple[Path, str]] = []
    if net.vpc.cidr:
        ordered.append(((*base, "vpc", "cidr"), net.vpc.cidr))
    if net.pod_cidr and (release is None or overlay):
        prefix = ipaddress.IPv4Network(net.pod_cidr).prefixlen
        if not 8 <= prefix <= 24:
            yield (*base, "podCidr"), f"a pod CIDR must be between /8 and /24 (got /{prefix})"
        ordered.append(((*base, "podCidr"), net.pod_cidr))
    if net.service_cidr:
        service = ipaddress.IPv4Network(net.service_cidr)
        path = (*base, "serviceCidr")
        if not any(service.subnet_of(ipaddress.IPv4Network(r)) for r in facts.PRIVATE_RANGES):
            yield path, "EKS needs the service CIDR inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
        elif not 12 <= service.prefixlen <= 24:
            yield path, f"EKS needs a service CIDR between /12 and /24 (got /{service.prefixlen})"
        ordered.append((path, net.service_cidr))
    for i, (path, cidr) in enumerate(ordered):
        for earlier_path, earlier in ordered[:i]:
            if ipaddress.IPv4Network(cidr).overlaps(ipaddress.IPv4Network(earlier)):
                yield path, f"{cidr} overlaps {paths.render(earlier_path)} ({earlier})"
                break


def _check_cni(spec: ClusterSpec, given_cni: Cni) -> Iterator[Issue]:
    cni = spec.cni
    base: Path = ("spec", "cni")
    reason = catalog.UNSUPPORTED_ON.get((cni.name, spec.control_plane.flavor))
    if reason:
        yield (*base, "name"), reason
        return
    known = catalog.releases(cni.name)
    if not known:
        names = sorted({r.name for r in catalog.CATALOG if spec.control_plane.flavor in r.flavors})
        yield (*base, "name"), f"no release of {cni.name} is in the catalog yet; available: {', '.join(names)}"
        return
    release = catalog.find(cni.name, cni.version)
    if release is None:
        versions = ", ".join(r.version for r in known)
        yield (*base, "version"), f"{cni.name} {cni.version} is not in the catalog; available: {versions}"
        return
    pin = catalog.pin_problem(release, spec.kubernetes_version or "") if given_cni.version is not None else None
    if pin:
        yield (*base, "version"), pin
    if cni.kube_proxy_replacement and cni.name != "cilium":
        yield (*base, "kubeProxyReplacement"), f"kube-proxy replacement is Cilium's; {cni.name} runs beside kube-proxy"
    modes = sorted({m.removesuffix("-kpr") for m in release.modes})
    if cni.mode is not None and not release.has_modes and "mode" in given_cni.model_fields_set:
        yield (*base, "mode"), f"mode applies to calico and cilium only; {cni.name} has one way of installing"
    elif cni.mode is not None and cni.mode not in modes:
        yield (*base, "mode"), f"{cni.name} modes are {', '.join(modes)}"


def _check_control_plane(spec: ClusterSpec) -> Iterator[Issue]:
    cp = spec.control_plane
    base: Path = ("spec", "controlPlane")
    if cp.endpoint_access == "private" and cp.admin_cidrs:
        yield (*base, "adminCidrs"), "adminCidrs restrict the public endpoint; endpointAccess is private"
    yield from _duplicates((*base, "adminCidrs"), cp.admin_cidrs or [])
    yield from _duplicates((*base, "admins"), cp.admins)
    yield from _duplicates((*base, "logging"), cp.logging)
    key_region = cp.secrets_key.split(":")[3] if cp.secrets_key else spec.region
    if key_region != spec.region:
        # EKS: the KMS key must be in the same Region as the cluster.
        yield (
            (*base, "secretsKey"),
            f"the KMS key is in {key_region}; EKS takes a key of the cluster's region ({spec.region})",
        )


# The one taint every system workload tolerates: CoreDNS and the EBS CSI controller as EKS ships
# them, Calico's kube-controllers (manifest and operator), and metrics-server as clusterdrop
# configures it. Any other NoSchedule/NoExecute taint keeps them off a node.
SYSTEM_TAINT = "CriticalAddonsOnly"


def _system_capable(group: NodeGroup) -> bool:
    return group.desired_size > 0 and all(t.effect == "PreferNoSchedule" or t.key == SYSTEM_TAINT for t in group.taints)


def _check_system_nodes(spec: ClusterSpec) -> Iterator[Issue]:
    """Refuse a spec whose nodes are all tainted so that the system workloads run nowhere: on EKS
    the create would wait out its deadline with CoreDNS Pending."""
    with_nodes = [g for g in spec.node_groups if g.desired_size > 0]
    if any(_system_capable(g) for g in with_nodes) or not any(g.taints for g in with_nodes):
        return
    workloads = ["CoreDNS"]
    if spec.cni.name == "calico":
        workloads.append("calico-kube-controllers")
    workloads += [a for a in spec.addons if a != "pod-identity-agent"]  # the agent runs on every node
    taints = "; ".join(
        f"{g.name}: "
        + ", ".join(f"{t.key}={t.value or ''}:{t.effect}" for t in g.taints if t.effect != "PreferNoSchedule")
        for g in with_nodes
    )
    message = (
        f"no node group can run the system workloads ({', '.join(workloads)}): every node group with nodes "
        f"is tainted ({taints}). Add a node group without taints, or one tainted only "
        f"{{key: {SYSTEM_TAINT}, value: 'true', effect: NoSchedule}}, which they tolerate"
    )
    yield ("spec", "nodeGroups"), message


def _check_cni_cluster_name(cluster: Cluster) -> Iterator[Issue]:
    """Cilium takes the cluster's name as its own cluster-name (patched in after its chart renders,
    so the chart's own check never runs) and refuses one over 32 characters."""
    release = catalog.find(cluster.spec.cni.name, cluster.spec.cni.version)
    limit = release.cluster_name_max if release else None
    name = cluster.metadata.name
    if limit is not None and len(name) > limit:
        yield (
            ("metadata", "name"),
            (
                f"{cluster.spec.cni.name} takes the cluster's name as its own and refuses one over {limit} "
                f"characters ({name!r} has {len(name)}): choose a shorter name"
            ),
        )


def _check_cilium_operator_nodes(spec: ClusterSpec) -> Iterator[Issue]:
    """Cilium's operator tolerates only the control-plane and not-ready taints (its chart's
    operator.tolerations), not CriticalAddonsOnly: with every node tainted, Check CNI would wait
    out its deadline with the operator Pending."""
    with_nodes = [g for g in spec.node_groups if g.desired_size > 0]
    if spec.cni.name != "cilium" or not with_nodes:
        return
    if any(all(t.effect == "PreferNoSchedule" for t in g.taints) for g in with_nodes):
        return
    yield (
        ("spec", "nodeGroups"),
        (
            "no node group can run Cilium's operator: its chart tolerates none of the taints on every node group "
            f"with nodes ({', '.join(g.name for g in with_nodes)}), {SYSTEM_TAINT} included. Add a node group "
            "without NoSchedule or NoExecute taints"
        ),
    )


def _check_label_key(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _LABEL_PREFIX.match(prefix)):
        return f"{key!r}: the prefix must be a DNS subdomain"
    if not _LABEL_NAME.match(name):
        return f"{key!r} is not a valid label key (1..63 of letters, digits, '-', '_', '.', optional prefix/)"
    if prefix and any(prefix == d or prefix.endswith("." + d) for d in _RESERVED_LABEL_DOMAINS):
        return f"{key!r}: the {prefix} prefix is reserved for Kubernetes"
    return None


def _check_node_group(spec: ClusterSpec, i: int, group: NodeGroup) -> Iterator[Issue]:
    base: Path = ("spec", "nodeGroups", i)
    lo, want, hi = group.min_size or 0, group.desired_size, group.max_size or 0
    if lo > hi:
        yield (*base, "maxSize"), f"maxSize ({hi}) is less than minSize ({lo})"
    elif want < lo:
        yield (*base, "desiredSize"), f"desiredSize ({want}) is less than minSize ({lo})"
    elif want > hi:
        yield (*base, "maxSize"), f"maxSize ({hi}) is less than desiredSize ({want})"
    archs = [facts.architecture(t) for t in group.instance_types]
    for j, arch in enumerate(archs):
        if arch != archs[0]:
            other, first = group.instance_types[j], group.instance_types[0]
            message = f"{other} is {arch} but {first} is {archs[0]}; a node group has one architecture"
            yield (*base, "instanceTypes", j), message
    kinds = [facts.accelerator(t) for t in group.instance_types]
    for j, kind in enumerate(kinds):
        if kind != kinds[0]:
            other, first = group.instance_types[j], group.instance_types[0]
            message = (
                f"{other} has {kind or 'no'} accelerators but {first} has {kinds[0] or 'none'}: a node group has one "
                "AMI type, with the drivers for its instances"
            )
            yield (*base, "instanceTypes", j), message
    if kinds[0] == "NEURON" and group.ami_family == "bottlerocket":
        yield (
            (*base, "amiFamily"),
            (
                f"{group.instance_types[0]} needs the Neuron driver, and EKS has no Bottlerocket Neuron AMI type: "
                "use al2023"
            ),
        )
    yield from _duplicates((*base, "instanceTypes"), group.instance_types)
    if group.zones is not None:
        cluster_zones = spec.network.zones
        for j, zone in enumerate(group.zones):
            path = (*base, "zones", j)
            if cluster_zones is None:
                yield path, "node-group zones need spec.network.zones (the cluster's zones) to be set"
                break
            if zone not in cluster_zones:
                yield path, f"{zone!r} is not one of the cluster's zones ({', '.join(cluster_zones)})"
        yield from _duplicates((*base, "zones"), group.zones)
        if not group.zones:
            yield (*base, "zones"), "give at least one zone, or leave zones out for all of the cluster's"
    for key, value in group.labels.items():
        problem = _check_label_key(key)
        if problem:
            yield (*base, "labels", key), problem
        if not _LABEL_VALUE.match(value):
            yield (*base, "labels", key), f"{value!r} is not a valid label value (0..63 letters, digits, '-', '_', '.')"
    taint_keys: dict[tuple[str, str], int] = {}
    for j, taint in enumerate(group.taints):
        problem = _check_label_key(taint.key)
        if problem:
            yield (*base, "taints", j, "key"), problem.replace("label key", "taint key")
        if taint.value is not None and not _LABEL_VALUE.match(taint.value):
            yield (*base, "taints", j, "value"), f"{taint.value!r} is not a valid taint value"
        ident = (taint.key, taint.effect)
        if ident in taint_keys:
            yield (
                (*base, "taints", j),
                f"taint {taint.key}:{taint.effect} is repeated (first at taints[{taint_keys[ident]}])",
            )
        taint_keys.setdefault(ident, j)


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def upgrade_problem(running: str, wanted: str) -> Problem | None:
    """EKS moves a control plane one minor version at a time and never back: a spec that asks
    for more is refused at Plan, before anything changes, naming the next allowed step."""
    have, want = _minor(running), _minor(wanted)
    if want == have:
        return None
    if want < have:
        return Problem(
            "spec.kubernetesVersion",
            f"{wanted} is older than {running}, the version the cluster runs: EKS cannot downgrade a control "
            f"plane. Keep {running}, or create a new cluster on {wanted}",
        )
    if want[1] - have[1] > 1 or want[0] != have[0]:
        step = f"{have[0]}.{have[1] + 1}"
        return Problem(
            "spec.kubernetesVersion",
            f"{running} → {wanted} skips a minor version: EKS upgrades one minor at a time. Set {step} first, "
            f"then {wanted}",
        )
    return None
