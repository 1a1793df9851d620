"""Scenario 7: the Secret deleted and recreated, and rotated to a new password.

The local server trusts everyone; for this scenario the members of the role `faults_group`
must give a password (a scram-sha-256 line at the top of pg_hba.conf, added once, reloaded;
PostgreSQL 15 has no regular expressions for user names there, hence the group). Each run: a
role and a database it owns; object a is Ready; the Secret is deleted, object b waits
(SecretNotFound), the Secret comes back, b is Ready (recovery 1); the password is changed in
PostgreSQL and the role's sessions are ended, object c fails to connect, the Secret is rotated,
c is Ready (recovery 2). Neither password may appear in the operator's log, any status, or any
Event.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from urllib.parse import urlsplit

from tests.harness import pg

from faults.context import Context, Run, indexes_on, invalid_indexes, reason

GROUP = "faults_group"
HBA_LINE = f"host all +{GROUP} 127.0.0.1/32 scram-sha-256"


def require_passwords(ctx: Context) -> None:
    """Idempotent: the scram line for members of GROUP at the top of pg_hba.conf, reloaded."""
    if not pg.query(ctx.admin, "SELECT 1 FROM pg_roles WHERE rolname = $1", GROUP):
        pg.execute(ctx.admin, f"CREATE ROLE {GROUP} NOLOGIN")
    hba = ctx.postgres.data / "pg_hba.conf"
    text = hba.read_text()
    if HBA_LINE not in text:
        hba.write_text(f"# faults/secrets.py\n{HBA_LINE}\n{text}")
        pg.query(ctx.admin, "SELECT pg_reload_conf()")


def _dsn(ctx: Context, role: str, password: str, dbname: str) -> str:
    url = urlsplit(ctx.admin)
    return f"postgresql://{role}:{password}@{url.hostname}:{url.port}/{dbname}"


def _spec(column: str) -> dict[str, object]:
    return {
        "connection": {"secretRef": {"name": "db"}},
        "table": "t",
        "columns": [{"column": column}],
    }


def rotation(ctx: Context) -> Run:
    require_passwords(ctx)
    run = Run()
    role = f"fault_{uuid.uuid4().hex[:8]}"
    first, second = secrets.token_hex(12), secrets.token_hex(12)
    pg.execute(ctx.admin, f"CREATE ROLE {role} LOGIN PASSWORD '{first}' IN ROLE {GROUP}")
    try:
        dsn = ctx.database(owner=role)
        dbname = dsn.rsplit("/", 1)[1]
        pg.execute(dsn, f"CREATE TABLE t (a int, b int, c int); ALTER TABLE t OWNER TO {role}")
        namespace = ctx.namespace()
        log_from = _log_size(ctx)
        ctx.kube.secret(namespace, "db", {"dsn": _dsn(ctx, role, first, dbname)})
        ctx.kube.create(namespace, "t-a", _spec("a"))
        ctx.wait_ready(namespace, "t-a")

        # A new object while the Secret is gone: it waits (SecretNotFound), or is built on the
        # connection the operator already holds; either way it must not fail or get stuck.
        ctx.kube.core.delete_namespaced_secret("db", namespace)
        ctx.kube.create(namespace, "t-b", _spec("b"))
        status, _ = ctx.wait(namespace, "t-b", lambda s: bool(s.get("phase")), 60, "a status")
        run.figures["without_secret"] = reason(status)
        ctx.kube.secret(namespace, "db", {"dsn": _dsn(ctx, role, first, dbname)})
        back = time.monotonic()
        recreated = ctx.wait_ready(namespace, "t-b") - back

        pg.execute(ctx.admin, f"ALTER ROLE {role} PASSWORD '{second}'")
        pg.query(
            ctx.admin,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
            role,
        )
        ctx.kube.create(namespace, "t-c", _spec("c"))
        status, _ = ctx.wait(
            namespace,
            "t-c",
            lambda s: bool(s.get("phase")) and s.get("phase") != "Ready",
            60,
            "a connection failure",
        )
        run.figures["old_password"] = reason(status)
        ctx.kube.secret(namespace, "db", {"dsn": _dsn(ctx, role, second, dbname)})
        rotated_at = time.monotonic()
        rotated = ctx.wait_ready(namespace, "t-c") - rotated_at

        run.ok = True
        run.recover_s = round(max(recreated, rotated), 3)
        run.figures.update(recreated_s=round(recreated, 3), rotated_s=round(rotated, 3))
        run.leaks = _leaks(ctx, namespace, log_from, (first, second))
        run.invalid_left = invalid_indexes(dsn)
        run.duplicate_builds = max(0, indexes_on(dsn, "t") - 3)
    finally:
        ctx.clean()
        pg.execute(ctx.admin, f"DROP ROLE IF EXISTS {role}")
    return run


def _log_size(ctx: Context) -> int:
    assert ctx.operator is not None
    try:
        return ctx.operator.log_path.stat().st_size
    except OSError:
        return 0


def _leaks(ctx: Context, namespace: str, log_from: int, passwords: tuple[str, ...]) -> int:
    """Places a password shows up: the operator's log, each object's status, each Event."""
    assert ctx.operator is not None
    with ctx.operator.log_path.open("rb") as log:
        log.seek(log_from)
        places = [log.read().decode(errors="replace")]
    for name in ("t-a", "t-b", "t-c"):
        places.append(json.dumps(ctx.kube.get(namespace, name)))
    for event in ctx.kube.events(namespace):
        places.append(f"{event.reason} {event.message}")
    return sum(1 for place in places for password in passwords if password in place)
