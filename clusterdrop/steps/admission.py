"""States "Validate spec", "Read last applied spec", "Take cluster lock", "Release cluster lock":
what an execution is about, and the right to act on its cluster."""

from __future__ import annotations

import json

from clusterdrop.aws import intake, lock, registry
from clusterdrop.aws import quotas as account_quotas
from clusterdrop.cni import catalog
from clusterdrop.contract import NEVER_CREATED_FORMAT
from clusterdrop.errors import LockBusy, PolicyRefused, Problem, SpecInvalid, SpecMismatch
from clusterdrop.spec import policy, references
from clusterdrop.spec.models import Cluster
from clusterdrop.spec.source import LoadedSpec, load_spec
from clusterdrop.steps.context import Ports, State, spec_store_key, typed


def validate_spec(state: State, ports: Ports) -> State:
    """Read the exact object version, validate it, store the normalized spec. Touches nothing else."""
    s = typed(state)
    name = s.cluster
    obj = ports.s3.get_object(Bucket=s.bucket, Key=s.key, VersionId=s.version_id)
    # Values from SSM parameters and CloudFormation exports, read within what the deployer's
    # context allows; the spec is validated, planned and stored as resolved.
    resolve = references.resolver(
        ports.ssm,
        ports.cfn,
        parameter_paths=ports.settings.reference_parameter_paths,
        export_prefixes=ports.settings.reference_exports,
    )
    loaded = load_spec(obj["Body"].read(), resolve=resolve)
    cluster = loaded.cluster
    if cluster.metadata.name != name:
        raise SpecMismatch(
            f"{s.key} holds metadata.name {cluster.metadata.name!r}; a spec is stored as clusters/<metadata.name>.yaml"
        )
    if cluster.spec.region != ports.settings.region:
        raise region_mismatch(cluster.spec.region, ports.settings.region)
    team = intake.team_of(s.key)
    item = registry.get(ports.clusters, name)
    refuse_other_team(item, team, name)
    cluster, notes = as_it_would_run(loaded, item)
    # The guardrails, on the version the cluster will run, for a create and every update alike:
    # nothing is created or changed past them.
    refused = policy.check(cluster, ports.settings.policy.for_team(team), account=ports.settings.account or None)
    if refused:
        raise PolicyRefused(refused)
    normalized = cluster.model_dump(mode="json", by_alias=True, exclude_none=True)
    key = spec_store_key(name, s.version_id)
    ports.s3.put_object(
        Bucket=ports.settings.artifacts_bucket,
        Key=key,
        Body=json.dumps(normalized).encode(),
        ContentType="application/json",
    )
    return {
        "specKey": key,
        "format": loaded.source_format,
        "notes": notes,
        "references": loaded.reference_records(),
    }


def as_it_would_run(loaded: LoadedSpec, item: registry.ClusterRecord | None) -> tuple[Cluster, list[str]]:
    """The spec as the workflow applies it to the cluster the registry knows, with the notes that
    say what was settled (also what `clusterdrop diff` compares). Raises SpecInvalid."""
    cluster = loaded.cluster
    notes = list(loaded.notes)
    # No version named: a running cluster keeps its own (a new clusterdrop release with a newer
    # default must not upgrade every cluster on its next upload); a new one gets the default.
    if not loaded.version_given and item is not None and item.status == "ACTIVE" and item.kubernetes_version:
        spec = cluster.spec.model_copy(update={"kubernetes_version": item.kubernetes_version})
        cluster = cluster.model_copy(update={"spec": spec})
        notes.append(
            f"spec.kubernetesVersion is not set: the cluster keeps {item.kubernetes_version}, the version it "
            "runs; set it to upgrade"
        )
    cluster, cni_note = settle_cni(cluster, item, pinned=loaded.cni_version_given)
    if cni_note:
        notes.append(cni_note)
    return cluster, notes


def settle_cni(cluster: Cluster, item: registry.ClusterRecord | None, *, pinned: bool) -> tuple[Cluster, str | None]:
    """The CNI release for the Kubernetes version the cluster will run (settled above, so not
    necessarily the one the spec was validated with). A pin is checked again on that version; an
    unpinned CNI keeps the release a running cluster has (recorded in the registry), unless its
    makers do not test it on that version and another catalogued release is tested there: then it
    moves, which an upgrade does after the control plane. Raises SpecInvalid."""
    spec = cluster.spec
    cni = spec.cni
    kubernetes = spec.kubernetes_version or ""
    if cni.version is None:  # EKS Auto Mode runs its own
        return cluster, None
    if pinned:
        release = catalog.find(cni.name, cni.version)
        problem = catalog.pin_problem(release, kubernetes) if release is not None else None
        if problem:
            raise SpecInvalid([Problem("spec.cni.version", problem)])
        return cluster, None
    ran = item.cni.partition(" ") if item is not None and item.status == "ACTIVE" else ("", "", "")
    running = ran[2] if ran[0] == cni.name else ""
    chosen = catalog.choose(cni.name, kubernetes, running=running or None)
    if chosen is None:
        return cluster, None
    if chosen.version != cni.version:
        cni = cni.model_copy(update={"version": chosen.version})
        cluster = cluster.model_copy(update={"spec": spec.model_copy(update={"cni": cni})})
    if not running or (chosen.version == running and spec.cni.version == running):
        return cluster, None
    if chosen.version == running:
        return cluster, f"spec.cni.version is not set: the cluster keeps {cni.name} {running}, the release it runs"
    why = (
        f"is not tested on Kubernetes {kubernetes}"
        if catalog.find(cni.name, running)
        else "is no longer in clusterdrop's catalog"
    )
    return cluster, f"spec.cni.version is not set: {cni.name} {running} {why}; the cluster moves to {chosen.version}"


def refuse_other_team(item: registry.ClusterRecord | None, team: str, name: str) -> None:
    """A cluster belongs to the team whose prefix created it: another team's key (or the shared
    one) neither changes nor deletes it."""
    if item is None or item.status in ("", "DELETED", registry.NEVER_CREATED) or item.team == team:
        return

    owner = f"team {item.team} (clusters/{item.team}/{name}.yaml)" if item.team else f"clusters/{name}.yaml"
    here = f"clusters/{team}/" if team else "clusters/"
    message = f"cluster {name!r} belongs to {owner}; a spec under {here} cannot change or delete it"
    raise SpecInvalid([Problem("metadata.name", message)])


def read_last_applied_spec(state: State, ports: Ports) -> State:
    """For a teardown: the spec last applied, from the registry (the uploaded object is gone).
    Read under the lock, so that a deploy still running for the cluster has recorded what it made."""
    name = typed(state).cluster
    item = registry.get(ports.clusters, name)
    if item and not item.spec_key:
        refuse_other_team(item, intake.team_of(typed(state).key), name)
        # Its first create failed before anything was recorded as applied: there is nothing to
        # tear down, and the record that said so goes (`status` no longer lists the cluster).
        ports.clusters.delete_item(Key={"cluster": name})
        step = item.last_failure.get("step", "")
        # Not a failure: the teardown machine's Choice "Anything to tear down?" goes straight to
        # its notification, which says this.
        said = (
            f"Cluster {name!r} was never created (its first create failed{f' at {step}' if step else ''}): "
            "nothing to tear down; its record is removed from the registry."
        )
        return {"specKey": "", "format": NEVER_CREATED_FORMAT, "notes": [said]}
    if not item or not item.spec_key:
        raise unknown_cluster(name)
    refuse_other_team(item, intake.team_of(typed(state).key), name)
    return {"specKey": item.spec_key, "format": "stored"}


def region_mismatch(wanted: str, deployer: str) -> SpecInvalid:
    """A deployer creates clusters in its own region (its buckets, roles and agent code are
    regional): a spec for another region goes to the clusterdrop deployed there."""

    return SpecInvalid(
        [
            Problem(
                "spec.region",
                f"{wanted!r}, but this clusterdrop deploys to {deployer!r}: upload the spec to the clusterdrop "
                f"deployed in {wanted}, or set spec.region to {deployer!r}",
            )
        ]
    )


def unknown_cluster(name: str) -> SpecInvalid:

    return SpecInvalid([Problem("metadata.name", f"no cluster {name!r} in the registry: nothing to tear down")])


def take_cluster_lock(state: State, ports: Ports) -> State:
    earlier = lock.earlier_change_waiting(ports.sfn, ports.settings.state_machines, state) if ports.sfn else None
    if earlier:
        raise LockBusy(f"cluster {typed(state).cluster}: an earlier upload ({earlier}) goes first; waiting for it")
    return lock.acquire(ports.locks, typed(state).cluster, typed(state).execution)


def release_cluster_lock(state: State, ports: Ports) -> State:
    """The lock, and what the execution reserved of the account's quotas (its stacks exist now,
    or it failed): its resources count as usage from here on."""
    s = typed(state)
    if ports.clusters is not None:
        account_quotas.release(ports.clusters, s.cluster, s.execution)
    return lock.release(ports.locks, s.cluster, s.execution)
