"""Paths into documents, written the way users read them: `spec.nodeGroups[1].maxSize`."""

from __future__ import annotations

from collections.abc import Sequence


def render(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
