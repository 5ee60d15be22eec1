"""Export a network to ONNX (`treenet.to_onnx`), to run it anywhere onnxruntime runs.

The model has one input `x` of shape (n, n_inputs), `n` symbolic and the columns in `net.inputs`
order, and one output `y` of shape (n,), or (n, k) for a vector output (`[a, b]`, `softmax`);
float64 unless `dtype="float32"`. It is written for ONNX opset `OPSET` (17, in the default
domain, IR version `IR_VERSION`), which onnxruntime 1.12 and later run. Each parameter is an
initializer named as in treenet, a 0-d tensor holding its current value; constants, and the
nodes that depend on constants only (folded by the ops' own value rules), are initializers too.

How the model is made: one walk over the compiled graph (`net.graph`, topological order, so a
shared node is computed once), with no per-op code. Each op class in `treenet.ops` declares its
ONNX form once, as its `onnx` attribute: the name of an ONNX operator that takes the op's
arguments as they are ("Tanh", "Sub", "Max"), or a function `form(b, args)` that builds the
nodes from the argument names with the builder `b` (see `_Builder`: `b.op`, `b.const`, `b.ints`,
`b.batch`) and returns the name of the value. An op without one (a user's op) is a TreenetError.

The values are the engine's to rounding (onnxruntime's exp, tanh and pow differ from math's in
the last bit or two), kinks included: relu, abs, step and sign at exactly 0, ties of max and min.
The exported model computes IEEE values and checks nothing: where `predict` raises an
EvaluationError (log of 0, exp overflowing, division by 0), the model gives -inf, inf or nan."""

import os

from .errors import TreenetError
from .io import check_save_path, file_path, write_file
from .nodes import Input, Parameter, check_network, leaf_float

#: the ONNX operator set the model is written for (default domain)
OPSET = 17
#: the ONNX IR version of that opset (newer IR versions are refused by older runtimes)
IR_VERSION = 8

_DTYPES = {"float64": "DOUBLE", "float32": "FLOAT"}


def to_onnx(net, path=None, dtype="float64"):
    """The ONNX ModelProto of `net` (y = net(x) for a batch x of shape (n, n_inputs)), checked by
    `onnx.checker`; written atomically to `path` as well when one is given (a bad path is a
    FileError, and a failed write leaves the file there as it was)."""
    check_network(net, "to_onnx(network, path)", other=path)
    onnx = _import_onnx()
    dtype = _dtype_name(dtype)
    if path is not None:
        path = _path(path)
    model = _model(onnx, net.graph, dtype)
    onnx.checker.check_model(model)
    if path is not None:
        write_file(path, model.SerializeToString())
    return model


def _path(path):
    """`path` as a str, refused before any work if it cannot be written (a folder, a missing
    folder: FileError) or is not a path at all."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TreenetError(f"to_onnx(network, path): path is a {type(path).__name__}; expected a "
                           "file path (a str or pathlib.Path), or None for the model only")
    return check_save_path(file_path(path, "to_onnx(network, path)"))


def _import_onnx():
    try:
        import onnx
        import onnx.checker
        import onnx.helper
        import onnx.numpy_helper
    except ImportError as exc:
        raise TreenetError("to_onnx needs the onnx package, an optional extra of treenet: "
                           "pip install treenet[onnx] (it installs onnx and onnxruntime)") \
            from exc
    return onnx


def _dtype_name(dtype):
    """'float64' or 'float32' from a name, a numpy dtype or a numpy scalar type."""
    name = getattr(dtype, "__name__", None) or str(getattr(dtype, "name", dtype))
    if name not in _DTYPES:
        raise TreenetError(f"to_onnx: dtype {dtype!r} is not supported; expected 'float64' "
                           "(the default) or 'float32'")
    return name


def form_of(cls):
    """The ONNX form `cls` declares (an operator name or a builder function), or a TreenetError
    naming the op; a form inherited from above a class that redefines `compute` describes
    another op, so it does not count."""
    form = getattr(cls, "onnx", None)
    if form is None or not cls.owns("onnx", "compute"):
        raise TreenetError(f"op {cls.__name__} has no ONNX form, so the network cannot be "
                           "exported: give the class an `onnx` attribute, the name of an ONNX "
                           "operator or a function (builder, argument names) -> name "
                           "(see treenet.onnxnet)")
    return form


def _model(onnx, graph, dtype):
    """The ModelProto of a compiled graph."""
    helper = onnx.helper
    elem = getattr(onnx.TensorProto, _DTYPES[dtype])
    params = _parameter_names(graph)
    b = _Builder(onnx, elem, dtype, taken=set(params) | {"x", "y"})
    for param in graph.parameters:
        b.initializer(param.name, leaf_float(param, param.value))
    column = {id(leaf): j for j, leaf in enumerate(graph.inputs)}
    forms = {}
    # a constant's initializer is made where a node reads it: one folded into its parent is not
    names, folded = [None] * len(graph.nodes), [None] * len(graph.nodes)

    def name(k):
        return names[k] if folded[k] is None else b.const(folded[k])

    for i, (node, kids) in enumerate(zip(graph.nodes, graph.children)):
        if kids is None:
            if isinstance(node, Input):
                names[i] = b.op("Gather", "x", b.ints(column[id(node)]), axis=1)
            elif isinstance(node, Parameter):
                names[i] = node.name
            else:
                folded[i] = leaf_float(node, node.value)
            continue
        folded[i] = _fold(node, [folded[k] for k in kids])
        if folded[i] is not None:
            continue
        cls = type(node)
        if cls not in forms:
            forms[cls] = form_of(cls)
        form, args = forms[cls], [name(k) for k in kids]
        names[i] = b.op(form, *args) if isinstance(form, str) else form(b, args)
    root = graph.ir.output
    b.op("Identity", b.batch(name(root)), out="y")
    k = len(graph.children[root]) if graph.vector_output else None
    shape = ["n"] if k is None else ["n", k]
    onnx_graph = helper.make_graph(
        b.nodes, "treenet", [helper.make_tensor_value_info("x", elem, ["n", len(graph.inputs)])],
        [helper.make_tensor_value_info("y", elem, shape)], initializer=b.initializers)
    model = helper.make_model(onnx_graph, producer_name="treenet",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return model


def _fold(node, values):
    """The value of a scalar op over constant arguments by its own rule, or None: an argument
    that is not constant, a vector op, or a rule that raises (the model then computes the IEEE
    value, as it does for everything else)."""
    if node.vector_valued or None in values:
        return None
    try:
        value = node.compute(values)
    except (ArithmeticError, ValueError):
        return None
    return value if isinstance(value, float) else None


def _parameter_names(graph):
    """The parameters' names, which become initializer names: non-empty, distinct UTF-8 strings,
    other than the model's input and output."""
    seen = set()
    for param in graph.parameters:
        name = param.name
        why = None
        if not isinstance(name, str) or not name:
            why = "is not a non-empty string"
        elif name in ("x", "y"):
            why = "is the name of the model's input or output"
        elif name in seen:
            why = "is the name of another parameter too"
        else:
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                why = "is not valid Unicode text"
        if why:
            raise TreenetError(f"parameter {name!r} cannot be exported to ONNX: its name {why}, "
                               "and the initializer is named after it; rename it "
                               "(parameter.name = ...) first")
        seen.add(name)
    return seen


class _Builder:
    """Collects the ONNX nodes and initializers of a model; the ops' ONNX forms call it. Every
    name it makes is fresh (never a parameter's name, `x` or `y`). A value either depends on the
    batch (shape (n,) or (n, k)) or does not (a 0-d tensor); ONNX broadcasting mixes the two."""

    def __init__(self, onnx, elem, dtype, taken):
        import numpy
        self._onnx, self._numpy, self._elem, self._dtype = onnx, numpy, elem, dtype
        self._taken = taken
        self.nodes, self.initializers = [], []
        self._batched = {"x"}
        self._consts = {}
        self._count = 0
        self._rows = None

    def fresh(self, stem):
        """A name not used yet: stem + a counter, skipping every name taken."""
        while True:
            name = f"{stem}{self._count}"
            self._count += 1
            if name not in self._taken:
                self._taken.add(name)
                return name

    def op(self, op_type, *inputs, out=None, **attributes):
        """The name of the value of ONNX operator `op_type` over `inputs` (names)."""
        out = out or self.fresh("v")
        self.nodes.append(self._onnx.helper.make_node(op_type, list(inputs), [out], name=out,
                                                      **attributes))
        if any(name in self._batched for name in inputs):
            self._batched.add(out)
        return out

    def const(self, value):
        """The name of a 0-d initializer holding the float `value` (one per distinct value)."""
        key = float(value).hex()  # tells 0.0 from -0.0
        if key not in self._consts:
            self._consts[key] = self.initializer(self.fresh("c"), float(value))
        return self._consts[key]

    def initializer(self, name, value):
        """`name`, made a 0-d initializer holding `value` in the model's dtype."""
        array = self._numpy.array(value, dtype=self._dtype)
        self.initializers.append(self._onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, values):
        """The name of an int64 initializer: a 0-d one for an int, a 1-d one for a list."""
        name = self.fresh("i")
        array = self._numpy.array(values, dtype=self._numpy.int64)
        self.initializers.append(self._onnx.numpy_helper.from_array(array, name))
        return name

    def batch(self, name):
        """`name`, broadcast to shape (n,) if it does not depend on the batch."""
        if name in self._batched:
            return name
        if self._rows is None:  # [n], from x's shape: right for a network without inputs too
            self._rows = self.op("Shape", "x", start=0, end=1)
            self._batched.discard(self._rows)
        out = self.op("Expand", name, self._rows)
        self._batched.add(out)
        return out


__all__ = ["to_onnx", "OPSET", "IR_VERSION", "form_of"]
