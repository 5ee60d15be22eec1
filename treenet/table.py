"""Training data from a CSV file: the columns are matched to a network's inputs by the header's
names, the target taken from the named column(s). Read with the standard library's `csv`."""

import csv
import difflib
import math

from .errors import FileError, TreenetError


def read_csv(path, inputs, targets=None):
    """[(input values in `inputs` order, target), ...] from the CSV file at `path`, whose first
    row names the columns. `inputs`: the input names; `targets`: the target column names (one
    gives a number per row, several a list), or None for the one column that is not an input."""
    header, rows = _read(path)
    where = _columns(header, path)
    columns = [_column(where, name, header, path, "input") for name in inputs]
    if targets is None:
        targets = _default_target(header, inputs, path)
    wanted = [_column(where, name, header, path, "target") for name in targets]
    data = []
    for line, row in rows:
        if len(row) > len(header) and not any(c.strip() for c in row[len(header):]):
            row = row[:len(header)]  # a trailing comma (some spreadsheets write one)
        if len(row) != len(header):
            raise TreenetError(f"{path}, line {line}: {len(row)} cells under a header of "
                               f"{len(header)} columns (a decimal comma, or a cell missing? "
                               "treenet reads ',' between cells and '.' in numbers)")
        values = [_cell(row, k, header, line, path) for k in columns]
        target = [_cell(row, k, header, line, path) for k in wanted]
        data.append((values, target[0] if len(target) == 1 else target))
    if not data:
        raise TreenetError(f"{path}: no data rows below the header")
    return data


def _read(path):
    """The header and the (line number, cells) of every non-blank row after it."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except UnicodeDecodeError as exc:
        raise FileError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                        path) from exc
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror or exc}", path) from exc
    except csv.Error as exc:
        raise TreenetError(f"{path} is not a CSV file: {exc}") from exc
    if not rows:
        raise TreenetError(f"{path} is empty: it needs a header row naming the columns")
    return [c.strip() for c in rows[0][1]], rows[1:]


def _columns(header, path):
    where = {}
    if len(header) == 1:
        for sep in (";", "\t", "|"):
            if sep in header[0]:
                raise TreenetError(f"{path}: the header is one column, {header[0]!r}: the file "
                                   f"seems separated by {sep!r}; treenet reads comma-separated "
                                   "values (x,y,label)")
    for k, name in enumerate(header):
        if not name:
            raise TreenetError(f"{path}: column {k + 1} of the header has no name; every column "
                               "needs one")
        if name in where:
            raise TreenetError(f"{path}: the header names column {name!r} twice")
        where[name] = k
    return where


def _default_target(header, inputs, path):
    rest = [name for name in header if name not in set(inputs)]
    if len(rest) != 1:
        raise TreenetError(f"{path}: say which column is the target (--target NAME); the columns "
                           f"that are not inputs are {', '.join(rest) or 'none'}")
    return rest


def _column(where, name, header, path, role):
    if name in where:
        return where[name]
    close = difflib.get_close_matches(name, header, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise TreenetError(f"{path} has no column {name!r} for the {role}{hint} (its header: "
                       f"{', '.join(header)})")


def _cell(row, k, header, line, path):
    """The number in column k of a row; the error names the row (the file's line) and column."""
    text = row[k].strip()  # read_csv checked that every row is as wide as the header
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        shown = repr(text) if text else "empty"
        raise TreenetError(f"{path}, line {line}, column {header[k]!r}: {shown} is not a finite "
                           "number")
    return value


__all__ = ["read_csv"]
