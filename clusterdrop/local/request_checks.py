"""Every request the embedded AWS serves, checked against its botocore input shape.

AWS validates a request against the operation's model before the service sees it: required
members (nested ones too), string lengths, patterns, enums, numeric ranges and list lengths. A
request that fails is refused with the protocol's validation error — for the query services
(IAM, CloudFormation, STS, SNS …) and the JSON ones (EKS, Step Functions …) "ValidationError" /
"ValidationException" with "1 validation error detected: Value '…' at '…' failed to satisfy
constraint: Member must …", for EC2 "InvalidParameterValue". botocore's client checks only
required members and types (its ParamValidator leaves lengths, patterns and enums to the
service), so without this a too-long name or an unknown enum value passes here and fails on AWS.

The constraints are botocore's service models, the same data AWS publishes them from; moto's own
request parser turns each request into the operation's parameters. Patterns written for Java's
regular expressions that Python's `re` cannot compile (`\\p{…}` classes) are left unchecked.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

# Services whose requests are not checked: S3's REST routing is moto's own (bucket in the host or
# path), and moto's internal API (/moto-api) is not AWS's.
_UNCHECKED = {"s3", "moto_api"}


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def violations(shape: Any, value: Any, path: str) -> Iterator[str]:
    """Each constraint of `shape` that `value` (a parsed parameter) breaks, as AWS words it."""
    if value is None:
        return
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            return
        for name in shape.required_members:
            if value.get(name) is None:
                yield f"Value null at '{_member(path, name)}' failed to satisfy constraint: Member must not be null"
        for name, member in shape.members.items():
            if name in value:
                yield from violations(member, value[name], _member(path, name))
    elif kind == "list":
        if not isinstance(value, list):
            return
        yield from _length(meta, len(value), value, path)
        for i, item in enumerate(value):
            yield from violations(shape.member, item, f"{path}.{i + 1}.member")
    elif kind == "map":
        if not isinstance(value, dict):
            return
        yield from _length(meta, len(value), value, path)
        for key, item in value.items():
            yield from violations(shape.key, key, f"{path}.key")
            yield from violations(shape.value, item, f"{path}.{key}")
    elif kind == "string":
        if not isinstance(value, str):
            return
        yield from _length(meta, len(value), value, path)
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and not pattern.fullmatch(value):
            yield (
                f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: Member must satisfy regular "
                f"expression pattern: {meta['pattern']}"
            )
        if shape.enum and value not in shape.enum:
            yield (
                f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: Member must satisfy enum value "
                f"set: [{', '.join(shape.enum)}]"
            )
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return
        yield from _bounds(meta, value, value, path, "value")


def _member(path: str, name: str) -> str:
    name = name[0].lower() + name[1:]
    return f"{path}.{name}" if path else name


def _length(meta: dict[str, Any], length: int, value: Any, path: str) -> Iterator[str]:
    yield from _bounds(meta, length, value, path, "length")


def _bounds(meta: dict[str, Any], measured: int, value: Any, path: str, what: str) -> Iterator[str]:
    """The shape's min and max against a number, or a string's, list's or map's length (`what`)."""
    for key, word, broken in (("min", "greater", measured < meta.get("min", measured)),
                              ("max", "less", measured > meta.get("max", measured))):  # fmt: skip
        if broken:
            yield (
                f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: Member must have {what} {word} "
                f"than or equal to {meta[key]}"
            )


def message(found: list[str]) -> str:
    count = len(found)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(found)


def _refusal(protocol: str, found: list[str]) -> tuple[int, dict[str, str], str]:
    """The validation error as the protocol carries it."""
    text = message(found)
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": "ValidationException", "message": text, "Message": text})
        return 400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": "ValidationException"}, body
    if protocol == "ec2":
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>InvalidParameterValue</Code>"
            f"<Message>{_xml(text)}</Message></Error></Errors><RequestID>0</RequestID></Response>"
        )
        return 400, {"Content-Type": "text/xml"}, body
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>"
        f"<Message>{_xml(text)}</Message></Error><RequestId>0</RequestId></ErrorResponse>"
    )
    return 400, {"Content-Type": "text/xml"}, body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def install() -> None:
    from moto.core import responses
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.utils import get_service_model

    base = responses.BaseResponse
    if getattr(base, "_clusterdrop_request_checks", False):  # moto is patched once per process
        return
    base._clusterdrop_request_checks = True  # type: ignore[attr-defined]
    original_setup, original_call = base.setup_class, base.call_action

    def setup_class(self: Any, request: Any, *args: Any, **kwargs: Any) -> None:
        self._clusterdrop_request = request
        original_setup(self, request, *args, **kwargs)

    def call_action(self: Any) -> Any:
        found, protocol = _check(self, get_service_model, PROTOCOL_PARSERS)
        if found:
            return _refusal(protocol, found)
        return original_call(self)

    base.setup_class = setup_class  # type: ignore[method-assign]
    base.call_action = call_action  # type: ignore[method-assign]


def _check(response: Any, get_service_model: Any, parsers: dict[str, Any]) -> tuple[list[str], str]:
    request = getattr(response, "_clusterdrop_request", None)
    service = response.boto3_service_name
    if request is None or not service or service in _UNCHECKED:
        return [], ""
    try:
        model = get_service_model(service)
        operation = model.operation_model(response._get_action())
    except Exception:  # noqa: BLE001 - not an operation of the model (moto's own routes): not checked
        return [], ""
    protocol = model.protocol
    if operation.input_shape is None:
        return [], protocol
    try:
        parser = parsers[protocol](operation, map_type=dict)
        params = parser.parse(
            {
                "method": request.method,
                "values": request.values,
                "headers": request.headers,
                "body": request.data,
                "url_path": request.path,
                "url_params": getattr(response, "uri_match", None),
            }
        )
    except Exception:  # noqa: BLE001 - a request moto's parser cannot read is moto's to answer
        return [], protocol
    return list(violations(operation.input_shape, _plain(params), "")), protocol


def _plain(value: Any) -> Any:
    """The parser's mappings as plain dicts and lists."""
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
