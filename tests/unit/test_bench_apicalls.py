"""bench/apicalls.py and bench/shipped.py: counting the API server's writes, reading the chart's
memory limit."""

from __future__ import annotations

import pytest
from bench import apicalls, shipped

METRICS = """# TYPE apiserver_request_total counter
apiserver_request_total{code="200",resource="databaseindexes",subresource="",verb="APPLY"} 10
apiserver_request_total{code="200",resource="databaseindexes",subresource="",verb="PATCH"} 10
apiserver_request_total{code="422",resource="databaseindexes",subresource="",verb="PATCH"} 1
apiserver_request_total{code="200",resource="databaseindexes",subresource="status",verb="PATCH"} 12
apiserver_request_total{code="201",resource="events",subresource="",verb="POST"} 9
apiserver_request_total{code="200",resource="leases",subresource="",verb="PUT"} 4
apiserver_request_total{code="200",resource="databaseindexes",subresource="",verb="LIST"} 3
"""


def test_writes_by_verb_and_resource_and_per_object() -> None:
    after = apicalls.parse(METRICS)
    before = {("PUT", "leases"): 2.0}
    by_kind = apicalls.writes(before, after)
    assert by_kind == {
        "PATCH databaseindexes/status": 12.0,
        "PATCH databaseindexes": 11.0,
        "APPLY databaseindexes": 10.0,
        "POST events": 9.0,
        "PUT leases": 2.0,
    }
    assert apicalls.object_writes(by_kind) == 32.0  # the user's apply and leases left out
    figures = apicalls.per_object(before, after, {"operator_cpu_s": 0.5}, 10)
    assert figures["writes_per_object"] == 3.2
    assert figures["operator_cpu_ms_per_object"] == 50.0


@pytest.mark.parametrize(
    ("quantity", "mib"),
    [("512Mi", 512.0), ("1Gi", 1024.0), ("400M", 381.5), ("262144Ki", 256.0)],
)
def test_memory_quantities(quantity: str, mib: float) -> None:
    assert shipped.memory_mb(quantity) == mib


def test_the_chart_ships_a_memory_limit() -> None:
    assert shipped.memory_limit_mb() >= 256.0
