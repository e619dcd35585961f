"""The Lambda bundles `make build` writes: what Lambda will load, within its limits."""

from __future__ import annotations

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
