"""Symbolic reverse mode: the derivative of a network as another network.

`derivative(net, "x")` walks the compiled graph once from the output down (the same sweep as the
backward pass, but accumulating nodes instead of numbers): the adjoint of a node is the sum over
its parents of parent-adjoint * local derivative, where the local derivatives are the nodes each
op's `dnodes` builds. Each adjoint is one node, referred to by every term that needs it, so shared
sub-expressions stay shared and the result grows linearly with the network (sympy's tree of the
same derivative grows with the number of paths instead). The algebra builders fold constants
(1*a -> a, a + 0 -> a), and branches that cannot reach `wrt` are never visited.

The result is an ordinary network: it reads a copy of the forward nodes (so running it never
touches the original's `.value`/`.grad` of inner nodes) and the *same* Input and Parameter leaves,
so setting the inputs of one sets them for both, and training the original moves its derivative.
Its inputs are those it still depends on (d/dx of p*x + y has no input y)."""

import difflib

from .errors import TreenetError
from .nodes import Constant, Input, NeuralNetNode, Parameter, leaf_float
from . import algebra as B


def derivative(node, wrt, component=None):
    """d(output)/d(wrt) as a network (it compiles on first use); `wrt` is an input or parameter,
    by name or node.

    For a vector output (`[a, b]`, `softmax(...)`), pass `component=k` to differentiate output k;
    its op gives the local derivatives (softmax's s_k*(delta_kj - s_j), with each s_j built as
    stably as the engine computes it, so finite wherever the engine's is)."""
    return gradient(node, [wrt], component)[0]


def gradient(node, wrt=None, component=None):
    """The derivatives with respect to several variables from one sweep (they share nodes).

    `wrt`: a list of inputs/parameters (names or nodes); None for every input and parameter. Returns
    a list of networks when `wrt` is a list, else a dict by name.

    Building them all is linear in the size of the graph: one sweep, and together the results
    hold O(graph) nodes, because they share their adjoints (on a chain, d/dp_k reuses the adjoint
    of layer k+1). They are not compiled here -- a network compiles on first use -- since each
    compiled Graph holds its own node order: compiling all of a chain's N results is O(N^2)."""
    as_dict = wrt is None
    ir = node.graph.ir  # compiles (so every leaf has its name) or reuses the compiled IR
    for i in ir.leaves:  # the builders fold constants and the result carries the parameters
        if not isinstance(ir.nodes[i], Input):
            leaf_float(ir.nodes[i], ir.nodes[i].value)
    if wrt is None:
        wrt = list(ir.inputs) + list(ir.parameters)
    scope = _scope(node)  # once: one per target would be quadratic in the number of variables
    targets = [_resolve(scope, w) for w in wrt]
    _check_component(ir.nodes[ir.output], component)
    index = ir.index
    wanted = {index[id(t)] for t in targets if id(t) in index}
    adjoints = _sweep(ir, wanted, component)
    results = []
    for t in targets:
        i = index.get(id(t))
        d = adjoints[i] if i is not None and adjoints[i] is not None else Constant(0.0)
        d._derivative_scope = scope  # shared, not copied: read-only
        results.append(d)
    if as_dict:
        return {t.name: d for t, d in zip(targets, results)}
    return results


def scalar_root(node, component=None):
    """The scalar network to differentiate: `node` itself, or component k of a vector output (as
    its op builds it: softmax's is as stable as the engine's)."""
    ir = node.graph.ir
    out = ir.nodes[ir.output]
    _check_component(out, component)
    if not out.vector_valued:
        return out
    return out.component_node(list(out.children), component)


def _check_component(out, component):
    """`component` must be None for a scalar output and a valid index for a vector one."""
    if not out.vector_valued:
        if component is not None:
            raise TreenetError("component= is only for vector outputs; this network gives one "
                               "number")
        return
    width = len(out.children)
    if component is None:
        raise TreenetError(f"the network gives a vector of {width}: differentiate one component "
                           f"at a time with component=k (0 to {width - 1})")
    if isinstance(component, bool) or not isinstance(component, int) \
            or not 0 <= component < width:
        raise TreenetError(f"component must be an integer from 0 to {width - 1}, got "
                           f"{component!r}")


def _scope(node):
    """Every leaf a name may refer to: the network's, and those of what it was derived from (so
    the second derivative with respect to a variable the first one no longer contains is 0, not
    an unknown name)."""
    ir = node.graph.ir
    leaves = {leaf.name: leaf for leaf in ir.inputs + ir.parameters}
    for name, leaf in getattr(node, "_derivative_scope", {}).items():
        leaves.setdefault(name, leaf)
    return leaves


def _resolve(leaves, wrt):
    """The leaf `wrt` names or is; `leaves` is the network's `_scope`."""
    if isinstance(wrt, str):
        if wrt not in leaves:
            hint = difflib.get_close_matches(wrt, list(leaves), n=1)
            raise TreenetError(f"{wrt!r} is not an input or parameter of the network"
                               + (f"; did you mean {hint[0]!r}?" if hint else
                                  f" (they are: {', '.join(leaves) or 'none'})"))
        return leaves[wrt]
    if isinstance(wrt, (Input, Parameter)):
        return wrt  # a leaf the network does not read: the derivative is 0
    if isinstance(wrt, NeuralNetNode):
        raise TreenetError(f"can only differentiate with respect to an input or a parameter, "
                           f"not a {type(wrt).__name__}")
    raise TreenetError(f"wrt must be a name or an Input/Parameter node, got {wrt!r}")


def _sweep(ir, wanted, component=None):
    """The adjoint node of every node in `wanted` (None where it is 0), from the IR's output
    down; for a vector output, of its output `component`, whose local derivatives its op gives
    (`component_dnodes`)."""
    nodes, children, out = ir.nodes, ir.children, ir.output
    n = len(nodes)
    # only nodes on a path from the output down to a wanted leaf get an adjoint
    reaches = [i in wanted for i in range(n)]
    for i, kids in enumerate(children):
        if kids is not None:
            reaches[i] = any(reaches[j] for j in kids)
    # copies of the forward nodes the derivative reads (see the module docstring); leaves shared
    copy = [None] * n
    for i, node in enumerate(nodes):
        if children[i] is None or node.vector_valued:
            copy[i] = node  # a vector node is the root: nothing reads a copy of it
        else:
            copy[i] = node.copy_with([copy[j] for j in children[i]])
            copy[i].name = node.name  # keeps a binding's name, so the derivative reads like it
    terms = [[] for _ in range(n)]
    if reaches[out]:
        terms[out].append(B.const(1.0))
    adjoint = [None] * n
    for i in range(out, -1, -1):
        if not terms[i]:
            continue
        a = terms[i][0] if len(terms[i]) == 1 else B.add(*terms[i])
        terms[i] = None  # done with: frees the list on long chains
        adjoint[i] = a
        kids = children[i]
        if kids is None or B.is_const(a, 0.0) or nodes[i].piecewise_constant:
            continue  # step and sign: derivative 0 wherever it exists (engine convention)
        args = [copy[j] for j in kids]
        if nodes[i].vector_valued:
            local = nodes[i].component_dnodes(args, component)
        else:
            local = nodes[i].dnodes(args, copy[i])
        for j, d in zip(kids, local):
            if reaches[j] and not B.is_const(d, 0.0):
                terms[j].append(B.mul(a, d))
    return [adjoint[i] if i in wanted else None for i in range(n)]


__all__ = ["derivative", "gradient", "scalar_root"]
