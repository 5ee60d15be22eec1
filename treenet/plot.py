"""Training curves: `plot_history` draws a History's loss per epoch (and its accuracy, on a second
axis, when recorded) with matplotlib, an optional extra (`pip install treenet[plot]`) imported
only here, when a plot is asked for."""

import io
import os

from .io import write_file
from .errors import TreenetError

#: the file formats a plot is saved in, by the path's suffix
FORMATS = ("png", "svg", "pdf")


def plot_history(history, path=None):
    """The loss (and accuracy) curve of `history`; with `path` (.png, .svg or .pdf) saved there
    atomically and the path returned, without it the matplotlib Figure returned."""
    fmt = _format(path) if path is not None else None
    if not history.loss:
        raise TreenetError("History.plot: nothing to plot, the history has no epochs")
    figure_class = _matplotlib()
    figure = figure_class(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    epochs = range(1, len(history.loss) + 1)
    lines = axes.plot(epochs, history.loss, color="tab:blue", label=f"loss ({history.loss_name})")
    axes.set_xlabel("epoch")
    axes.set_ylabel(f"loss ({history.loss_name})")
    if min(history.loss) > 0 and max(history.loss) > 100 * min(history.loss):
        axes.set_yscale("log")  # a loss falling by orders of magnitude reads best on a log axis
    if history.accuracy:
        right = axes.twinx()
        lines += right.plot(epochs, history.accuracy, color="tab:orange", label="accuracy")
        right.set_ylabel("accuracy")
        right.set_ylim(-0.02, 1.02)
    axes.legend(lines, [line.get_label() for line in lines], loc="center right")
    axes.set_title(f"training: {len(history.loss)} epochs")
    if path is None:
        return figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    write_file(os.fspath(path), buffer.getvalue())
    return os.fspath(path)


def _format(path):
    try:
        suffix = os.path.splitext(os.fspath(path))[1][1:].lower()
    except TypeError:
        raise TreenetError(f"History.plot: path must be a file name, got {path!r}") from None
    if suffix not in FORMATS:
        raise TreenetError(f"History.plot: cannot tell the format of {os.fspath(path)!r}: the "
                           f"name must end in {', '.join('.' + f for f in FORMATS)}")
    return suffix


def _matplotlib():
    """matplotlib's Figure class. A Figure made directly (not by pyplot) draws with the Agg
    canvas and registers with no GUI, so saving works without a display."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise TreenetError("History.plot needs matplotlib, an optional extra: "
                           "pip install 'treenet[plot]' (or pip install matplotlib)") from exc
    return Figure


__all__ = ["plot_history", "FORMATS"]
