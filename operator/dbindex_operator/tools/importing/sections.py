"""The "up" part of a migration file that holds both directions: goose (``-- +goose Up`` /
``-- +goose Down``; ``-- +goose StatementBegin`` / ``StatementEnd`` are comments to the parser,
which splits statements itself) and dbmate (``-- migrate:up`` / ``-- migrate:down``).

Everything outside the up section is blanked (each character a space, line breaks kept), so
line numbers stay those of the file.
"""

from __future__ import annotations

import re
from typing import Final

GOOSE: Final = "goose"
DBMATE: Final = "dbmate"

_MARKERS: Final = {
    GOOSE: re.compile(r"^[ \t]*--[ \t]*\+goose[ \t]+(up|down)\b", re.IGNORECASE | re.MULTILINE),
    DBMATE: re.compile(r"^[ \t]*--[ \t]*migrate:(up|down)\b", re.MULTILINE),
}
# Every annotation line of the tool; blanked too, so that none becomes a description.
_ANNOTATIONS: Final = {
    GOOSE: re.compile(r"^[ \t]*--[ \t]*\+goose\b.*$", re.IGNORECASE | re.MULTILINE),
    DBMATE: re.compile(r"^[ \t]*--[ \t]*migrate:.*$", re.MULTILINE),
}


def marked_tool(sql: str) -> str | None:
    """``goose`` or ``dbmate`` when the text has that tool's up/down markers, else None."""
    for tool, marker in _MARKERS.items():
        if marker.search(sql):
            return tool
    return None


def up_section(sql: str, tool: str) -> tuple[str, bool]:
    """The text with all but its up section(s) blanked, and whether it had an up marker at all
    (without one the tool runs nothing from the file)."""
    marker = _MARKERS[tool]
    chars = list(sql)
    keep, found, last = False, False, 0
    for match in marker.finditer(sql):
        if not keep:
            _blank(chars, last, match.start())
        keep = match.group(1).lower() == "up"
        found = found or keep
        last = match.start()
    if not keep:
        _blank(chars, last, len(sql))
    for match in _ANNOTATIONS[tool].finditer(sql):
        _blank(chars, match.start(), match.end())
    return "".join(chars), found


def _blank(chars: list[str], start: int, end: int) -> None:
    for k in range(start, end):
        if chars[k] not in "\n\r":
            chars[k] = " "
