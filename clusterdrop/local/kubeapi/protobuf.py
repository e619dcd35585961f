"""The protobuf bodies kubectl sends for its generator commands (`create namespace`, `create
configmap`, `create secret generic`, `create serviceaccount`) and `auth can-i`: client-go encodes
built-in types as protobuf and does not fall back to JSON for them. Decoded into the JSON objects
the store takes, for the kinds below only (the fields kubectl's generators set); any other
protobuf body is refused (415) with what works instead.

The wire format is protobuf's; the envelope is apimachinery's runtime.Unknown behind the magic
bytes "k8s\\x00" (k8s.io/apimachinery/pkg/runtime/serializer/protobuf); field numbers are those
of the types' generated.proto in k8s.io/api and k8s.io/apimachinery, checked against the bodies
kubectl 1.32 sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from clusterdrop.local.kubeapi.errors import ApiError

MAGIC = b"k8s\x00"

# A message's fields: number → (JSON name, kind); kind is "string", "bytes", "bool", "map"
# (map<string,string>), "map-bytes" (map<string,bytes>, base64 in JSON), or a nested message.
Schema = dict[int, tuple[str, Any]]

TYPE_META: Schema = {1: ("apiVersion", "string"), 2: ("kind", "string")}
UNKNOWN: Schema = {1: ("typeMeta", TYPE_META), 2: ("raw", "bytes"), 3: ("contentEncoding", "string")}
OBJECT_META: Schema = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    11: ("labels", "map"),
    12: ("annotations", "map"),
}
RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", "string"),
    2: ("verb", "string"),
    3: ("group", "string"),
    4: ("version", "string"),
    5: ("resource", "string"),
    6: ("subresource", "string"),
    7: ("name", "string"),
}
NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", "string"), 2: ("verb", "string")}
KINDS: dict[tuple[str, str], Schema] = {
    ("v1", "Namespace"): {1: ("metadata", OBJECT_META)},
    ("v1", "ConfigMap"): {
        1: ("metadata", OBJECT_META),
        2: ("data", "map"),
        3: ("binaryData", "map-bytes"),
        4: ("immutable", "bool"),
    },
    ("v1", "Secret"): {1: ("metadata", OBJECT_META), 2: ("data", "map-bytes"), 3: ("type", "string")},
    ("v1", "ServiceAccount"): {1: ("metadata", OBJECT_META)},
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {
        1: ("metadata", OBJECT_META),
        2: (
            "spec",
            {1: ("resourceAttributes", RESOURCE_ATTRIBUTES), 2: ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES)},
        ),
    },
}


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data):
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value): a varint's int, a length-delimited field's bytes."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
        elif wire == 2:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise ValueError("truncated field")
            yield number, data[at : at + length]
            at += length
        elif wire in (1, 5):  # fixed64 / fixed32: none of these types has one; skipped
            at += 8 if wire == 1 else 4
        else:
            raise ValueError(f"wire type {wire} is not supported")


def _message(data: bytes, schema: Schema) -> dict[str, Any]:
    import base64

    out: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue  # a field these kinds leave empty (status, spec.finalizers …)
        name, kind = schema[number]
        if isinstance(kind, dict):
            assert isinstance(value, bytes)
            out[name] = _message(value, kind)
        elif kind in ("map", "map-bytes"):
            assert isinstance(value, bytes)
            entry = dict(_fields(value))
            key, item = entry.get(1, b""), entry.get(2, b"")
            assert isinstance(key, bytes)
            assert isinstance(item, bytes)
            shown = base64.b64encode(item).decode() if kind == "map-bytes" else item.decode()
            out.setdefault(name, {})[key.decode()] = shown
        elif kind == "bool":
            out[name] = bool(value)
        elif kind == "string":
            assert isinstance(value, bytes)
            if value:  # proto2 optional strings arrive empty when unset
                out[name] = value.decode()
        else:
            out[name] = value
    return out


def decode(raw: bytes) -> dict[str, Any]:
    """A protobuf-encoded object of a kind above, as JSON; ApiError 415 for any other."""
    if not raw.startswith(MAGIC):
        raise ApiError(400, "BadRequest", "a protobuf body starts with the magic bytes k8s\\x00")
    try:
        envelope = _message(raw[len(MAGIC) :], UNKNOWN)
        meta = envelope.get("typeMeta", {})
        key = (meta.get("apiVersion", ""), meta.get("kind", ""))
        schema = KINDS.get(key)
        if schema is None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"this emulator reads protobuf for {', '.join(k for _, k in KINDS)} only, not {key[1]}: send JSON "
                "(kubectl create -f or apply -f a manifest)",
            )
        obj = _message(envelope.get("raw", b""), schema)
    except (ValueError, AssertionError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequest", f"cannot decode the protobuf body: {exc}") from None
    return {"apiVersion": key[0], "kind": key[1], **obj}
