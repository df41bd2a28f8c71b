"""Aligned plain-text tables: what every report in ember prints (traces, watch summaries, model and
load reports, search results)."""


def format_table(header, rows, right=(), rule=False):
    """``rows`` (sequences of strings) aligned in columns under ``header``, two spaces apart; the
    columns whose index is in ``right`` are right-aligned (figures), the others left-aligned.
    ``rule``: a line of dashes under the header. Lines carry no trailing spaces."""
    table = [list(header)] + [list(row) for row in rows]
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]

    def line(row):
        return "  ".join(cell.rjust(w) if c in right else cell.ljust(w)
                         for c, (cell, w) in enumerate(zip(row, widths))).rstrip()
    lines = [line(table[0])] + (["  ".join("-" * w for w in widths)] if rule else [])
    return "\n".join(lines + [line(row) for row in table[1:]])
