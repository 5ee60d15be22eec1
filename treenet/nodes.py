"""The node classes a network is built from: leaves (Input, Parameter, Constant), the Operation
base that every op in `ops` extends, and Macro, a node that stands for a subtree of other nodes
(the macros themselves, such as Linear, live in `treenet.macros`).

This module sits below the engine, the printer and io (see the layering in treenet/__init__.py),
so the methods that need them (`compile`, `funcify`, `save`) call entry points that
treenet/__init__.py installs into `_ENTRY_POINTS` when the package is imported (dependency
inversion: the higher layers are wired in from above, never imported from here)."""

from collections.abc import Mapping
import contextlib
import contextvars
import itertools
from numbers import Real
import random

from .errors import EvaluationError, MissingRuleError, TreenetError

# Leaves are ordered by creation (the parser creates them in order of appearance in the text), so
# a network's inputs and parameters come out in the order a reader meets them.
_serial = itertools.count()

# The random source for new parameters: `parse(text, seed=...)` installs its own for the duration
# of the parse, so macros written in Python (which just call Parameter()) are reproducible too.
_rng = contextvars.ContextVar("treenet_rng", default=random)


# name -> callable, installed by treenet/__init__.py: "compile" (root -> Graph), "funcify"
# (root, params -> text), "save" (root, path), "predict_batch" (root, values -> array, or None
# for one sample), "draw" (root, path, format), "repr", "repr_latex", "repr_mimebundle" (the
# display; repr falls back to _repr below without it)
_ENTRY_POINTS = {}


def install(**entry_points):
    """Install the higher layers' entry points that node methods call (see the module docstring)."""
    _ENTRY_POINTS.update(entry_points)


def _entry(name):
    try:
        return _ENTRY_POINTS[name]
    except KeyError:
        raise TreenetError(f"treenet's {name} is not installed: import treenet, not only "
                           "treenet.nodes") from None


def brief(v, limit=40):
    """repr(v) cut to `limit` characters (a 400-digit int should not fill an error message)."""
    text = repr(v)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def as_float(v, what):
    """v as a plain float, or a TreenetError naming `what` (e.g. "parameter 'w'") if v is not a
    real number (bool and str included) or is too large for a float."""
    if type(v) is float:
        return v
    if isinstance(v, float):  # np.float64 and other subclasses: their repr is not a literal
        return float(v)
    if isinstance(v, bool) or not isinstance(v, Real):
        raise TreenetError(f"{what}: expected a number, got {brief(v)} ({type(v).__name__})")
    try:
        return float(v)
    except OverflowError:
        raise TreenetError(f"{what} is {brief(v)}: too large for a float") from None


def leaf_label(leaf):
    """How an error names a leaf: "input 'x'", "parameter 'p0'", "constant"."""
    kind = ("input" if isinstance(leaf, Input) else "parameter" if isinstance(leaf, Parameter)
            else type(leaf).__name__.lower())
    return f"{kind} {leaf.name!r}" if leaf.name is not None else kind


def leaf_float(leaf, v):
    """The value v held by `leaf` as a plain float, or an EvaluationError naming the leaf: the
    one check of a value set from outside (`p.value = "1"`) for every pass that reads leaves."""
    if type(v) is float:
        return v
    try:
        return as_float(v, leaf_label(leaf))
    except TreenetError as exc:
        raise EvaluationError(str(exc)) from None


def check_network(net, call, other=None):
    """A TreenetError unless `net` is a network; `other`, the next argument, may show a swap."""
    if isinstance(net, NeuralNetNode):
        return
    if isinstance(other, NeuralNetNode):
        raise TreenetError(f"{call} takes the network first: the arguments are swapped "
                           f"(got {brief(net, 60)} first, then a network)")
    raise TreenetError(f"{call}: {brief(net, 60)} is a {type(net).__name__}, not a network "
                       "(a NeuralNetNode, e.g. from treenet.parse)")


@contextlib.contextmanager
def using_rng(rng):
    """Draw the initial values of parameters created inside this block from `rng`."""
    token = _rng.set(rng)
    try:
        yield rng
    finally:
        _rng.reset(token)


class NeuralNetNode:
    """A node of a network: it reads the ordered list `children` and has a value."""

    #: set on every node by a forward pass (leaves hold theirs)
    value = None
    #: True for nodes whose value is a list (Output, Softmax): allowed only at the root
    vector_valued = False

    #: d(output)/d(this node), set by a backward pass
    grad = 0.0
    #: inputs that belong to the network even if the output does not read them (`input x, y`)
    declared_inputs = ()

    def __init__(self, children=None, name=None):
        if name is not None and not isinstance(name, str):
            raise TreenetError(f"{type(self).__name__}: the name must be a str, got "
                               f"{brief(name)} ({type(name).__name__})")
        self.children = list(children) if children is not None else []
        self.name = name
        self._graph = None

    # --- the compiled view --------------------------------------------------------------------
    def compile(self):
        """Expand macros, name the inputs and parameters, fix a topological order; returns self."""
        self._graph = _entry("compile")(self)
        return self

    @property
    def graph(self):
        """The compiled graph (compiling on first use)."""
        if self._graph is None:
            self.compile()
        return self._graph

    @property
    def inputs(self):
        """The Input nodes, in creation order (for parsed programs: order of first appearance)."""
        return self.graph.inputs

    @property
    def parameters(self):
        """The Parameter nodes, in creation order."""
        return self.graph.parameters

    def predict(self, values=()):
        """The output for these input values (a sequence in `.inputs` order, or a name -> value
        map); for a batch (a 2-D array or list of rows, or a name -> 1-D array map) a numpy
        array of the outputs, (n,) or (n, k) for a vector output."""
        if not isinstance(values, (int, float)) and (
                isinstance(values, Mapping) or getattr(values, "ndim", 1) >= 2
                or (isinstance(values, (list, tuple)) and values
                    and not isinstance(values[0], (int, float)))):
            out = _entry("predict_batch")(self, values)  # None: one sample after all
            if out is not None:
                return out
        return self.graph.predict(values)

    def forward(self):
        """The output for the inputs' current values (cached until an input or parameter changes)."""
        return self.graph.forward()

    def __call__(self, values=()):
        return self.predict(values)

    def backward(self, d=1.0):
        """Accumulate d(output)/d(leaf) * d into `.grad` of every Input and Parameter reached."""
        self.graph.backward(d)

    def zero_grad(self):
        """Set `.grad` of every input and parameter back to 0."""
        self.graph.zero_grad()

    def funcify(self, params="value"):
        """The network as a formula; parameters shown by value ("value"), by name ("name"), or as
        `p(value)` bindings ("p", the form `save` writes)."""
        return _entry("funcify")(self, params=params)

    def save(self, path):
        """Write the network as a treenet program that loads back bit-identically."""
        _entry("save")(self, path)

    def draw(self, path=None, format="svg"):
        """The graph drawn by Graphviz's `dot` (see treenet.draw): written to `path` (the path
        returned), or returned (SVG text by default)."""
        return _entry("draw")(self, path=path, format=format)

    # --- hooks --------------------------------------------------------------------------------
    def on_backward(self, derivative):
        """Called by `backward` with d(output)/d(this node); override to react (the tutorials'
        hook). The default does nothing."""

    def __repr__(self):
        """`<treenet network: sigmoid(p0*x + p1) | inputs x | 2 parameters>`, bounded."""
        shown = _ENTRY_POINTS.get("repr")
        return shown(self) if shown is not None else _repr(self)

    # --- Jupyter's display: the formula as LaTeX, the graph as SVG (never raising) -------------
    def _repr_latex_(self):
        shown = _ENTRY_POINTS.get("repr_latex")
        return shown(self) if shown is not None else None

    def _repr_mimebundle_(self, include=None, exclude=None):
        shown = _ENTRY_POINTS.get("repr_mimebundle")
        return shown(self, include, exclude) if shown is not None else {"text/plain": repr(self)}


def _repr(root, limit=2000):
    """`Type([children...])`, written iteratively and cut at `limit` characters: a deep network
    must not hit the recursion limit, and a shared one must not print exponentially."""
    out, size, stack = [], 0, [root]
    while stack and size <= limit:
        item = stack.pop()
        if isinstance(item, str):
            text = item
        elif isinstance(item, Leaf) or not isinstance(item, NeuralNetNode):
            text = repr(item)
        else:
            text = f"{type(item).__name__}(["
            stack.append("])")
            for k, child in enumerate(reversed(item.children)):
                stack.append(child)
                if k < len(item.children) - 1:
                    stack.append(", ")
        out.append(text)
        size += len(text)
    text = "".join(out)
    return text if not stack and size <= limit else text[:limit] + "...])"


class Leaf(NeuralNetNode):
    """A node without children: its value is set from outside, not computed."""

    def __init__(self, value=0.0, name=None):
        super().__init__(None, name)
        self.value = value
        self.grad = 0.0
        self._serial = next(_serial)

    def __repr__(self):
        if self.name is not None:
            return f"{type(self).__name__}({self.value!r}, name={self.name!r})"
        return f"{type(self).__name__}({self.value!r})"


class Input(Leaf):
    """A named input of the network; `predict` sets its value."""

    def __init__(self, value=0.0, name=None):
        super().__init__(value, name)


class Parameter(Leaf):
    """A trainable value; uniform in [-1, 1] unless given."""

    def __init__(self, value=None, name=None, learning_rate=0.01):
        if value is None:
            value = _rng.get().uniform(-1.0, 1.0)
        value = as_float(value, "Parameter value" if name is None else f"parameter {name!r}")
        super().__init__(value, name)
        self.learning_rate = learning_rate


class Constant(Leaf):
    """A fixed number."""

    def __init__(self, value, name=None):
        super().__init__(as_float(value, "Constant value"), name)


class Operation(NeuralNetNode):
    """A node computed from its children. Each subclass declares one op in one place: its value
    (`compute`), its local derivatives (`partials`, or `vjp`), its symbolic derivatives (`dnodes`),
    its printed form (`symbol`/`call`, `notation`, `precedence`, `associativity`, `latex`) and its
    sympy twin (`to_sympy`).

    Subclasses that set `call` or `symbol` are registered in `treenet.ops.REGISTRY` (a clash of
    class name, call name or symbol with another op is a TreenetError); only `compute` and
    `partials` (or `vjp`) are required, a missing optional rule is a MissingRuleError where used."""

    #: the name used in the language, for ops written as calls (`relu(x)`)
    call = None
    #: the infix or prefix symbol, for ops written as operators
    symbol = None
    #: "call", "infix", "prefix" or "vector"; defaults to "call" for an op with a `call` name
    notation = None
    #: how many children: an int, or (min, None) for "at least min"
    arity = 1
    #: binding strength when printed (see treenet.ops: SUM < PRODUCT < UNARY < POWER < ATOM)
    precedence = 100
    #: "left" (a - b - c is (a - b) - c) or "right" (a ^ b ^ c is a ^ (b ^ c)), for infix ops
    associativity = "left"
    #: LaTeX template: "{0} \cdot {1}" (an infix joiner, repeated), "-{0}", r"\frac{{0}}{{1}}",
    #: r"\sigma\left({args}\right)"; None: the notation's default
    latex = None
    #: the precedence of the LaTeX form, where it differs (a fraction ranks as a power)
    latex_precedence = None
    #: for + and -: the symbol that absorbs a negated right operand (a + (-b) prints a - b)
    negated_symbol = None
    #: True for the op that is -x: a negated number prints as one number
    negation = False
    #: True when f(-a, ...) == -f(a, ...) exactly, so a sum may move the sign out of the first factor
    odd = False
    #: True when the derivative is zero wherever it exists (step, sign): `derivative` prunes them
    piecewise_constant = False

    _registry = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.notation is None and cls.call is not None:
            cls.notation = "call"
        if "call" in cls.__dict__ or "symbol" in cls.__dict__:
            _register(cls)

    # An op's value and gradient live in the arrays of the graphs compiled with it, so the engine's
    # loops write no attributes. `_graphs` holds a weak reference to each graph compiled with the
    # node; the node reports the live one that ran last (every forward and backward stamps its
    # graph: O(1) per run, nothing per node), so whatever ran last, the nodes report that
    # network's values and gradients.
    _graphs = ()

    def __init__(self, children=None, name=None):
        super().__init__(children, name)
        self._check_arity(len(self.children))

    def _last_run(self):
        """The live graph that ran over this node last (None if none is alive)."""
        best = None
        for ref in self._graphs:
            graph = ref()
            if graph is not None and (best is None or graph._ran >= best._ran):
                best = graph
        return best

    @property
    def value(self):
        """This node's value in the live graph that ran over it last (None before a forward)."""
        graph = self._last_run()
        if graph is None or graph._values is None:
            return None
        return graph._values[graph.index[id(self)]]

    @property
    def grad(self):
        """d(that graph's output)/d(this node) from its last backward (0.0 before one)."""
        graph = self._last_run()
        if graph is None or graph._adjoints is None:
            return 0.0
        return graph._adjoints[graph.index[id(self)]]

    @classmethod
    def owns(cls, extra, *rules):
        """Whether `extra` (a code template, an update rule, a fused loss: a shortcut that
        restates the op's rules) still describes this class: declared somewhere in it, and none
        of `rules` redefined below the class that declared it for a concrete rule of its own. A
        subclass of Add with its own `compute` must not inherit Add's shortcuts; Max may inherit
        those of _Extreme, which has no `compute` of its own to restate."""
        mro = [k for k in cls.__mro__ if k is not Operation]  # Operation's rules are defaults

        def owner(name, start=0):
            return next((k for k in range(start, len(mro)) if name in mro[k].__dict__), None)

        have = owner(extra)
        if have is None:
            return False
        return not any((owner(rule) or 0) < have and owner(rule, have) is not None
                       for rule in rules)

    @classmethod
    def _check_arity(cls, n):
        lo, hi = cls.arity_range()
        if n < lo or (hi is not None and n > hi):
            raise TreenetError(f"{cls.__name__} takes {cls.describe_arity()}, got {n}")

    @classmethod
    def arity_range(cls):
        if isinstance(cls.arity, tuple):
            return cls.arity
        return (cls.arity, cls.arity)

    @classmethod
    def describe_arity(cls):
        lo, hi = cls.arity_range()
        word = lambda n: "1 argument" if n == 1 else f"{n} arguments"  # noqa: E731
        if hi is None:
            return f"{lo} or more arguments"
        if lo == hi:
            return word(lo)
        return f"{lo} to {hi} arguments"

    # --- the op's rules (subclasses fill these in) --------------------------------------------
    def compute(self, xs):
        """The value from the children's values."""
        raise _missing(self, "compute", "every op needs its value")

    def partials(self, xs, out):
        """d(value)/d(child i) for each child, given the children's values and this value."""
        raise _missing(self, "partials", "backward needs it (or a vjp)")

    def vjp(self, xs, out, g):
        """Each child's share of the upstream derivative g (the chain rule at this node)."""
        return [g * d for d in self.partials(xs, out)]

    def dnodes(self, args, out):
        """The local derivatives as nodes over `args` (the children) and `out` (this node)."""
        raise _missing(self, "dnodes", "treenet.derivative builds each op's local derivatives as "
                       "nodes with it (gradcheck(method='fd') works without it)")

    def to_sympy(self, args):
        """The sympy expression of this op applied to sympy expressions `args`."""
        raise _missing(self, "to_sympy", "treenet.to_sympy and gradcheck's exact column need the "
                       "op's sympy twin (gradcheck(method='fd') works without it)")

    def copy_with(self, children):
        """The same op over other children."""
        return type(self)(children)


def _missing(op, method, why):
    return MissingRuleError(f"op {type(op).__name__} has no {method}: {why}; define "
                            f"{method} in the class")


def _clash(cls, other):
    """(what, value) that two op classes share and must not, or None ("-" is both an infix and
    a prefix symbol, so a symbol clashes only within one notation)."""
    if other.__name__ == cls.__name__:
        return "class name", cls.__name__
    if cls.call is not None and other.call == cls.call:
        return "call name", cls.call
    if cls.symbol is not None and (other.symbol, other.notation) == (cls.symbol, cls.notation):
        return "symbol", cls.symbol
    return None


def _register(cls):
    """Put an op class in the registry, refusing a second op with the same class name, call name
    or symbol. A class from the same module and qualname replaces its old self: importlib.reload,
    or a cell run again in a notebook."""
    origin = (cls.__module__, cls.__qualname__)
    for other in Operation._registry.values():
        if (other.__module__, other.__qualname__) == origin:
            continue
        clash = _clash(cls, other)
        if clash:
            raise TreenetError(f"op {cls.__qualname__} ({cls.__module__}): the {clash[0]} "
                               f"{clash[1]!r} is taken by {other.__qualname__} "
                               f"({other.__module__}); choose another")
    if not issubclass(cls, Macro):
        if cls.compute is Operation.compute:
            raise TreenetError(f"op {cls.__name__} has no compute: every op needs "
                               "compute(self, xs), its value from its children's values")
        if cls.partials is Operation.partials and cls.vjp is Operation.vjp:
            raise TreenetError(f"op {cls.__name__} has no partials: backward needs "
                               "partials(self, xs, out), d(value)/d(child) for each child "
                               "(or vjp(self, xs, out, g))")
    stale = [k for k, v in Operation._registry.items()
             if (v.__module__, v.__qualname__) == origin]
    for k in stale:
        del Operation._registry[k]
    Operation._registry[cls.__name__] = cls


class Macro(Operation):
    """A node that stands for a subtree of elementary nodes; `compile` replaces it by its
    expansion. Subclasses implement `expand()`, which may create fresh parameters."""

    arity = (0, None)

    def expand(self):
        """The subtree this macro stands for, built over `self.children`."""
        raise NotImplementedError

    def expanded(self):
        """The expansion, built once: a macro shared by several parents expands to one subtree."""
        if getattr(self, "_expansion", None) is None:
            self._expansion = self.expand()
        return self._expansion


def __getattr__(name):
    """`treenet.nodes.Linear` (and `treenet.ops.Linear`) for code written before Linear moved up to
    treenet.macros: found in the op registry, which the class joined when macros was imported."""
    if name == "Linear" and "Linear" in Operation._registry:
        return Operation._registry["Linear"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
