"""Fleet: every DatabaseIndex the operator knows, routed to one DatabaseWorker per connection.

Kopf handlers call upsert() and delete(); they return at once (upsert) or after bounded work
(delete). Everything long-running happens in the workers.
"""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import Mapping
from typing import Any

from dbindex_operator.core import errors, settings, slots, status
from dbindex_operator.core import spec as specs
from dbindex_operator.runtime import (
    allocator,
    db,
    garbage,
    holding,
    kube,
    metrics,
    object_series,
    reporter,
    scheduler,
    tracking,
    writer,
)

logger = logging.getLogger(__name__)
# Seconds between malloc_trim calls (runtime/allocator.py): a few milliseconds each.
TRIM_INTERVAL = 30.0
_SPEC_BOUND = ("build", "replace")  # work that builds what one generation of the spec says


class RetryLater(Exception):
    """Deletion cannot finish yet; the Kopf edge turns this into a TemporaryError."""


class Fleet:
    """Implements scheduler.Services: settings, build slots, pools, the reporter, Secrets."""

    def __init__(self, config: settings.Settings, client: kube.Client) -> None:
        self.config = config
        self.client = client
        self.holder = holding.Holder(client)
        self.slots = slots.Slots(config.build_concurrency)
        self.writer = writer.StatusWriter(client, config.status_min_interval)
        self.reporter = reporter.Reporter(client, self.writer)
        self.pools = db.Pools(
            timeout=config.connect_timeout,
            server_settings={
                "application_name": config.application_name,
                "lock_timeout": config.catalog_lock_timeout,
                "statement_timeout": config.catalog_statement_timeout,
            },
        )
        self.objects: dict[tracking.ObjectKey, tracking.Tracked] = {}
        self.schedulers: dict[tuple[str, specs.ConnectionRef], scheduler.Scheduler] = {}
        # The connection each Secret reference last resolved to (for deletion, see resolve).
        self._last_known: dict[tuple[str, specs.ConnectionRef], db.ConnectParams] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._counted: list[dict[str, Any]] | None = None  # statuses of the last _count_phases

    def start(self) -> None:
        self.writer.start()
        self._gauges = asyncio.create_task(self._count_phases_forever(), name="phase-gauges")
        self._trimming = asyncio.create_task(allocator.trim_forever(TRIM_INTERVAL), name="trim")
        self._collecting = asyncio.create_task(garbage.collect_forever(), name="gc")

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.schedulers.values()), return_exceptions=True)
        await self.writer.stop()
        await self.pools.close()
        self._gauges.cancel()
        self._trimming.cancel()
        self._collecting.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self.reporter.close()

    # -- membership -------------------------------------------------------------------------------

    def upsert(self, body: Mapping[str, Any]) -> None:
        """A DatabaseIndex appeared or changed (spec, or the retry annotation). Called with every
        watch event: one that changes neither (our own status patches coming back) costs a dict
        lookup and nothing else."""
        meta = body["metadata"]
        known = self.objects.get((meta["namespace"], meta["name"]))
        if known is not None and tracking.unchanged(known, meta):
            return
        incoming = tracking.from_body(body)
        if known is not None and known.uid == incoming.uid:
            tracked = known
            renewed = (
                incoming.generation != known.generation or incoming.retry_token != known.retry_token
            )
            old_ref = known.spec.connection if known.spec else None
            tracked.generation = incoming.generation
            tracked.retry_token = incoming.retry_token
            tracked.spec = incoming.spec
            tracked.spec_error = incoming.spec_error
            if renewed:
                tracked.reset_history()
            job = tracked.job
            if incoming.generation != known.generation and job and job.kind in _SPEC_BOUND:
                # A build or replacement for the old spec stops; the catalog decides anew.
                logger.info("%s: the spec changed; cancelling its %s", tracked.label, job.kind)
                job.cancel()
            if old_ref is not None and (tracked.spec is None or tracked.spec.connection != old_ref):
                self._detach(tracked, old_ref)
        else:
            tracked = incoming
            self.objects[tracked.key] = tracked
        if tracked.spec is None:
            self._invalid_spec(tracked)
            return
        # A known object changed, or a new one needs work: now. A new object whose status
        # already settled this generation (an operator restart): at the next resync.
        urgent = known is not None or not tracked.settled
        self._scheduler_for(tracked.namespace, tracked.spec.connection).add(tracked, urgent=urgent)

    async def delete(self, body: Mapping[str, Any], elapsed: float) -> None:
        """A deleted object: start its cleanup (phase Deleting) and wait for it briefly. Raises
        RetryLater while the cleanup goes on: the Kopf handler never blocks for long, and a
        restart simply starts here again (the catalog says what is left)."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        tracked = self.objects.get(key)
        if tracked is None or tracked.uid != meta.get("uid", ""):
            tracked = self.objects[key] = tracking.from_body(body)
        if tracked.spec is None:
            self._forget(tracked)  # nothing was ever built for an invalid spec
            return
        if tracked.deletion is None:
            loop = asyncio.get_running_loop()
            tracked.deletion = tracking.Deletion(
                started_at=loop.time() - elapsed,
                done=loop.create_future(),
                was_building=tracked.building,
            )
            self.reporter.report(
                tracked,
                status.DELETING,
                "Deleting",
                "cleaning up its index before the object goes "
                f"(deletionPolicy {'Delete' if tracked.spec.delete_with_object else 'Retain'})",
            )
            self._scheduler_for(tracked.namespace, tracked.spec.connection).add(tracked)
        try:
            async with asyncio.timeout(self.config.deletion_wait):
                await asyncio.shield(tracked.deletion.done)
        except TimeoutError:
            raise RetryLater(f"cleaning up {tracked.spec.schema}.{tracked.spec.name}") from None
        self._forget(tracked)

    async def hold(self, tracked: tracking.Tracked) -> bool:
        """Our finalizer on the object before work that leaves database state (holding.py)."""
        return await self.holder.hold_object(tracked.namespace, tracked.name, tracked.uid)

    def gone(self, body: Mapping[str, Any]) -> None:
        """The object was deleted, or is being deleted without our finalizer: forget it and stop
        whatever work it had."""
        meta = body["metadata"]
        tracked = self.objects.get((meta["namespace"], meta["name"]))
        if tracked is not None and tracked.uid == meta.get("uid", ""):
            if tracked.deletion is not None:
                tracked.deletion.done.cancel()
            self._forget(tracked)

    def _forget(self, tracked: tracking.Tracked) -> None:
        if self.objects.get(tracked.key) is tracked:
            del self.objects[tracked.key]
        self.writer.forget(tracked.key)
        metrics.forget_index(tracked.namespace, tracked.name)
        if tracked.spec is None:
            return
        key = (tracked.namespace, tracked.spec.connection)
        owner = self.schedulers.get(key)
        if owner is not None:
            owner.discard(tracked.name)
            if not owner.objects:
                del self.schedulers[key]
                task = asyncio.create_task(owner.close(), name=f"close:{tracked.label}")
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    def _detach(self, tracked: tracking.Tracked, ref: specs.ConnectionRef) -> None:
        owner = self.schedulers.get((tracked.namespace, ref))
        if owner is not None and tracked.job is None:
            owner.objects.pop(tracked.name, None)

    def _scheduler_for(self, namespace: str, ref: specs.ConnectionRef) -> scheduler.Scheduler:
        key = (namespace, ref)
        found = self.schedulers.get(key)
        if found is None:
            found = self.schedulers[key] = scheduler.Scheduler(self, namespace, ref)
        return found

    def _invalid_spec(self, tracked: tracking.Tracked) -> None:
        message = tracked.spec_error or "invalid spec"
        if tracked.last_reason != "InvalidSpec" or tracked.status.get("observedGeneration") != (
            tracked.generation
        ):
            self.reporter.event(tracked, "Warning", "InvalidSpec", message)
        tracked.last_reason = "InvalidSpec"
        self.writer.submit(
            tracked,
            status.Report(
                phase=status.FAILED,
                reason="InvalidSpec",
                message=message,
                retry_token=tracked.retry_token,
            ),
        )

    async def _count_phases_forever(self) -> None:
        while True:
            self._count_phases()
            await asyncio.sleep(10)

    def _count_phases(self) -> None:
        # A status is a new dict whenever it changes (StatusWriter.submit): when every object's
        # is the very one counted last time and none came or went, the gauges and series stand
        # (an idle fleet's refresh was a third of its CPU).
        statuses = [tracked.status for tracked in self.objects.values()]
        counted, self._counted = self._counted, statuses
        if (
            counted is not None
            and len(counted) == len(statuses)
            and all(map(operator.is_, counted, statuses))
        ):
            return
        counts: dict[str, int] = {}
        for tracked in self.objects.values():
            phase = tracked.status.get("phase") or status.PENDING
            counts[phase] = counts.get(phase, 0) + 1
        for phase in status.PHASES:
            metrics.OBJECTS.labels(phase).set(counts.get(phase, 0))
        object_series.record_objects((t.namespace, t.name, t.status) for t in self.objects.values())

    # -- connections and events -----------------------------------------------------------------

    async def resolve(
        self, namespace: str, ref: specs.ConnectionRef, *, deleting: bool = False
    ) -> db.ConnectParams:
        """Read the Secret now (a rotated Secret takes effect on the next pass). While objects
        are being deleted, a Secret deleted together with its namespace (the namespace
        controller removes them in no particular order) falls back to the connection last read
        from it, so `deletionPolicy: Delete` still drops the index."""
        try:
            data = await self.client.read_secret(namespace, ref.secret_name)
            params = db.params_from_secret(data, ref.key)
        except (errors.SecretNotFound, errors.SecretKeyMissing):
            known = self._last_known.get((namespace, ref))
            if not deleting or known is None:
                raise
            logger.info(
                "%s/%s is gone; using its last known connection to %s",
                namespace,
                ref.secret_name,
                known.describe(),
            )
            return known
        self._last_known[(namespace, ref)] = params
        return params
