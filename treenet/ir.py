"""The compiled structure of a network: one plain, immutable IR that every pass reads.

`build(*roots)` walks the graph under its roots once (iteratively, linear in its size) and returns
an `IR`: `nodes` in topological order (children before parents), `children` a tuple of positions
into that order per node (None for a leaf), `outputs` the positions of the roots (one for a
network, several allowed), and what the passes derive from the structure alone: `leaves`, `ops`,
`inputs`, `parameters`, `needs_grad`, the `hooked` nodes and `vector` (the vector-valued outputs).

The IR holds no run-time state: values, adjoints and caches belong to the evaluators beside it
(the interpreted engine, `treenet.graph.Graph`, and the generated code), and the printer, the
sympy bridge and `derivative` read the same IR, so a compiled network is built once. It is
frozen: assigning an attribute raises FrozenError, and its sequences are tuples (`index` a
read-only mapping). The nodes themselves stay the user's objects: `name_leaves` names them, which
is compile's job, not every build's (a formula in an error message must not rename anything)."""

import gc
from itertools import compress, repeat
from operator import attrgetter, is_, is_not
from types import MappingProxyType

from .errors import FrozenError, TreenetError
from .nodes import Input, Parameter
from .order import walk

_FIELDS = ("nodes", "children", "index", "outputs", "inputs", "parameters", "leaves", "ops",
           "needs_grad", "hooked", "vector")


class IR:
    """The frozen structure of a compiled network (see the module docstring)."""

    __slots__ = _FIELDS

    def __init__(self, **fields):
        for name in _FIELDS:
            object.__setattr__(self, name, fields[name])

    def __setattr__(self, name, value):
        raise FrozenError(f"the IR is immutable: cannot set {name!r}; build a new one with "
                          "treenet.ir.build(root)")

    def __delattr__(self, name):
        raise FrozenError(f"the IR is immutable: cannot delete {name!r}")

    def __len__(self):
        return len(self.nodes)

    @property
    def output(self):
        """The position of the only output (a TreenetError if there are several)."""
        if len(self.outputs) != 1:
            raise TreenetError(f"the IR has {len(self.outputs)} outputs, not one")
        return self.outputs[0]

    def __repr__(self):
        return (f"IR({len(self.nodes)} nodes, {len(self.inputs)} inputs, "
                f"{len(self.parameters)} parameters, outputs {list(self.outputs)})")


#: how many IRs `build` has made (tests count builds with it: one per compile)
builds = 0


def build(*roots, declared=None):
    """The IR of the graph under `roots` (nodes, or numbers that become Constants). `declared`:
    inputs that belong to the network even if no node reads them; by default the last root's
    `declared_inputs` (`input x, y` in a program)."""
    global builds
    if not roots:
        raise TreenetError("build needs at least one root")
    if declared is None:
        declared = getattr(roots[-1], "declared_inputs", ())
    # the build allocates a few objects per node and frees none: the cyclic garbage collector
    # would scan the whole heap again and again while it grows, for no garbage (1.5 s of the
    # 4.2 s that compiling a 500,000-node chain took, and more per node the larger the network).
    # Paused, not left off: a build inside a build (a macro's expand) leaves it to the outer one
    enabled = gc.isenabled()
    gc.disable()
    try:
        result = _build(roots, declared)
    finally:
        if enabled:
            gc.enable()
    builds += 1
    return result


def _build(roots, declared):
    nodes, index, children, kinds, roots = walk(roots)
    n = len(nodes)
    outputs = tuple([index[id(r)] for r in roots])
    # C-level passes: positions of the leaves and of the ops
    leaves = tuple(compress(range(n), map(is_, children, repeat(None))))
    ops = tuple(compress(range(n), map(is_not, children, repeat(None))))
    vector = _vector_outputs(nodes, children, kinds, outputs)
    by_serial = attrgetter("_serial")
    input_types = tuple(c for c in kinds if issubclass(c, Input))
    param_types = tuple(c for c in kinds if issubclass(c, Parameter))
    leaf_nodes = [nodes[i] for i in leaves]
    inputs = [leaf for leaf in leaf_nodes if isinstance(leaf, input_types)] if input_types else []
    inputs += [leaf for leaf in declared if id(leaf) not in index]
    inputs.sort(key=by_serial)
    parameters = [leaf for leaf in leaf_nodes if isinstance(leaf, param_types)] \
        if param_types else []
    parameters.sort(key=by_serial)
    hooked_types = {c for c, k in kinds.items() if k.hooked}
    hooked = tuple(i for i, node in enumerate(nodes) if type(node) in hooked_types) \
        if hooked_types else ()
    return IR(nodes=tuple(nodes), children=tuple(children), index=MappingProxyType(index),
              outputs=outputs, inputs=tuple(inputs), parameters=tuple(parameters),
              leaves=leaves, ops=ops, needs_grad=_needs_grad(nodes, children, kinds),
              hooked=hooked, vector=vector)


def _needs_grad(nodes, children, kinds):
    """Per node: whether it depends on an input or parameter (only those need a derivative)."""
    n = len(nodes)
    dead_types = tuple(c for c, k in kinds.items()
                       if k.leaf and not issubclass(c, (Input, Parameter)))
    if not dead_types and all(kinds[c].lo > 0 for c in kinds if not kinds[c].leaf):
        # every leaf is an input or parameter and every op has children: all of them do
        return (True,) * n
    needs = [False] * n
    for i, node in enumerate(nodes):
        kids = children[i]
        if kids is None:
            needs[i] = not isinstance(node, dead_types)
        else:
            needs[i] = True in map(needs.__getitem__, kids)
    return tuple(needs)


def parameter_needs(structure):
    """Per node: whether it depends on a parameter, the nodes a training step differentiates
    (it updates the parameters; the inputs' gradients would be computed and checked for
    nothing)."""
    params = {id(q) for q in structure.parameters}
    needs = [False] * len(structure.nodes)
    for i, (node, kids) in enumerate(zip(structure.nodes, structure.children)):
        needs[i] = id(node) in params if kids is None else True in map(needs.__getitem__, kids)
    return tuple(needs)


def _vector_outputs(nodes, children, kinds, outputs):
    """The positions of the vector-valued outputs; a vector node anywhere else (read by another
    node, or not an output) is a TreenetError: its value is a list, which no op reads."""
    vector_types = {c for c, k in kinds.items() if k.vector}
    if not vector_types:
        return ()
    found = [i for i, node in enumerate(nodes) if type(node) in vector_types]
    read = set()
    if len(outputs) > 1:
        for kids in children:
            read.update(kids or ())
    for i in found:
        if i not in outputs or i in read:
            raise TreenetError(f"{type(nodes[i]).__name__} gives a vector: it can only be the "
                               "output of a network, not feed another node")
    return tuple(found)


def name_leaves(ir):
    """Give every unnamed input and parameter a name (x0, x1, ..., p0, p1, ...), refuse two
    inputs of one name, and rename a parameter whose name is taken to the next free `name_2`:
    parameters are found by name in saved programs. Part of compiling, not of building."""
    inputs, parameters = ir.inputs, ir.parameters
    # only the names leaves already have can clash: the made-up ones skip every taken name and
    # have no "_", so they are distinct from each other, from those and from the renamed ones
    seen = {}
    for leaf in inputs:
        if leaf.name is not None and seen.setdefault(leaf.name, leaf) is not leaf:
            raise TreenetError(f"two different inputs are named {leaf.name!r}: predict could "
                               "not tell them apart")
    taken = set(seen)
    taken.update([leaf.name for leaf in parameters if leaf.name is not None])
    # a rebound `w = p(..)`, or an input's name
    for leaf in parameters:
        if leaf.name is not None and seen.setdefault(leaf.name, leaf) is not leaf:
            k = 2
            while f"{leaf.name}_{k}" in seen or f"{leaf.name}_{k}" in taken:
                k += 1
            leaf.name = f"{leaf.name}_{k}"
            seen[leaf.name] = leaf
    _name(inputs, "x", taken)
    _name(parameters, "p", taken)


def _name(leaves, prefix, taken):
    counter = 0
    for leaf in leaves:
        if leaf.name is None:
            name = f"{prefix}{counter}"
            while name in taken:
                counter += 1
                name = f"{prefix}{counter}"
            leaf.name = name
            counter += 1


__all__ = ["IR", "build", "name_leaves", "parameter_needs"]
