"""Plain-text tables for ``trace.table()`` and ``watch.summary()``."""


class Text(str):
    """A string that a REPL shows as text, not as a quoted literal with \\n escapes."""

    def __repr__(self):
        return str(self)


def format_table(title, header, rows, numeric=()):
    """``title`` over the aligned ``rows`` (lists of strings) under ``header``; columns whose index
    is in ``numeric`` are right-aligned."""
    rows = [list(header)] + [list(r) for r in rows]
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if c in numeric else cell.ljust(w)
                       for c, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]
    return Text("\n".join([title] + lines))


def shape_text(shape):
    """``(2, 3)``, ``(3,)``, ``()``: a shape as Python writes a tuple."""
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
