"""Patch semantics: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge
(lists of objects merged by their key, as the API server does for conditions, containers, env),
and the pruning that server-side apply does for fields a manager stopped applying."""

from __future__ import annotations

import copy
from typing import Any

# Keys that identify items of a list in a strategic merge: node conditions merge by type,
# containers, env, volumes, ports by name.
MERGE_KEYS = ("type", "name", "containerPort", "mountPath")


class PatchError(ValueError):
    """The patch cannot be applied to the object."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in MERGE_KEYS:
        if all(key in i for i in items):
            return key
    return None


def strategic_merge(target: Any, patch: Any) -> Any:
    """Merge patch, but lists of keyed objects merge item by item instead of being replaced."""
    if isinstance(patch, dict) and isinstance(target, dict):
        result = dict(target)
        for key, value in patch.items():
            if key.startswith("$"):
                continue  # directives such as $retainKeys are not emulated
            if value is None:
                result.pop(key, None)
            else:
                result[key] = strategic_merge(result.get(key), value)
        return result
    if isinstance(patch, list) and isinstance(target, list):
        key = _merge_key(target + patch)
        if key is None:
            return copy.deepcopy(patch)
        merged = [copy.deepcopy(i) for i in target]
        index = {item[key]: n for n, item in enumerate(merged)}
        for item in patch:
            if item.get("$patch") == "delete":
                merged = [m for m in merged if m[key] != item[key]]
                index = {m[key]: n for n, m in enumerate(merged)}
            elif item[key] in index:
                merged[index[item[key]]] = strategic_merge(merged[index[item[key]]], item)
            else:
                index[item[key]] = len(merged)
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as exc:
            raise PatchError(f"path not found: /{'/'.join(parts)}") from exc
    return node


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, test, copy, move."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is a list of operations")
    result = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}")
        kind = op["op"]
        if kind in ("copy", "move"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_get(result, source))
            if kind == "move":
                result = _apply_op(result, "remove", source, None)
            result = _apply_op(result, "add", _pointer(op["path"]), value)
            continue
        result = _apply_op(result, kind, _pointer(op["path"]), op.get("value"))
    return result


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    try:
        return parent[int(parts[-1])] if isinstance(parent, list) else parent[parts[-1]]
    except (KeyError, IndexError, ValueError) as exc:
        raise PatchError(f"path not found: /{'/'.join(parts)}") from exc


def _apply_op(doc: Any, kind: str, parts: list[str], value: Any) -> Any:
    if not parts:
        if kind in ("add", "replace"):
            return copy.deepcopy(value)
        raise PatchError(f"cannot {kind} the whole document")
    parent = _parent(doc, parts)
    last = parts[-1]
    if kind == "test":
        if _get(doc, parts) != value:
            raise PatchError(f"test failed at /{'/'.join(parts)}")
        return doc
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(index, copy.deepcopy(value))
        elif kind == "remove":
            parent.pop(index)
        elif kind == "replace":
            parent[index] = copy.deepcopy(value)
        else:
            raise PatchError(f"unknown JSON patch op {kind!r}")
        return doc
    if not isinstance(parent, dict):
        raise PatchError(f"path not found: /{'/'.join(parts)}")
    if kind == "add":
        parent[last] = copy.deepcopy(value)
    elif kind in ("remove", "replace"):
        if last not in parent:
            raise PatchError(f"path not found: /{'/'.join(parts)}")
        if kind == "remove":
            del parent[last]
        else:
            parent[last] = copy.deepcopy(value)
    else:
        raise PatchError(f"unknown JSON patch op {kind!r}")
    return doc


def prune_unapplied(current: Any, previous: Any, applied: Any) -> Any:
    """Remove from current the fields a manager applied before and no longer applies."""
    if not (isinstance(current, dict) and isinstance(previous, dict) and isinstance(applied, dict)):
        return current
    result = dict(current)
    for key, old in previous.items():
        if key not in applied:
            result.pop(key, None)
        elif key in result:
            result[key] = prune_unapplied(result[key], old, applied[key])
    return result
