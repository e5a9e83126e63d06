"""Prometheus metrics: transitions, their lateness, components by status, errors, sweeps.

Counters are bumped where the engine makes a change; the component gauge is read from the store at
scrape time, so it can never drift from what the operator believes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from statuspage_operator.api.names import Kind
from statuspage_operator.domain.status import ComponentStatus

REGISTRY = CollectorRegistry(auto_describe=True)

TRANSITIONS = PromCounter(
    "statuspage_transitions_total",
    "Changes the operator made, by kind and reason (the Event reason).",
    ["kind", "reason"],
    registry=REGISTRY,
)
LATENESS = Histogram(
    "statuspage_transition_lateness_seconds",
    "From a maintenance window's scheduled start or end to the status write that made it so.",
    # Finer around the 100 ms target, so that a p99 near it can be read off the buckets.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
RECONCILE_ERRORS = PromCounter(
    "statuspage_reconcile_errors_total",
    "Reconciliations that failed and were retried, by kind.",
    ["kind"],
    registry=REGISTRY,
)
RECONCILES = PromCounter(
    "statuspage_reconciles_total",
    "Reconciliations run, by kind (most write nothing).",
    ["kind"],
    registry=REGISTRY,
)
NOTIFICATIONS = PromCounter(
    "statuspage_notifications_total",
    "Subscriber deliveries by result: sent, retried (an attempt failed), failed (for good, or the "
    "destination cannot work), expired (past the catch-up rule while retrying).",
    ["result"],
    registry=REGISTRY,
)
SWEEPS = PromCounter(
    "statuspage_sweeps_total",
    "Sweeps (metadata lists of every kind, to drop what was deleted unseen), by trigger: listing "
    "(kopf listed a kind: start-up or a re-list after 410 Gone), interval (the safety net), "
    "retry (the previous one failed).",
    ["trigger"],
    registry=REGISTRY,
)
SWEEP_SECONDS = Histogram(
    "statuspage_sweep_duration_seconds",
    "Time of one sweep of every kind, lists and drops.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
SWEPT = PromCounter(
    "statuspage_swept_objects_total",
    "Objects dropped from the operator's memory by a sweep: deleted while the watch did not see "
    "it (a watch gap ended by 410 Gone, or between the start-up list and kopf's), by kind.",
    ["kind"],
    registry=REGISTRY,
)
LOOP_LAG = Histogram(
    "statuspage_event_loop_lag_seconds",
    "How much later than asked a 100 ms sleep of the operator's event loop woke: the wait of "
    "anything due (an edge) behind the work already queued (watch events, writes).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 5.0),
    registry=REGISTRY,
)
LEADER = Gauge(
    "statuspage_leader",
    "1 while this replica is the active one, else 0.",
    registry=REGISTRY,
)


class ComponentCollector(Collector):
    """statuspage_components{status}: how many components show each status right now."""

    def __init__(self, statuses: Callable[[], Iterator[str]]) -> None:
        self._statuses = statuses

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Count the components' last written status."""
        family = GaugeMetricFamily(
            "statuspage_components", "Components by their current status.", labels=["status"]
        )
        counts = Counter(self._statuses())
        for status in ComponentStatus:
            family.add_metric([str(status)], counts.get(str(status), 0))
        yield family


_COMPONENTS: list[ComponentCollector] = []


def register_components(statuses: Callable[[], Iterator[str]]) -> None:
    """Expose the component gauge, reading statuses from the given source (the latest engine)."""
    for collector in _COMPONENTS:
        REGISTRY.unregister(collector)
    _COMPONENTS[:] = [ComponentCollector(statuses)]
    REGISTRY.register(_COMPONENTS[0])


def count_reconcile(kind: Kind) -> None:
    """One reconciliation of a kind."""
    RECONCILES.labels(kind=str(kind)).inc()


async def watch_loop_lag(interval: float = 0.1) -> None:
    """Observe the event loop's lag into LOOP_LAG, until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval
        await asyncio.sleep(interval)
        LOOP_LAG.observe(max(0.0, loop.time() - asked))
