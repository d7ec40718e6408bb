"""One local run: endpoint, provisioned stacks, function workers, API gateways, sign-in pages, pollers.

:class:`LocalRun` starts everything in order and stops everything it started, in reverse, whatever
failed on the way. The CLI (``python -m patterns.local``) and the end-to-end tests both use it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .assembly import load_assembly
from .cdn import ServedCdn, serve_cdns
from .endpoint import LOOPBACK, MotoServer, wait_until_up
from .gateway import ApiServer, build_apis
from .lambda_bridge import LambdaBridge
from .model import REGION, LocalEnvironment
from .pollers import start_pollers
from .provision import LocalUser, provision
from .schedules import ScheduleClock, start_schedules
from .signin import SignInServer
from .workers import FunctionPool

Log = Callable[[str], None]


@dataclass
class LocalRunOptions:
    """What to run and where. Ports are consecutive from ``port`` (0 = any free port)."""

    assembly_dir: Path = Path("cdk.out")
    stacks: Sequence[str] | None = None  # None = every stack of the assembly
    endpoint: str | None = None  # an AWS endpoint already running; None = start moto's server
    host: str = LOOPBACK
    port: int = 3000
    users: Sequence[LocalUser] = ()
    retry_delay_seconds: float | None = 1.0  # None = failed SQS messages wait out the visibility timeout
    window_idle_seconds: float | None = None  # close a tumbling window idle this long; None = at its end
    region: str = REGION
    rate_scale: float = 1.0  # rate(...) schedules fire this many times as often


@dataclass
class ServedApi:
    stack: str
    logical_id: str
    url: str


@dataclass
class ServedSignIn:
    stack: str
    pool_logical_id: str
    pool_id: str
    url: str
    client_ids: dict[str, str] = field(default_factory=dict)
    scopes: list[str] = field(default_factory=list)


_SKIPPED_LINE = re.compile(r"^(?P<logical_id>\S+) \((?P<type>[^)]+)\): (?P<reason>.*)$")


def summarize_skipped(lines: Sequence[str]) -> list[str]:
    """One line per resource type and reason ("14 AWS::CloudWatch::Alarm: alarms ..."), not per resource."""
    groups: dict[tuple[str, str], list[str]] = {}
    for line in lines:
        match = _SKIPPED_LINE.match(line)
        key = (match["type"], match["reason"]) if match else ("", line)
        groups.setdefault(key, []).append(match["logical_id"] if match else line)
    summary = []
    for (resource_type, reason), names in groups.items():
        if not resource_type:
            summary.extend(names)
        elif len(names) == 1:
            summary.append(f"{names[0]} ({resource_type}): {reason}")
        else:
            summary.append(f"{len(names)} x {resource_type}: {reason}")
    return summary


class LocalRun:
    """Everything a local run started; a context manager that stops it all on exit."""

    def __init__(self, options: LocalRunOptions, log: Log = print) -> None:
        self.options = options
        self.log = log
        self.environment: LocalEnvironment | None = None
        self.apis: list[ServedApi] = []
        self.sign_ins: list[ServedSignIn] = []
        self.schedules: ScheduleClock | None = None
        self.cdns: list[ServedCdn] = []
        self._stoppers: list[Callable[[], None]] = []
        self._next_port = options.port
        self._lambda_bridge: LambdaBridge | None = None

    def __enter__(self) -> LocalRun:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        options = self.options
        stacks = load_assembly(options.assembly_dir, options.stacks)
        endpoint = self._endpoint()
        self.log(f"local AWS endpoint: {endpoint}")
        self.environment = provision(stacks, endpoint, region=options.region, users=options.users)
        for stack in self.environment.stacks:
            for line in summarize_skipped(stack.skipped):
                self.log(f"[{stack.name}] not run locally: {line}")
            for logical_id, resource in stack.template.get("Resources", {}).items():
                if resource.get("Type") == "AWS::StepFunctions::StateMachine" and logical_id in stack.refs:
                    self.log(f"[{stack.name}] state machine {logical_id}: {stack.refs[logical_id]}")
            for function in stack.functions.values():
                for variable, reason in function.unresolved.items():
                    self.log(
                        f"[{stack.name}] {function.logical_id}: environment variable {variable} unresolved: {reason}"
                    )

        pool = FunctionPool(endpoint, region=options.region, log=self.log)
        self._stoppers.append(pool.close)
        if self._lambda_bridge is not None:
            self._lambda_bridge.attach(self.environment, pool)
        self._serve_sign_in(self.environment)
        self._serve_apis(self.environment, pool)
        self.cdns = serve_cdns(self.environment, self.options.host, self._port, self._stoppers.append, self.log)
        pollers = start_pollers(
            self.environment,
            pool,
            log=self.log,
            retry_delay_seconds=options.retry_delay_seconds,
            window_idle_seconds=options.window_idle_seconds,
        )
        for poller in pollers:
            self._stoppers.append(poller.stop)
        self.schedules = start_schedules(
            self.environment, pool, self.log, options.retry_delay_seconds, options.rate_scale
        )
        if self.schedules is not None:
            self._stoppers.append(self.schedules.stop)

    def stop(self) -> None:
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                stopper()
            except Exception as error:  # keep stopping the rest
                self.log(f"while stopping: {type(error).__name__}: {error}")

    def wait(self) -> None:
        """Block until interrupted (Ctrl-C)."""
        threading.Event().wait()

    # -- parts -------------------------------------------------------------------------------------

    def _endpoint(self) -> str:
        if self.options.endpoint:
            wait_until_up(self.options.endpoint, timeout=10)
            self.log("state machines' Lambda tasks run only on the endpoint the local run starts itself")
            return self.options.endpoint.rstrip("/")
        # Started first: moto is told where to invoke its state machines' Lambda tasks.
        bridge = LambdaBridge(LOOPBACK, log=self.log)
        bridge.start()  # only moto calls it
        self._lambda_bridge = bridge
        self._stoppers.append(bridge.stop)
        server = MotoServer(lambda_endpoint=bridge.url.rstrip("/")).start()
        self._stoppers.append(server.stop)
        return server.endpoint

    def _port(self) -> int:
        if self.options.port == 0:
            return 0
        port = self._next_port
        self._next_port += 1
        return port

    def _serve_apis(self, environment: LocalEnvironment, pool: FunctionPool) -> None:
        for api in build_apis(environment):
            server = ApiServer(api, environment, pool.invoke, host=self.options.host, port=self._port(), log=self.log)
            server.start()
            self._stoppers.append(server.stop)
            self.apis.append(ServedApi(api.stack, api.logical_id, server.url))
            self.log(f"[{api.stack}] REST API {api.logical_id}: {server.url}")
            for note in api.notes:
                self.log(f"[{api.stack}] REST API {api.logical_id}: {note}")

    def _serve_sign_in(self, environment: LocalEnvironment) -> None:
        for stack in environment.stacks:
            for pool in stack.user_pools.values():
                server = SignInServer(pool, environment, host=self.options.host, port=self._port(), log=self.log)
                server.start()
                self._stoppers.append(server.stop)
                self.sign_ins.append(
                    ServedSignIn(
                        stack.name, pool.logical_id, pool.pool_id, server.url, dict(pool.client_ids), list(pool.scopes)
                    )
                )
                self.log(f"[{stack.name}] sign-in for user pool {pool.logical_id} ({pool.pool_id}): {server.url}")
