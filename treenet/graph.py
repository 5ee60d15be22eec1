"""The interpreted engine: a compiled network's IR and the state that running it needs.

The structure is `treenet.ir.IR`, built once per compile and shared with every other pass:
`nodes` in topological order (children before parents, the output last) and, for each node,
`children` as a tuple of indices into that order (None for a leaf). A `Graph` adds the engine's
run-time state beside it. Forward and backward are loops over that order, with no per-op code and
no recursion, so depth is limited by memory only."""

from collections import deque
from collections.abc import Iterable, Mapping, Set as AbstractSet
import difflib
import itertools
from itertools import islice
import math
from operator import attrgetter
import threading
import weakref

from .errors import DomainError, EvaluationError, TreenetError
from .ir import build, name_leaves, parameter_needs
from .nodes import Operation, as_float, brief, leaf_float
from .printer import describe

# Every forward and backward stamps its graph from this clock: a node compiled into several graphs
# reports the one that ran over it last (see Operation.value).
_clock = itertools.count(1)


class Graph:
    """The interpreted engine of a compiled network: its IR (`treenet.ir`, the structure every
    pass shares) and the engine's run-time state beside it (values, adjoints, the leaves' snapshot
    the cache compares, the lock). The IR's fields are attributes here too, for the passes that
    read the engine: `nodes`, `children`, `index`, `needs_grad`, `leaf_indices`, `op_indices`;
    `inputs` and `parameters` as lists."""

    def __init__(self, root):
        self.root = root
        self.ir = structure = build(root)
        name_leaves(structure)
        self.nodes, self.children, self.index = structure.nodes, structure.children, structure.index
        self.output = self.nodes[structure.output]
        self.inputs, self.parameters = list(structure.inputs), list(structure.parameters)
        self.leaf_indices, self.op_indices = structure.leaves, structure.ops
        self.needs_grad = structure.needs_grad
        self.vector_output = bool(structure.vector)
        self._hooked = structure.hooked
        self._leaf_nodes = None
        self._steps = None  # forward's (position, rule, children, how many), made on first run
        self._values = None
        self._adjoints = None
        self._snapshot = None
        self._ran = 0  # the stamp of this graph's last forward or backward (0: never ran)
        # one graph's predict or backward never sees another thread's half-written state
        self._lock = threading.RLock()
        self._vectors = None
        self._training_needs = None
        self._plans = {}  # needs mask -> backward's steps, made on first use

    def _prepare(self):
        """The engine's own per-node tables, made on its first run, not at compile: a network only
        printed, differentiated or run by generated code never needs them."""
        nodes = self.nodes
        self._leaf_nodes = [nodes[i] for i in self.leaf_indices]
        children = self.children
        self._steps = [(i, nodes[i].compute, children[i], len(children[i]))
                       for i in self.op_indices]
        # each op node reports the live graph that ran over it last (see Operation.value); the
        # references are weak, so a dropped graph is not kept alive by its nodes. Dead ones are
        # swept when a node's list doubles: O(1) per node, even when hundreds of graphs share it
        # (the derivatives from one `gradient` sweep do). Registering at the first run is soon
        # enough: before it, this graph has no values to report
        me = weakref.ref(self)
        for i in self.op_indices:
            node = nodes[i]
            graphs = node._graphs
            if not graphs:
                node._graphs = [me]
                continue
            graphs.append(me)
            n = len(graphs)
            if n >= 8 and n & (n - 1) == 0:
                graphs[:] = [ref for ref in graphs if ref() is not None]

    def __len__(self):
        return len(self.nodes)

    @property
    def values(self):
        """Every node's value from the last forward pass, in `nodes` order."""
        with self._lock:
            self._forward()
            return self._values

    # --- inputs ---------------------------------------------------------------------------------
    def set_inputs(self, values):
        """Set the inputs from a sequence in `inputs` order, a mapping by name, or one number. In a
        mapping, a sequence under a vector's name (`input v[3]` makes v_0, v_1, v_2) fills its
        elements in order."""
        with self._lock:
            self._set_inputs(values)

    def _set_inputs(self, values):
        inputs = self.inputs
        if isinstance(values, Mapping):
            given = self._by_name(values)
            for node in inputs:
                node.value = _number(given[node.name], node.name)
            return
        if getattr(values, "ndim", None) == 0:  # a 0-d numpy array: one number
            values = values.item()
        if isinstance(values, (int, float)) and not isinstance(values, bool):
            values = [values]
        elif isinstance(values, (str, bytes, AbstractSet)) or not isinstance(values, Iterable):
            # a set has no order: which value is which input would be chance
            raise EvaluationError(f"input values must be a sequence or a mapping by name, "
                                  f"got {type(values).__name__}")
        values = list(values)
        if len(values) != len(inputs):
            names = ", ".join(i.name for i in inputs) or "none"
            raise EvaluationError(f"expected {len(inputs)} input value(s) ({names}), "
                                  f"got {len(values)}")
        for node, v in zip(inputs, values):
            node.value = _number(v, node.name)

    def _by_name(self, values):
        """input name -> value from a mapping by name. Names the network does not read are ignored
        (a derivative may have lost an input its network has); a missing input is an error that
        names the given keys that are not inputs, with the input each may have meant."""
        names = {node.name for node in self.inputs}
        given, unknown = {}, []
        for key, v in values.items():
            if key in names:
                given[key] = v
            elif key in self._vector_inputs():
                elements = self._vector_inputs()[key]
                if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
                    raise EvaluationError(f"input {key!r} is a vector of {len(elements)} "
                                          f"({', '.join(elements)}): give a list of "
                                          f"{len(elements)} numbers, not {brief(v)}")
                v = list(v)
                if len(v) != len(elements):
                    raise EvaluationError(f"input vector {key!r} has {len(elements)} elements "
                                          f"({', '.join(elements)}), got {len(v)} values")
                for name, x in zip(elements, v):
                    if name in values:
                        raise EvaluationError(f"input {name!r} is given twice: by its name and "
                                              f"as an element of {key!r}")
                    given[name] = x
            else:
                unknown.append(key)
        missing = [node.name for node in self.inputs if node.name not in given]
        if missing:
            raise EvaluationError(_missing_message(missing, unknown, self._vector_inputs()))
        return given

    def _vector_inputs(self):
        """vector name -> its element inputs' names, for inputs named v_0, v_1, ... (what
        `input v[n]` declares, and what a saved network keeps)."""
        if self._vectors is None:
            names = {node.name for node in self.inputs}
            vectors = {}
            for name in names:
                base, _, k = name.rpartition("_")
                if base and k == "0" and base not in names:
                    elements = []
                    while f"{base}_{len(elements)}" in names:
                        elements.append(f"{base}_{len(elements)}")
                    vectors[base] = elements
            self._vectors = vectors
        return self._vectors

    # --- forward ----------------------------------------------------------------------------------
    def predict(self, values=()):
        """Set the inputs and run forward, as one step no other thread's call can split."""
        with self._lock:
            self._set_inputs(values)
            return self._forward()

    def forward(self):
        """The output's value; recomputed only when an input, parameter or constant changed."""
        with self._lock:
            return self._forward()

    def _forward(self):
        if self._steps is None:
            self._prepare()
        self._ran = next(_clock)
        snapshot = list(map(_VALUE, self._leaf_nodes))
        if self._values is not None and snapshot == self._snapshot and (
                0.0 not in snapshot or _same_zeros(snapshot, self._snapshot)):
            return self._result()
        self._values = self._adjoints = None
        if not _all_floats(snapshot):
            snapshot = self._checked(snapshot)
        vals = [None] * len(self.nodes)
        deque(map(vals.__setitem__, self.leaf_indices, snapshot), 0)  # a loop in C
        steps = self._steps
        if self.vector_output:
            steps = steps[:-1]
        i = v = None
        value = vals.__getitem__
        try:
            for i, compute, kids, n in steps:
                # a list (an op may expect one), made without a call for one or two children
                if n == 2:
                    a, b = kids
                    xs = [vals[a], vals[b]]
                elif n == 1:
                    xs = [vals[kids[0]]]
                else:
                    xs = list(map(value, kids))
                try:
                    v = compute(xs)
                except Exception as exc:
                    raise self._rule_error(i, "compute", exc, xs) from _cause(exc)
                if v - v != 0:  # inf - inf and nan - nan are nan: catches both
                    raise self._error(i, _non_finite(xs))
                vals[i] = v
            if self.vector_output:
                i, compute, kids, _ = self._steps[-1]
                xs = [vals[j] for j in kids]
                try:
                    v = compute(xs)
                except Exception as exc:
                    raise self._rule_error(i, "compute", exc, xs) from _cause(exc)
                if any(x - x != 0 for x in v):
                    raise self._error(i, _non_finite(xs))
                vals[i] = v
        except (TypeError, ValueError) as exc:
            if isinstance(exc, TreenetError):
                raise
            # only the checks above get here: a rule returned something that is not a number
            raise self._error(i, f"{type(self.nodes[i]).__name__}.compute returned "
                                 f"{brief(v)}, not a number") from None
        self._values = vals
        self._snapshot = snapshot
        return self._result()

    def _checked(self, snapshot):
        """The leaves' values as floats, or an EvaluationError naming the leaf that holds
        something else (a value set from outside: `p.value = "1"`)."""
        return [leaf_float(leaf, v) for leaf, v in zip(self._leaf_nodes, snapshot)]

    def _result(self):
        out = self._values[-1]
        return list(out) if self.vector_output else out  # a copy: the caller may change it

    # --- backward ---------------------------------------------------------------------------------
    def backward(self, d=1.0, inputs=True):
        """Accumulate d * d(output)/d(leaf) into each parameter's `.grad`, and each input's
        unless `inputs` is False (what training needs: only the nodes above a parameter are
        differentiated and checked). A graph with `on_backward` hooks differentiates all."""
        with self._lock:
            self._backward(d, inputs)

    def training_needs(self):
        """`ir.parameter_needs` of this graph, found once."""
        if self._training_needs is None:
            self._training_needs = parameter_needs(self.ir)
        return self._training_needs

    def _backward(self, d, inputs=True):
        seed = self._seed(d)
        self._forward()
        needs = self.needs_grad if inputs or self._hooked else self.training_needs()
        plan = self._plans.get(needs)
        if plan is None:
            plan = self._plans[needs] = self._plan(needs)
        steps, leaves, leaf_nodes = plan
        adj = self._quick_adjoints(steps, needs, leaves, seed)
        if adj is None:
            # a rule raised or a derivative is not finite (or a sum overflowed: a false alarm):
            # the checked loop, from the start, raises what and where, or finishes the job
            self._checked_backward(steps, needs, seed)
            return
        for leaf, g in zip(leaf_nodes, map(adj.__getitem__, leaves)):
            leaf.grad += g
        self._finish_backward(adj)

    def _quick_adjoints(self, steps, needs, leaves, seed):
        """Every node's adjoint, or None when anything is off: the checked loop's numbers
        (the same products and sums, in its order) without its checks of each share. Each
        share is summed into its node's adjoint, which is checked (an op's when it is reached,
        the leaves' at the end as one sum), so a share that is not finite, or a rule that
        raises, is seen; nothing is written, so the checked loop can run instead."""
        vals = self._values
        value = vals.__getitem__
        adj = [0.0] * len(vals)
        adj[-1] = seed
        first = 0
        try:
            if self.vector_output and steps and steps[0][0] == len(vals) - 1:
                first = 1  # the output's adjoint is a list, checked by _seed
                i, rule, from_partials, kids, every = steps[0]
                xs = list(map(value, kids))
                shares = [seed * p for p in rule(xs, vals[i])] if from_partials \
                    else rule(xs, vals[i], seed)
                for j, gj in zip(kids, shares):
                    if needs[j]:
                        adj[j] += gj
            for i, rule, from_partials, kids, every in islice(steps, first, None):
                g = adj[i]
                if g == 0.0:
                    continue  # nothing flows down this branch (a dead relu, say)
                if g - g != 0:
                    return None
                if every == 2:  # the common shapes unrolled: two children, or one
                    a, b = kids
                    if from_partials:  # the default vjp's products, g * partial, taken here
                        pa, pb = rule([vals[a], vals[b]], vals[i])
                        adj[a] += g * pa
                        adj[b] += g * pb
                    else:
                        ga, gb = rule([vals[a], vals[b]], vals[i], g)
                        adj[a] += ga
                        adj[b] += gb
                elif every == 1:
                    a, = kids
                    if from_partials:
                        pa, = rule([vals[a]], vals[i])
                        adj[a] += g * pa
                    else:
                        ga, = rule([vals[a]], vals[i], g)
                        adj[a] += ga
                elif from_partials:
                    shares = rule(list(map(value, kids)), vals[i])
                    if every:
                        for j, p in zip(kids, shares):
                            adj[j] += g * p
                    else:
                        for j, p in zip(kids, shares):
                            gj = g * p
                            if needs[j]:
                                adj[j] += gj
                else:
                    shares = rule(list(map(value, kids)), vals[i], g)
                    if every:
                        for j, gj in zip(kids, shares):
                            adj[j] += gj
                    else:
                        for j, gj in zip(kids, shares):
                            if needs[j]:
                                adj[j] += gj
            total = sum(map(adj.__getitem__, leaves))
            if total - total != 0:
                return None
        except Exception:  # noqa: BLE001 - the checked loop raises it, and says where
            return None
        return adj

    def _checked_backward(self, steps, needs, seed):
        """The engine's backward with every share checked as it is made: the first derivative
        that is not finite, or a rule that fails, raises an EvaluationError naming its node."""
        vals, nodes = self._values, self.nodes
        last = len(nodes) - 1
        adj = [0.0] * len(nodes)
        adj[last] = seed
        value = vals.__getitem__
        # a vector output's adjoint is the list of upstream derivatives, checked by _seed
        vector_seed = bool(self.vector_output and steps and steps[0][0] == last)
        i = grads = None
        try:
            for k, (i, rule, from_partials, kids, _) in enumerate(steps):
                g = adj[i]
                if not (vector_seed and k == 0):
                    if g == 0.0:
                        continue
                    if g - g != 0:
                        raise self._error(i, "infinite or NaN derivative")
                xs = list(map(value, kids))
                try:
                    # the default vjp's own products, without its call
                    grads = [g * p for p in rule(xs, vals[i])] if from_partials \
                        else rule(xs, vals[i], g)
                except Exception as exc:
                    raise self._rule_error(i, _derivative_rule(nodes[i]), exc, xs) \
                        from _cause(exc)
                for j, gj in zip(kids, grads):
                    if needs[j]:
                        if gj - gj != 0:
                            raise self._error(i, "infinite or NaN derivative")
                        adj[j] += gj
        except (TypeError, ValueError) as exc:
            if isinstance(exc, TreenetError):
                raise
            # only the checks above get here: a rule returned something that is not numbers
            raise self._error(i, f"{type(nodes[i]).__name__}.{_derivative_rule(nodes[i])} "
                                 f"returned {brief(grads)}, not a list of numbers") from None
        for i in self.leaf_indices:
            if needs[i]:
                g = adj[i]
                if g - g != 0:
                    raise self._error(i, "infinite or NaN derivative")
                nodes[i].grad += g
        self._finish_backward(adj)

    def _finish_backward(self, adj):
        self._adjoints = adj
        nodes = self.nodes
        for i in self._hooked:
            nodes[i].on_backward(adj[i])

    def _plan(self, needs):
        """What backward walks for the nodes `needs` marks: (its steps, output first, each
        (position, the op's rule, whether that is `partials` (the default vjp, whose products
        with g backward takes itself), children, whether every child needs a derivative: 0
        if not, else 1 or 2 (how many: the quick loop's unrolled shapes) or 3 (more, or none));
        the positions of the leaves that need one; those leaves)."""
        nodes, children = self.nodes, self.children
        steps = []
        for i in reversed(self.op_indices):
            if needs[i]:
                node, kids = nodes[i], children[i]
                every = 0  # not every child needs a derivative
                if all(map(needs.__getitem__, kids)):
                    every = len(kids) if 1 <= len(kids) <= 2 else 3
                if type(node).vjp is _DEFAULT_VJP:
                    steps.append((i, node.partials, True, kids, every))
                else:
                    steps.append((i, node.vjp, False, kids, every))
        leaves = [i for i in self.leaf_indices if needs[i]]
        return steps, leaves, [nodes[i] for i in leaves]

    def _seed(self, d):
        if not self.vector_output:
            if isinstance(d, bool) or not isinstance(d, (int, float)):
                try:
                    d = float(d)  # a numpy scalar, say
                except (TypeError, ValueError, OverflowError):
                    raise TreenetError(f"backward of a scalar output takes one number, "
                                       f"got {brief(d)}") from None
            return _finite_seed(d)
        width = len(self.output.children)
        if isinstance(d, (int, float)):
            raise TreenetError(f"backward of a vector output takes a list of {width} "
                               "upstream derivatives")
        try:
            d = [x if isinstance(x, int) and not isinstance(x, bool) else float(x) for x in d]
        except (TypeError, ValueError):
            raise TreenetError(f"backward of a vector output takes a list of {width} numbers, "
                               f"got {brief(d)}") from None
        if len(d) != width:
            raise TreenetError(f"backward of a vector output of {width} takes {width} upstream "
                               f"derivatives, got {len(d)}")
        return [_finite_seed(x) for x in d]

    def zero_grad(self):
        with self._lock:
            leaves = self._leaf_nodes
            if leaves is None:
                leaves = map(self.nodes.__getitem__, self.leaf_indices)
            for leaf in leaves:
                leaf.grad = 0.0
            self._adjoints = None

    # --- errors ---------------------------------------------------------------------------------
    def _error(self, i, reason):
        return EvaluationError(reason, describe(self.nodes[i]))

    def _rule_error(self, i, rule, exc, xs):
        """The EvaluationError for an exception from node i's `rule` ("compute", "vjp" or
        "partials"): an op's own TreenetError keeps its message, an arithmetic error says which,
        anything else says it came from that op's rule (the original is the __cause__)."""
        op = type(self.nodes[i]).__name__
        where = "" if rule == "compute" else " in the derivative"
        if isinstance(exc, TreenetError):
            reason = str(exc)
        elif isinstance(exc, DomainError):
            reason = f"{exc}{where}"
        elif isinstance(exc, OverflowError):
            reason = f"overflow{where}"
        elif isinstance(exc, ZeroDivisionError):
            reason = f"division by zero{where}"
        elif isinstance(exc, (ValueError, ArithmeticError)):
            reason = f"math domain error{where} for arguments {brief(xs, 200)} ({exc})"
        else:
            reason = f"{op}.{rule} raised {type(exc).__name__}: {exc}"
        return self._error(i, reason)


def _cause(exc):
    """What an engine error keeps as __cause__: nothing for the arithmetic errors it explains
    itself, the original exception for anything else."""
    if isinstance(exc, ArithmeticError) or (isinstance(exc, ValueError)
                                             and not isinstance(exc, TreenetError)):
        return None
    return exc


_DEFAULT_VJP = Operation.vjp
_VALUE = attrgetter("value")


def _derivative_rule(node):
    """The rule backward calls: the op's own vjp, or the default one built on its partials."""
    from_partials = type(node).vjp is _DEFAULT_VJP
    return "partials" if from_partials else "vjp"


def _all_floats(values):
    # one pass in C, stopping at the first other type: the common case costs no Python loop
    return _FLOAT.issuperset(map(type, values))


_FLOAT = frozenset([float])


def _missing_message(missing, unknown, vectors):
    """`missing value for input 'y'; 'Y' is not an input: did you mean 'y'?`"""
    shown = ", ".join(repr(m) for m in missing[:10]) + (", ..." if len(missing) > 10 else "")
    text = (f"missing value for input {shown}" if len(missing) == 1
            else f"missing values for inputs {shown}")
    wanted = missing + [v for v, elements in vectors.items() if set(elements) & set(missing)]
    lowered = {w.lower(): w for w in wanted}
    notes = []
    for key in unknown:
        if not isinstance(key, str):
            notes.append(f"{brief(key)} is not an input name")
            continue
        hint = difflib.get_close_matches(key.lower(), list(lowered), n=1)
        notes.append(f"{key!r} is not an input" +
                     (f": did you mean {lowered[hint[0]]!r}?" if hint else ""))
    if notes:
        text += "; " + "; ".join(notes[:5])
    return text


def _same_zeros(a, b):
    """0.0 == -0.0, but they are different inputs (1/x, or the sign of a product, tells)."""
    return all(x != 0 or math.copysign(1.0, x) == math.copysign(1.0, y) for x, y in zip(a, b))


def _number(v, name):
    if type(v) is float and v - v == 0:  # the common case, a finite float: no more checks
        return v
    try:
        x = as_float(v, f"input {name!r}")  # a plain float: np.float64 in, a float stored
    except TreenetError as exc:
        raise EvaluationError(str(exc)) from None
    if not math.isfinite(x):
        raise EvaluationError(f"input {name!r} is {x!r}: inputs must be finite numbers")
    return x


def _finite_seed(d):
    try:
        d = float(d)
    except OverflowError:
        raise TreenetError(f"backward's upstream derivative {brief(d)} is too large for a "
                           "float") from None
    if not math.isfinite(d):
        raise TreenetError(f"backward takes finite upstream derivatives, got {d!r}")
    return d


def _non_finite(xs):
    flat = [x for x in xs if isinstance(x, float)]
    if all(math.isfinite(x) for x in flat):
        return "overflow (the result is not a finite number)"
    return f"non-finite argument {brief(xs, 200)}"


__all__ = ["Graph"]
