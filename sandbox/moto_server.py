"""moto's server (`python3 -m moto.server`) with DynamoDB's item operations made atomic.

moto serves each request on its own thread and its DynamoDB backend takes no lock, so two
conditional writes on one item that arrive together can both pass their condition before either
writes: two evaluators racing to claim the same cluster version would both "win". Real DynamoDB
applies a conditional write atomically, and pgvigil's safety rests on that (one claim per term).
This launcher runs every item read and write of the DynamoDB backend under one lock, then starts
the moto server with the same command-line arguments.

It also stops moto from delivering the table's stream to Lambda itself. The sandbox deploys the
control plane's event source mapping, and moto then invokes the evaluator through Docker on every
stream record (there is no Docker here: each write waits for that failure, inside the lock above)
and, when the invocation returns anything, empties the shard and numbers the next records from
the start again, so the sandbox's local runtime (functions/local-runtime.ts), which reads the
stream as Lambda's event source would, missed records and ran on the sweep alone.

It also gives moto's SSM the Automation calls (sandbox/moto_automation.py).

Used by the sandbox and by the tests (test/support/moto.ts).
"""

import functools
import os
import sys
import threading

from moto.awslambda.models import LambdaBackend
from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_automation  # noqa: E402 — next to this file

_LOCK = threading.RLock()
_OPERATIONS = ("put_item", "get_item", "query", "scan", "update_item", "delete_item", "transact_write_items")


def _atomic(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return locked


# Tests of the atomicity make thread switches frequent, so that a race would show (see
# test/integration/moto-atomic.test.ts); the default switch interval is left alone otherwise.
if os.environ.get("PGVIGIL_MOTO_SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["PGVIGIL_MOTO_SWITCH_INTERVAL"]))

for _name in _OPERATIONS:
    setattr(DynamoDBBackend, _name, _atomic(getattr(DynamoDBBackend, _name)))


def _no_delivery(self, function_arn, items, source):
    # Falsy: moto keeps the shard's records for GetRecords (see the module docstring).
    return None


LambdaBackend.send_dynamodb_items = _no_delivery
moto_automation.install()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
