"""The topological order of a network: children first, each node once, macros replaced by their
expansions. Below the IR, the engine and the printer, which all walk it. Iterative (no recursion
limit) and linear: each node's children read once, a constant number of dict and list
operations per node, the checks that depend only on a node's class made once per class and walk."""

from .errors import TreenetError
from .nodes import Constant, Leaf, Macro, NeuralNetNode

_EXPANSION_LIMIT = 10_000


class _Kind:
    """What `walk` needs to know of a node's class, found once per class and walk: a walk meets a
    handful of classes and hundreds of thousands of nodes (and a fresh table per walk sees an
    arity or hook set on a class after an earlier compile). Only node classes that are not macros
    get one, so a child whose class has one needs no further check."""

    __slots__ = ("leaf", "lo", "hi", "vector", "hooked")

    def __init__(self, cls):
        self.hooked = cls.on_backward is not NeuralNetNode.on_backward
        self.leaf = issubclass(cls, Leaf)
        self.vector = bool(getattr(cls, "vector_valued", False))
        if self.leaf:
            self.lo = self.hi = 0
        else:
            lo, hi = cls.arity_range()
            self.lo, self.hi = lo, (hi if hi is not None else 1 << 62)


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


def _arity_error(node, kind, n):
    if kind.leaf:
        return TreenetError(f"{type(node).__name__} is a leaf: it cannot have children")
    try:
        type(node)._check_arity(n)
    except TreenetError as exc:
        return exc
    return TreenetError(f"{type(node).__name__} cannot take {n} children")


def walk(roots):
    """(nodes, index, children, kinds, roots) of the graph under `roots`: `nodes` children first,
    each node once (each root after everything under it), `index` id(node) -> position,
    `children` a tuple of positions per node (None for a leaf), `kinds` the _Kind of each class
    met, `roots` the roots as nodes (a macro expanded, a number made a Constant). Macros are
    replaced by their expansions and numbers by Constants in their parents' `children`; a cycle,
    a leaf with children or an op with the wrong number of children is a TreenetError."""
    # One table, id -> position (-1 while the node's children are being walked): on a large
    # network every probe of a table is a cache miss, so each node costs as few as possible.
    # A node's second visit is found by the marker above it on the stack, not by a lookup.
    order, index, children, kinds = [], {}, [], {}
    roots = [_expand(_as_node(r, r, 0)) for r in roots]
    stack = roots[::-1]
    add_order, add_children, state_of = order.append, children.append, index.get
    get_index = index.__getitem__
    push, pop, extend = stack.append, stack.pop, stack.extend
    while stack:
        node = pop()
        if node is _FINISH:
            kids = pop()  # every child is finished
            node = pop()
            index[id(node)] = len(order)
            add_order(node)
            add_children(tuple(map(get_index, map(id, kids))))
            continue
        key = id(node)
        state = state_of(key)
        if state is not None:
            if state < 0:  # opened and not finished, and reached again: from below it
                raise TreenetError(f"the network has a cycle through {type(node).__name__}")
            continue  # reached before through another parent
        kind = kinds.get(type(node))
        if kind is None:
            kind = kinds[type(node)] = _Kind(type(node))
        kids = node.children
        n = len(kids)
        if not kind.lo <= n <= kind.hi:
            raise _arity_error(node, kind, n)
        if not n:
            index[key] = len(order)
            add_order(node)
            add_children(None if kind.leaf else ())
            continue
        index[key] = -1
        push(node)
        push(kids)  # finishing then reads the list, not the node again (a cache miss less)
        push(_FINISH)
        for child in kids:
            if type(child) not in kinds:  # a class not met yet: a number or a macro, maybe
                _settle(node, kids)
                break
        extend(kids)
    return order, index, children, kinds, roots


_FINISH = object()  # on the stack above a node whose children are pushed: finish it when popped


def _settle(node, kids):
    """Replace each number among `kids` by a Constant and each macro by its expansion."""
    for k, child in enumerate(kids):
        if not isinstance(child, NeuralNetNode) or isinstance(child, Macro):
            kids[k] = _expand(_as_node(child, node, k))


def toposort(root):
    """(nodes, index) for the graph under `root`: children first, each node once, macros replaced
    by their expansions in their parents' `children`. Iterative: no recursion limit."""
    order, index = walk([root])[:2]
    return order, index


__all__ = ["toposort", "walk"]
