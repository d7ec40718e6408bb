"""One HTTP request to a server the tests started on 127.0.0.1."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit


def request(
    base_url: str,
    method: str,
    path: str,
    headers: dict | None = None,
    body: bytes | None = None,
    *,
    timeout: float = 30,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Send ``method path`` below ``base_url`` (e.g. an API stage URL); return status, headers, body."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, parts.path.rstrip("/") + path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()
