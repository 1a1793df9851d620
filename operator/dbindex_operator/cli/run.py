"""`dbindex-operator run`: the operator under Kopf, alone or as one replica of a peering (hot
standby) and one shard of several (core/peering.py validates the options)."""

from __future__ import annotations

import argparse
import logging
from typing import Any, cast

from dbindex_operator.core import peering


def add_replicas(run: argparse.ArgumentParser) -> None:
    """Peering (active/standby replicas) and sharding options of `run`."""
    mode = run.add_mutually_exclusive_group()
    mode.add_argument(
        "--peering",
        metavar="NAME",
        default=None,
        help="take part in Kopf peering through the ClusterKopfPeering NAME: one replica is "
        "active, the others stand by (default: standalone)",
    )
    mode.add_argument(
        "--standalone",
        action="store_true",
        help="no peering: this process acts alone (the default; the advisory lock still keeps "
        "two operators from running the same DDL)",
    )
    run.add_argument(
        "--priority",
        default="auto",
        metavar="N|auto",
        help="peering priority; the highest live one is active (default auto: the oldest "
        "replica leads)",
    )
    run.add_argument(
        "--peering-lifetime",
        type=int,
        default=peering.DEFAULT_LIFETIME,
        metavar="SECONDS",
        help="how long a replica's keep-alive counts: the failover time "
        f"(default {peering.DEFAULT_LIFETIME}, at least {peering.MIN_LIFETIME})",
    )
    run.add_argument(
        "--selector",
        metavar="LABELSELECTOR",
        default=None,
        help="serve only DatabaseIndex objects with these labels (filtered by the API server), "
        "e.g. dbindex.dev/shard=a: one shard of several",
    )


def options(args: argparse.Namespace, run: argparse.ArgumentParser) -> peering.Options:
    """The validated peering/sharding options."""
    import random
    import time

    try:
        if args.priority == "auto":
            priority = peering.auto_priority(time.time(), random.randrange(peering.TIEBREAK_RANGE))
        else:
            priority = int(args.priority)
        return peering.Options(
            peering=args.peering,
            identity=_identity(),
            priority=priority,
            lifetime=peering.check_lifetime(args.peering_lifetime),
            selector=None if args.selector is None else peering.check_selector(args.selector),
        )
    except ValueError as exc:
        run.error(str(exc))


def _identity() -> str:
    """This process's peering identity: the pod's name when the Deployment passes it (POD_ID,
    as Kopf reads it), else host, PID and start time."""
    import os
    import socket
    import time

    return os.environ.get("POD_ID") or f"{socket.gethostname()}/{os.getpid()}/{int(time.time())}"


def run(args: argparse.Namespace, options: peering.Options) -> int:
    from dbindex_operator.runtime import allocator

    # Before any thread starts (runtime/allocator.py): two arenas instead of up to 8 per core.
    allocator.limit_arenas(2)
    import kopf

    level = getattr(logging, args.log_level.upper())
    kopf.configure(
        debug=args.log_level == "debug",
        verbose=args.log_level in ("debug", "info"),
        quiet=args.log_level in ("warning", "error"),
    )
    logging.getLogger().setLevel(level)
    # Per-object "handler succeeded" lines cost more than they tell at thousands of objects.
    if args.log_level != "debug":
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    import uvloop

    from dbindex_operator.runtime import handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        loop=uvloop.new_event_loop(),
        standalone=options.peering is None,
        peering_name=options.peering,
        priority=options.priority,
        identity=cast(Any, options.identity or None),  # kopf's Identity: a NewType of str
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
        memo=kopf.Memo(options=options),  # runtime/handlers.startup applies the rest
    )
    return 0
