"""What the eksctl and kops imports share: a reader that knows which keys it consumed, and the
ledger of what each field of the source became — carried to a native path, said (it has no
counterpart and needs none), or refused (with what to do instead).

The guarantee both imports give is that nothing is dropped silently: every key of the source is
read by the converter, and every key read is in the ledger. Tests walk a source's leaves and find
each under a ledger row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from clusterdrop.errors import Problem
from clusterdrop.spec import paths
from clusterdrop.spec.loader import Document, Path

Outcome = Literal["carried", "said", "refused"]


@dataclass(frozen=True)
class Row:
    """One source field and what it became."""

    document: int  # which YAML document of the file (0: the first)
    path: Path  # inside that document
    source: str  # as a user reads it
    outcome: Outcome
    detail: str  # the native path it was carried to, or what was said, or why it was refused
    line: int | None = None

    def text(self) -> str:
        arrow = {"carried": "→", "said": "·", "refused": "✗"}[self.outcome]
        where = f":{self.line}" if self.line else ""
        return f"{self.source}{where} {arrow} {self.detail}"


@dataclass
class Conversion:
    spec: dict[str, Any]
    unsupported: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    table: list[Row] = field(default_factory=list)


class Ledger:
    """The rows of one conversion, and the problems its refusals make."""

    def __init__(self, documents: list[Document], label: Callable[[int, Path], str] | None = None):
        self.documents = documents
        self.label = label or (lambda _doc, path: paths.render(path))
        self.rows: list[Row] = []
        self.unsupported: list[Problem] = []

    def _where(self, document: int, path: Path) -> tuple[int, int] | None:
        doc = self.documents[document]
        return doc.locate(path, key=True) if doc.is_yaml else None

    def record(self, document: int, path: Path, outcome: Outcome, detail: str, line_of: Path | None = None) -> None:
        """A row; its line is that of `line_of` where given (a whole document refused by its role)."""
        where = self._where(document, path if line_of is None else line_of)
        source = self.label(document, path)
        self.rows.append(Row(document, path, source, outcome, detail, where[0] if where else None))
        if outcome == "refused":
            self.unsupported.append(Problem(source, detail, where[0] if where else None, where[1] if where else None))

    def sorted_problems(self) -> list[Problem]:
        """Refusals in the order of the file, as a user reads it."""
        order = {id(p): i for i, p in enumerate(self.unsupported)}
        return sorted(self.unsupported, key=lambda p: (p.line or 0, p.column or 0, order[id(p)]))


class Reader:
    """Reads one mapping of a source document, remembering which keys were consumed; `finish`
    refuses the keys nobody read."""

    def __init__(self, ledger: Ledger, data: Any, path: Path, document: int = 0):
        self.ledger = ledger
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.path = path
        self.document = document
        self.used: set[str] = set()
        self.empty = data == {}  # written as `{}`: kops's defaults, said when finished
        if not isinstance(data, dict) and data is not None:
            ledger.record(document, path, "refused", "expected a map")

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.data.get(key, default)

    def items(self, key: str) -> list[Any]:
        """A list the converter walks; anything else is refused (and walked as empty)."""
        value = self.get(key)
        if self.has(key) and (value is None or value == []):
            self.ledger.record(self.document, self.at(key), "said", "empty: nothing to carry")
        if value is None:
            return []
        if not isinstance(value, list):
            self.refuse(key, "expected a list")
            return []
        return value

    def child(self, key: str) -> Reader:
        if self.has(key) and self.data[key] is None:
            self.ledger.record(self.document, self.at(key), "said", "empty: nothing to carry")
        return Reader(self.ledger, self.get(key), (*self.path, key), self.document)

    def has(self, key: str) -> bool:
        return key in self.data

    def at(self, key: str | int) -> Path:
        return (*self.path, key)

    # --- reads that are also ledger rows ---------------------------------------------------

    def carry(self, key: str, to: str) -> Any:
        """The value, recorded as carried to the native path `to`."""
        value = self.get(key)
        if self.has(key):
            empty = value is None or value == {} or value == []
            self.ledger.record(self.document, self.at(key), *(("said", "empty") if empty else ("carried", to)))
        return value

    def say(self, key: str, message: str) -> Any:
        value = self.get(key)
        if self.has(key):
            self.ledger.record(self.document, self.at(key), "said", message)
        return value

    def refuse(self, key: str | int, message: str) -> None:
        if isinstance(key, str):
            self.used.add(key)
        self.ledger.record(self.document, self.at(key), "refused", message)

    def copy_to(self, out: dict[str, Any], fields: dict[str, str], prefix: str = "") -> None:
        """Each of `fields` (source name → native name) the source has, under its native name."""
        for key, native in fields.items():
            if self.has(key):
                out[native] = self.carry(key, f"{prefix}{native}")

    def finish(self, reasons: dict[str, str] | None = None, default: str = "not supported by clusterdrop") -> None:
        """Refuse every key nobody read; say an empty map nobody spoke of."""
        if self.empty and self.path and not any(r.path[: len(self.path)] == self.path for r in self.ledger.rows):
            self.ledger.record(self.document, self.path, "said", "empty: nothing to carry")
        for key in self.data:
            if key not in self.used:
                self.refuse(key, (reasons or {}).get(key, default))


def aws_auth_entry(arn: Any, groups: list[str], username: Any = None) -> tuple[dict[str, Any], list[str]]:
    """An aws-auth mapping (eksctl's iamIdentityMappings, kops's aws-iam-authenticator
    identityMappings) as an access entry, the way EKS's migration from the ConfigMap maps it: the
    principal, its username and groups; system:masters, which an access entry cannot carry, becomes
    EKS's cluster-admin access policy. Also: why each other system: group is refused."""
    entry: dict[str, Any] = {"principal": arn, "policies": []}
    if "system:masters" in groups:
        entry["policies"].append({"policy": "cluster-admin"})
    others = [g for g in groups if g != "system:masters"]
    refusals = [
        f"{g}: EKS refuses system: groups in access entries (nodes get theirs from EKS itself)"
        for g in others
        if g.startswith("system:")
    ]
    kept = [g for g in others if not g.startswith("system:")]
    if kept:
        entry["groups"] = kept
    if username is not None:
        entry["username"] = username
    return entry, refusals
