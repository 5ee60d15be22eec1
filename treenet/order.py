"""The topological order of a network: children first, each node once, macros replaced by their
expansions. Below the engine and the printer, which both walk it. Iterative: no recursion limit."""

from .errors import TreenetError
from .nodes import Constant, Macro, NeuralNetNode

_EXPANSION_LIMIT = 10_000


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


__all__ = ["toposort"]
