"""Kopf wiring only: settings at start-up and one raw-event handler (runtime/intake.py does the
create/update/delete cycle with our own finalizer: no Kopf bookkeeping per object).

Domain errors become Kopf errors here and nowhere else.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import io
import logging
import signal
from typing import Any

import kopf

from dbindex_operator.core import peering, settings
from dbindex_operator.runtime import fleet, guard, intake, kube, lookout, metrics

logger = logging.getLogger(__name__)
RESOURCE = (settings.GROUP, settings.VERSION, settings.PLURAL)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    from dbindex_operator.core import settings as config_module

    config = config_module.Settings.from_env()
    tune(settings, config_module.FINALIZER)
    client = kube.Client(config.api_write_rate, config.api_write_burst)
    await _replicas(settings, getattr(memo, "options", None) or peering.Options(), client)
    _dump_tasks_on_sigusr2()
    memo.fleet = fleet.Fleet(config, client)
    memo.fleet.start()
    memo.intake = intake.Intake(memo.fleet, client)
    memo.lookout = lookout.Lookout(memo.fleet.objects, memo.fleet.upsert)
    if config.metrics_port:
        metrics.serve(config.metrics_address, config.metrics_port)
        logger.info("metrics on %s:%d", config.metrics_address, config.metrics_port)


# Objects per page of the initial listing (a start or a re-list). Unpaged, the listing of every
# object is parsed at once, and the few pieces of each body we keep pin the allocator's arenas
# the rest of it freed: 3,000 objects held 151 MB after a restart unpaged, 121 MB in pages of
# 250 and 115 MB in pages of 100 (docs/benchmarks.md, "Memory: allocator arenas and trimming").
LIST_CHUNK = 100


def tune(settings: kopf.OperatorSettings, finalizer: str) -> None:
    """Kopf's settings for this operator."""
    # Kopf keeps no state in our objects: no create/update/delete handlers, so no finalizer,
    # no progress and no last-handled annotations of its own (runtime/intake.py). Its finalizer
    # setting must differ from ours: Kopf removes "its" finalizer from objects no handler needs
    # it for.
    settings.persistence.finalizer = f"kopf.{finalizer}"
    settings.persistence.progress_storage = _NoProgress()
    settings.persistence.diffbase_storage = _NoDiffBase()
    # Watch streams reconnect by themselves; a bounded server timeout keeps them fresh.
    settings.watching.server_timeout = 600
    settings.watching.chunk_size = LIST_CHUNK
    # Kopf's per-object worker lingers this long after its last event; at a first start over
    # 10,000 objects every one has a worker at once, so a short linger is less peak memory.
    settings.queueing.idle_timeout = 1.0


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    if getattr(memo, "intake", None) is not None:
        await memo.intake.close()
    if getattr(memo, "fleet", None) is not None:
        await memo.fleet.close()


@kopf.on.event(*RESOURCE)
async def observe(type: str | None, event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Every raw event (and every object of a listing, type None): the whole object lifecycle
    (runtime/intake.py). The lookout stays as a safety net behind it (runtime/lookout.py)."""
    body = event["object"]
    memo.intake.observe(type, body)
    memo.lookout.observe(type, body)


async def _replicas(
    settings: kopf.OperatorSettings, options: peering.Options, client: kube.Client
) -> None:
    """Peering and sharding (core/peering.py). One cluster-wide peering object per shard, even
    for an operator that serves a namespace list: a namespaced peering would need an object in
    every namespace, and replicas serving a pattern would not see each other in new ones. The
    object is created here when missing: manifests cannot ship it beside its CRD (kubectl and
    Helm refuse an object whose kind is only being installed)."""
    if options.peering is not None:
        try:
            if await client.ensure_peering(options.peering):
                logger.info("created ClusterKopfPeering %r", options.peering)
        except kube.PeeringUnavailable as exc:
            raise kopf.PermanentError(str(exc)) from None
        guard.lease = functools.partial(_not_leading, client, options)
        settings.peering.clusterwide = True
        settings.peering.lifetime = options.lifetime
        settings.peering.stealth = True  # keep-alives every ~10 s are not worth a log line
        logger.info(
            "peering %r: priority %d, lifetime %ds",
            options.peering,
            options.priority,
            options.lifetime,
        )
    if options.selector is not None:
        # Server-side: the API server lists and watches only the shard's objects.
        settings.watching.label_selectors[RESOURCE[0], RESOURCE[2]] = options.selector
        logger.info("serving DatabaseIndex objects with labels %s", options.selector)


async def _not_leading(client: kube.Client, options: peering.Options) -> str | None:
    """runtime/guard.lease: this replica's standing in the peering object, read now."""
    assert options.peering is not None
    try:
        peers = await client.read_peering(options.peering)
    except kube.PeeringUnavailable as exc:
        return f"cannot confirm this replica is the active one: {exc}"
    now = datetime.datetime.now(datetime.UTC)
    return peering.not_leading(peers, options.identity, options.priority, now)


class _NoDiffBase(kopf.DiffBaseStorage):
    """Kopf diffs each event's "essence" against a stored one for its create/update handlers.
    We have none, and building the essence deep-copies every event's body: a tenth of the
    operator's CPU at a first start (py-spy, docs/benchmarks.md). Nothing built, nothing kept."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


class _NoProgress(kopf.ProgressStorage):
    """Kopf's record of its handlers' progress, for create/update/delete handlers we do not
    have. Its annotations storage still cleaned every event's (empty) essence of annotations: a
    deep copy and a scan per event, an eighth of Kopf's own work per event in a restart's
    listing (py-spy, docs/benchmarks.md). Nothing kept, nothing to clean."""

    def fetch(self, *, key: kopf.HandlerId, body: kopf.Body) -> kopf.ProgressRecord | None:
        return None

    def store(
        self,
        *,
        key: kopf.HandlerId,
        record: kopf.ProgressRecord,
        body: kopf.Body,
        patch: kopf.Patch,
    ) -> None:
        return None

    def purge(self, *, key: kopf.HandlerId, body: kopf.Body, patch: kopf.Patch) -> None:
        return None

    def touch(self, *, body: kopf.Body, patch: kopf.Patch, value: str | None) -> None:
        return None

    def clear(self, *, essence: kopf.BodyEssence) -> kopf.BodyEssence:
        return essence


def _dump_tasks_on_sigusr2() -> None:
    """`kill -USR2 <pid>` logs every asyncio task's stack: what is the operator waiting for?"""
    loop = asyncio.get_running_loop()

    def dump() -> None:
        for task in asyncio.all_tasks(loop):
            stream = io.StringIO()
            task.print_stack(limit=8, file=stream)
            logger.warning("task %s:\n%s", task.get_name(), stream.getvalue())

    loop.add_signal_handler(signal.SIGUSR2, dump)
