"""Fleet: every DatabaseIndex the operator knows, routed to one DatabaseWorker per connection.

Kopf handlers call upsert() and delete(); they return at once (upsert) or after bounded work
(delete). Everything long-running happens in the workers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from dbindex_operator.core import errors, settings, status
from dbindex_operator.core import spec as specs
from dbindex_operator.runtime import db, ddl, kube, metrics, scheduler, tracking, writer

logger = logging.getLogger(__name__)


class RetryLater(Exception):
    """Deletion cannot finish yet; the Kopf edge turns this into a TemporaryError."""


class Fleet:
    def __init__(self, config: settings.Settings, client: kube.Client) -> None:
        from dbindex_operator.core import slots  # local: keeps the import graph flat

        self.config = config
        self.client = client
        self.slots = slots.Slots(config.build_concurrency)
        self.writer = writer.StatusWriter(client, config.status_min_interval)
        self.pools = db.Pools(
            timeout=config.connect_timeout, application_name=config.application_name
        )
        self.objects: dict[tracking.ObjectKey, tracking.Tracked] = {}
        self.workers: dict[tuple[str, specs.ConnectionRef], scheduler.DatabaseWorker] = {}
        self._events: set[asyncio.Task[None]] = set()
        # The connection each Secret reference last resolved to (for deletion, see below).
        self._last_known: dict[tuple[str, specs.ConnectionRef], db.ConnectParams] = {}

    def start(self) -> None:
        self.writer.start()
        self._gauges = asyncio.create_task(self._count_phases_forever(), name="phase-gauges")

    async def close(self) -> None:
        await asyncio.gather(*(w.close() for w in self.workers.values()), return_exceptions=True)
        await self.writer.stop()
        await self.pools.close()
        self._gauges.cancel()
        await asyncio.gather(*self._events, return_exceptions=True)

    # -- membership -------------------------------------------------------------------------------

    def upsert(self, body: Mapping[str, Any]) -> None:
        """A DatabaseIndex appeared or changed (spec, or the retry annotation)."""
        incoming = tracking.from_body(body)
        known = self.objects.get(incoming.key)
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
        self._worker_for(tracked.namespace, tracked.spec.connection).add(tracked, urgent=urgent)

    async def delete(self, body: Mapping[str, Any], elapsed: float) -> None:
        """Clean up for a deleted object; raises RetryLater while it should be tried again."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        tracked = self.objects.pop(key, None)
        was_building = False
        if tracked is not None:
            self.writer.forget(key)
            if tracked.spec is not None:
                owner = self.workers.get((tracked.namespace, tracked.spec.connection))
                was_building = tracked.task is not None
                if owner is not None:
                    logger.debug("%s: stopping its work", tracked.label)
                    await owner.remove(tracked.name)
                    logger.debug("%s: work stopped", tracked.label)
                    if not owner.objects:
                        del self.workers[(tracked.namespace, tracked.spec.connection)]
                        await owner.close()
                        logger.debug("%s: worker closed", tracked.label)
        try:
            spec = specs.parse(body.get("spec") or {}, object_name=meta["name"])
        except errors.SpecError:
            return  # nothing was ever built for an invalid spec
        label = f"{meta['namespace']}/{meta['name']}"
        try:
            params = await self._resolve_for_deletion(meta["namespace"], spec.connection)
            # Delete: the index goes. Retain: only an INVALID leftover goes (a cancelled build's).
            dropped = await ddl.drop(
                params,
                spec.schema,
                spec.name,
                self.config,
                only_invalid=not spec.delete_with_object,
                lock_timeout=spec.build.lock_timeout,
            )
            if dropped:
                counter = (
                    metrics.INDEXES_DROPPED
                    if spec.delete_with_object
                    else (metrics.INVALID_DROPPED)
                )
                counter.labels(meta["namespace"]).inc()
                what = "index" if spec.delete_with_object else "INVALID leftover"
                logger.info("%s: dropped %s %s.%s", label, what, spec.schema, spec.name)
        except (errors.ConnectionProblem, errors.BuildFailure) as exc:
            message = str(exc)
            if not spec.delete_with_object and not was_building:
                logger.warning("%s: could not check for leftovers: %s", label, message)
                return  # Retain: nothing of ours to clean up
            if elapsed < self.config.deletion_timeout:
                raise RetryLater(message) from None
            self.event_for(
                _ref(meta),
                "Warning",
                "FinalizerReleased",
                f"gave up cleaning up {spec.schema}.{spec.name} after {elapsed:.0f}s "
                f"({message}); the index may remain in the database",
            )

    def _detach(self, tracked: tracking.Tracked, ref: specs.ConnectionRef) -> None:
        owner = self.workers.get((tracked.namespace, ref))
        if owner is not None and tracked.task is None:
            owner.objects.pop(tracked.name, None)

    def _worker_for(self, namespace: str, ref: specs.ConnectionRef) -> scheduler.DatabaseWorker:
        key = (namespace, ref)
        found = self.workers.get(key)
        if found is None:
            found = self.workers[key] = scheduler.DatabaseWorker(self, namespace, ref)
        return found

    def _invalid_spec(self, tracked: tracking.Tracked) -> None:
        message = tracked.spec_error or "invalid spec"
        if tracked.last_reason != "InvalidSpec" or tracked.status.get("observedGeneration") != (
            tracked.generation
        ):
            self.event(tracked, "Warning", "InvalidSpec", message)
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
        counts: dict[str, int] = {}
        for tracked in self.objects.values():
            phase = tracked.status.get("phase") or status.PENDING
            counts[phase] = counts.get(phase, 0) + 1
        for phase in (
            status.PENDING,
            status.WAITING,
            status.BUILDING,
            status.READY,
            status.RETRYING,
            status.FAILED,
        ):
            metrics.OBJECTS.labels(phase).set(counts.get(phase, 0))

    # -- connections and events -----------------------------------------------------------------

    async def resolve(self, namespace: str, ref: specs.ConnectionRef) -> db.ConnectParams:
        """Read the Secret now (a rotated Secret takes effect on the next pass)."""
        data = await self.client.read_secret(namespace, ref.secret_name)
        params = db.params_from_secret(data, ref.key)
        self._last_known[(namespace, ref)] = params
        return params

    async def _resolve_for_deletion(
        self, namespace: str, ref: specs.ConnectionRef
    ) -> db.ConnectParams:
        """Like resolve, but a Secret deleted together with its namespace (the namespace
        controller removes them in no particular order) falls back to the connection last read
        from it, so `deletionPolicy: Delete` still drops the index."""
        try:
            return await self.resolve(namespace, ref)
        except (errors.SecretNotFound, errors.SecretKeyMissing):
            known = self._last_known.get((namespace, ref))
            if known is None:
                raise
            logger.info(
                "%s/%s is gone; using its last known connection to %s",
                namespace,
                ref.secret_name,
                known.describe(),
            )
            return known

    def event(self, tracked: tracking.Tracked, kind: str, reason: str, message: str) -> None:
        self.event_for(tracked.ref, kind, reason, message)

    def event_for(self, ref: Mapping[str, str], kind: str, reason: str, message: str) -> None:
        task = asyncio.create_task(self.client.post_event(ref, kind, reason, message))
        self._events.add(task)
        task.add_done_callback(self._events.discard)


def _ref(meta: Mapping[str, Any]) -> dict[str, str]:
    return {"namespace": meta["namespace"], "name": meta["name"], "uid": meta.get("uid", "")}
