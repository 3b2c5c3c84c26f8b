"""``Compare``: PyTorch's table of benchmark results (``torch.utils.benchmark.Compare``).

One table per ``label`` (in order of first appearance). Rows are the measurements'
``sub_label`` (else their statement), in blocks of equal ``num_threads`` (ascending), prefixed
with ``(env)`` where a table mixes environments; columns are the ``description`` values.
Replicates of one task (equal TaskSpecs) are merged first. Each table shows medians in the
unit of its smallest median, one decimal by default; ``trim_significant_figures`` rounds each
to its ``Measurement.significant_figures``, ``highlight_warnings`` marks noisy cells with
``(! XX%)`` (IQR / median), and ``colorize`` colours each cell against the best in its column
(within a thread block) or row, as PyTorch does.
"""

import enum
import math

from .common import Measurement, ordered_unique, select_unit, trim_sigfig, unit_to_english

__all__ = ["Colorize", "Compare"]

BEST = "\033[92m\033[1m"
GOOD = "\033[34m\033[1m"
BAD = "\033[2m\033[91m"
VERY_BAD = "\033[31m\033[1m"
TERMINATE = "\033[0m\033[0m"
_WARNING_FOOTNOTE = ("(! XX%) Measurement has high variance, where XX is the IQR / median * "
                     "100.")


class Colorize(enum.Enum):
    NONE = "none"
    COLUMNWISE = "columnwise"
    ROWWISE = "rowwise"


def _color(value, best):
    """The escape codes of a cell whose median is ``value`` against the ``best`` one."""
    if value <= best * 1.01 or value <= best + 100e-9:
        return BEST
    if value <= best * 1.1:
        return GOOD
    if value >= best * 5:
        return VERY_BAD
    if value >= best * 2:
        return BAD
    return ""


def _leading_digits(value):
    """ceil(log10(value)): 0 for 1.0 and negative below 0.1, as PyTorch counts them (the
    width of a cell never goes below its text)."""
    return math.ceil(math.log10(value)) if value > 0 else 1


class Compare:
    """A table of ``results`` (Measurements); ``print()`` or ``str()`` shows it."""

    def __init__(self, results):
        self._results = []
        self.extend_results(results)
        self._trim_significant_figures = False
        self._colorize = Colorize.NONE
        self._highlight_warnings = False

    def __str__(self):
        return "\n".join(self._render())

    def extend_results(self, results):
        """Append ``results`` (Measurements) to the table's."""
        results = list(results)
        for r in results:
            if not isinstance(r, Measurement):
                raise ValueError(f"Compare: expected an instance of `Measurement`, got "
                                 f"{type(r)} instead.")
        self._results.extend(results)

    def trim_significant_figures(self):
        """Round each cell to the figures its measurement supports."""
        self._trim_significant_figures = True

    def colorize(self, rowwise=False):
        """Colour cells against the best of their column (default) or row."""
        self._colorize = Colorize.ROWWISE if rowwise else Colorize.COLUMNWISE

    def highlight_warnings(self):
        """Mark cells whose IQR is a large part of their median."""
        self._highlight_warnings = True

    def print(self):
        print(str(self))

    def _render(self):
        groups = {}
        for m in Measurement.merge(self._results):
            groups.setdefault(m.label, []).append(m)
        return [self._layout(label, group) for label, group in groups.items()]

    def _layout(self, label, group):
        positive = [m.median for m in group if m.median > 0]
        unit, scale = select_unit(min(positive)) if positive else ("s", 1)
        rows = ordered_unique((m.num_threads, m.env, m.as_row_name) for m in group)
        rows.sort(key=lambda r: (r[0], "" if r[1] is None else str(r[1])))
        cols = ordered_unique(m.description for m in group)
        row_of = {r: i for i, r in enumerate(rows)}
        col_of = {c: j for j, c in enumerate(cols)}
        grid = [[None] * len(cols) for _ in rows]
        for m in group:
            grid[row_of[(m.num_threads, m.env, m.as_row_name)]][col_of[m.description]] = m

        cells = [[""] * len(cols) for _ in rows]
        for j in range(len(cols)):
            self._format_column(grid, cells, j, scale)

        envs = ordered_unique(r[1] for r in rows)
        env_str = {e: f"({e})" if e else "" for e in envs}
        env_width = max(len(s) for s in env_str.values())
        names, last_env, last_threads = [], object(), None
        for threads, env, name in rows:
            if threads != last_threads:
                last_threads, last_env = threads, object()
            if len(envs) > 1:
                shown = env_str[env] if env != last_env else ""
                names.append(f"  {shown:<{env_width}}  {name}")
            else:
                names.append(f"      {name}")
            last_env = env
        headers = ["" if c is None else str(c) for c in cols]
        name_width = max(len(n) for n in names)
        widths = [max([len(h)] + [len(row[j]) for row in cells]) for j, h in enumerate(headers)]

        header = " " * name_width + "".join(f"  |  {h.center(w)}" for h, w in zip(headers, widths))
        total = len(header)
        title = "[" + f" {'' if label is None else label} ".center(total - 2, "-") + "]"
        lines = [title, header]
        last_threads = None
        for i, (threads, _, _) in enumerate(rows):
            if threads != last_threads:
                last_threads = threads
                lines.append(f"{threads} threads: ".ljust(total, "-"))
            line = names[i].ljust(name_width)
            for j, w in enumerate(widths):
                text = cells[i][j].center(w)
                color = self._cell_color(grid, rows, i, j)
                line += "  |  " + (f"{color}{text}{TERMINATE}" if color else text)
            lines.append(line)
        lines += ["", f"Times are in {unit_to_english(unit)}s ({unit})."]
        if self._highlight_warnings and any(m.has_warnings for m in group):
            lines.append(_WARNING_FOOTNOTE)
        lines.append("")
        return "\n".join(lines)

    def _format_column(self, grid, cells, j, scale):
        entries = [(i, row[j]) for i, row in enumerate(grid) if row[j] is not None]
        if not entries:
            return
        values = {i: m.median / scale for i, m in entries}
        digits = {i: _leading_digits(v) for i, v in values.items()}
        if self._trim_significant_figures:
            decimals = max(min(m.significant_figures - digits[i] for i, m in entries), 0)
        else:
            decimals = 1
        width = max(max(digits.values()), 1) + decimals + (1 if decimals else 0)
        highlight = self._highlight_warnings and any(m.has_warnings for _, m in entries)
        for i, m in entries:
            value = values[i]
            if self._trim_significant_figures:
                value = trim_sigfig(value, m.significant_figures)
            text = f"{value:.{decimals}f}".rjust(width)
            if highlight:
                warning = f" (! {m._rel_iqr() * 100:.0f}%)" if m.has_warnings else ""
                text += warning.rjust(7)
            cells[i][j] = text

    def _cell_color(self, grid, rows, i, j):
        m = grid[i][j]
        if m is None or self._colorize is Colorize.NONE:
            return ""
        if self._colorize is Colorize.ROWWISE:
            peers = [x for x in grid[i] if x is not None]
        else:  # the column, within this row's thread block
            peers = [grid[k][j] for k, r in enumerate(rows)
                     if r[0] == rows[i][0] and grid[k][j] is not None]
        return _color(m.median, min(x.median for x in peers))
