"""The docs' shell blocks marked `<!-- runnable: … -->` run as written, one after the other, in a
shell of their own against the suite's embedded deployer (the exports `local up` prints): a
command a page shows that fails fails here. (Not a deployer of its own: moto's backends are the
process's, and a second one in the same process would reset the first's account.)"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from clusterdrop.local import session
from tests.conftest import REPO

MARK = re.compile(r"<!-- runnable: [^>]*-->\n```sh\n(.*?)```", re.DOTALL)
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def runnable_blocks() -> list[tuple[Path, str]]:
    return [(page, block) for page in PAGES for block in MARK.findall(page.read_text())]


def test_the_docs_mark_blocks_to_run() -> None:
    assert any(page.name == "getting-started.md" for page, _ in runnable_blocks())
    assert OUTPUT.search((REPO / "docs" / "getting-started.md").read_text())  # and show what one prints


@pytest.mark.parametrize(
    ("page", "block"),
    runnable_blocks(),
    ids=[f"{p.relative_to(REPO)}#{i}" for i, (p, _) in enumerate(runnable_blocks())],
)
def test_a_runnable_block_runs_as_written(local: session.LocalDeployer, page: Path, block: str) -> None:
    env = {
        **os.environ,
        **local.environment,
        "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-x", "-c", block],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{page.relative_to(REPO)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    # The output the page shows after the block: each of its lines among what the block printed,
    # in order (IDs and durations aside), so the picture of `watch` stays true.
    text = page.read_text()
    shown = OUTPUT.search(text, text.index(block))
    if shown is not None:
        printed = iter(_same_but_ids(line) for line in done.stdout.splitlines())
        for line in shown.group(1).splitlines():
            wanted = _same_but_ids(line)
            assert any(got == wanted for got in printed), f"{page.relative_to(REPO)} shows {line!r}:\n{done.stdout}"


OUTPUT = re.compile(r"<!-- output of: [^>]*-->\n```text\n(.*?)```", re.DOTALL)


def _same_but_ids(line: str) -> str:
    line = re.sub(r"\b(deploy|teardown|plan)-([a-z0-9-]+)-[0-9a-f]{16}\b", r"\1-\2-ID", line)
    return re.sub(r"\((\d+(\.\d+)?) s\)$", "(… s)", line.rstrip())
