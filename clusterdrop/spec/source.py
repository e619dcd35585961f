"""From bytes to a validated spec: the one entry point the CLI and the workflow use."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from clusterdrop.errors import Problem, SpecInvalid, UnsupportedFields
from clusterdrop.spec import eksctl, kops, paths, references
from clusterdrop.spec.loader import Document, Path, load
from clusterdrop.spec.models import Cluster
from clusterdrop.spec.validate import validate


@dataclass
class LoadedSpec:
    cluster: Cluster
    source_format: str  # "clusterdrop", "eksctl" or "kops"
    notes: list[str] = field(default_factory=list)
    dropped: list[Problem] = field(default_factory=list)
    # Whether the file names spec.kubernetesVersion (else the default was filled in): an update
    # of a running cluster keeps its version unless the spec names one.
    version_given: bool = True
    # Whether the file names spec.cni.version (else the catalog's choice was filled in): a running
    # cluster keeps its CNI release unless the spec names one or its Kubernetes version needs another.
    cni_version_given: bool = True
    # Values taken from SSM or CloudFormation exports, and what they resolved to (None: not
    # resolved, the spec holds stand-ins for them and is not to be deployed).
    references: list[references.Reference] = field(default_factory=list)
    resolved: dict[Path, Any] | None = None

    def reference_lines(self) -> list[str]:
        """Each reference as a person reads it: the field, where it comes from, its value."""
        out = []
        for ref in self.references:
            where = f"{paths.render(ref.path)} ← {ref.describe()}"
            if self.resolved is None:
                out.append(f"{where} (resolved at Validate spec; --resolve reads it now)")
            else:
                value = self.resolved[ref.path]
                out.append(f"{where} = {', '.join(value) if isinstance(value, list) else value}")
        return out

    def waits_for(self, problem_path: str) -> bool:
        """Whether a problem (a guardrail's) is about a reference not resolved yet: its stand-in
        says nothing about the value."""
        if self.resolved is not None:
            return False
        return any(problem_path.startswith(paths.render(r.path)) for r in self.references)

    def reference_records(self) -> list[dict[str, Any]]:
        return [
            {
                "path": paths.render(r.path),
                "from": r.kind,
                "name": r.name,
                "value": None if self.resolved is None else self.resolved[r.path],
            }
            for r in self.references
        ]


def load_spec(raw: bytes, *, allow_partial: bool = False, resolve: references.Resolver | None = None) -> LoadedSpec:
    """Parse and validate a native spec, an eksctl ClusterConfig or a kops file. With `resolve`, references
    (`fromSsm`, `fromExport`) are resolved and the spec validated as resolved; without, they are
    validated for their shape and stand-ins hold their places.

    Raises LoadError (unreadable), UnsupportedFields (eksctl or kops fields that cannot be honoured,
    unless allow_partial) or SpecInvalid (the spec is wrong, or a reference cannot be resolved).
    """
    doc = load(raw)
    if not eksctl.is_eksctl(doc.data) and not kops.is_kops(doc.data):
        spec_data = (doc.data.get("spec") if isinstance(doc.data, dict) else None) or {}
        given = "kubernetesVersion" in spec_data
        cni_data = spec_data.get("cni") if isinstance(spec_data, dict) else None
        cni_given = isinstance(cni_data, dict) and "version" in cni_data
        refs = references.find(doc.data)
        if not refs:
            return LoadedSpec(
                cluster=validate(doc), source_format="clusterdrop", version_given=given, cni_version_given=cni_given
            )
        values = resolve(refs) if resolve is not None else references.stand_ins(refs)
        filled = replace(doc, data=references.substitute(doc.data, values))
        cluster = validate(filled, unchecked=[] if resolve is not None else [r.path for r in refs])
        return LoadedSpec(
            cluster=cluster,
            source_format="clusterdrop",
            version_given=given,
            cni_version_given=cni_given,
            references=refs,
            resolved=values if resolve is not None else None,
        )
    imported = "kops" if kops.is_kops(doc.data) else "eksctl"
    conversion = kops.convert(doc) if imported == "kops" else eksctl.convert(doc)
    if conversion.unsupported and not allow_partial:
        raise UnsupportedFields(conversion.unsupported)
    try:
        cluster = validate(Document(data=conversion.spec, is_yaml=False))
    except SpecInvalid as exc:
        # Paths are those of the converted spec; say so, since the user wrote eksctl or kops fields.
        raise SpecInvalid(
            [Problem(p.path, f"{p.message} (in the converted spec)", None, None) for p in exc.problems]
        ) from None
    return LoadedSpec(
        cluster=cluster,
        source_format=imported,
        notes=conversion.notes,
        dropped=conversion.unsupported,
        version_given="kubernetesVersion" in conversion.spec.get("spec", {}),
        cni_version_given=False,  # eksctl and kops files name no release of the catalog's
    )
