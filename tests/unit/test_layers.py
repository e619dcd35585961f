"""The library's layers: a module imports only from its own layer or the ones below it, so that
the pure parts (spec, cni, render) never pull in AWS, Kubernetes or the embedded mode."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

# Lowest first. `local` (the embedded mode) may use everything the workflow uses; only the CLI
# sits above it.
LAYERS: list[set[str]] = [
    {"__init__", "errors", "facts", "workflow", "failures"},
    {"cni"},
    {"spec"},
    {"quotas"},
    {"render"},
    {"kube"},
    {"aws"},
    {"contract", "history"},
    {"steps"},
    {"ops"},
    {"local"},
    {"cli", "__main__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "clusterdrop":
        return None
    return RANK[parts[1]] if len(parts) > 1 else 0


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "clusterdrop":  # `from clusterdrop import steps`: the package named
                found.update(f"clusterdrop.{a.name}" for a in node.names if a.name in RANK)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_every_package_has_a_layer() -> None:
    root = REPO / "clusterdrop"
    tops = {p.stem for p in root.glob("*.py")} | {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}
    assert tops <= set(RANK), sorted(tops - set(RANK))


def test_no_module_imports_from_a_higher_layer() -> None:
    upward = []
    for path in sorted((REPO / "clusterdrop").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        own = _layer(module)
        assert own is not None
        for imported in _imports(path):
            layer = _layer(imported)
            if layer is not None and layer > own:
                upward.append(f"{module} imports {imported}")
    assert upward == []
