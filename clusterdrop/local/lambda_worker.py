"""One warm "container" of the local Lambda runtime: imports a handler once, then answers
invocations, one JSON line in, one JSON line out (the result, or the error in Lambda's shape)."""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from typing import Any


class _Context:
    def __init__(self, name: str, memory: int, timeout: float):
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{name}"
        self.aws_request_id = "local"
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._timeout = timeout

    def get_remaining_time_in_millis(self) -> int:
        return int(self._timeout * 1000)


def main() -> None:
    handler_path, name, memory, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    module_name, _, function_name = handler_path.rpartition(".")
    out = sys.stdout
    sys.stdout = sys.stderr  # print() in handlers goes to the log, not the protocol
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # noqa: BLE001 - reported as Lambda reports an init error
        handler = None
        init_error: dict[str, Any] = {
            "errorMessage": str(exc),
            "errorType": "Runtime.ImportModuleError",
            "stackTrace": [],
        }
    for line in sys.stdin:
        event = json.loads(line)
        if handler is None:
            reply: dict[str, Any] = {"error": init_error}
        else:
            try:
                reply = {"result": handler(event, _Context(name, memory, timeout))}
            except Exception as exc:  # noqa: BLE001 - every error goes back in Lambda's shape
                reply = {
                    "error": {
                        "errorMessage": str(exc),
                        "errorType": type(exc).__name__,
                        "stackTrace": traceback.format_tb(exc.__traceback__),
                    }
                }
        out.write(json.dumps(reply, default=str) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
