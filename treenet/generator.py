"""Compile a network to Python source: straight-line code for its forward pass and its
value-and-gradient, that a person can read and that runs without treenet.

`codegen(net, target)` returns the source of a module that imports only `math` (target
"python": one sample, floats) or `numpy` (target "numpy": a batch at once) and defines

    forward(x, p)                 the output
    value_and_grad(x, p, d=1.0)   (output, input gradients, parameter gradients)

with x and p in `net.inputs` / `net.parameters` order. For numpy, x has shape (n, n_inputs), the
output shape (n,) or (n, k), d (the upstream derivatives) broadcasts to that shape (default ones),
the input gradients have shape (n, n_inputs) and the parameter gradients are summed over the
batch (each sample weighted by its d). `compiled(net, target)` executes that source, caches it
on the network and wraps it with the engine's checks (see `Compiled`).

How the code is made
- One statement per node of the compiled graph (`net.graph`), in its topological order: the
  value `v{i} = ...`, then, in value_and_grad, the adjoints in reverse order, `g_v{i}` summed over
  the node's parents in the engine's order. The generator has no per-op code: each op class in
  `treenet.ops` carries its templates (their language is in `treenet.templates`). Constants, and
  nodes that depend on constants only, are folded into literals (`repr(float)`); nodes that do
  not depend on an input or parameter get no adjoint.
- The templates repeat the engine's floating-point operations in its order, so the python
  target gives the engine's numbers to the bit. The numpy target does the same operations, but
  numpy's exp, log, tanh and power round differently from math's in the last bit or two, which
  a formula like 1 - tanh(big)^2 can amplify (with math's functions put in, it matches exactly).
- The numpy target is element-wise over the batch: one array operation per node, the engine's
  operations exactly. With `layers=True` it recovers dense layers from the graph instead: linear
  units `p*a + p*b + ... + p` over the same arguments (two units or more, each parameter and
  product used by its unit only; `linear` and `dense` expand to these) become one matrix product
  `z = a @ w.T + b`, and their gradients `gz.T @ a` (the weights', summed over the batch),
  `gz.sum(axis=0)` and `gz @ w`; the units are then columns of z. A product sums in BLAS's order,
  not the engine's, so these agree with the engine to rounding, not to the bit (a relu deciding
  on a value that is 0 only up to rounding could go the other way), which is why it is a choice.
  An element-wise op applied to every unit of a layer (each unit used by it only), tanh say, is
  one call on the matrix, h = tanh(z), and its derivative rule runs on matrices too; a layer
  whose arguments are exactly such units reads h as its matrix (the units' columns put in its
  order), so an MLP runs as `W @ h` products, and then one unit over them is a layer as well.
  `flat` (the training steps of treenet.steps) reads a layer's weights from the parameter
  vector by constant index arrays, and sums columns as products with ones.
- Every identifier in the source is invented by the generator (x0, p3, v12, g_v12, and `_h_`
  before an op class's helper name, `_h_total`: a namespace no other generated name uses);
  input and parameter names, which can be any string, appear only in comments and only when
  they are plain ASCII identifiers (not keywords).

Errors. The code runs unchecked, and the python target's math functions raise on a domain error
or an overflow. Besides, the code adds up `v - v` (0, or nan when v is not finite) over the
output, every gradient and every argument of an op that can hide a nan or an infinity (relu,
tanh, max, ...: ops without `code_passes_non_finite`), and raises FloatingPointError when the sum
is not 0 (numpy: it names the samples). So whenever the engine would raise, the code raises too
(and rarely when the engine would not: an infinite share that the engine skips because its
upstream derivative is 0). `Compiled` then re-runs the interpreted engine on the sample, which
raises the engine's exact EvaluationError naming the sub-expression, or gives the result.

Size rule. A function holds at most `CHUNK` statements: a longer body becomes a chain of
functions `_forward_1`, `_forward_2`, ... (each reads the leaves it uses from x and p, and the
other values it needs from tuples the earlier parts left in a dict), so CPython's compiler never
meets a giant function. No expression nests deeper than its op's template (long sums and
products call helpers), so compiling never meets a RecursionError; generating and compiling are
linear in the size of the graph, and `compiled` compiles each function on its first call only.
Measured (benchmarks/bench_codegen.py, a loaded 2-core machine), the chain h = tanh(p*h + p) at
1k / 10k / 100k layers (5k / 50k / 500k nodes): generating and compiling value_and_grad takes
0.27 / 4 / 61 s, 100 to 200 engine passes; a pass then takes 0.3 / 0.6 / 0.6 of the engine's time
(straight-line code this long runs out of the CPU's caches). So compiling pays for itself after
a few hundred passes: the caller (predict, train) decides, by the number of passes it expects.
The rule they apply (`worth_generating`): generate when the network has at most GENERATE_NODES
(10,000) nodes and the call makes at least GENERATE_PASSES (100) passes over samples (rows of a
batch; epochs x samples for train), or the code is compiled already; else the engine. Measured
(same machine, chain networks): generating and compiling a training step costs 37 / 54 us per
node at 1k / 10k nodes, the time of 32 / 55 engine steps, so 100 passes pay for it; above 10k
nodes compile time grows faster than the graph and a pass gains less. `compile()` itself never
generates, so a 500,001-node network compiles in the graph's own time and then runs on the engine
(`train(backend="python")` or `"numpy"` named explicitly generates whatever the size).

Falling back. `codegen` raises TreenetError for a network with an op that has no templates for
the target (a user's op), or whose templates are inherited from a class above the one that
defines its `compute`, `vjp` or `partials` (they would describe another op). `compiled` then
returns a `Compiled` that runs the interpreted engine, as it does for networks whose nodes hook
`on_backward` (generated code calls no hooks)."""

from collections.abc import Iterable
import difflib
import keyword
import math
import re

from .errors import EvaluationError, TreenetError
from .nodes import Constant, NeuralNetNode, Parameter, as_float, brief, leaf_float
from .templates import fill, resolve

CHUNK = 1000
"""The most statements one generated function holds (see the size rule above)."""

GENERATE_NODES = 10_000
"""The size rule for `predict` and `train`: the most nodes a network may have for them to
generate code on their own (see `worth_generating`)."""

GENERATE_PASSES = 100
"""... and the fewest passes over samples (rows of a batch, epochs x samples) that pay for it."""

_GUARD_TERMS = 8  # `check = check + a - a + b - b ...`: terms per line

_TARGETS = {"python": ("python", "math"), "numpy": ("array", "np")}


# --- the public functions ---------------------------------------------------------------------

def codegen(net, target="python", layers=False):
    """The source of a module computing `net`'s forward pass and value-and-gradient. With
    `layers` (numpy only), linear units over the same arguments are one matrix product."""
    return _Generator(_graph_of(net), target, layers).module()


def compiled(net, target="python", layers=False):
    """The network's generated functions, compiled once and cached on the network (a recompile,
    a changed constant or a new structure makes new ones)."""
    graph = _graph_of(net)
    _check_target(target)
    if layers and target != "numpy":
        raise TreenetError(f"layers=True is for the numpy target, not {target!r}")
    key = tuple(n.value for n in graph.nodes if isinstance(n, Constant))
    cache = net.__dict__.setdefault("_codegen_cache", {})
    entry = cache.get((target, layers))
    if entry is not None and entry[0] is graph and entry[1] == key:
        return entry[2]
    result = Compiled(net, graph, target, layers)
    cache[(target, layers)] = (graph, key, result)
    return result


def worth_generating(graph, passes):
    """The size rule: whether `passes` passes over samples pay for generating and compiling
    code for `graph` (see the module docstring): at most GENERATE_NODES nodes, at least
    GENERATE_PASSES passes. Both generating-and-compiling and a pass cost about the same per
    node, so the rule on passes holds at every size, and the rule on nodes bounds the compile
    time where straight-line code stops paying (it runs out of the CPU's caches)."""
    return len(graph.nodes) <= GENERATE_NODES and passes >= GENERATE_PASSES


# --- predict on a batch --------------------------------------------------------------------------

def predict_batch(net, values):
    """`net.predict` on a batch: a numpy array of the outputs, (n,) or (n, k) for a vector
    output; None when `values` is one sample (see `batch_inputs`). The numpy target runs it
    when the size rule allows (or the code is compiled already), else the engine row by row;
    either way a row that cannot be evaluated is the engine's EvaluationError, "sample i: ..."
    with `.sample` i. A batch leaves the network's inputs as they were."""
    graph = net.graph
    X = batch_inputs(graph, values)
    if X is None:
        return None
    entry = net.__dict__.get("_codegen_cache", {}).get(("numpy", False))
    ready = entry is not None and entry[0] is graph and "forward" in entry[2]._raw
    if ready or worth_generating(graph, len(X)):
        return compiled(net, "numpy").forward(X)
    return engine_rows(graph, X)


def engine_rows(graph, X):
    """The interpreted engine's outputs for the rows of X (an (n, n_inputs) float array), as an
    array (n,) or (n, k); a row that fails is "sample i: ...". The inputs are left as they
    were, the whole batch one step under the graph's lock."""
    import numpy as np
    width = len(graph.output.children) if graph.vector_output else None
    out = np.zeros((len(X), width) if width else (len(X),))
    with graph._lock:
        saved = [n.value for n in graph.inputs]
        try:
            for i, row in enumerate(X.tolist()):
                try:
                    out[i] = graph.predict(row)
                except EvaluationError as exc:
                    raise _sample_error(exc, i) from exc
        finally:
            for n, v in zip(graph.inputs, saved):
                n.value = v
    return out


def leaf_values(leaves):
    """The leaves' values as floats, checked as the engine checks them: an EvaluationError
    naming the leaf that holds something else (`p.value = "1"`, a complex, a list)."""
    return [leaf_float(leaf, leaf.value) for leaf in leaves]


def _sample_error(exc, i):
    """The engine's EvaluationError for row i of a batch: "sample i: ...", `.sample` i."""
    text, expr = str(exc), exc.expression
    if expr is not None and text.endswith(f" in {expr}"):
        text = text[:-len(f" in {expr}")]
    err = EvaluationError(f"sample {i}: {text}", expr)
    err.sample = i
    return err


def batch_inputs(graph, values):
    """A batch as an array of shape (n, n_inputs) in `graph.inputs` order, or None for one
    sample. A batch is a 2-D array, a list of rows (each a list in input order), or a mapping
    name -> 1-D array (a vector input `v[k]`'s name -> an (n, k) array); a list of numbers, and
    a mapping of numbers (a vector's name -> a list of k numbers), are one sample."""
    import numpy as np
    from collections.abc import Mapping
    names = [n.name for n in graph.inputs]
    if isinstance(values, Mapping):
        columns, numbers = {}, set()
        vectors = graph._vector_inputs()
        batch = False
        for key, v in values.items():
            a = _array(v, f"input {key!r}")
            if a is None:
                numbers.add(key)
                continue
            if key in names:
                batch = batch or a.ndim >= 1
                columns[key] = a
            elif key in vectors:
                batch = batch or a.ndim >= 2
                elements = vectors[key]
                if a.ndim == 2 and a.shape[1] != len(elements):
                    raise EvaluationError(
                        f"input vector {key!r} has {len(elements)} elements "
                        f"({', '.join(elements)}): a batch of it has shape (n, {len(elements)}), "
                        f"got {a.shape}")
                if a.ndim == 2:
                    for j, name in enumerate(elements):
                        columns.setdefault(name, a[:, j])
        if not batch:
            return None
        missing = [name for name in names if name not in columns]
        if missing:
            raise EvaluationError(_no_column(missing[0], names, values, numbers))
        cols = [columns[name] for name in names]
        if any(c.ndim != 1 for c in cols) or len({len(c) for c in cols}) > 1:
            raise EvaluationError("a batch by name takes a 1-D array of the same length for "
                                  "every input, got shapes " +
                                  ", ".join(f"{n}: {c.shape}" for n, c in zip(names, cols)))
        n = len(cols[0]) if cols else 0
        return np.stack(cols, axis=1) if cols else np.zeros((n, 0))
    ndim = getattr(values, "ndim", None)
    if ndim is not None:
        if ndim != 2:
            return None
    elif not (isinstance(values, (list, tuple)) and values and _is_row(values[0])):
        return None
    X = _array(values, "the batch")
    if X.ndim != 2 or X.shape[1] != len(names):
        raise EvaluationError(f"a batch has one row per sample of {len(names)} input value(s) "
                              f"({', '.join(names) or 'none'}): expected shape (n, {len(names)}), "
                              f"got {X.shape}")
    return X


def _no_column(name, names, values, numbers):
    """Why a batch by name has no column for input `name`."""
    inputs = f"the network's inputs are {', '.join(names)}"
    if name in numbers:
        return (f"input {name!r} is one number in a batch: give it a 1-D array, a value per "
                f"sample, as for the other inputs; {inputs}")
    given = {k.lower(): k for k in values if isinstance(k, str) and k not in names}
    close = difflib.get_close_matches(name.lower(), list(given), n=1)
    hint = f" (given {given[close[0]]!r}: a misspelling?)" if close else ""
    return f"the batch has no column for input {name!r}{hint}; {inputs}"


def _is_row(v):
    return isinstance(v, (list, tuple)) or getattr(v, "ndim", 0) == 1


def _array(v, what):
    """v as a float array (None for a number), or an EvaluationError saying what is wrong."""
    import numpy as np
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return None
    if isinstance(v, (str, bytes)):
        raise EvaluationError(f"{what}: expected numbers, got {v!r:.40}")
    try:
        a = np.asarray(v)
    except (TypeError, ValueError):
        raise EvaluationError(f"{what}: expected numbers in rows of equal length") from None
    if a.ndim == 0:
        return None
    if a.dtype.kind in "iuf":
        found = _bool_in(v) if isinstance(v, (list, tuple)) else None
        if found is not None:  # numpy made it 1 or 0
            _element(found, what)
        return a.astype(float)
    if a.dtype.kind in "biufcO":
        # each value as the engine checks one (a bool, a complex, a str, an int too large for a
        # float is refused, naming it), as a single sample would be
        return np.array([_element(x, what) for x in a.ravel().tolist()],
                        dtype=float).reshape(a.shape)
    first = a.ravel()[0].item() if a.size else None
    raise EvaluationError(f"{what}: expected numbers, got {brief(first)} ({type(first).__name__})")


def _bool_in(v):
    """The first bool in a list of numbers (or of rows of them), or None (a set test per row,
    in C: a big batch costs no Python step per number)."""
    import numpy as np
    kinds = {bool, np.bool_}
    if not kinds.isdisjoint(map(type, v)):
        return next(x for x in v if type(x) in kinds)
    for row in v:
        if isinstance(row, (list, tuple)) and not kinds.isdisjoint(map(type, row)):
            return next(x for x in row if type(x) in kinds)
    return None


def _element(x, what):
    try:
        return as_float(x, what)
    except TreenetError as exc:
        raise EvaluationError(str(exc)) from None


def _graph_of(net):
    if not isinstance(net, NeuralNetNode):
        raise TreenetError(f"codegen takes a network (a node), got {type(net).__name__}")
    return net.graph


def _check_target(target):
    if not isinstance(target, str) or target not in _TARGETS:
        import difflib
        hint = difflib.get_close_matches(str(target), list(_TARGETS), n=1)
        raise TreenetError(f"unknown codegen target {target!r}: expected one of "
                           f"{', '.join(map(repr, _TARGETS))}" +
                           (f" (did you mean {hint[0]!r}?)" if hint else ""))


# --- which ops can be generated ---------------------------------------------------------------

def _templates(cls, kind, n):
    """(value template, vjp template or None, vjp_all template or None), or a reason why the op
    cannot be generated."""
    value = resolve(getattr(cls, "code_value", None), kind, n)
    vjp = resolve(getattr(cls, "code_vjp", None), kind, n)
    vjp_all = None if vjp is not None else resolve(getattr(cls, "code_vjp_all", None), kind, n)
    if value is None or (vjp is None and vjp_all is None):
        return f"op {cls.__name__} has no code templates for this target"
    # templates inherited from above the class that redefines a rule describe another op
    vjp_name = "code_vjp" if vjp is not None else "code_vjp_all"
    if not cls.owns("code_value", "compute") or not cls.owns(vjp_name, "vjp", "partials"):
        return (f"op {cls.__name__} redefines its rules but inherits its code templates "
                "(give it its own code_value and code_vjp)")
    if isinstance(vjp, tuple) and len(vjp) != n:
        return f"op {cls.__name__} has {len(vjp)} vjp templates for {n} arguments"
    return value, vjp, vjp_all


def _sum_templates(cls, kind, n):
    """The op's `code_vjp_sum` for `kind` and n arguments, one template per argument (each
    argument's share summed over the batch), or None: not declared, or not describing this
    class's rules."""
    found = resolve(getattr(cls, "code_vjp_sum", None), kind, n)
    if found is None or not cls.owns("code_vjp_sum", "vjp", "partials"):
        return None
    return found if isinstance(found, tuple) and len(found) == n else None


HELPER_PREFIX = "_h_"
"""The prefix of every op helper's name in generated code (`_h_total`): the generator's own."""


def helper_renamer(helpers):
    """A function putting each call of one of `helpers` (names) into the `_h_` namespace (a
    call `np.maximum(` is numpy's, not the helper `maximum`)."""
    if not helpers:
        return lambda text: text
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, sorted(helpers))) + r")\(")
    return lambda text: pattern.sub(HELPER_PREFIX + r"\1(", text)


def _renamed(template, rename):
    """A template (None, a string or a tuple of strings) with its helper calls renamed."""
    if template is None:
        return None
    if isinstance(template, tuple):
        return tuple(rename(t) for t in template)
    return rename(template)


def literal(v):
    """A float as source: repr, parenthesized when negative (so `-` never meets `-`)."""
    if math.isfinite(v):
        text = repr(float(v))
    else:
        text = "float('nan')" if v != v else "float('inf')" if v > 0 else "-float('inf')"
    return f"({text})" if text.startswith("-") else text


def _label(name):
    """A user's name, for a comment, only if it is a plain ASCII identifier; else None."""
    if (isinstance(name, str) and name.isascii() and name.isidentifier()
            and not keyword.iskeyword(name) and len(name) <= 40):
        return name
    return None


# --- the generator ----------------------------------------------------------------------------

# what folding a constant may raise: left to run (see fold)
_FOLD_ERRORS = (ArithmeticError, ValueError)


def fold(node, args):
    """The value of a scalar op node from its arguments' folded values (None: not folded), if
    they all are and it is finite; else None. An error is left to run, so that it is raised
    when the network is evaluated, as the engine raises it."""
    if node.vector_valued or any(a is None for a in args):
        return None
    try:
        v = node.compute(args)
    except _FOLD_ERRORS:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v - v != 0:
        return None
    return float(v)


class _Statement:
    """One line of a generated body: its text, the names it defines and the names it reads."""
    __slots__ = ("text", "defs", "uses")

    def __init__(self, text, defs=(), uses=()):
        self.text, self.defs, self.uses = text, tuple(defs), tuple(uses)




class _Generator:
    """Builds the module source for one graph and target (see the module docstring)."""

    def __init__(self, graph, target, layers=False, flat=False, inputs=True):
        _check_target(target)
        if layers and target != "numpy":
            raise TreenetError(f"layers=True is for the numpy target, not {target!r}")
        self.graph, self.target = graph, target
        # which nodes get an adjoint: all that depend on an input or parameter, or, for a
        # training step (`inputs` False), those above a parameter, as the engine's
        # backward(inputs=False) differentiates
        self.needs = graph.needs_grad if inputs else graph.training_needs()
        self.kind, self.xp = _TARGETS[target]
        self.array = self.kind == "array"
        nodes, children = graph.nodes, graph.children
        # per node: its name in the code (or its literal), its folded value, its templates
        self.names = [None] * len(nodes)
        self.consts = [None] * len(nodes)
        self.templates, self.helpers = {}, {}
        slot = {id(n): f"x{k}" for k, n in enumerate(graph.inputs)}
        slot.update({id(n): f"p{k}" for k, n in enumerate(graph.parameters)})
        problems, known = set(), {}
        self.sums = {}  # (op class, arity) -> code_vjp_sum templates or None
        for i, (node, kids) in enumerate(zip(nodes, children)):
            if kids is None:
                if id(node) in slot:
                    self.names[i] = slot[id(node)]
                else:
                    self.consts[i] = leaf_values((node,))[0]  # the engine's check
                    self.names[i] = literal(self.consts[i])
                continue
            folded = self._fold(node, kids)
            if folded is not None:
                self.consts[i], self.names[i] = folded, literal(folded)
                continue
            key = (type(node), len(kids))
            if key not in known:
                known[key] = self._op_templates(type(node), len(kids))
            found = known[key]
            if isinstance(found, str):
                problems.add(found)
                continue
            self.templates[i] = found
            self.names[i] = f"v{i}"
        if problems:
            raise TreenetError("cannot generate code for this network: " +
                               "; ".join(sorted(problems)))
        # which values are arrays over the batch (numpy): those that depend on an input
        self.batched = batched = []
        for node, kids in zip(nodes, children):
            batched.append(id(node) in slot and slot[id(node)][0] == "x" if kids is None
                           else any([batched[j] for j in kids]))
        self.out = len(nodes) - 1
        self.label = [_label(getattr(n, "name", None)) for n in nodes]
        found = find_layers(graph) if layers and self.array else []
        self.layers = [layer for layer in found if len(layer[1]) >= 2]
        self.unit = {}          # unit node -> (layer number, row)
        self.absorbed = set()   # the products p*a inside a layer's units
        self.layer_grad = {}    # parameter node -> its gradient, an entry of gw_L / gb_L
        # flat: the parameters are one vector p, a layer's weights gathered by index arrays
        self.flat, self.constants = flat and self.array, {}
        self._find_maps([layer for layer in found if len(layer[1]) == 1])
        self.first_unit = {number: min(u[0] for u in units)
                           for number, (_, units) in enumerate(self.layers)}
        for number, (args, units) in enumerate(self.layers):
            for row, (i, weights, bias, products) in enumerate(units):
                self.unit[i] = (number, row)
                self.absorbed.update(products)
                for col, w in enumerate(weights):
                    self.layer_grad[w] = f"gw_L{number}[{row}, {col}]"
                self.layer_grad[bias] = f"gb_L{number}[{row}]"

    def _find_maps(self, singles):
        """Element-wise ops over a whole layer (tanh of each unit, each unit used by it only)
        become one call on the layer's matrix, h_L = tanh(z_L); a layer whose arguments are
        exactly such a map's units, in order, reads h_L as its matrix of arguments (one unit
        over such a map, `singles`, is a layer too: a matrix-vector product)."""
        self.maps = {}      # layer number -> (map node per row, templates)
        self.mapped = {}    # map node -> (layer number, row)
        self.whole = {}     # layer number -> the layer whose map is its arguments
        if not self.layers:
            return
        nodes, children = self.graph.nodes, self.graph.children
        parents = [[] for _ in nodes]
        for i, kids in enumerate(children):
            for j in kids or ():
                parents[j].append(i)
        for number, (_, units) in enumerate(self.layers):
            row_maps = []
            for i, _, _, _ in units:
                up = parents[i]
                m = up[0] if len(up) == 1 else None
                if (m is None or m not in self.templates or children[m] != (i,)
                        or nodes[m].vector_valued or self.templates[m][1] is None
                        or type(nodes[m]) is not type(nodes[up[0]])):
                    break
                row_maps.append(m)
            else:
                if len({type(nodes[m]) for m in row_maps}) == 1:
                    self.maps[number] = (row_maps, self.templates[row_maps[0]])
                    for row, m in enumerate(row_maps):
                        self.mapped[m] = (number, row)
        # a map whose units are a layer's arguments: its rows put in the arguments' order
        by_set = {frozenset(ms): number for number, (ms, _) in self.maps.items()}
        self.layers += [layer for layer in singles if frozenset(layer[0]) in by_set]
        for number, (args, _) in enumerate(self.layers):
            src = by_set.pop(frozenset(args), None)
            if src is None or len(set(args)) != len(args) or src == number:
                continue
            ms, templates = self.maps[src]
            order = {m: row for row, m in enumerate(ms)}
            units = self.layers[src][1]
            self.layers[src] = (self.layers[src][0], [units[order[m]] for m in args])
            self.maps[src] = (list(args), templates)
            for row, m in enumerate(args):
                self.mapped[m] = (src, row)
            self.whole[number] = src
        consumed = {}  # map layer -> whether only whole-argument layers read its units
        absorbed_by = {}
        for number, (_, units) in enumerate(self.layers):
            if number in self.whole:
                for _, _, _, products in units:
                    absorbed_by.update(dict.fromkeys(products, self.whole[number]))
        for number, (ms, _) in self.maps.items():
            consumed[number] = all(m != self.out and parents[m] and
                                   all(absorbed_by.get(q) == number for q in parents[m])
                                   for m in ms)
        self.consumed = consumed
        self.first_map = {number: min(ms) for number, (ms, _) in self.maps.items()}

    def _fold(self, node, kids):
        return fold(node, [self.consts[j] for j in kids])

    def _uses(self, indices):
        return [self.names[j] for j in indices if self.consts[j] is None]

    # --- statements ---------------------------------------------------------------------------
    def _forward(self):
        """The statements that compute every value, and the names the guard must check."""
        graph, S, xp = self.graph, _Statement, self.xp
        body = [S("n = x.shape[0]", ["n"])] if self.array else []
        if self.flat and self.layers:
            body.append(S("ones = np.ones(n)", ["ones"], ["n"]))
        # the leaves are read from x and p by each function that uses them (see _function)
        self.leaves = {}
        present = set(graph.index)
        for kind, leaves, col in (("x", graph.inputs, "[:, {}]" if self.array else "[{}]"),
                                  ("p", graph.parameters, "[{}]")):
            for k, leaf in enumerate(leaves):
                if id(leaf) in present:
                    label = _label(leaf.name)
                    label = None if label == f"{kind}{k}" else label
                    self.leaves[f"{kind}{k}"] = _comment(f"{kind}{k} = {kind}{col.format(k)}",
                                                         label)
        guard = _Guard(body, getattr(self, "_summed", False))
        for i, kids in enumerate(graph.children):
            if i not in self.templates or i in self.absorbed:
                continue
            node = graph.nodes[i]
            args = [self.names[j] for j in kids]
            text = f"v{i} = " + fill(self.templates[i][0], args, xp=xp)
            if i in self.mapped:
                number, row = self.mapped[i]
                if not self.consumed[number]:
                    if i == self.out:
                        body.append(S("# output"))
                    body.append(S(_comment(f"v{i} = h_L{number}[:, {row}]", self.label[i]),
                                  [f"v{i}"], [f"h_L{number}"]))
                continue
            if i in self.unit:
                number, row = self.unit[i]
                if i == self.first_unit[number]:
                    body += self._layer_forward(number)
                    if number in self.maps:
                        body += self._map_forward(number, guard)
                if number in self.maps:
                    continue
                text = f"v{i} = z_L{number}[:, {row}]"
                kids = ()
                if i == self.out:
                    body.append(S("# output"))
                body.append(S(_comment(text, self.label[i]), [f"v{i}"], [f"z_L{number}"]))
                continue
            if i == self.out:
                body.append(S("# output"))
            body.append(S(_comment(text, self.label[i]), [f"v{i}"], self._uses(kids)))
            if not getattr(type(node), "code_passes_non_finite", False):
                guard.add(self._uses(kids))
        if (not self.graph.vector_output and self.consts[self.out] is None
                and getattr(self, "_guard_output", True)):
            guard.add([self.names[self.out]])
        return body, guard

    def _backward(self, body, guard):
        """The adjoint statements, appended to `body`: reverse order, shared nodes summed in the
        engine's order, nothing for nodes that do not depend on an input or parameter."""
        graph, S, xp, needs = self.graph, _Statement, self.xp, self.needs
        if self.array and not self.flat:  # (a training step's d is its batch's array)
            shape = self._shape()
            body.append(S(f"d = np.broadcast_to(np.asarray(d, dtype=float), {shape})",
                          ["d"], ["d", "n"]))
        self.defined = defined = set()
        self.param_sums = {}  # parameter index -> the name of its gradient summed over the batch
        if not needs[self.out]:
            return
        if self.flat:
            self._param_parents = parents = [0] * len(graph.nodes)
            for kids in graph.children:
                for j in kids or ():
                    parents[j] += 1
        body.append(S("# gradients, from the output back"))
        body.append(S(f"g_{self.names[self.out]} = d", [f"g_{self.names[self.out]}"], ["d"]))
        defined.add(self.out)
        for i in reversed(graph.op_indices):
            if not needs[i] or i not in self.templates or i in self.absorbed:
                continue
            if i in self.mapped:
                number = self.mapped[i][0]
                if i == self.first_map[number]:  # every unit of the map has its adjoint
                    self._map_backward(number, body)
                continue
            if i in self.unit:
                number, row = self.unit[i]
                if i == self.first_unit[number]:  # last in reverse: every unit's adjoint is in
                    self._layer_backward(number, body, guard, defined)
                continue
            kids = graph.children[i]
            _, vjp, vjp_all = self.templates[i]
            g, out = f"g_v{i}", f"v{i}"
            args = [self.names[j] for j in kids]
            uses = self._uses(kids) + [g, out]
            if vjp is None:
                body.append(S(f"s_v{i} = " + fill(vjp_all, args, g=g, out=out, xp=xp),
                              [f"s_v{i}"], uses))
                shares = [(f"s_v{i}[{k}]", [f"s_v{i}"]) for k in range(len(kids))]
            else:
                per = vjp if isinstance(vjp, tuple) else (vjp,) * len(kids)
                shares = [(fill(t, args, g=g, out=out, i=k, xp=xp), uses)
                          for k, t in enumerate(per)]
            summed = self._sum_shares(i, kids, args, g)
            for k, (j, (expr, reads)) in enumerate(zip(kids, shares)):
                if not needs[j]:  # a branch that cannot carry a gradient
                    continue
                if k in summed:
                    name = f"gs_{self.names[j]}"
                    body.append(S(f"{name} = {summed[k]}", [name], uses))
                    self.param_sums[j] = name
                else:
                    self._accumulate(j, expr, reads, body, defined)
        skip = getattr(self, "_unguarded", ())
        guard.add([f"g_{self.names[i]}" for i in graph.leaf_indices
                   if needs[i] and i in defined and f"g_{self.names[i]}" not in skip])

    def _sum_shares(self, i, kids, args, g):
        """{argument position: its share summed over the batch} for node i's shares that are a
        parameter's whole gradient in a training step (`flat`): the parameter used once, the
        op's `code_vjp_sum` (a dot product, no array of shares) valid as every other argument
        is an array over the batch."""
        if not self.flat:
            return {}
        templates = self.sums.get((type(self.graph.nodes[i]), len(kids)))
        if templates is None:
            return {}
        nodes, out = self.graph.nodes, {}
        for k, j in enumerate(kids):
            if (isinstance(nodes[j], Parameter) and self._param_parents[j] == 1
                    and j not in self.layer_grad
                    and all(self.batched[m] for q, m in enumerate(kids) if q != k)):
                out[k] = fill(templates[k], args, g=g, out=f"v{i}", i=k, xp=self.xp)
        return out

    def _accumulate(self, j, expr, reads, body, defined):
        """Add a share to node j's adjoint (its first share defines it)."""
        name = f"g_{self.names[j]}"
        if j not in defined:
            defined.add(j)
            body.append(_Statement(f"{name} = {expr}", [name], reads))
        elif self.array:  # not +=: the array may be shared with another adjoint
            body.append(_Statement(f"{name} = {name} + ({expr})", [name], list(reads) + [name]))
        else:
            body.append(_Statement(f"{name} += {expr}", [name], list(reads) + [name]))

    # --- layers as matrix products (numpy, layers=True) ---------------------------------------
    def _layer_forward(self, number):
        """a_L: the arguments as columns; w_L, b_L: weights and biases; z_L = a_L @ w_L.T + b_L."""
        S, L = _Statement, number
        args, units = self.layers[number]
        names = [self.names[j] for j in args]
        weights = ", ".join("[" + ", ".join(self.names[w] for w in ws) + "]"
                            for _, ws, _, _ in units)
        biases = ", ".join(self.names[b] for _, _, b, _ in units)
        leaves = [self.names[w] for _, ws, _, _ in units for w in ws]
        leaves += [self.names[b] for _, _, b, _ in units]
        out = [S(f"# a layer: {len(units)} units over {len(args)} arguments, one matrix product")]
        if L in self.whole:
            out.append(S(f"a_L{L} = h_L{self.whole[L]}", [f"a_L{L}"], [f"h_L{self.whole[L]}"]))
        elif names == [f"x{k}" for k in range(len(self.graph.inputs))]:
            out.append(S(f"a_L{L} = x", [f"a_L{L}"], []))  # the inputs, in their order
        else:
            out.append(S(f"a_L{L} = np.empty((n, {len(args)}))", [f"a_L{L}"], ["n"]))
            for col, name in enumerate(names):
                out.append(S(f"a_L{L}[:, {col}] = {name}", [f"a_L{L}"],
                             [f"a_L{L}"] + self._uses([args[col]])))
        if self.flat:  # gathered from the vector p by constant index arrays
            slot = {id(q): k for k, q in enumerate(self.graph.parameters)}
            pos = lambda j: slot[id(self.graph.nodes[j])]  # noqa: E731
            self.constants[f"_W_L{L}"] = "np.array([" + ", ".join(
                "[" + ", ".join(str(pos(w)) for w in ws) + "]" for _, ws, _, _ in units) + "])"
            self.constants[f"_B_L{L}"] = "np.array([" + ", ".join(
                str(pos(b)) for _, _, b, _ in units) + "])"
            out += [S(f"w_L{L} = p[_W_L{L}]", [f"w_L{L}"], []),
                    S(f"b_L{L} = p[_B_L{L}]", [f"b_L{L}"], [])]
        else:
            out += [S(f"w_L{L} = np.array([{weights}])", [f"w_L{L}"], leaves),
                    S(f"b_L{L} = np.array([{biases}])", [f"b_L{L}"], leaves)]
        out += [S(f"z_L{L} = a_L{L} @ w_L{L}.T + b_L{L}", [f"z_L{L}"],
                  [f"a_L{L}", f"w_L{L}", f"b_L{L}"])]
        return out

    def _layer_backward(self, number, body, guard, defined):
        """The units' adjoints as columns gz_L; the weights' and biases' gradients, summed over
        the batch, are gz_L.T @ a_L and the column sums; the arguments get gz_L @ w_L."""
        S, L = _Statement, number
        args, units = self.layers[number]
        if L not in self.maps:  # (a map's backward gave gz_L whole)
            body.append(S(f"gz_L{L} = np.empty((n, {len(units)}))", [f"gz_L{L}"], ["n"]))
            for row, (i, _, _, _) in enumerate(units):
                body.append(S(f"gz_L{L}[:, {row}] = g_v{i}", [f"gz_L{L}"],
                              [f"gz_L{L}", f"g_v{i}"]))
        # (a training step sums the columns as a product with ones: BLAS's, faster)
        column_sums = f"ones @ gz_L{L}" if self.flat else f"gz_L{L}.sum(axis=0)"
        body += [S(f"gw_L{L} = gz_L{L}.T @ a_L{L}", [f"gw_L{L}"], [f"gz_L{L}", f"a_L{L}"]),
                 S(f"gb_L{L} = {column_sums}", [f"gb_L{L}"], [f"gz_L{L}"] +
                   (["ones"] if self.flat else []))]
        if any(self.needs[j] for j in args):
            # one unit: each share is one product, which BLAS's k=1 matrix product makes slowly
            op = "*" if len(units) == 1 else "@"
            body.append(S(f"ga_L{L} = gz_L{L} {op} w_L{L}", [f"ga_L{L}"],
                          [f"gz_L{L}", f"w_L{L}"]))
        if not getattr(self, "_unguarded", ()):
            # a scalar for the guard: nan or inf if a weight's or bias's gradient is
            body.append(S(f"gs_L{L} = np.sum(gw_L{L}) + np.sum(gb_L{L})", [f"gs_L{L}"],
                          [f"gw_L{L}", f"gb_L{L}"]))
            guard.add([f"gs_L{L}"])
        if L in self.whole and self.consumed[self.whole[L]]:
            return  # the map below reads ga_L whole
        for col, j in enumerate(args):
            if self.needs[j]:
                self._accumulate(j, f"ga_L{L}[:, {col}]", [f"ga_L{L}"], body, defined)

    def _map_forward(self, number, guard):
        """h_L: the map's op on the layer's matrix z_L, one call."""
        S, L = _Statement, number
        ms, (value, _, _) = self.maps[number]
        op = type(self.graph.nodes[ms[0]])
        out = [S(f"h_L{L} = " + fill(value, [f"z_L{L}"], xp=self.xp), [f"h_L{L}"], [f"z_L{L}"])]
        if not getattr(op, "code_passes_non_finite", False):
            # per sample (predict names the samples); a training step needs only one number
            total = f"np.add.reduce(z_L{L}, None)" if self.flat else f"z_L{L}.sum(axis=1)"
            out.append(S(f"zs_L{L} = {total}", [f"zs_L{L}"], [f"z_L{L}"]))
            guard.add([f"zs_L{L}"])
        return out

    def _map_backward(self, number, body):
        """gz_L, the layer's adjoints as a matrix, from the map's: its derivative rule on the
        matrices (the adjoints of the map's units gathered, or the layer above's ga whole)."""
        S, L = _Statement, number
        ms, (_, vjp, _) = self.maps[number]
        if self.consumed[number]:
            above = next(k for k, src in self.whole.items() if src == number)
            gh = f"ga_L{above}"
        else:
            gh = f"gh_L{L}"
            body.append(S(f"{gh} = np.empty((n, {len(ms)}))", [gh], ["n"]))
            for row, m in enumerate(ms):
                body.append(S(f"{gh}[:, {row}] = g_v{m}", [gh], [gh, f"g_v{m}"]))
        per = vjp[0] if isinstance(vjp, tuple) else vjp
        body.append(S(f"gz_L{L} = " + fill(per, [f"z_L{L}"], g=gh, out=f"h_L{L}", i=0, xp=self.xp),
                      [f"gz_L{L}"], [gh, f"z_L{L}", f"h_L{L}"]))

    def _shape(self):
        width = len(self.graph.children[self.out]) if self.graph.vector_output else None
        return "(n,)" if width is None else f"(n, {width})"

    def _check(self, guard):
        """The statement raising FloatingPointError when the guard is not 0."""
        guard.flush()
        if not guard.started:
            return []
        if self.array:
            return [_Statement("bad = ~np.isfinite(np.broadcast_to(check, (n,)))\n"
                               "if bad.any():\n"
                               "    raise FloatingPointError(\"values are not finite in "
                               "samples\", np.flatnonzero(bad))", ["bad"], ["check", "n"])]
        return [_Statement("if check != 0:  # nan: a value was not finite\n"
                           "    raise FloatingPointError(\"a value is not finite\")",
                           [], ["check"])]

    def _value(self):
        """(expression of the output as returned, names it reads)."""
        name = self.names[self.out]
        uses = [name] if self.consts[self.out] is None else []
        if self.array:
            return f"np.broadcast_to({name}, {self._shape()}).copy()", uses + ["n"]
        return name, uses

    def _grads(self):
        """(statements building the input and parameter gradients, the two expressions, the
        names they read)."""
        graph, S = self.graph, _Statement
        have = {id(graph.nodes[i]): f"g_{self.names[i]}" for i in self.defined
                if graph.children[i] is None}
        if not self.array:
            gx = "[" + ", ".join(have.get(id(n), "0.0") for n in graph.inputs) + "]"
            gp = "[" + ", ".join(have.get(id(n), "0.0") for n in graph.parameters) + "]"
            return [], gx, gp, list(have.values())
        body = [S(f"grad_x = np.zeros((n, {len(graph.inputs)}))", ["grad_x"], ["n"]),
                S(f"grad_p = np.zeros({len(graph.parameters)})", ["grad_p"])]
        for i, g in self.layer_grad.items():
            have[id(graph.nodes[i])] = g
        for kind, leaves in (("x", graph.inputs), ("p", graph.parameters)):
            for k, leaf in enumerate(leaves):
                g = have.get(id(leaf))
                if g is not None and "[" in g:  # a layer's, summed already
                    name = g.split("[")[0]
                    body.append(S(f"grad_p[{k}] = {g}", ["grad_p"], [name, "grad_p"]))
                elif g is not None:
                    text = (f"grad_x[:, {k}] = {g}" if kind == "x"
                            else f"grad_p[{k}] = np.sum({g})")
                    body.append(S(text, [f"grad_{kind}"], [g, f"grad_{kind}"]))
        return body, "grad_x", "grad_p", ["grad_x", "grad_p"]

    # --- the module ---------------------------------------------------------------------------
    def _op_templates(self, cls, n):
        """The op's templates (see `_templates`), its helpers added to `self.helpers` and its
        `code_vjp_sum` to `self.sums`, every helper name moved into the generator's namespace
        `_h_` (no other generated identifier starts so: a helper `total` never meets a
        variable `total` of the code around it)."""
        helpers = {}
        for name, source in getattr(cls, "code_helpers", {}).items():
            source = resolve(source, self.kind, n)
            if source is not None:
                helpers[name] = source
        rename = helper_renamer(helpers)
        for name, source in helpers.items():
            self.helpers[HELPER_PREFIX + name] = rename(source).replace("{xp}", self.xp)
        found = _templates(cls, self.kind, n)
        if isinstance(found, str):
            return found
        self.sums[(cls, n)] = _renamed(_sum_templates(cls, self.kind, n), rename)
        return tuple(_renamed(t, rename) for t in found)

    def module(self, which=("forward", "value_and_grad")):
        """The module's source; `which` names the functions it defines (both by default)."""
        graph = self.graph
        kind = "numpy" if self.array else "python"
        n_in, n_p = len(graph.inputs), len(graph.parameters)
        if self.array:
            shapes = ("x has shape (n, {0}) (a row per sample), p {1} numbers; the output has "
                      "shape (n,) or (n, k), d broadcasts to it (default ones), the input "
                      "gradients have shape (n, {0}) and the parameter gradients are summed "
                      "over the batch.").format(n_in, n_p)
        else:
            out_text = (f"a vector of {len(graph.children[self.out])}" if graph.vector_output
                        else "a number")
            shapes = f"x is {n_in} numbers, p {n_p}; the output is {out_text}."
        doc = _wrap(f"Generated by treenet.codegen (target {kind}) from a network of "
                    f"{len(graph.nodes)} nodes: forward(x, p) gives its output, "
                    "value_and_grad(x, p, d) also its gradients, d times the derivatives of "
                    "the output by the inputs and by the parameters. " + shapes, 0)
        functions = [line for name in which for line in ["", ""] + getattr(self, name)()]
        text = "\n".join(functions)
        parts = [f'"""{doc}"""', "", "import numpy as np" if self.array else "import math"]
        for name in sorted(self.helpers):
            if f"{name}(" in text:
                parts += ["", "", self.helpers[name].rstrip("\n")]
        return "\n".join(parts + functions) + "\n"

    def sample_step(self, guard_parameters=True, summed=False):
        """One sample's value and gradient as lines for a loop to inline (treenet.steps): (the
        forward lines, the backward lines, seeded by the name `d`, the output's name, the
        parameters' gradient names or "0.0"), or None when the output is folded or needs no
        gradient. The lines leave `check` 0, or nan when a value the engine checks is not
        finite (the parameters' gradients only if `guard_parameters`: an update that checks its
        new values checks them). Python target, unchunked; the leaves are the names x0, x1, ...
        and p0, p1, ... With `summed`, `check` is the sum of the checked values instead (not
        finite when one is not, and, rarely, when the sum overflows: a caller that re-runs the
        engine then loses only time)."""
        if self.array or self.consts[self.out] is not None or not self.needs[self.out]:
            return None
        self._summed = summed
        body, guard = self._forward()
        cut = len(body)
        if not guard_parameters:
            self._unguarded = {f"g_{self.names[self.graph.index[id(q)]]}"
                               for q in self.graph.parameters if id(q) in self.graph.index}
        self._backward(body, guard)
        if not self._check(guard):  # (it flushes the guard's last line into the body)
            body.insert(0, _Statement("check = 0.0", ["check"]))
        have = {id(self.graph.nodes[i]): f"g_{self.names[i]}" for i in self.defined
                if self.graph.children[i] is None}
        grads = [have.get(id(q), "0.0") for q in self.graph.parameters]
        return (_lines(body[:cut]), _lines(body[cut:]), self.names[self.out], grads)

    def batch_step(self, guard_output=True):
        """A batch's value and gradient as lines for a training step (treenet.steps), numpy
        target with `flat` parameters: (the lines reading x and p and computing the values,
        the backward lines seeded by the array `d`, then `check` (the sum of the values the
        engine checks, or absent) and the vector `G` of the parameters' gradients summed over
        the batch, the output's name, whether `check` is set), or None when the output is
        folded or needs no gradient. The parameters' gradients are not in `check`: the
        optimizer's new values, which the step checks, are not finite when they are not; nor is
        the output without `guard_output` (a loss that the step checks says when it is not)."""
        graph = self.graph
        if not self.flat or self.consts[self.out] is not None or not self.needs[self.out]:
            return None
        self._summed, self._guard_output = True, guard_output
        self._unguarded = {f"g_{self.names[graph.index[id(q)]]}"
                           for q in graph.parameters if id(q) in graph.index}
        body, guard = self._forward()
        cut = len(body)
        self._backward(body, guard)
        guard.flush()
        have = {id(graph.nodes[i]): f"g_{self.names[i]}" for i in self.defined
                if graph.children[i] is None}
        have.update((id(graph.nodes[j]), name) for j, name in self.param_sums.items())
        summed = set(self.param_sums.values())
        # the scalar parameters' sums (a dot product where the op has one), the layers' blocks
        scalars = {}
        for k, q in enumerate(graph.parameters):
            g = have.get(id(q))
            if g is not None and graph.index[id(q)] not in self.layer_grad:
                scalars[k] = g if g in summed else f"np.add.reduce({g}, None)"
        if self.layers:
            grads = [f"G = np.zeros({len(graph.parameters)})"]
            for L in range(len(self.layers)):
                grads += [f"G[_W_L{L}] = gw_L{L}", f"G[_B_L{L}] = gb_L{L}"]
            grads += [f"G[{k}] = {g}" for k, g in scalars.items()]
        else:  # one call
            grads = ["G = np.array([" + ", ".join(scalars.get(k, "0.0") for k in
                                                 range(len(graph.parameters))) + "])"]
        lines = _lines(body)
        used = {u for st in body for u in st.uses} | {self.names[self.out]}  # (the loss reads it)
        loads = [text for leaf, text in self.leaves.items() if leaf in used]
        # the scalar parameters as floats: a float times an array is quicker than numpy's scalar
        scalar_loads = [k for k, text in enumerate(loads) if text.startswith("p")]
        if scalar_loads:
            loads.insert(scalar_loads[0], "ps = p.tolist()")
            for k in scalar_loads:
                loads[k + 1] = loads[k + 1].replace(" = p[", " = ps[", 1)
        return (loads + lines[:len(_lines(body[:cut]))], lines[len(_lines(body[:cut])):] + grads,
                self.names[self.out], guard.started)

    def forward(self):
        """The lines of `forward(x, p)`."""
        body, guard = self._forward()
        body += self._check(guard)
        value, uses = self._value()
        body.append(_Statement(f"return {value}", [], uses))
        return self._function("forward", "x, p", "The output for inputs x and parameters p.",
                              body)

    def value_and_grad(self):
        """The lines of `value_and_grad(x, p, d)`."""
        body, guard = self._forward()
        self._backward(body, guard)
        grad_lines, gx, gp, guses = self._grads()
        body += self._check(guard) + grad_lines
        value, uses = self._value()
        body.append(_Statement(f"return {value}, {gx}, {gp}", [], uses + guses))
        if self.graph.vector_output and not self.array:
            d_default = "(" + ", ".join(["1.0"] * len(self.graph.children[self.out])) + ")"
        else:
            d_default = "1.0"
        return self._function("value_and_grad", f"x, p, d={d_default}",
                              "(output, d * d(output)/dx, d * d(output)/dp).", body)

    def _function(self, name, signature, doc, stmts):
        """The lines of one function, chunked (see the size rule) when the body is long: each
        part reads the leaves it uses from x and p, and the other values it needs from the
        tuples s[k] that earlier parts left."""
        head = [f"def {name}({signature}):", f'    """{doc}"""']
        wrap = []
        if self.array:
            head.append("    x = np.asarray(x, dtype=float)")
            wrap = ['with np.errstate(all="ignore"):  # nan and inf are checked, not warned about']
        if len(stmts) <= CHUNK:
            used = {u for st in stmts for u in st.uses}
            loads = [text for leaf, text in self.leaves.items() if leaf in used]
            return head + indent(wrap + indent(loads + _lines(stmts), 4 if wrap else 0), 4)
        pieces = [stmts[k:k + CHUNK] for k in range(0, len(stmts), CHUNK)]
        last_use = {}
        for c, piece in enumerate(pieces):
            for st in piece:
                for u in st.uses:
                    last_use[u] = c
        lines, calls, stored, latest = [], [], [], {}
        d_arg = "d" if "d=" in signature else "None"
        for c, piece in enumerate(pieces):
            local, reads, leaves = set(), set(), {}
            for st in piece:
                for u in st.uses:
                    if u in self.leaves:
                        leaves[u] = self.leaves[u]
                    elif u not in local and u in latest:
                        reads.add(latest[u])
                local.update(st.defs)
            body = [", ".join(stored[k]) + f", = s[{k}]" for k in sorted(reads)]
            body += list(leaves.values())
            keep = sorted(u for u in local if last_use.get(u, -1) > c)
            stored.append(keep)
            for u in keep:
                latest[u] = c
            body += _lines(piece)
            if keep:
                body.append(f"s[{c}] = " + ", ".join(keep) + ",")
            fname = f"_{name}_{c + 1}"
            lines += [f"def {fname}(x, p, d, s):", f'    """Part {c + 1} of {name}."""']
            lines += indent(body, 4) + ["", ""]
            calls.append(f"{fname}(x, p, {d_arg}, s)")
        calls[-1] = "return " + calls[-1]
        return lines + head + ["    s = {}"] + indent(wrap + indent(calls, 4 if wrap else 0), 4)


def find_layers(graph, fewest=1):
    """[(arguments, units)]: linear units p*a + p*b + ... + p over the same arguments (at least
    `fewest` units), each parameter and product used by its unit only, so the units are one matrix
    product. A unit is (node, weight nodes, bias node, product nodes)."""
    from .ops import Add, Multiply
    nodes, children = graph.nodes, graph.children
    parents = [0] * len(nodes)
    for kids in children:
        for j in kids or ():
            parents[j] += 1

    def own_parameter(j):
        return isinstance(nodes[j], Parameter) and parents[j] == 1

    groups = {}
    for i, kids in enumerate(children):
        if type(nodes[i]) is not Add or kids is None or len(kids) < 2 or not own_parameter(kids[-1]):
            continue
        args, weights = [], []
        for m in kids[:-1]:
            mk = children[m]
            if type(nodes[m]) is not Multiply or len(mk) != 2 or parents[m] != 1 \
                    or not own_parameter(mk[0]):
                break
            weights.append(mk[0])
            args.append(mk[1])
        else:
            groups.setdefault(tuple(args), []).append((i, weights, kids[-1], kids[:-1]))
    return [(list(args), units) for args, units in groups.items() if len(units) >= fewest]


class _Guard:
    """Collects the names whose finiteness is checked: `check = check + a - a + ...` (each
    `a - a` is 0, or nan when a is not finite), a line per few names."""

    def __init__(self, body, summed=False):
        self.body, self.pending, self.seen, self.started = body, [], set(), False
        self.summed = summed  # `check = a + b + ...`: cheaper, see _Generator.sample_step

    def add(self, names):
        for name in names:
            if name not in self.seen:
                self.seen.add(name)
                self.pending.append(name)
                if len(self.pending) >= _GUARD_TERMS:
                    self.flush()

    def flush(self):
        if not self.pending:
            return
        terms = " + ".join(self.pending if self.summed else (f"{u} - {u}" for u in self.pending))
        if self.started:
            self.body.append(_Statement(f"check = check + {terms}", ["check"],
                                        self.pending + ["check"]))
        else:
            self.body.append(_Statement(f"check = {terms}", ["check"], list(self.pending)))
        self.started, self.pending = True, []


def _comment(text, label):
    return text if label is None else f"{text}  # {label}"


def _lines(stmts):
    out = []
    for st in stmts:
        out += st.text.split("\n")
    return out


def indent(lines, k):
    pad = " " * k
    return [pad + line if line else line for line in lines]


def _wrap(text, indent, width=96):
    import textwrap
    return "\n".join(textwrap.wrap(text, width, subsequent_indent=" " * indent))


# --- running the generated code ---------------------------------------------------------------

class Compiled:
    """A network's generated functions, checked like the engine.

    `forward(x, p=None)` and `value_and_grad(x, p=None, d=None)` take x in `net.inputs` order
    (python: a sequence of numbers; numpy: an array of shape (n, n_inputs)) and p in
    `net.parameters` order (default: the parameters' current values); d defaults to 1 (ones).
    When the generated code raises (a domain error, an overflow, a value that is not finite),
    the interpreted engine re-runs the sample: it raises its own EvaluationError (numpy: for the
    first failing sample, with `.sample` its row) or gives the result. The engine also runs
    everything when `source` is None (`reason` says why: an op without templates, or hooks).
    The network's leaves are left as they were, except the inputs the engine was given."""

    def __init__(self, net, graph, target, layers=False):
        self.net, self.graph, self.target = net, graph, target
        self.reason = None
        self._generator, self._raw = None, {}
        if graph._hooked:
            self.reason = "nodes of the network hook on_backward, which generated code cannot call"
        else:
            try:
                self._generator = _Generator(graph, target, layers)
            except TreenetError as exc:
                self.reason = str(exc)
        self._n_in, self._n_p = len(graph.inputs), len(graph.parameters)
        self._present = {id(graph.nodes[i]) for i in graph.leaf_indices}

    @property
    def source(self):
        """The generated module (None when the network runs on the engine)."""
        return None if self._generator is None else self._generator.module()

    def function(self, name):
        """The raw generated function `name` ("forward" or "value_and_grad"), unchecked."""
        return self._function(name)

    def _function(self, name):
        """The generated function `name`, compiled on first use (a big network's other
        function is never compiled if it is never called); None on the engine."""
        f = self._raw.get(name)
        if f is None and self._generator is not None:
            # only source the generator wrote, every identifier in it invented
            namespace = {"__name__": "treenet_generated"}
            code = compile(self._generator.module((name,)), f"<treenet.codegen {name}>", "exec")
            exec(code, namespace)
            f = self._raw[name] = namespace[name]
        return f

    def __repr__(self):
        state = "generated" if self._generator is not None else f"engine ({self.reason})"
        return f"<Compiled {self.target} {state}>"

    # --- python -------------------------------------------------------------------------------
    def forward(self, x, p=None):
        """The output for inputs x (parameters p, default their values)."""
        p = self._params(p)
        if self.target == "numpy":
            return self._batch(x, p, None)[0]
        if self._generator is not None and self._plain(x):
            try:
                return self._function("forward")(x, p)
            except (ArithmeticError, ValueError):
                pass  # the engine says what went wrong, or disagrees that anything did
        return self._engine(x, p, None)[0]

    def value_and_grad(self, x, p=None, d=None):
        """(output, d * d(output)/d(inputs), d * d(output)/d(parameters))."""
        p = self._params(p)
        if self.target == "numpy":
            return self._batch(x, p, d if d is not None else 1.0)
        if d is None:
            d = [1.0] * len(self.graph.output.children) if self.graph.vector_output else 1.0
        d = self.graph._seed(d)  # checked and made floats, as the engine's backward does
        if self._generator is not None and self._plain(x):
            try:
                return self._function("value_and_grad")(x, p, d)
            except (ArithmeticError, ValueError):
                pass
        return self._engine(x, p, d)

    def _params(self, p):
        if p is None:
            return leaf_values(self.graph.parameters)
        if isinstance(p, (str, bytes)) or not isinstance(p, Iterable):
            raise TreenetError(f"parameters must be {self._n_p} numbers, got {brief(p)}")
        p = list(p)
        if len(p) != self._n_p:
            raise TreenetError(f"expected {self._n_p} parameter value(s), got {len(p)}")
        names = [q.name for q in self.graph.parameters]
        return [as_float(v, f"parameter {name!r}") for v, name in zip(p, names)]

    def _plain(self, x):
        """Whether x is a sequence of finite numbers of the right length (else the engine
        reads it, and says what is wrong)."""
        if not isinstance(x, (list, tuple)) or len(x) != self._n_in:
            return False
        for v in x:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v - v != 0:
                return False
        return True

    def _engine(self, x, p, d):
        """(value, input gradients, parameter gradients) from the interpreted engine, the
        whole set-run-restore one step under the graph's lock (another thread's predict or
        backward never sees these parameters, nor loses its gradients)."""
        with self.graph._lock:
            return self._engine_locked(x, p, d)

    def _engine_locked(self, x, p, d):
        graph = self.graph
        params, leaves = graph.parameters, graph.inputs + graph.parameters
        saved = [q.value for q in params]
        grads = [leaf.grad for leaf in leaves]
        try:
            for q, v in zip(params, p):
                q.value = v
            graph.set_inputs(x)
            value = graph.forward()
            if d is None:
                return value, None, None
            graph.zero_grad()
            graph.backward(d)
            gx = [n.grad if id(n) in self._present else 0.0 for n in graph.inputs]
            return value, gx, [q.grad for q in params]
        finally:
            for q, v in zip(params, saved):
                q.value = v
            for leaf, g in zip(leaves, grads):
                leaf.grad = g

    # --- numpy --------------------------------------------------------------------------------
    def _batch(self, x, p, d):
        """(values, input gradients, parameter gradients summed) for a batch; d None: forward."""
        import numpy as np
        # checked as a batch for predict is (a complex, a bool refused, not cast)
        x = _array(x, "numpy inputs")
        if x is None:
            raise TreenetError("numpy inputs must be an array of numbers of shape "
                               f"(n, {self._n_in})")
        if x.ndim != 2 or x.shape[1] != self._n_in:
            raise TreenetError(f"numpy inputs must have shape (n, {self._n_in}), "
                               f"got {x.shape}")
        n = x.shape[0]
        shape = (n, len(self.graph.output.children)) if self.graph.vector_output else (n,)
        if d is not None:
            try:
                d = np.broadcast_to(np.asarray(d, dtype=float), shape)
            except (TypeError, ValueError):
                raise TreenetError(f"upstream derivatives must broadcast to {shape}") from None
        rows = np.flatnonzero(~np.isfinite(x).all(axis=1))
        result = None
        if self._generator is not None:
            try:
                result = self._call(x, p, d)
            except FloatingPointError as exc:
                rows = np.union1d(rows, exc.args[1])
        else:
            rows = np.arange(n)
        if len(rows) == 0:
            return result
        # the engine on each flagged sample, in order: the first failure is the error
        found = [self._sample(x, p, d, int(i)) for i in rows]
        ok = np.ones(n, dtype=bool)
        ok[rows] = False
        sub = self._call(x[ok], p, None if d is None else d[ok]) if ok.any() else None
        values = np.zeros(shape)
        if sub is not None:
            values[ok] = sub[0]
        values[rows] = [r[0] for r in found]
        if d is None:
            return values, None, None
        gx = np.zeros((n, self._n_in))
        gp = np.zeros(self._n_p) if sub is None else sub[2].copy()
        if sub is not None:
            gx[ok] = sub[1]
        for i, r in zip(rows, found):
            gx[i] = r[1]
            gp += np.asarray(r[2])
        return values, gx, gp

    def _call(self, x, p, d):
        if d is None:
            return self._function("forward")(x, p), None, None
        return self._function("value_and_grad")(x, p, d)

    def _sample(self, x, p, d, i):
        """The engine's result for row i, or its EvaluationError naming the sample."""
        di = None if d is None else (d[i].tolist() if self.graph.vector_output else float(d[i]))
        try:
            return self._engine(x[i].tolist(), p, di)
        except EvaluationError as exc:
            text, expr = str(exc), exc.expression
            if expr is not None and text.endswith(f" in {expr}"):
                text = text[:-len(f" in {expr}")]
            err = EvaluationError(f"sample {i}: {text}", expr)
            err.sample = i
            raise err from exc


__all__ = ["codegen", "compiled", "Compiled", "CHUNK"]
