"""``python -m patterns.local``: run synthesized stacks on 127.0.0.1; ``... token``: sign in to one;
``... trigger NAME``: fire a schedule now.

    python -m patterns.local --stack ItemsServiceDemo --user ada@example.com:Str0ng-Passw0rd!:admins
    python -m patterns.local token --sign-in http://127.0.0.1:3000 --client-id ID \\
        --username ada@example.com --password 'Str0ng-Passw0rd!' --scope items/read --scope items/write
    python -m patterns.local trigger NightlyPurge --endpoint http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .model import LocalRunError


def _log(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {message}", flush=True)


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m patterns.local",
        description="Run the stacks of a synthesized CDK app (cdk.out) on this machine: their tables, queues, "
        "topics and user pools on a local AWS endpoint, their REST APIs on 127.0.0.1, their functions in "
        "warm worker processes and their SQS/DynamoDB event sources as pollers. Ctrl-C stops everything.",
        epilog="To get a token for an API behind Cognito: python -m patterns.local token --help. "
        "To fire a schedule now: python -m patterns.local trigger --help",
    )
    parser.add_argument("--assembly", type=Path, default=Path("cdk.out"), help="the cloud assembly (default: cdk.out)")
    parser.add_argument(
        "--stack",
        action="append",
        dest="stacks",
        metavar="NAME",
        help="a stack to run (repeatable; default: every stack)",
    )
    parser.add_argument("--endpoint", help="use this AWS endpoint (e.g. a moto server you run) instead of starting one")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to serve APIs and sign-in pages on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=3000,
        help="first port; sign-in pages and APIs take consecutive ports (default: 3000; 0 = any free ports)",
    )
    parser.add_argument(
        "--user",
        action="append",
        dest="users",
        default=[],
        metavar="EMAIL:PASSWORD[:GROUP,...]",
        help="create this user in every user pool (repeatable)",
    )
    parser.add_argument(
        "--rate-scale",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="fire rate(...) schedules FACTOR times as often (default: 1; cron, at() keep their times)",
    )
    retries = parser.add_mutually_exclusive_group()
    retries.add_argument(
        "--retry-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="make failed SQS messages visible again after this long (default: 1)",
    )
    retries.add_argument(
        "--keep-visibility-timeout",
        action="store_true",
        help="let failed SQS messages wait out their queue's visibility timeout, as on AWS",
    )
    parser.add_argument(
        "--window-idle",
        type=float,
        metavar="SECONDS",
        help="close a stream's tumbling window once idle this long (default: at its end, as on AWS)",
    )
    return parser


def _token_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m patterns.local token",
        description="Sign in through a local run's sign-in page (authorization code + PKCE) and print the access token.",
    )
    parser.add_argument("--sign-in", required=True, dest="signin_url", help="the sign-in URL the run printed")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--redirect-uri", help="one of the client's callback URLs (default: its first)")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--scope", action="append", dest="scopes", default=[], help="a scope to ask for (repeatable)")
    parser.add_argument("--id-token", action="store_true", help="print the ID token instead of the access token")
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run(argv: Sequence[str]) -> int:
    from .provision import parse_user
    from .regions import local_run
    from .runner import LocalRunOptions

    args = _run_parser().parse_args(argv)
    options = LocalRunOptions(
        assembly_dir=args.assembly,
        stacks=args.stacks,
        endpoint=args.endpoint,
        host=args.host,
        port=args.port,
        users=[parse_user(text) for text in args.users],
        retry_delay_seconds=None if args.keep_visibility_timeout else args.retry_delay,
        rate_scale=args.rate_scale,
        window_idle_seconds=args.window_idle,
    )
    # `kill` (SIGTERM) stops the run as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    with local_run(options, log=_log) as run:  # one run per region when the stacks are bound to several
        _log("ready; Ctrl-C stops everything")
        for served in run.sign_ins:
            scopes = "".join(f" --scope {scope}" for scope in served.scopes) or " --scope SCOPE"
            for client_logical_id, client_id in served.client_ids.items():
                _log(
                    f"  token ({served.stack}/{client_logical_id}): python -m patterns.local token --sign-in {served.url} "
                    f"--client-id {client_id} --username EMAIL --password PASSWORD{scopes}"
                )
        try:
            run.wait()
        except KeyboardInterrupt:
            _log("stopping")
    return 0


def _token(argv: Sequence[str]) -> int:
    from .signin import sign_in

    args = _token_parser().parse_args(argv)
    tokens = sign_in(args.signin_url, args.client_id, args.redirect_uri, args.username, args.password, args.scopes)
    print(tokens["id_token"] if args.id_token else tokens["access_token"])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["token"]:
            return _token(argv[1:])
        if argv[:1] == ["trigger"]:
            from .trigger import trigger

            return trigger(argv[1:])
        return _run(argv)
    except (LocalRunError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
