"""The same Rows as rendering.py, drawn with rich for a terminal: a real progress bar per object,
the phase coloured, redrawn in place by `--watch` (rich.live). Used only when stdout is a TTY."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from dbindex_operator.core import status as statuses
from dbindex_operator.tools.kubectl_plugin import rendering

PHASE_STYLES = {
    statuses.READY: "green",
    statuses.FAILED: "bold red",
    statuses.BUILDING: "cyan",
    statuses.REPLACING: "cyan",
    statuses.RETRYING: "yellow",
    statuses.WAITING: "yellow",
    statuses.PAUSED: "magenta",
    statuses.DELETING: "dim",
}


def table(rows: Sequence[rendering.Row], *, all_namespaces: bool) -> RenderableType:
    if not rows:
        return Text("No DatabaseIndex objects found.")
    grid = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    if all_namespaces:
        grid.add_column("NAMESPACE")
    for header in rendering.HEADERS:
        grid.add_column(header, no_wrap=header != "POSTGRES PHASE")
    for row in rows:
        cells = rendering.cells(row, with_bar=False)
        progress = Table.grid(padding=(0, 1))
        progress.add_row(
            ProgressBar(total=100, completed=row.percent, width=rendering.BAR_WIDTH),
            Text(cells[2]),
        )
        line: list[RenderableType] = [
            Text(cells[0], style="bold"),
            Text(cells[1], style=PHASE_STYLES.get(row.phase, "")),
            progress,
            *(Text(cell) for cell in cells[3:]),
        ]
        if all_namespaces:
            line.insert(0, Text(row.namespace))
        grid.add_row(*line)
    failed = [r for r in rows if r.phase == statuses.FAILED]
    if not failed:
        return grid
    notes = [Text(f"{r.name}: {r.reason}: {r.message}", style="red") for r in failed]
    return Group(grid, *notes)


def console() -> Console:
    return Console()
