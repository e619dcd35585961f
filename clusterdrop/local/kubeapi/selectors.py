"""Label and field selectors as the API server parses them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from clusterdrop.local.kubeapi.errors import bad_request

Predicate = Callable[[dict[str, Any]], bool]

_SET = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _label_in(key: str, values: set[str], negate: bool) -> Predicate:
    return lambda obj: (_labels(obj).get(key) in values) != negate


def _label_equals(key: str, value: str, negate: bool) -> Predicate:
    return lambda obj: (_labels(obj).get(key) == value) != negate


def _label_exists(key: str, negate: bool) -> Predicate:
    return lambda obj: (key in _labels(obj)) != negate


def _field_equals(path: str, value: str, negate: bool) -> Predicate:
    return lambda obj: (_field(obj, path) == value) != negate


def parse_label_selector(selector: str) -> Predicate:
    """`a=b,c!=d,e,!f,g in (x,y),h notin (z)` against metadata.labels."""
    checks: list[Predicate] = []
    for term in _split(selector):
        match = _SET.match(term)
        if match:
            values = {v.strip() for v in match.group(3).split(",")}
            checks.append(_label_in(match.group(1), values, negate=match.group(2) == "notin"))
        elif "!=" in term:
            key, value = (x.strip() for x in term.split("!=", 1))
            checks.append(_label_equals(key, value, negate=True))
        elif "=" in term:
            key, value = (x.strip() for x in term.replace("==", "=").split("=", 1))
            checks.append(_label_equals(key, value, negate=False))
        elif term.startswith("!"):
            checks.append(_label_exists(term[1:].strip(), negate=True))
        elif re.match(r"^[A-Za-z0-9./_-]+$", term):
            checks.append(_label_exists(term, negate=False))
        else:
            raise bad_request(f"unable to parse requirement: {term!r}")
    return lambda obj: all(check(obj) for check in checks)


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _field(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node)


def parse_field_selector(selector: str) -> Predicate:
    """`metadata.name=x,spec.nodeName!=y` against any dotted field."""
    checks: list[Predicate] = []
    for term in _split(selector):
        negate = "!=" in term
        if not negate and "=" not in term:
            raise bad_request(f"invalid field selector: {term!r}")
        path, value = (x.strip() for x in term.replace("!=", "=").replace("==", "=").split("=", 1))
        checks.append(_field_equals(path, value, negate))
    return lambda obj: all(check(obj) for check in checks)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector object (matchLabels and matchExpressions: In, NotIn, Exists, DoesNotExist)
    against a set of labels, as apimachinery's LabelSelectorAsSelector evaluates it. For
    policy/v1 budgets an empty selector selects every pod of the namespace and a missing one none
    (Kubernetes' PodDisruptionBudget API reference). The emulator's own evaluator: it shares no
    code with the product's client side."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator = requirement.get("key", ""), requirement.get("operator")
        values = set(requirement.get("values") or [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True
