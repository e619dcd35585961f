"""Safe loading of spec files: YAML or JSON, with the position of every value.

PyYAML's composer gives us a node graph with marks; we build plain Python values from it
ourselves instead of using a constructor, so that we control every rule a deployer needs:
no tags that construct objects, duplicate keys rejected, alias expansion bounded, and a map
from each value's path to its line and column for error messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from clusterdrop.errors import LoadError

MAX_BYTES = 1024 * 1024
# A YAML "billion laughs" document is a few hundred bytes that expand to billions of nodes
# through aliases. A real spec has a few hundred nodes; 100 000 is generous and still fast.
MAX_NODES = 100_000

Path = tuple[str | int, ...]

# libyaml composes about 8x faster than pure Python (1 MiB: ~0.4 s against ~3 s); the wheels
# ship it. Composing only builds nodes: no constructor runs, so both are equally safe.
_COMPOSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
# Timestamps are read back as the text the user wrote: nothing in a spec is a date object.
_TEXT_TAGS = {"tag:yaml.org,2002:timestamp"}
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


@dataclass
class Document:
    """A parsed document and where each of its values stands in the source (1-based)."""

    data: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    is_yaml: bool = True
    # The documents after the first, kept only for a kops file (a Cluster and its InstanceGroups),
    # each with its own positions.
    siblings: list[Document] = field(default_factory=list)

    def locate(self, path: Path, *, key: bool = False) -> tuple[int, int] | None:
        """Position of the value at path, or of its nearest ancestor present in the source."""
        if key and path in self.key_positions:
            return self.key_positions[path]
        probe = path
        while True:
            if probe in self.positions:
                return self.positions[probe]
            if not probe:
                return None
            probe = probe[:-1]


def decode(raw: bytes) -> str:
    """Bytes to text, refusing what is not a UTF-8 text document."""
    if len(raw) > MAX_BYTES:
        raise LoadError(f"input is {len(raw)} bytes; a spec may be at most {MAX_BYTES} bytes (1 MiB)")
    if b"\x00" in raw:
        raise LoadError("input is binary (it contains NUL bytes), not a YAML or JSON document")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"input is not UTF-8 text (invalid byte at offset {exc.start})") from None
    return text


def load(raw: bytes) -> Document:
    """Parse a spec from bytes (YAML, or JSON when it starts with '{')."""
    text = decode(raw)
    if not text.strip():
        raise LoadError("input is empty")
    if text.lstrip().startswith("{"):
        return _load_json(text)
    return _load_yaml(_without_kops_banner(text))


def _without_kops_banner(text: str) -> str:
    """`kops get cluster --full` prints `//` lines before the YAML, which are not YAML: blanked
    (lines keep their numbers) when what follows is a kops document."""
    lines = text.split("\n")
    banner = 0
    while banner < len(lines) and lines[banner].startswith("//"):
        banner += 1
    if not banner or "kops.k8s.io/" not in text:
        return text
    return "\n" * banner + "\n".join(lines[banner:])


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise LoadError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _load_json(text: str) -> Document:
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as exc:
        raise LoadError(f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        raise LoadError("invalid JSON: nested too deeply") from None
    return Document(data=data, is_yaml=False)


class _Builder:
    def __init__(self, count: int = 0) -> None:
        self.doc = Document(data=None)
        self.count = count  # values built so far, across the file's documents
        self.scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise LoadError(f"document expands to more than {MAX_NODES} values (aliases expanding without bound?)")
        if depth > 100:
            raise LoadError("document is nested more than 100 levels deep")
        mark = node.start_mark
        self.doc.positions[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, _SEQ)
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            self._check_tag(node, _MAP)
            return self._mapping(node, path, depth)
        raise LoadError("unsupported YAML node", line=mark.line + 1, column=mark.column + 1)

    def _check_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            self._bad_tag(node)

    @staticmethod
    def _bad_tag(node: yaml.Node) -> None:
        mark = node.start_mark
        raise LoadError(
            f"YAML tag {node.tag!r} is not allowed in a spec (only plain values, lists and maps)",
            line=mark.line + 1,
            column=mark.column + 1,
        )

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag in _TEXT_TAGS:
            return node.value
        if node.tag not in _SCALAR_TAGS:
            self._bad_tag(node)
        return self.scalars.construct_object(node)

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            kmark = key_node.start_mark
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise LoadError(
                    "YAML merge keys ('<<') are not allowed in a spec",
                    line=kmark.line + 1,
                    column=kmark.column + 1,
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise LoadError("a map key must be a plain value", line=kmark.line + 1, column=kmark.column + 1)
            key = self._scalar(key_node)
            if not isinstance(key, str):
                # Keys like `1` or `true` are legal YAML but never legal spec fields; keep them
                # as text so the validator names them as unknown fields.
                key = str(key_node.value)
            if key in out:
                raise LoadError(f"duplicate key {key!r}", line=kmark.line + 1, column=kmark.column + 1)
            self.doc.key_positions[(*path, key)] = (kmark.line + 1, kmark.column + 1)
            out[key] = self.build(value_node, (*path, key), depth + 1)
        return out


def _load_yaml(text: str) -> Document:
    try:
        nodes = list(yaml.compose_all(text, Loader=_COMPOSER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problem = exc.problem or "invalid YAML"
        raise LoadError(
            f"invalid YAML: {problem}",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise LoadError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise LoadError("invalid YAML: nested too deeply") from None
    documents = [n for n in nodes if n is not None]
    if not documents:
        raise LoadError("input holds no YAML document")
    builder = _Builder()
    builder.doc.data = builder.build(documents[0], ())
    if len(documents) > 1:
        # kops keeps a cluster and its instance groups in one file: hand them on (bounded by the
        # same node count) for the caller to answer as kops. Anything else is one document.
        if not str(
            (builder.doc.data or {}).get("apiVersion", "") if isinstance(builder.doc.data, dict) else ""
        ).startswith("kops.k8s.io/"):
            raise LoadError(f"input holds {len(documents)} YAML documents; a spec file holds exactly one")
        for node in documents[1:]:
            sibling = _Builder(count=builder.count)
            sibling.doc.data = sibling.build(node, ())
            builder.count = sibling.count
            builder.doc.siblings.append(sibling.doc)
    return builder.doc
