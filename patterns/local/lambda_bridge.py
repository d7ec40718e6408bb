"""Lambda's ``Invoke`` API on 127.0.0.1, answered by the local run's function workers.

moto's Step Functions interpreter invokes Lambda tasks through it (see
:mod:`patterns.local.moto_stepfunctions`). It answers as Lambda does: ``200`` with the function's
return value, or with its error (``errorType``, ``errorMessage``) and the ``X-Amz-Function-Error:
Unhandled`` header, which Step Functions turns into the task's error name; ``404`` for a function
that is not part of the run. Functions are found by name, ARN or qualified ARN (alias, version).

The bridge starts before moto (moto is told its URL) and serves once :meth:`attach` gives it the
provisioned environment and the worker pool; until then it answers ``503``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from .http_server import HttpServer
from .model import ACCOUNT, LocalEnvironment, LocalFunction
from .workers import FunctionPool

Log = Callable[[str], None]
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
_ACCOUNT_REGION = "arn:aws:lambda:{region}:{account}:function:{name}"


class LambdaBridge(HttpServer):
    """``POST /2015-03-31/functions/{name}/invocations`` -> :class:`FunctionPool`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log: Log = print) -> None:
        super().__init__(self._app, host, port)
        self._environment: LocalEnvironment | None = None
        self._pool: FunctionPool | None = None
        self._log = log

    def attach(self, environment: LocalEnvironment, pool: FunctionPool) -> None:
        self._environment, self._pool = environment, pool

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self._answer(Request(environ))(environ, start_response)

    def _answer(self, request: Request) -> Response:
        match = _INVOKE_PATH.match(request.path)
        if request.method != "POST" or match is None:
            return _json(404, {"Type": "User", "message": f"not a Lambda Invoke call: {request.method} {request.path}"})
        if self._environment is None or self._pool is None:
            return _json(503, {"Type": "Service", "message": "the local run is still starting"})
        function = self._function(unquote(match["name"]))
        if function is None:
            message = f"Function not found: {unquote(match['name'])}"
            self._log(
                f"a state machine invoked a function that is not part of this local run: {unquote(match['name'])}"
            )
            return _json(404, {"Type": "User", "message": message}, error_type="ResourceNotFoundException")
        try:
            event = json.loads(request.get_data() or b"{}")
        except json.JSONDecodeError:
            return _json(400, {"Type": "User", "message": "Could not parse request body into json"})
        invocation = self._pool.invoke(function, event)
        response = _json(200, invocation.payload if invocation.ok else invocation.error)
        response.headers["X-Amz-Executed-Version"] = "$LATEST"
        response.headers["x-amzn-RequestId"] = invocation.request_id
        if not invocation.ok:
            response.headers["X-Amz-Function-Error"] = "Unhandled"
        return response

    def _function(self, name: str) -> LocalFunction | None:
        assert self._environment is not None
        if name.startswith("arn:"):
            return self._environment.function_for_arn(name)
        plain = name.split(":")[0]  # name or name:qualifier
        arn = _ACCOUNT_REGION.format(region=self._environment.region, account=ACCOUNT, name=plain)
        return self._environment.function_for_arn(arn)


def _json(status: int, body: Any, error_type: str | None = None) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    if error_type:
        response.headers["x-amzn-ErrorType"] = error_type
    return response
