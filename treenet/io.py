"""Save and load networks as treenet programs.

A saved file is the text of `net.funcify(params="p")` between a header comment and an `# end`
line:

    # treenet network: 2 inputs, 3 parameters
    input x, y
    p0 = p(0.5488135039273248)
    p1 = p(0.7151893663303304)
    p2 = p(0.6027633760716439)
    sigmoid(p0*x + p1*y + p2)
    # end

`input` fixes the order of `.inputs`, the bindings fix the order of `.parameters`, and every
value is written with repr, which parses back to the same float: a loaded network predicts bit
for bit like the saved one and prints the same formula. The `# end` line is how `load` tells a
complete file from a truncated one that happens to parse.

`save` writes a temp file in the target's folder and renames it over the target, so a reader (or
another thread saving to the same path) never sees a half-written file, and a failed save leaves
the old file as it was. `load` reads regular files only, up to `MAX_FILE_BYTES`."""

import contextlib
import io
import math
import os
import secrets
import stat

from .errors import FileError, ParseError, TreenetError
from .nodes import Constant, check_network, leaf_float
from .printer import check_names

HEADER = "# treenet network"
TRAILER = "# end"

#: the largest file `load` reads unless told otherwise (`max_bytes=`): a saved network takes
#: about 20 bytes a node, so the parser's limit of a million nodes fits well inside it
MAX_FILE_BYTES = 64 * 2 ** 20

_O_BINARY = getattr(os, "O_BINARY", 0)      # Windows: no newline translation below Python
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after the stat must not block


# --- text --------------------------------------------------------------------------------------

def dumps(net):
    """The text `save` writes."""
    check_network(net, "dumps(network)")
    graph = net.graph
    check_names(graph.inputs + graph.parameters, "saving")
    _check_values(graph)
    body = net.funcify(params="p")
    counts = f"{len(graph.inputs)} input{'s' * (len(graph.inputs) != 1)}, " \
             f"{len(graph.parameters)} parameter{'s' * (len(graph.parameters) != 1)}"
    return f"{HEADER}: {counts}\n{body}\n{TRAILER}\n"


def loads(text, seed=None):
    """The network a saved (or hand-written) program describes."""
    from .parser import parse
    if not isinstance(text, str):
        hint = ": decode them first (data.decode('utf-8')), or load() the file" \
            if isinstance(text, (bytes, bytearray)) else ""
        raise TreenetError(f"loads takes the text of a program (a str), not "
                           f"{type(text).__name__}{hint}")
    if text.startswith(HEADER):
        lines = text.splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines or lines[-1].strip() != TRAILER:
            last = lines[-1] if lines else ""
            raise ParseError(f"the file is truncated: a saved network ends with a {TRAILER!r} "
                             "line", len(lines) or 1, len(last) + 1, text)
    return parse(text, seed=seed)


def _check_values(graph):
    """Only finite numbers have a literal: `inf` would read back as an input named inf."""
    for param in graph.parameters:
        if not math.isfinite(leaf_float(param, param.value)):
            raise TreenetError(f"parameter {param.name} is {param.value!r}: only finite values "
                               "can be saved")
    for k, node in enumerate(graph.nodes):
        if isinstance(node, Constant) and not math.isfinite(leaf_float(node, node.value)):
            raise TreenetError(f"constant {node.value!r}{_where(graph, k)} cannot be saved: "
                               "only finite constants have a literal")


def _where(graph, k):
    """' in <the first expression that reads node k>', or '' for the root."""
    from .printer import describe
    for node, kids in zip(graph.nodes, graph.children):
        if kids is not None and k in kids:
            return f" in {describe(node)}"
    return ""


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --- files -------------------------------------------------------------------------------------

def save(net, path):
    """Write `net` to `path` (a path or an open file) as a treenet program that `load` reads back
    bit-identically. Checks the round trip before writing; on any failure the file at `path` is
    left as it was and no temp file remains."""
    check_network(net, "save(network, path)", other=path)
    text = dumps(net)
    _check_round_trip(net, text)
    if hasattr(path, "write"):
        _write_stream(path, text)
    else:
        write_file(file_path(path, "save(network, path)"), text)


def load(path, seed=None, max_bytes=MAX_FILE_BYTES):
    """Read a network saved by `save` (or any treenet program: `seed` then fixes the random
    initial values of bare `p`) from a path or an open file. Bad or truncated files raise
    ParseError with line and column; a path that is not a regular file of at most `max_bytes`
    bytes raises FileError."""
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise TreenetError(f"load: max_bytes is {_short(max_bytes)}; expected a whole number of "
                           f"bytes >= 0 (the default is {MAX_FILE_BYTES})")
    if hasattr(path, "read"):
        name = getattr(path, "name", None)
        try:
            data = path.read(max_bytes + 1)
        except (OSError, ValueError) as exc:  # closed, or opened for writing
            raise _stream_error("load from", path, exc) from exc
        if not isinstance(data, (str, bytes)):
            raise TreenetError(f"load: reading {_short(path)} gave {type(data).__name__}, "
                               "not text or bytes")
        if len(data) > max_bytes:
            what = _shown(name) if name is not None else f"from the {type(path).__name__}"
            raise _too_big(what, max_bytes, name)
    else:
        name = file_path(path, "load")
        data = _read_file(name, max_bytes)
    if isinstance(data, bytes):
        data = _decode(data, name)
    if data.startswith("\ufeff"):
        data = data[1:]
    return loads(data, seed=seed)


def _check_round_trip(net, text):
    try:
        loaded = loads(text)
    except TreenetError as exc:
        raise TreenetError(f"this network prints as a program that does not parse back: {exc}") \
            from None
    wrote, read = net.funcify(params="p"), loaded.funcify(params="p")
    if read != wrote:  # a printer bug: show the first line that differs, for the report
        lines = zip(wrote.splitlines() + [""], read.splitlines() + [""])
        wrote, read = next(((w, r) for w, r in lines if w != r), (wrote, read))
        raise TreenetError("this network prints as a program that reads back as another "
                           f"network, so it is not saved: {_short(wrote, 120)} reads back as "
                           f"{_short(read, 120)}")


def file_path(path, call):
    """`path` as a str (bytes and os.PathLike accepted); anything else, or a path holding a NUL,
    is a TreenetError that names the function `call`."""
    if isinstance(path, (str, bytes, os.PathLike)):
        path = os.fsdecode(os.fspath(path))
        if "\0" in path:
            raise TreenetError(f"{call}: the path {path!r} contains a NUL character")
        return path
    raise TreenetError(f"{call} takes a file path or an open file, not {_short(path)}: give a "
                       "file name such as 'net.tn' (a str or pathlib.Path)")


def _shown(path):
    return repr(os.fsdecode(path)) if isinstance(path, (str, bytes, os.PathLike)) \
        else _short(path)


def _too_big(what, max_bytes, path):
    mib = max_bytes / 2 ** 20
    limit = f"{max_bytes} bytes" + (f" ({mib:g} MiB)" if mib >= 1 else "")
    return FileError(f"cannot load {what}: over the limit of {limit} (pass max_bytes= to load a "
                     "bigger file)", path)


def _write_stream(stream, text):
    try:
        try:
            stream.write(text)
        except TypeError:  # a binary stream: the file format is UTF-8
            stream.write(text.encode("utf-8"))
    except (OSError, ValueError) as exc:  # closed, or opened for reading (UnsupportedOperation)
        raise _stream_error("save to", stream, exc) from exc


def _stream_error(doing, stream, exc):
    """The FileError for an open file that cannot be written or read: closed, or the wrong mode."""
    name = getattr(stream, "name", None)
    what = _shown(name) if isinstance(name, (str, bytes, os.PathLike)) else _short(stream)
    saving = doing == "save to"
    if getattr(stream, "closed", False):
        why = "it is closed"
    elif isinstance(exc, io.UnsupportedOperation):
        why = f"it is not open for {'writing' if saving else 'reading'}"
    else:
        why = _reason(exc) if isinstance(exc, OSError) else str(exc)
    return FileError(f"cannot {doing} the open file {what}: {why} (give a file opened with "
                     f"{'w' if saving else 'r'!r}, or a path)", name)


def check_save_path(path):
    """Raise the FileError `save(net, path)` would raise for the place itself (a folder, a missing
    folder), so a caller can refuse a bad target before spending time on training."""
    path = file_path(path, "save")
    _target_folder(path)
    return path


def _target_folder(path):
    folder, base = os.path.split(path)
    folder = folder or os.curdir
    if not base:
        raise FileError(f"cannot save to {path!r}: give a file name, not a folder", path)
    if os.path.isdir(path):
        raise FileError(f"cannot save to {path!r}: it is a directory; give a file name, e.g. "
                        f"{os.path.join(path, 'net.tn')!r}", path)
    if not os.path.isdir(folder):
        raise FileError(f"cannot save to {path!r}: the folder {folder!r} does not exist", path)
    return folder, base


def write_file(path, text):
    """Write `text` (a str, as UTF-8, or bytes) to a fresh temp file beside `path`, then rename
    it over `path` (atomic): no reader ever sees a half-written file, and a failed write leaves
    no temp file behind. Every file treenet writes (networks, pictures, plots, ONNX) goes here."""
    folder, base = _target_folder(path)
    try:
        fd, tmp = _create_temp(folder, base)
    except OSError as exc:
        raise FileError(f"cannot save to {path!r}: {_reason(exc)}", path) from exc
    try:
        with (os.fdopen(fd, "wb") if isinstance(text, bytes) else
              os.fdopen(fd, "w", encoding="utf-8", newline="\n")) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # the rename must not land before the data (power loss)
        os.replace(tmp, path)
    except BaseException as exc:  # even ^C: never leave the temp file behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise FileError(f"cannot save to {path!r}: {_reason(exc)}", path) from exc
        raise


def _create_temp(folder, base):
    """(fd, name) of a new file in `folder`, unique per call (threads and processes alike).
    Unlike tempfile.mkstemp, the mode honours the umask, as a plain open() would."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name in {folder!r}")


def _read_file(path, max_bytes):
    """The bytes of a regular file of at most `max_bytes` bytes; a FileError otherwise."""
    try:
        _check_regular(path, os.stat(path), max_bytes)
        fd = os.open(path, os.O_RDONLY | _O_BINARY | _O_NONBLOCK)
    except OSError as exc:
        raise FileError(f"cannot load {path!r}: {_reason(exc)}", path) from exc
    with os.fdopen(fd, "rb") as f:
        _check_regular(path, os.fstat(fd), max_bytes)  # the file opened is the one checked
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew since the stat
        raise _too_big(repr(path), max_bytes, path)
    return data


def _check_regular(path, st, max_bytes):
    if stat.S_ISDIR(st.st_mode):
        raise FileError(f"cannot load {path!r}: it is a directory, not a file", path)
    if not stat.S_ISREG(st.st_mode):
        raise FileError(f"cannot load {path!r}: not a regular file (a {_kind(st.st_mode)}); "
                        "load reads regular files only", path)
    if st.st_size > max_bytes:
        raise _too_big(f"{path!r}: its {st.st_size} bytes", max_bytes, path)


def _kind(mode):
    kinds = [(stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
             (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")]
    return next((name for test, name in kinds if test(mode)), "special file")


def _reason(exc):
    """'no such file', 'permission denied', ...: the OSError's own words, lower-cased."""
    if isinstance(exc, FileNotFoundError):
        return "no such file or folder"
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def _decode(data, name):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        what = _shown(name) if name is not None else "the file"
        raise ParseError(f"{what} is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be "
                         "decoded (save it as UTF-8)", line, column) from exc


__all__ = ["save", "load", "dumps", "loads", "MAX_FILE_BYTES", "file_path", "check_save_path",
           "write_file"]
