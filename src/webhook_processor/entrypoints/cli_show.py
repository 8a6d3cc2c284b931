"""How the CLI shows things: tables that fit the terminal, and progress on long work, with rich.

rich is imported when something is shown, not when `whp` starts: `whp --help` and the commands
that print a line or two do not pay for it (bench/cli_startup.py measures the start-up).
On a terminal a table fits its width (long cells are cut with an ellipsis, ids and times never
are) and progress is a live bar
on stderr; piped, a table is plain columns of full width, one row a line, and progress is not
drawn (the command's summary line says what was done, always).
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import TextIO

Advance = Callable[[int], None]
PIPED_WIDTH = 1 << 16  # no wrapping when piped: a row stays one line for grep and cut

# Control characters as escapes: cells hold senders' text (event types, keys), which must not
# move the cursor, retitle the terminal or start a row of its own. rich strips only a few.
_ESCAPED = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]} | {
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
}


def escaped(text: str) -> str:
    return text.translate(_ESCAPED)


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    empty: str,
    *,
    whole: Collection[int] = (0,),
    stream: TextIO | None = None,
) -> None:
    """Columns under `header`; the columns at `whole` (ids, times) are never wrapped; `empty`
    below the header when there are no rows."""
    from rich.console import Console  # noqa: PLC0415 - lazily: see the module docstring
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    out = stream if stream is not None else sys.stdout
    terminal = Console(file=out).is_terminal
    buffer = io.StringIO()
    console = Console(
        file=out if terminal else buffer,
        width=None if terminal else PIPED_WIDTH,
        highlight=False,
        emoji=False,
        markup=False,
    )
    shown = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for i, name in enumerate(header):
        widest = max((len(escaped(row[i])) for row in rows), default=0)
        if i in whole:
            shown.add_column(name, no_wrap=True, min_width=max(widest, len(name)))
        else:  # narrowed to fit (to 8 at least); a word too long for it ends in an ellipsis
            shown.add_column(name, overflow="ellipsis", min_width=min(widest, len(name), 8))
    for row in rows:
        shown.add_row(*(Text(escaped(cell)) for cell in row))
    console.print(shown)
    if not terminal:  # rich pads every cell: strip what it leaves at the end of each line
        out.write("".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines()))
    if not rows:
        print(empty, file=out)


@contextlib.contextmanager
def progress(label: str, total: int | None, stream: TextIO | None = None) -> Iterator[Advance]:
    """A live progress bar on stderr while it is a terminal (a running count without `total`);
    yields the function to call with the number of items each step did."""
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        yield _nothing
        return
    from rich.console import Console  # noqa: PLC0415 - lazily: see the module docstring
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if total is not None
        else [SpinnerColumn(), TextColumn("{task.description} {task.completed}")]
    )
    with Progress(*columns, TimeElapsedColumn(), console=Console(file=out)) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _nothing(n: int) -> None:
    pass
