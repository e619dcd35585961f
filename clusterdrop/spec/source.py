"""From bytes to a validated spec: the one entry point the CLI and the workflow use."""

from __future__ import annotations

from dataclasses import dataclass, field

from clusterdrop.errors import Problem, SpecInvalid, UnsupportedFields
from clusterdrop.spec import eksctl, kops
from clusterdrop.spec.loader import Document, load
from clusterdrop.spec.models import Cluster
from clusterdrop.spec.validate import validate


@dataclass
class LoadedSpec:
    cluster: Cluster
    source_format: str  # "clusterdrop" or "eksctl"
    notes: list[str] = field(default_factory=list)
    dropped: list[Problem] = field(default_factory=list)
    # Whether the file names spec.kubernetesVersion (else the default was filled in): an update
    # of a running cluster keeps its version unless the spec names one.
    version_given: bool = True


def load_spec(raw: bytes, *, allow_partial: bool = False) -> LoadedSpec:
    """Parse and validate a native spec or an eksctl ClusterConfig.

    Raises LoadError (unreadable), UnsupportedFields (eksctl fields that cannot be honoured,
    unless allow_partial) or SpecInvalid (the spec is wrong).
    """
    doc = load(raw)
    if kops.is_kops(doc.data):
        raise SpecInvalid([kops.explain([doc.data, *doc.siblings])])
    if not eksctl.is_eksctl(doc.data):
        given = "kubernetesVersion" in ((doc.data.get("spec") if isinstance(doc.data, dict) else None) or {})
        return LoadedSpec(cluster=validate(doc), source_format="clusterdrop", version_given=given)
    conversion = eksctl.convert(doc)
    if conversion.unsupported and not allow_partial:
        raise UnsupportedFields(conversion.unsupported)
    try:
        cluster = validate(Document(data=conversion.spec, is_yaml=False))
    except SpecInvalid as exc:
        # Paths are those of the converted spec; say so, since the user wrote eksctl fields.
        raise SpecInvalid(
            [Problem(p.path, f"{p.message} (in the converted spec)", None, None) for p in exc.problems]
        ) from None
    return LoadedSpec(
        cluster=cluster,
        source_format="eksctl",
        notes=conversion.notes,
        dropped=conversion.unsupported,
        version_given="version" in (doc.data.get("metadata") or {}),
    )
