"""The compiled form of a network and the engine that runs it.

A `Graph` is a plain structure other passes can walk: `nodes` in topological order (children
before parents, the output last) and, for each node, `children` as a tuple of indices into that
order (None for a leaf). Forward and backward are loops over that order, with no per-op code and
no recursion, so depth is limited by memory only."""

from collections.abc import Iterable, Mapping
import difflib
import math

from .errors import DomainError, EvaluationError, TreenetError
from .nodes import Constant, Input, Leaf, Macro, NeuralNetNode, Parameter

_EXPANSION_LIMIT = 10_000
# what an op's rule may raise for a bad value (a TreenetError is a ValueError too, but is let through)
_MATH_ERRORS = (DomainError, OverflowError, ValueError, ZeroDivisionError)


def _expand(node):
    """The elementary node a (possibly nested) macro stands for."""
    for _ in range(_EXPANSION_LIMIT):
        if not isinstance(node, Macro):
            return node
        node = node.expanded()
    raise TreenetError(f"macro {type(node).__name__} keeps expanding into macros")


def _as_node(child, parent, k):
    if isinstance(child, NeuralNetNode):
        return child
    if isinstance(child, (int, float)) and not isinstance(child, bool):
        return Constant(child)
    raise TreenetError(f"child {k} of {type(parent).__name__} is not a node or a number: "
                       f"{child!r}")


def toposort(root):
    """(nodes, index) for the graph under `root`: children first, each node once, macros replaced
    by their expansions in their parents' `children`. Iterative: no recursion limit."""
    root = _expand(_as_node(root, root, 0))
    order, index, opened = [], {}, set()
    stack = [root]
    while stack:
        node = stack[-1]
        key = id(node)
        if key in index:
            stack.pop()
        elif key not in opened:
            # first visit: push the children; the node is finished when it is on top again
            opened.add(key)
            kids = node.children
            for k, child in enumerate(kids):
                if not isinstance(child, NeuralNetNode) or isinstance(child, Macro):
                    child = kids[k] = _expand(_as_node(child, node, k))
                ckey = id(child)
                if ckey not in index:
                    if ckey in opened:  # opened and not finished: an ancestor of this node
                        raise TreenetError(f"the network has a cycle through "
                                           f"{type(child).__name__}")
                    stack.append(child)
        else:
            stack.pop()
            index[key] = len(order)
            order.append(node)
    return order, index


def _name_leaves(leaves, prefix, taken):
    counter = 0
    for leaf in leaves:
        if leaf.name is None:
            while f"{prefix}{counter}" in taken:
                counter += 1
            leaf.name = f"{prefix}{counter}"
            taken.add(leaf.name)


class Graph:
    """A compiled network (see the module docstring)."""

    def __init__(self, root):
        self.root = root
        self.nodes, self.index = toposort(root)
        self.output = self.nodes[-1]
        self.children = children = []
        index = self.index
        for node in self.nodes:
            kids = node.children
            if isinstance(node, Leaf):
                if kids:
                    raise TreenetError(f"{type(node).__name__} is a leaf: it cannot have children")
                children.append(None)
            else:
                type(node)._check_arity(len(kids))
                if node.vector_valued and node is not self.output:
                    raise TreenetError(f"{type(node).__name__} gives a vector: it can only be the "
                                       "output of a network, not feed another node")
                children.append(tuple([index[id(c)] for c in kids]))
        # inputs the root declares (`input x, y`) are part of the network even if unused
        declared = [n for n in getattr(root, "declared_inputs", ()) if id(n) not in self.index]
        self.inputs = sorted([n for n in self.nodes if isinstance(n, Input)] + declared,
                             key=lambda n: n._serial)
        self.parameters = sorted((n for n in self.nodes if isinstance(n, Parameter)),
                                 key=lambda n: n._serial)
        taken = {n.name for n in self.inputs + self.parameters if n.name is not None}
        _name_leaves(self.inputs, "x", taken)
        _name_leaves(self.parameters, "p", taken)
        seen = {}
        for leaf in self.inputs:
            if seen.setdefault(leaf.name, leaf) is not leaf:
                raise TreenetError(f"two different inputs are named {leaf.name!r}: predict could "
                                   "not tell them apart")
        # a parameter whose name is taken (a rebound `w = p(..)`, or an input's name) gets the
        # next free `name_2`, `name_3`, ...: parameters are found by name in saved programs
        for leaf in self.parameters:
            if seen.setdefault(leaf.name, leaf) is not leaf:
                k = 2
                while f"{leaf.name}_{k}" in seen or f"{leaf.name}_{k}" in taken:
                    k += 1
                leaf.name = f"{leaf.name}_{k}"
                seen[leaf.name] = leaf
        self.leaf_indices = [i for i, c in enumerate(self.children) if c is None]
        self.op_indices = [i for i, c in enumerate(self.children) if c is not None]
        # which nodes depend on an input or parameter: only those need a derivative
        self.needs_grad = needs = []
        for node, kids in zip(self.nodes, children):
            if kids is None:
                needs.append(isinstance(node, (Input, Parameter)))
            else:
                needs.append(any([needs[j] for j in kids]))
        self.vector_output = bool(self.output.vector_valued)
        hook_free = NeuralNetNode.on_backward
        self._hooked = [i for i, n in enumerate(self.nodes)
                        if type(n).on_backward is not hook_free]
        self._leaf_nodes = [self.nodes[i] for i in self.leaf_indices]
        self._steps = [(i, self.nodes[i].compute, self.children[i]) for i in self.op_indices]
        self._values = None
        self._adjoints = None
        self._snapshot = None
        # a node reports the values of the first live graph it belongs to: compiling a sub-network
        # (a loss reading a hidden layer, say) does not take it away from its network
        for i in self.op_indices:
            slot = self.nodes[i]._slot
            if slot is None or slot[0].root._graph is not slot[0]:
                self.nodes[i]._slot = (self, i)

    def __len__(self):
        return len(self.nodes)

    @property
    def values(self):
        """Every node's value from the last forward pass, in `nodes` order."""
        self.forward()
        return self._values

    # --- inputs ---------------------------------------------------------------------------------
    def set_inputs(self, values):
        """Set the inputs from a sequence in `inputs` order, a mapping by name, or one number."""
        inputs = self.inputs
        if isinstance(values, Mapping):
            # names the network does not read are ignored (a derivative may have lost an input
            # its network has); a misspelt name still fails, as the input it meant is missing
            for node in inputs:
                if node.name not in values:
                    names = [k for k in values if isinstance(k, str)]
                    hint = difflib.get_close_matches(node.name, names, n=1)
                    raise EvaluationError(f"missing value for input {node.name!r}" +
                                          (f" (given {hint[0]!r}: a misspelling?)" if hint
                                           else ""))
                node.value = _number(values[node.name], node.name)
            return
        if isinstance(values, (int, float)) and not isinstance(values, bool):
            values = [values]
        elif isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise EvaluationError(f"input values must be a sequence or a mapping by name, "
                                  f"got {type(values).__name__}")
        values = list(values)
        if len(values) != len(inputs):
            names = ", ".join(i.name for i in inputs) or "none"
            raise EvaluationError(f"expected {len(inputs)} input value(s) ({names}), "
                                  f"got {len(values)}")
        for node, v in zip(inputs, values):
            node.value = _number(v, node.name)

    # --- forward ----------------------------------------------------------------------------------
    def forward(self):
        """The output's value; recomputed only when an input, parameter or constant changed."""
        snapshot = [leaf.value for leaf in self._leaf_nodes]
        if self._values is not None and snapshot == self._snapshot and (
                0.0 not in snapshot or _same_zeros(snapshot, self._snapshot)):
            return self._result()
        self._values = self._adjoints = None
        vals = [None] * len(self.nodes)
        for i, v in zip(self.leaf_indices, snapshot):
            vals[i] = v
        steps = self._steps
        if self.vector_output:
            steps = steps[:-1]
        for i, compute, kids in steps:
            xs = [vals[j] for j in kids]
            try:
                v = compute(xs)
            except _MATH_ERRORS as exc:
                raise self._error(i, _reason(exc, xs)) from None
            if v - v != 0:  # inf - inf and nan - nan are nan: catches both
                raise self._error(i, _non_finite(xs))
            vals[i] = v
        if self.vector_output:
            i, compute, kids = self._steps[-1]
            xs = [vals[j] for j in kids]
            try:
                v = compute(xs)
            except _MATH_ERRORS as exc:
                raise self._error(i, _reason(exc, xs)) from None
            if any(x - x != 0 for x in v):
                raise self._error(i, _non_finite(xs))
            vals[i] = v
        self._values = vals
        self._snapshot = snapshot
        return self._result()

    def _result(self):
        out = self._values[-1]
        return list(out) if self.vector_output else out  # a copy: the caller may change it

    # --- backward ---------------------------------------------------------------------------------
    def backward(self, d=1.0):
        """Accumulate d * d(output)/d(leaf) into each input's and parameter's `.grad`."""
        self.forward()
        vals, nodes, children, needs = self._values, self.nodes, self.children, self.needs_grad
        last = len(nodes) - 1
        adj = [0.0] * len(nodes)
        adj[last] = self._seed(d)
        for i in reversed(self.op_indices):
            g = adj[i]
            if not needs[i]:
                continue
            if i != last or not self.vector_output:
                if g == 0.0:
                    continue  # nothing flows down this branch (a dead relu, say)
                if g - g != 0:
                    raise self._error(i, "infinite or NaN derivative")
            kids = children[i]
            try:
                grads = nodes[i].vjp([vals[j] for j in kids], vals[i], g)
            except (ArithmeticError, ValueError):
                raise self._error(i, "infinite or NaN derivative") from None
            for j, gj in zip(kids, grads):
                if needs[j]:
                    if gj - gj != 0:
                        raise self._error(i, "infinite or NaN derivative")
                    adj[j] += gj
        for i in self.leaf_indices:
            if needs[i]:
                g = adj[i]
                if g - g != 0:
                    raise self._error(i, "infinite or NaN derivative")
                nodes[i].grad += g
        self._adjoints = adj
        for i in self._hooked:
            nodes[i].on_backward(adj[i])

    def _seed(self, d):
        if not self.vector_output:
            if isinstance(d, bool) or not isinstance(d, (int, float)):
                try:
                    d = float(d)  # a numpy scalar, say
                except (TypeError, ValueError):
                    raise TreenetError(f"backward of a scalar output takes one number, "
                                       f"got {d!r}") from None
            return float(d)
        width = len(self.output.children)
        if isinstance(d, (int, float)):
            raise TreenetError(f"backward of a vector output takes a list of {width} "
                               "upstream derivatives")
        try:
            d = [float(x) for x in d]
        except (TypeError, ValueError):
            raise TreenetError(f"backward of a vector output takes a list of {width} numbers, "
                               f"got {d!r}") from None
        if len(d) != width:
            raise TreenetError(f"backward of a vector output of {width} takes {width} upstream "
                               f"derivatives, got {len(d)}")
        return d

    def zero_grad(self):
        for i in self.leaf_indices:
            self.nodes[i].grad = 0.0
        self._adjoints = None

    # --- errors ---------------------------------------------------------------------------------
    def _error(self, i, reason):
        from .printer import describe
        return EvaluationError(reason, describe(self.nodes[i]))


def _same_zeros(a, b):
    """0.0 == -0.0, but they are different inputs (1/x, or the sign of a product, tells)."""
    return all(x != 0 or math.copysign(1.0, x) == math.copysign(1.0, y) for x, y in zip(a, b))


def _number(v, name):
    if isinstance(v, bool):
        raise EvaluationError(f"input {name!r}: expected a number, got {v!r}")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise EvaluationError(f"input {name!r}: expected a number, got {v!r}") from None
    if not math.isfinite(x):
        raise EvaluationError(f"input {name!r} is {x!r}: inputs must be finite numbers")
    return x


def _reason(exc, xs):
    if isinstance(exc, DomainError):
        return str(exc)
    if isinstance(exc, OverflowError):
        return "overflow"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    return f"math domain error for arguments {xs!r}"


def _non_finite(xs):
    flat = [x for x in xs if isinstance(x, float)]
    if all(math.isfinite(x) for x in flat):
        return "overflow (the result is not a finite number)"
    return f"non-finite argument {xs!r}"
