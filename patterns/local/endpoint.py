"""The local AWS endpoint: moto's server, started on 127.0.0.1 unless the user brings one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .model import REGION, LocalRunError
from .moto_stepfunctions import LAMBDA_ENDPOINT_VARIABLE

LOOPBACK = "127.0.0.1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def local_client(service: str, endpoint: str, region: str = REGION) -> Any:
    """A boto3 client of the local endpoint with fake credentials, whatever the environment holds.

    The session has no profile: an ``AWS_PROFILE`` the shell exports must neither be read nor be
    required to exist (boto3 raises ProfileNotFound for an unknown one even with explicit keys).
    """
    import boto3
    import botocore.session

    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    session = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=region,
        botocore_session=core,
    )
    return session.client(service, endpoint_url=endpoint)


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(endpoint: str, timeout: float = 30.0, process: subprocess.Popen[Any] | None = None) -> None:
    """Block until the endpoint answers moto's management API (or fail with a clear error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LocalRunError(f"moto's server exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise LocalRunError(f"no local AWS endpoint answered on {endpoint} within {timeout:.0f} s")


class MotoServer:
    """moto's server in a child process on 127.0.0.1; ``stop()`` ends it.

    With ``lambda_endpoint`` (a :class:`~patterns.local.lambda_bridge.LambdaBridge`'s URL), the Lambda
    tasks of the state machines it executes are invoked there (:mod:`patterns.local.moto_stepfunctions`).
    """

    def __init__(self, port: int = 0, host: str = LOOPBACK, lambda_endpoint: str | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.endpoint = f"http://{host}:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._lambda_endpoint = lambda_endpoint

    def start(self) -> MotoServer:
        env = {**os.environ, **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION}
        server = ["-m", "moto.server"]
        if self._lambda_endpoint:
            env[LAMBDA_ENDPOINT_VARIABLE] = self._lambda_endpoint
            server = [str(Path(__file__).with_name("moto_stepfunctions.py"))]
        self._process = subprocess.Popen(
            [sys.executable, *server, "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            wait_until_up(self.endpoint, process=self._process)
        except LocalRunError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
