"""A WSGI application served on 127.0.0.1 from a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .gateway_model import LOOPBACK
from .model import LocalRunError


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its access log: the gateway logs one richer line per request."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        return None


class HttpServer:
    """A WSGI application on ``host:port`` (0 = a free port) in a background thread."""

    def __init__(self, app: Callable[..., Any], host: str = LOOPBACK, port: int = 0, path: str = "/") -> None:
        self._app = app
        self._host = host
        self._port = port
        self._path = path
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise LocalRunError("the server is not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}{self._path}"

    def start(self) -> HttpServer:
        try:
            self._server = make_server(self._host, self._port, self._app, threaded=True, request_handler=_QuietHandler)
        except (OSError, SystemExit):  # Werkzeug exits when the port is taken
            raise LocalRunError(
                f"cannot listen on {self._host}:{self._port}: the address is in use or not available"
            ) from None
        server = self._server
        # A short poll interval makes stop() quick: shutdown() waits for the serving loop to look.
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), name=f"http {self.url}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
