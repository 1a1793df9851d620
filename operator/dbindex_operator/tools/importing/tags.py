"""Readable names for the statements the importer skips (``skipped ALTER TABLE statement``),
close to PostgreSQL's command tags, from pglast's statement nodes."""

from __future__ import annotations

import re
from typing import Any, Final

from pglast import ast, enums

_OBJECT_WORDS: Final = {
    enums.ObjectType.OBJECT_MATVIEW: "MATERIALIZED VIEW",
    enums.ObjectType.OBJECT_FOREIGN_TABLE: "FOREIGN TABLE",
}
_TRANSACTION_TAGS: Final = {"START": "START TRANSACTION", "PREPARE": "PREPARE TRANSACTION"}
_TAGS: Final = {
    "CreateStmt": "CREATE TABLE",
    "ViewStmt": "CREATE VIEW",
    "CreateSeqStmt": "CREATE SEQUENCE",
    "AlterSeqStmt": "ALTER SEQUENCE",
    "CreateTrigStmt": "CREATE TRIGGER",
    "CreateEnumStmt": "CREATE TYPE",
    "CompositeTypeStmt": "CREATE TYPE",
    "RuleStmt": "CREATE RULE",
    "CreatedbStmt": "CREATE DATABASE",
}


def statement_tag(node: ast.Node) -> str:
    """A readable name for a skipped statement, close to PostgreSQL's command tags."""
    name = type(node).__name__
    if isinstance(node, ast.TransactionStmt):
        kind = node.kind.name.removeprefix("TRANS_STMT_") if node.kind is not None else ""
        return _TRANSACTION_TAGS.get(kind, kind.replace("_", " ")) or "TRANSACTION"
    if isinstance(node, ast.VariableSetStmt):
        resets = (enums.VariableSetKind.VAR_RESET, enums.VariableSetKind.VAR_RESET_ALL)
        return "RESET" if node.kind in resets else "SET"
    if isinstance(node, ast.AlterTableStmt):
        return f"ALTER {_object_word(node.objtype)}"
    if isinstance(node, ast.RenameStmt):
        return f"ALTER {_object_word(node.renameType)}"
    if isinstance(node, ast.DropStmt):
        return f"DROP {_object_word(node.removeType)}"
    if isinstance(node, ast.CreateTableAsStmt):
        return f"CREATE {_object_word(node.objtype)}"
    if isinstance(node, ast.CreateFunctionStmt):
        return "CREATE PROCEDURE" if node.is_procedure else "CREATE FUNCTION"
    if isinstance(node, ast.GrantStmt):
        return "GRANT" if node.is_grant else "REVOKE"
    if name in _TAGS:
        return _TAGS[name]
    words = re.findall(r"[A-Z][a-z]*", name.removesuffix("Stmt"))  # CreateExtension -> ...
    return " ".join(words).upper() or name


def _object_word(objtype: Any) -> str:
    kind = enums.ObjectType(objtype)
    return _OBJECT_WORDS.get(kind, kind.name.removeprefix("OBJECT_").replace("_", " "))
