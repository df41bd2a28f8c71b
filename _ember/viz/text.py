"""Plain-text tables for ``trace.table()`` and ``watch.summary()``."""
from ..engine import table


class Text(str):
    """A string that a REPL shows as text, not as a quoted literal with \\n escapes."""

    def __repr__(self):
        return str(self)


def format_table(title, header, rows, numeric=()):
    """``title`` over the aligned ``rows`` (lists of strings) under ``header``; columns whose index
    is in ``numeric`` are right-aligned."""
    return Text(title + "\n" + table.format_table(header, rows, right=numeric))


def shape_text(shape):
    """``(2, 3)``, ``(3,)``, ``()``: a shape as Python writes a tuple."""
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
