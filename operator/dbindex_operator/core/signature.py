"""The definition of an index as catalog facts (a *signature*), as one SQL expression: what the
operator compares instead of pg_get_indexdef text. Text forms come from PostgreSQL itself, so the
desired signature can be produced by the same SQL on a scratch build (catalog.PROBE_SIGNATURE)."""

from __future__ import annotations

from typing import Final

# The definition facts of the index whose pg_index row is aliased `x`. Text forms come from
# PostgreSQL itself, so our desired signature can be produced by the same SQL (see PROBE_*).


def signature_of(alias: str) -> str:
    """The SIGNATURE expression for the pg_index row aliased `alias`."""
    return _SIGNATURE_OF_X.replace("x.", f"{alias}.")


# The definition facts of the index whose pg_index row is aliased `x`. indnullsnotdistinct exists
# from PostgreSQL 15 on: read through to_jsonb, it is simply absent (false) on 14.
_SIGNATURE_OF_X: Final = """
    json_build_object(
        'method', (SELECT am.amname FROM pg_class ic JOIN pg_am am ON am.oid = ic.relam
                   WHERE ic.oid = x.indexrelid),
        'unique', x.indisunique,
        'nullsNotDistinct', COALESCE((to_jsonb(x.*) ->> 'indnullsnotdistinct')::boolean, false),
        'keys', (
            SELECT json_agg(json_build_array(
                pg_get_indexdef(x.indexrelid, k.n, false),
                CASE WHEN opc.opcdefault THEN NULL ELSE opc.opcname END,
                CASE WHEN x.indcollation[k.n - 1] = 0
                       OR x.indcollation[k.n - 1] = att.attcollation THEN NULL
                     ELSE coll.collname END,
                (x.indoption[k.n - 1] & 1) <> 0,
                (x.indoption[k.n - 1] & 2) <> 0
            ) ORDER BY k.n)
            FROM generate_series(1, x.indnkeyatts) AS k(n)
            LEFT JOIN pg_opclass opc ON opc.oid = x.indclass[k.n - 1]
            LEFT JOIN pg_collation coll ON coll.oid = x.indcollation[k.n - 1]
            LEFT JOIN pg_attribute att
                   ON att.attrelid = x.indrelid AND att.attnum = x.indkey[k.n - 1]
                  AND x.indkey[k.n - 1] <> 0
        ),
        'include', COALESCE((
            SELECT json_agg(pg_get_indexdef(x.indexrelid, k.n, false) ORDER BY k.n)
            FROM generate_series(x.indnkeyatts + 1, x.indnatts) AS k(n)
        ), '[]'::json),
        'predicate', pg_get_expr(x.indpred, x.indrelid),
        'reloptions', (SELECT array_to_json(ARRAY(SELECT unnest(ic.reloptions) ORDER BY 1))
                       FROM pg_class ic WHERE ic.oid = x.indexrelid),
        'tablespace', (SELECT ts.spcname FROM pg_class ic JOIN pg_tablespace ts
                       ON ts.oid = ic.reltablespace WHERE ic.oid = x.indexrelid)
    )
"""
SIGNATURE: Final = _SIGNATURE_OF_X
