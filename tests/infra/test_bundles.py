"""The Lambda bundles `make build` writes: what Lambda will load, within its limits."""

from __future__ import annotations

import ast
from pathlib import Path

from stacks import bundle

BUNDLES = (bundle.LAYER, bundle.FUNCTIONS, bundle.AGENT)


def _wheel_tags() -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    for root in (bundle.LAYER, bundle.AGENT):
        for wheel in root.rglob("*.dist-info/WHEEL"):
            lines = wheel.read_text().splitlines()
            tags[wheel.parent.name] = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]
    return tags


def test_every_function_is_under_lambdas_unzipped_limit() -> None:
    sizes = bundle.sizes()
    assert set(sizes) == {"workflow function + layer", "agent"}
    for name, size in sizes.items():
        assert 1_000_000 < size < bundle.UNZIPPED_LIMIT, (name, size)


def test_no_bytecode_of_the_build_machines_python() -> None:
    compiled = [p for root in BUNDLES for p in root.rglob("*") if p.suffix == ".pyc" or p.name == "__pycache__"]
    assert compiled == []


def test_every_wheel_is_for_the_lambda_platform() -> None:
    """Pure Python, or binary for Linux arm64 on glibc (manylinux2014 or manylinux_2_28) and the
    runtime's CPython 3.13 (or the stable ABI)."""
    tags = _wheel_tags()
    assert len(tags) > 20
    binary = 0
    for dist, wheel_tags in tags.items():
        for tag in wheel_tags:
            python, abi, platform = tag.split("-")
            if platform == "any":
                continue
            binary += 1
            assert platform.endswith("_aarch64"), (dist, tag)
            assert platform.removesuffix("_aarch64") in ("manylinux2014", "manylinux_2_17", "manylinux_2_28"), (
                dist,
                tag,
            )
            assert abi in ("cp313", "abi3", "none"), (dist, tag)
            assert python == "cp313" or (abi == "abi3" and python.startswith("cp3")), (dist, tag)
    assert binary  # pydantic-core, PyYAML: the layer has binaries, and they were checked


def _code(root: Path) -> list[Path]:
    return [p for package in ("clusterdrop", "lambdas") for p in (root / package).rglob("*.py")]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_the_embedded_mode_does_not_ship_to_aws() -> None:
    """moto and the emulators run on a person's machine only: no bundle holds or imports them."""
    for root in (bundle.FUNCTIONS, bundle.AGENT):
        assert (root / "clusterdrop" / "errors.py").is_file()  # the library ships
        assert not (root / "clusterdrop" / "local").exists()
        for path in _code(root):
            shipped = {n for n in _imports(path) if n.split(".")[0] == "moto" or n.startswith("clusterdrop.local")}
            assert shipped == set(), (path, shipped)
    for root in (bundle.LAYER / "python", bundle.AGENT):
        assert not (root / "moto").exists()


def test_every_clusterdrop_module_a_bundle_imports_is_in_it() -> None:
    for root in (bundle.FUNCTIONS, bundle.AGENT):
        for path in _code(root):
            for name in _imports(path):
                if not name.startswith("clusterdrop."):
                    continue
                module = root / Path(*name.split("."))
                parent = module.parent
                found = module.with_suffix(".py").is_file() or (module / "__init__.py").is_file()
                # `from clusterdrop.x import name`: name may be a function of x, not a module.
                found = found or parent.with_suffix(".py").is_file() or (parent / "__init__.py").is_file()
                assert found, (path.relative_to(root), name)
