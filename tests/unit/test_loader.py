"""Safe parsing: what the loader refuses, and where it says values stand."""

from __future__ import annotations

import pytest

from clusterdrop.errors import LoadError
from clusterdrop.spec.loader import MAX_BYTES, load


def test_yaml_positions_are_one_based_line_and_column() -> None:
    doc = load(b"a:\n  b: [1, 2]\n  c: x\n")
    assert doc.data == {"a": {"b": [1, 2], "c": "x"}}
    assert doc.positions[("a", "b", 1)] == (2, 10)
    assert doc.key_positions[("a", "c")] == (3, 3)
    assert doc.locate(("a", "c", "missing")) == (3, 6)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"a: !!python/object/apply:os.system ['true']\n", "tag"),
        (b"a: !custom 1\n", "tag"),
        (b"a: 1\na: 2\n", "duplicate key 'a'"),
        (b"a: 1\n---\nb: 2\n", "2 YAML documents"),
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"a: [1, 2\n", "invalid YAML"),
        (b"\x00\x01\x02binary", "binary"),
        (b"name: \xff\xfe\n", "not UTF-8"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a": 1,}', "invalid JSON"),
        (b"base: &b {x: 1}\nmerged:\n  <<: *b\n", "merge keys"),
        (b"[" * 5000 + b"]" * 5000, "nesting"),
    ],
)
def test_refused_inputs_raise_load_error(raw: bytes, fragment: str) -> None:
    with pytest.raises(LoadError) as info:
        load(raw)
    assert fragment in str(info.value)


def test_alias_expansion_is_bounded() -> None:
    # Nine levels of ten aliases each: a billion leaves if expanded.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(LoadError, match="aliases"):
        load("\n".join(lines).encode())


def test_small_alias_use_is_fine() -> None:
    doc = load(b"x: &v [1, 2]\ny: *v\n")
    assert doc.data == {"x": [1, 2], "y": [1, 2]}


def test_input_over_one_mebibyte_is_refused() -> None:
    with pytest.raises(LoadError, match="at most"):
        load(b"#" * (MAX_BYTES + 1))


def test_dates_stay_text_and_json_is_read() -> None:
    assert load(b"when: 2026-01-01\n").data == {"when": "2026-01-01"}
    doc = load(b'{"a": [1, {"b": null}]}')
    assert doc.data == {"a": [1, {"b": None}]}
    assert not doc.is_yaml


def test_syntax_error_carries_position() -> None:
    with pytest.raises(LoadError) as info:
        load(b"a: 1\nb: [\n")
    assert info.value.line is not None
    assert info.value.line >= 2
