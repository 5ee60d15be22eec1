"""How a network shows itself: a short `repr`, and in Jupyter its formula as LaTeX and its graph
as SVG (`_repr_latex_`, `_repr_mimebundle_`).

None of them raises, and none costs more than a bounded amount of work on a huge network: the
repr prints a preview, the first PREVIEW_NODES nodes met from the output in reading order (each
cut-off part shown as "…"), so a 100,000-node network's repr is as quick as a small one's.
The repr does not compile the network (compiling names its leaves: a debugger showing a repr
must not change names); the notebook display does, as any use of the network would."""

from .ir import IR
from .nodes import Constant, Input, Leaf, NeuralNetNode, Operation, Parameter, brief
from .printer import fragment, latex

#: the repr's formula is cut to this many characters ("…" marks the cut)
REPR_LIMIT = 120
#: nodes a preview reads from the output down: the repr's (and a large network's LaTeX) bound
PREVIEW_NODES = 300
#: networks up to this size display their whole formula as LaTeX, larger ones a preview
LATEX_NODES = 5_000
#: networks up to this size display their graph as SVG (dot's layout grows fast with size)
SVG_NODES = 300
#: the inputs a repr names before "…"
REPR_INPUTS = 8

_CUT = Input(name="…")  # stands for the part of a network a preview leaves out


def network_repr(net):
    """`<treenet network: sigmoid(p0*x + p1) | inputs x | 2 parameters>`, the formula bounded."""
    try:
        text, params, inputs, complete = _preview(net, False, PREVIEW_NODES)
        if len(text) > REPR_LIMIT:
            text = text[:REPR_LIMIT - 1] + "…"
        graph = net._graph
        if graph is not None:  # compiled: the exact lists, for free
            inputs, params, complete = list(graph.inputs), len(graph.parameters), True
        return f"<treenet network: {text} | {_inputs(inputs, complete)} | " \
               f"{_count(params, complete)}>"
    except Exception:  # noqa: BLE001 - a repr must never raise; the plain form always works
        return f"<treenet network: {type(net).__name__} (cannot be shown as a formula)>"


def _inputs(inputs, complete):
    names = [str(leaf.name) if leaf.name is not None else "?" for leaf in inputs]
    if not names:
        return "no inputs" if complete else "inputs …"
    shown = ", ".join(names[:REPR_INPUTS])
    if len(names) > REPR_INPUTS:
        shown += f", … ({len(names)} inputs)" if complete else ", …"
    elif not complete:
        shown += ", …"
    return f"input{'s' if len(names) > 1 or not complete else ''} {shown}"


def _count(n, complete):
    more = "" if complete else "+"
    return f"{n}{more} parameter{'' if n == 1 and complete else 's'}"


def repr_latex(net):
    """The network's formula as `$...$` LaTeX (a preview, "…" marking the cuts, past
    LATEX_NODES nodes); None when it cannot be shown."""
    try:
        if len(net.graph) <= LATEX_NODES:
            return f"${latex(net)}$"
        return f"${_preview(net, True, PREVIEW_NODES)[0]}$"
    except Exception:  # noqa: BLE001 - a repr must never raise (no LaTeX is shown then)
        return None


def repr_svg(net):
    """The graph as SVG text, or None: too large, or Graphviz not installed."""
    try:
        if len(net.graph) > SVG_NODES:
            return None
        from .dot import draw
        return draw(net, format="svg")
    except Exception:  # noqa: BLE001 - no `dot`, no graphviz package: just no picture
        return None


def repr_mimebundle(net, include=None, exclude=None):
    """What Jupyter shows: text/plain (the repr), text/latex and, with Graphviz, image/svg+xml."""
    makers = {"text/plain": network_repr, "text/latex": repr_latex, "image/svg+xml": repr_svg}
    bundle = {}
    for mime, make in makers.items():
        if (include and mime not in include) or (exclude and mime in exclude):
            continue
        shown = make(net)
        if shown is not None:
            bundle[mime] = shown
    return bundle


# --- the preview: a bounded walk from the output ---------------------------------------------

def _preview(root, as_latex, limit):
    """(formula, parameters met, inputs met, complete) of the first `limit` nodes under `root`
    in reading order; what is left out (and a cycle's way back) prints as "…"."""
    ir, params, inputs, complete = _bounded_ir(root, limit)
    named = all(isinstance(leaf.name, str) for leaf in params)
    text = fragment(ir, latex=as_latex, params="name" if named else "value")
    return text, len(params), inputs, complete


def _bounded_ir(root, limit):
    """An IR of at most `limit` nodes of the graph under `root` (children first, each node once),
    the rest replaced by one "…" leaf. A variadic op keeps the arguments read and one "…"; an op
    of fixed arity keeps its arity, so it still prints as itself. Iterative."""
    nodes, children, index = [_CUT], [None], {id(_CUT): 0}
    frames = [[root, 0, []]]  # node, next argument to read, positions of the arguments read
    opened = {id(root)}
    complete = True
    while frames:
        frame = frames[-1]
        node, k, kids = frame
        args = _args(node)
        if k < len(args):
            child = args[k]
            frame[1] += 1
            if isinstance(child, (int, float)) and not isinstance(child, bool):
                child = _number_leaf(child)
            if isinstance(child, NeuralNetNode) and id(child) in index:
                kids.append(index[id(child)])  # met before, through another parent
            elif not isinstance(child, NeuralNetNode) or id(child) in opened:
                kids.append(0)  # not a node, or a cycle's way back: shown as "…"
                complete = False
            elif len(nodes) + len(frames) > limit:
                complete = False
                if _variadic(node):
                    kids.append(0)
                    frame[1] = len(args)
                else:
                    kids.extend([0] * (len(args) - k))
                    frame[1] = len(args)
            else:
                opened.add(id(child))
                frames.append([child, 0, []])
            continue
        frames.pop()
        index[id(node)] = len(nodes)
        nodes.append(node)
        children.append(None if isinstance(node, Leaf) else tuple(kids))
        if frames:
            frames[-1][2].append(index[id(node)])
    leaves = [n for n in nodes[1:] if isinstance(n, Leaf)]
    inputs = sorted((n for n in leaves if isinstance(n, Input)), key=_serial)
    params = [n for n in leaves if isinstance(n, Parameter)]
    n = len(nodes)
    ir = IR(nodes=tuple(nodes), children=tuple(children), index=index, outputs=(n - 1,),
            inputs=tuple(inputs), parameters=tuple(params), leaves=(), ops=(),
            needs_grad=(True,) * n, hooked=(), vector=())
    return ir, params, inputs, complete


def _args(node):
    if isinstance(node, Leaf):
        return ()
    args = getattr(node, "children", None)
    return args if isinstance(args, (list, tuple)) else ()


def _variadic(node):
    return isinstance(node, Operation) and type(node).arity_range()[1] is None


def _number_leaf(v):
    """A number among a node's children, as the Constant compile would make of it."""
    try:
        return Constant(v)
    except Exception:  # noqa: BLE001 - too large for a float: shown as "…"
        return brief(v)


def _serial(leaf):
    return getattr(leaf, "_serial", 0)


__all__ = ["network_repr", "repr_latex", "repr_svg", "repr_mimebundle", "REPR_LIMIT"]
