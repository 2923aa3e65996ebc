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

And it makes a Query cost what the partition's matching items cost. moto answers a Query on a
table by sorting every item of the table (every partition, every event and monitoring sample the
sandbox ever wrote: DynamoDB keeps them until their TTL, moto for ever), then sizing each one in
turn; in a sandbox that ran an hour, each of the several Queries a second took tens of milliseconds
of moto's CPU, and the emulator became the busiest process on the machine (docs/sandbox.md, "CPU").
The launcher hands moto's own Query only the items of the queried partition whose sort key
matches the key condition — the items moto would have kept — so the answer is the same.

And GetMetricStatistics cost what the metric's own data points cost. moto answers it by copying
and filtering every data point ever put, of every metric; the sandbox's controller puts a few dozen
a second and its alarm evaluator (sandbox/alarm-evaluator.ts) asks once a second for each of the
stack's alarms, so the cost grows with the sandbox's age, holding the interpreter lock every other
request needs (at 60,000 points, half an hour of a campaign: 7.3 ms of CPU a call, 4.5 ms with the
index, on this project's 2-core machine). The launcher keeps an index of the points by namespace
and metric name and hands moto's own GetMetricStatistics only that metric's points.

It also gives moto's SSM the Automation calls (sandbox/moto_automation.py).

Used by the sandbox and by the tests (test/support/moto.ts).
"""

import functools
import os
import sys
import threading

from moto.awslambda.models import LambdaBackend
from moto.cloudwatch.models import CloudWatchBackend
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.comparisons import get_comparison_func
from moto.dynamodb.models.table import Table
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


class _Partition:
    """A table as its Query sees it: every attribute the table's, but only these items."""

    def __init__(self, table, items):
        self._table = table
        self._items = items

    def __getattr__(self, name):
        return getattr(self._table, name)

    def all_items(self):
        return self._items


_table_query = Table.query


def _partition_items(partition, comparison, bounds):
    """The items of a partition (sort key → item) whose sort key meets the key condition."""
    if not comparison:
        return list(partition.values())
    # String keys (every key pgvigil writes) compare as strings, as moto's DynamoType.compare does
    # after its casts, at a fraction of the cost; anything else goes through moto's own compare.
    if all(b.type == "S" for b in bounds):
        test = get_comparison_func(comparison)
        values = [b.value for b in bounds]
        return [
            item
            for key, item in partition.items()
            if (test(key.value, *values) if key.type == "S" else key.compare(comparison, bounds))
        ]
    return [item for key, item in partition.items() if key.compare(comparison, bounds)]


def _partition_query(self, hash_key, range_comparison, range_objs, *args, **kwargs):
    # An index query, or a table without a sort key, goes to moto unchanged.
    index_name = kwargs.get("index_name", args[4] if len(args) > 4 else None)
    if index_name or hash_key is None or not self.range_key_attr:
        return _table_query(self, hash_key, range_comparison, range_objs, *args, **kwargs)
    items = _partition_items(self.items.get(hash_key, {}), range_comparison, range_objs)
    return _table_query(_Partition(self, items), hash_key, range_comparison, range_objs, *args, **kwargs)


Table.query = _partition_query


class _MetricView:
    """A CloudWatch backend as GetMetricStatistics sees it: only one metric's data points."""

    def __init__(self, backend, points):
        self._backend = backend
        self._points = points

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def get_all_metrics(self):
        return self._points + self._backend.aws_metric_data


_METRIC_LOCK = threading.Lock()
_get_metric_statistics = CloudWatchBackend.get_metric_statistics


def _metric_points(backend, namespace, metric_name):
    """The points put for one metric, in the order they were put (the index catches up first)."""
    with _METRIC_LOCK:
        state = backend.__dict__.setdefault("_pgvigil_metric_index", {"list": None, "seen": 0, "by_metric": {}})
        data = backend.metric_data
        # A reset replaces or empties the list: index it again from the start.
        if state["list"] is not data or state["seen"] > len(data):
            state.update(list=data, seen=0, by_metric={})
        by_metric = state["by_metric"]
        for point in data[state["seen"]:]:
            by_metric.setdefault((point.namespace, point.name), []).append(point)
        state["seen"] = len(data)
        return list(by_metric.get((namespace, metric_name), ()))


def _indexed_metric_statistics(self, namespace, metric_name, *args, **kwargs):
    return _get_metric_statistics(_MetricView(self, _metric_points(self, namespace, metric_name)), namespace, metric_name, *args, **kwargs)


CloudWatchBackend.get_metric_statistics = _indexed_metric_statistics


def _no_delivery(self, function_arn, items, source):
    # Falsy: moto keeps the shard's records for GetRecords (see the module docstring).
    return None


LambdaBackend.send_dynamodb_items = _no_delivery
moto_automation.install()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
