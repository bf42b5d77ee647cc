"""The one Markdown table emitter of results/: the tables of results.tables (results/tables/*.md) and the README block
of results.summary are all written by :func:`markdown_table`.

A table is a header line, a ``|---|---|`` separator with one ``---`` per column, and one line per row, every cell
padded by one space (``| a | b |``). Optionally a ``### title`` heading above it, a placeholder row when there are
no rows, and notes below it after one blank line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def table_line(cells: Sequence[str]) -> str:
    """One header or body line: ``| a | b |``."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def separator_line(n_columns: int) -> str:
    """The line under the header: ``|---|---|`` for two columns."""
    return "|" + "---|" * n_columns


def markdown_table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    notes: Sequence[str] | None = None,
    *,
    title: str | None = None,
    empty: str | None = None,
    hard_breaks: bool = False,
) -> str:
    """The table as text, lines joined by ``\\n`` without a final newline.

    ``title``: a ``### title`` heading and a blank line above the table. ``empty``: with no rows, one row holding
    ``empty`` in its first cell (and nothing in the others) so the table is never headless. ``notes``: ``None`` for
    none; otherwise a blank line after the table and one line per note (an empty sequence still adds the blank line).
    ``hard_breaks`` ends each note with two spaces, a Markdown line break, so the notes render as separate lines.
    """
    lines = [] if title is None else [f"### {title}", ""]
    lines += [table_line(header), separator_line(len(header))]
    body = [table_line(r) for r in rows]
    if not body and empty is not None:
        body = [table_line([empty] + [""] * (len(header) - 1))]
    lines += body
    if notes is not None:
        lines += [""] + [f"{n}  " if hard_breaks else n for n in notes]
    return "\n".join(lines)
