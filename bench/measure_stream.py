"""6. Stream aggregator: records per second folded into a window's state, and DynamoDB writes per closed window.

The bundled ``stream_aggregator`` handler runs in a fresh child process against its own moto
server on 127.0.0.1 (real boto3 serialization), driven as Lambda's tumbling-window mapping drives
it: batches of one window carrying the state, then the final invocation. Every DynamoDB request the
handler sends is counted. Run alone: ``.venv/bin/python bench/measure_stream.py --child``.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

from benchlib import ROOT, TESTS_DIR, venv_path_env
from child_runs import child_failure, log, run_child

RECORDS_PER_WINDOW = 20_000
BATCH_SIZE = 100
WINDOWS = 3
KEYS = 50
#: One conditional write per key of a closed window is the design: more means double work.
WRITES_PER_WINDOW_KEY_TARGET = 1.0
SHARD = "shardId-000000000000"


def bench_stream(fake_aws_env: dict) -> dict:
    env = {**venv_path_env(), **fake_aws_env}
    wall, completed = run_child([sys.executable, __file__, "--child"], env=env, cwd=ROOT, timeout=600)
    if completed.returncode != 0:
        failure = child_failure(completed)
        log(f"  stream aggregator: failed ({failure})")
        return {"error": failure, "met": False}
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["child_wall_s"] = wall
    log(
        f"  stream aggregator: {result['records_per_second']:.0f} records/s, "
        f"{result['writes_per_window']:.0f} writes per window ({result['writes_per_window_key']:.2f} per window-key), "
        f"replay writes landed: {result['replay_writes_landed']}"
    )
    return result


class _Context:
    """Lambda's context as far as the handler reads it: a minute left, as at the start of an invocation."""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _record(sequence: int, key: str) -> dict:
    data = base64.b64encode(json.dumps({"page": key, "ms": 3}).encode()).decode()
    return {
        "kinesis": {"sequenceNumber": str(sequence), "data": data, "partitionKey": key},
        "eventSource": "aws:kinesis",
    }


def _child() -> None:
    sys.path[:0] = [str(TESTS_DIR), str(ROOT)]
    import boto3
    from aws_local import moto_server
    from handler_loader import load_handler

    with moto_server() as endpoint:
        os.environ.update(AWS_ENDPOINT_URL=endpoint, TABLE_NAME="aggregates", KEY_FIELD="page", VALUE_FIELD="ms")
        boto3.client("dynamodb").create_table(
            TableName="aggregates",
            KeySchema=[
                {"AttributeName": "key", "KeyType": "HASH"},
                {"AttributeName": "window_start", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "key", "AttributeType": "S"},
                {"AttributeName": "window_start", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        module = load_handler("stream_aggregator")
        requests: Counter = Counter()
        counting = threading.Lock()  # a closing window writes from several threads

        def count(model: Any, **_: Any) -> None:
            with counting:
                requests.update([model.name])

        module.dynamodb.meta.events.register("before-call.dynamodb.*", count)

        folding, closing, sequence = 0.0, 0.0, 0
        windows = []
        for number in range(WINDOWS):
            window = {"start": f"2026-11-23T18:0{number}:00Z", "end": f"2026-11-23T18:0{number + 1}:00Z"}
            batches = []
            for _ in range(RECORDS_PER_WINDOW // BATCH_SIZE):
                batches.append([_record(sequence + i, f"/page-{(sequence + i) % KEYS}") for i in range(BATCH_SIZE)])
                sequence += BATCH_SIZE
            windows.append((window, batches))

        def run_window(window: dict, batches: list) -> tuple[float, float]:
            state: dict = {}
            started = time.perf_counter()
            for batch in batches:
                event = {"Records": batch, "window": window, "state": state, "shardId": SHARD}
                state = module.handler(event, _Context())["state"]
            folded = time.perf_counter()
            module.handler(
                {"Records": [], "window": window, "state": state, "shardId": SHARD, "isFinalInvokeForWindow": True},
                _Context(),
            )
            return folded - started, time.perf_counter() - folded

        for window, batches in windows:
            fold_s, close_s = run_window(window, batches)
            folding += fold_s
            closing += close_s
        writes = requests["UpdateItem"]
        items = boto3.client("dynamodb").scan(TableName="aggregates", Select="COUNT")["Count"]
        before = sum(int(i["count"]["N"]) for i in boto3.client("dynamodb").scan(TableName="aggregates")["Items"])
        run_window(*windows[0])  # the first window replayed in full
        after = sum(int(i["count"]["N"]) for i in boto3.client("dynamodb").scan(TableName="aggregates")["Items"])
        print(
            json.dumps(
                {
                    "method": (
                        f"{WINDOWS} windows of {RECORDS_PER_WINDOW} Kinesis records in batches of {BATCH_SIZE}, "
                        f"{KEYS} keys, one shard; the bundled handler in a child process against moto's server; "
                        "records/s counts the state-folding invocations only; writes are the handler's DynamoDB "
                        "requests in the final invocations; then the first window is replayed in full."
                    ),
                    "records": WINDOWS * RECORDS_PER_WINDOW,
                    "records_per_second": WINDOWS * RECORDS_PER_WINDOW / folding,
                    "final_invocation_s": closing / WINDOWS,
                    "writes_per_window": writes / WINDOWS,
                    "writes_per_window_key": writes / items,
                    "other_requests": {k: v for k, v in requests.items() if k != "UpdateItem"},
                    "replay_writes_landed": after - before,
                    "target": f"{WRITES_PER_WINDOW_KEY_TARGET:.0f} write per window-key, none landing on a replay",
                    "met": writes == items and after == before,
                }
            )
        )


if __name__ == "__main__" and sys.argv[1:] == ["--child"]:
    _child()
