"""Deciding: what one object's catalog state asks for. core/plan.decide with its inputs
gathered (the desired definition, our history, the maintenance window, the clock), turned into
an executor, or into a report when the answer is only something to say.

The scheduler (runtime/scheduler.py) decides when to look and with which resources; this says
what to do about each object it looks at.
"""

from __future__ import annotations

import datetime

from dbindex_operator.core import catalog, definitions, plan
from dbindex_operator.runtime import executors, tracking
from dbindex_operator.runtime.executors import base


def decide(
    ctx: base.Context, tracked: tracking.Tracked, state: catalog.IndexState
) -> tuple[base.Executor | None, bool]:
    """plan.decide's executor (None: it was only reported) and whether to look again soon."""
    spec = tracked.spec
    assert spec is not None
    if tracked.desired is None and not definitions.needs_probe(spec):
        tracked.desired = definitions.local_signature(spec)
    config = ctx.config
    history = tracked.history(ctx.clock())
    window = spec.window or config.default_window
    now = datetime.datetime.now(datetime.UTC)
    action = plan.decide(
        spec,
        state,
        tracked.desired,
        history,
        now=now,
        window=window,
        verify_every=config.verify_interval,
        reindex_cooldown=config.reindex_cooldown,
    )
    tracked.wait_for_window(action, window, now, ctx.clock())
    executor = executors.for_action(ctx, tracked, action, state)
    if executor is not None:
        return executor, isinstance(action, plan.Probe)
    return None, ctx.reporter.decision(tracked, action, state)
