"""A manifest-installed CNI's artifacts, staged into the artifacts bucket (verified by digest):
at *Plan*, so that a release that is neither mirrored nor downloadable is refused before anything
is created (found at *Connect*, it cost a cluster stack built and deleted — some fifteen minutes
on AWS), and again at *Connect*, which then finds them in the bucket."""

from __future__ import annotations

from pathlib import Path

from clusterdrop.cni.fetch import DirectoryMirror, StagedArtifact, stage
from clusterdrop.cni.s3mirror import S3Mirror
from clusterdrop.spec.models import Cluster
from clusterdrop.steps.context import Ports


def stage_cni(ports: Ports, cluster: Cluster) -> list[StagedArtifact]:
    """What the agent will apply, in the bucket; nothing for a CNI EKS installs (an add-on, or
    Auto Mode's own). Raises ArtifactUnavailable or ArtifactDigestMismatch."""
    release = cluster.spec.cni.release()
    if cluster.spec.compute_mode == "auto" or release.eks_addon:
        return []
    mirror = S3Mirror(ports.s3, ports.settings.artifacts_bucket)
    local = DirectoryMirror(Path(ports.settings.cni_mirror_dir)) if ports.settings.cni_mirror_dir else None
    staged = stage(release, cluster.spec.cni.install_mode(), local or mirror)
    for item in staged:
        mirror.put(item.artifact, item.data)
    return staged
