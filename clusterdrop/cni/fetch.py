"""Staging CNI artifacts: from the mirror when it has them, else from the official URL into
the mirror; every byte checked against the catalog's sha256 before anyone parses it.

Mirrors find files by digest, so any file name works. In AWS the mirror is the artifacts bucket
(the agent, inside the VPC, reads from there); locally it is the directory named by
CLUSTERDROP_CNI_MIRROR.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from clusterdrop.cni import render
from clusterdrop.cni.catalog import Artifact, CniRelease
from clusterdrop.errors import ArtifactDigestMismatch, ArtifactUnavailable

MIRROR_ENV = "CLUSTERDROP_CNI_MIRROR"
DOWNLOAD_TIMEOUT_SECONDS = 30
MAX_ARTIFACT_BYTES = 16 * 1024 * 1024

Downloader = Callable[[str], bytes]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Mirror(Protocol):
    """Where verified artifacts are kept, found by digest."""

    def find(self, artifact: Artifact) -> tuple[bytes, str] | None:
        """The file holding this artifact (content, where it came from), or a look-alike."""

    def put(self, artifact: Artifact, data: bytes) -> None: ...

    def describe(self) -> str: ...

    def seed_command(self, release: CniRelease) -> str:
        """The command a person runs, on a machine with internet access, that puts the release's
        verified artifacts where this mirror finds them."""


class DirectoryMirror:
    """A directory of artifact files. Files are matched by sha256; when none matches, a file
    named like the artifact is returned so that its (wrong) digest can be reported."""

    def __init__(self, root: Path):
        self.root = root
        self._digests: dict[Path, tuple[float, int, str]] = {}

    def describe(self) -> str:
        return f"mirror directory {self.root}"

    def seed_command(self, release: CniRelease) -> str:
        return f"clusterdrop cni mirror {release.name} --version {release.version} --dir {self.root}"

    def _files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_file() and p.stat().st_size <= MAX_ARTIFACT_BYTES)

    def _digest(self, path: Path) -> str:
        stat = path.stat()
        cached = self._digests.get(path)
        if cached and cached[:2] == (stat.st_mtime, stat.st_size):
            return cached[2]
        digest = sha256(path.read_bytes())
        self._digests[path] = (stat.st_mtime, stat.st_size, digest)
        return digest

    def find(self, artifact: Artifact) -> tuple[bytes, str] | None:
        files = self._files()
        for path in files:
            if self._digest(path) == artifact.sha256:
                return path.read_bytes(), str(path)
        stem = artifact.name.rsplit(".", 1)[0]
        for path in files:
            if path.name == artifact.name or stem in path.name:
                return path.read_bytes(), str(path)
        return None

    def put(self, artifact: Artifact, data: bytes) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / f"{artifact.sha256}-{artifact.name}").write_bytes(data)
        except OSError:
            pass  # a read-only mirror (a shared directory) is still read; what it cannot keep is staged again


def download(url: str) -> bytes:
    """GET an official release URL (https only)."""
    if not url.startswith("https://"):
        raise ArtifactUnavailable(f"refusing to download {url}: only https URLs are fetched")
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:  # noqa: S310 - https checked above
        data: bytes = response.read(MAX_ARTIFACT_BYTES + 1)
    return data


@dataclass(frozen=True)
class StagedArtifact:
    artifact: Artifact
    data: bytes
    source: str


def stage(
    release: CniRelease,
    mode: str,
    mirror: Mirror | None,
    *,
    fetch: Downloader = download,
) -> list[StagedArtifact]:
    """Every artifact of one installation mode, verified, in the order they are applied."""
    staged = []
    for artifact in release.modes[mode]:
        found = mirror.find(artifact) if mirror is not None else None
        if found is not None:
            data, source = found
        elif artifact.render is not None:
            data, source = _rendered(release, artifact, mirror, fetch)
        else:
            data, source = _official(release, artifact, mirror, fetch), artifact.url
        actual = sha256(data)
        if actual != artifact.sha256:
            raise ArtifactDigestMismatch(artifact.name, source, artifact.sha256, actual)
        if found is None and mirror is not None:
            mirror.put(artifact, data)
        staged.append(StagedArtifact(artifact, data, source))
    return staged


def _official(release: CniRelease, artifact: Artifact, mirror: Mirror | None, fetch: Downloader) -> bytes:
    try:
        return fetch(artifact.url)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ArtifactUnavailable(_seed_hint(release, artifact, mirror, exc)) from None


def _rendered(release: CniRelease, artifact: Artifact, mirror: Mirror | None, fetch: Downloader) -> tuple[bytes, str]:
    """An artifact rendered from its official chart: the chart staged and verified like any
    artifact (a tampered archive is refused by name before it is read), then rendered here —
    only where the engine is (a person's machine); elsewhere the mirror must hold the output."""
    spec = artifact.render
    assert spec is not None
    if not render.available():
        # The chart, where the mirror holds it, is checked all the same: a tampered archive is
        # named as such rather than taken for a missing rendering.
        held = mirror.find(spec.chart) if mirror is not None else None
        if held is not None and sha256(held[0]) != spec.chart.sha256:
            raise ArtifactDigestMismatch(spec.chart.name, held[1], spec.chart.sha256, sha256(held[0]))
        raise ArtifactUnavailable(
            f"{release.name} {release.version}: {artifact.name} (rendered from {spec.chart.url}) is not in the "
            f"{mirror.describe() if mirror is not None else 'mirror'}, and charts are rendered only on a person's "
            f"machine: render it there with `{_command(release, mirror)}`"
            + ("" if mirror is not None else f", then set {MIRROR_ENV}=DIR")
        )
    [chart] = stage(_chart_release(release, spec.chart), "chart", mirror, fetch=fetch)
    data = render.render_chart(chart.data, json.loads(spec.values), release=spec.release, namespace=spec.namespace)
    return data, f"{chart.source} rendered by {render.ENGINE}"


def _chart_release(release: CniRelease, chart: Artifact) -> CniRelease:
    return replace(release, modes={"chart": (chart,)}, default_mode="chart")


def _seed_hint(release: CniRelease, artifact: Artifact, mirror: Mirror | None, exc: BaseException) -> str:
    where = f"not in the {mirror.describe()}" if mirror is not None else f"not mirrored (no {MIRROR_ENV} set)"
    reason = getattr(exc, "reason", exc)
    return (
        f"{release.name} {release.version}: {artifact.name} is {where} and cannot be downloaded "
        f"from {artifact.url} ({reason}). Seed the mirror on a machine with internet access: "
        f"`{_command(release, mirror)}`"
        + ("" if mirror is not None else f", then set {MIRROR_ENV}=DIR")
        + f" (it checks each file's sha256, {artifact.sha256} for this one)."
    )


def _command(release: CniRelease, mirror: Mirror | None) -> str:
    if mirror is not None:
        return mirror.seed_command(release)
    return f"clusterdrop cni mirror {release.name} --version {release.version} --dir DIR"


def mirror_from_env() -> DirectoryMirror | None:
    root = os.environ.get(MIRROR_ENV)
    return DirectoryMirror(Path(root)) if root else None
