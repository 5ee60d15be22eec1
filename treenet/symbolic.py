"""The sympy bridge: a network as a sympy expression, built from each op's `to_sympy` twin.

Inputs and parameters become real sympy symbols with their treenet names; numbers become sympy
numbers (integers when the float is integral, so x^2 stays x**2). The graph is converted in
topological order, each node once, so a shared sub-expression is one sympy object referred to by
all its users: building is linear in the size of the graph, with no recursion.

sympy's automatic simplification, though, walks the whole tree under each new node (tanh(u) asks
whether u is finite, which expands u), and a tree with shared parts has exponentially many paths:
a 14-deep network of two tanh neurons per layer takes seconds, 20 deep never finishes. So with
`evaluate="auto"` a node is simplified by sympy while the tree under it is small, and kept exactly
as the network writes it (sympy's `evaluate(False)`) once it is larger than `AUTO_LIMIT` nodes.

Depth: treenet's conversion is iterative, but sympy's own algorithms (assumption queries that
expand the argument, cache keys, sort keys) recurse once per level of the tree, so a chain of 400
tanh layers exceeds Python's default recursion limit inside sympy. That surfaces as a TreenetError
saying so, never as a raw RecursionError; `derivative` and `gradcheck` never build the whole
expression and work at any depth. `evaluate=False` skips those simplifications and converts far
deeper chains (3000 tanh layers), though sympy may recurse as deep when the result is used.

Division by zero: sympy writes 1/relu(y) as Piecewise((1/y, y > 0), (zoo, True)), and an op that
compares such an argument (relu, abs, sign, max, min) makes sympy compare zoo, which it cannot;
no sympy expression of the network is built then, and the conversion raises a TreenetError naming
the sub-expression (the network itself is undefined there: evaluating it raises)."""

import math

from .errors import TreenetError
from .ir import build
from .nodes import Constant, Input, Parameter, leaf_float

#: tree size (counting every path) above which `evaluate="auto"` stops sympy's simplification
AUTO_LIMIT = 2000


def number(v):
    """A float as a sympy number: an Integer when integral (exact either way)."""
    import sympy
    if math.isfinite(v) and v == int(v) and abs(v) < 2 ** 53:
        return sympy.Integer(int(v))
    return sympy.Float(v)  # the binary value exactly (53 bits), not its decimal rendering


def symbol(leaf):
    """The sympy symbol standing for an Input or Parameter: its name, real."""
    import sympy
    return sympy.Symbol(leaf.name, real=True)


def to_sympy(node, values=False, evaluate="auto"):
    """The network under `node` as a sympy expression (a list of them for a vector output).

    With `values=True`, returns `(expression, values)`, where `values` maps each input's and
    parameter's symbol to its current value (a sympy Float), ready for `.subs` or `lambdify`.
    `evaluate`: True lets sympy simplify every node as it is built, False keeps the network's
    structure as written, "auto" (the default) simplifies small sub-expressions only (see the
    module docstring for why).

    Raises TreenetError when the network is too deep for sympy's recursive algorithms (a 400-layer
    tanh chain under Python's default recursion limit; see the module docstring):
    `derivative(...)` and `gradcheck(...)` work at any depth."""
    import sympy
    _check_evaluate(evaluate)
    ir = node.graph.ir  # compiles (naming every input and parameter) or reuses the compiled IR
    exprs = _convert(ir, evaluate)
    result = exprs[ir.output]
    if not values:
        return result
    subs = {exprs[i]: sympy.Float(leaf_float(ir.nodes[i], ir.nodes[i].value)) for i in ir.leaves
            if isinstance(ir.nodes[i], (Input, Parameter))}
    return result, subs


def sympy_values(node):
    """{symbol: value} for every input and parameter of the network (current values)."""
    import sympy
    return {symbol(leaf): sympy.Float(leaf_float(leaf, leaf.value))
            for leaf in list(node.inputs) + list(node.parameters)}


def subtree_to_sympy(root, evaluate="auto"):
    """Like `to_sympy` for a node that is not compiled on its own (a sub-expression, or a node
    `derivative` built): converts what is under it without compiling it. Same depth limit."""
    _check_evaluate(evaluate)
    ir = build(root)
    return _convert(ir, evaluate)[ir.output]


def _check_evaluate(evaluate):
    if evaluate is not True and evaluate is not False and evaluate != "auto":
        raise TreenetError(f"evaluate must be True, False or 'auto', got {evaluate!r}")


def _convert(ir, evaluate):
    """The sympy expression of every node of the IR, in its order."""
    import sympy
    try:
        return _convert_nodes(ir.nodes, ir.children, evaluate)
    except RecursionError:
        # sympy's cache may now hold objects whose assumptions were cut off half-way: a 150-deep
        # network that converts in a fresh process fails after a failed 400-deep one unless the
        # cache is cleared
        sympy.core.cache.clear_cache()
        raise _too_deep() from None


def _too_deep():
    """The error for a network deeper than sympy's recursive algorithms can take."""
    return TreenetError("the network is too deep for sympy's recursive algorithms (Python's "
                        "recursion limit was reached inside sympy); treenet.derivative(...) and "
                        "treenet.gradcheck(...) work at any depth")


def _convert_nodes(nodes, children, evaluate):
    size = [1] * len(nodes)  # tree size: how big sympy's view of each node is (paths counted)
    depth = [0] * len(nodes)
    exprs = [None] * len(nodes)
    for i, n in enumerate(nodes):
        kids = children[i]
        if kids is None:
            if isinstance(n, Constant):
                exprs[i] = number(leaf_float(n, n.value))
            elif n.name is None:
                raise ValueError("an input or parameter has no name: compile the network first")
            else:
                exprs[i] = symbol(n)
            continue
        size[i] = 1 + sum(size[j] for j in kids)
        depth[i] = 1 + max(depth[j] for j in kids)
        args = [exprs[j] for j in kids]
        simplify = evaluate is True or (evaluate == "auto" and size[i] <= AUTO_LIMIT)
        exprs[i] = _build(n, args, simplify, depth[i] > _SHALLOW)
    return exprs


#: depth up to which a RecursionError inside sympy is not the network's depth (150 levels convert)
_SHALLOW = 100


def _build(node, args, simplify, deep):
    """The op's sympy twin over `args`, simplified by sympy or not (see the module docstring).

    sympy folds a Piecewise that stands inside a comparison (relu of relu) even when told not to
    evaluate, and that fold fails under evaluate(False): then the other mode builds it. Where an
    argument holds sympy's zoo (a division by zero), no mode can: comparing zoo fails."""
    import sympy
    failure = None
    for mode in (simplify, not simplify):
        try:
            with sympy.evaluate(mode):
                return node.to_sympy(args)
        except RecursionError as exc:
            sympy.core.cache.clear_cache()  # see _convert
            if deep:
                raise
            failure = failure or exc  # sympy looping on what it cannot fold, not the depth
        except TreenetError:
            raise  # the op's own word (a missing sympy twin, say), not sympy failing
        except Exception as exc:  # sympy's folds fail in many ways (TypeError, AttributeError...)
            failure = failure or exc
        if _undefined_somewhere(args):
            break
    raise _unbuildable(node, args, failure) from failure


def _undefined_somewhere(args):
    """Whether an argument holds zoo or nan: sympy's 1/0, where the network is undefined."""
    import sympy
    # each shared sub-expression once (by identity): sympy's `has` walks every path of the tree
    seen, stack = set(), list(args)
    while stack:
        e = stack.pop()
        if e is sympy.zoo or e is sympy.nan:
            return True
        if id(e) not in seen:
            seen.add(id(e))
            stack.extend(e.args)
    return False


def _unbuildable(node, args, exc):
    """The error for a node sympy cannot build, saying why where that is known."""
    from .printer import describe
    where = describe(node)
    if _undefined_somewhere(args):
        return TreenetError(f"cannot convert {where} to sympy: an argument divides by zero for "
                            "some inputs (sympy's zoo or nan, where the network is undefined), "
                            "and sympy cannot compare that with a number")
    return TreenetError(f"sympy cannot build {where}: {type(exc).__name__}: {exc}")


__all__ = ["to_sympy", "sympy_values", "subtree_to_sympy", "symbol", "number", "AUTO_LIMIT"]
