"""Three-way gradient check: the backward pass against the exact derivative (sympy) and central
finite differences, variable by variable.

The exact derivative is sympy's, but not by differentiating the network's whole expression: that
tree has one copy of a shared sub-expression per path, so sympy's diff swells and, past a few
dozen layers, dies (see the benchmark). Instead each op's sympy twin (`to_sympy` over fresh
symbols) is differentiated by sympy once per op and arity, and the chain rule over the DAG -- which
is exact -- combines those partials, all evaluated in 50-digit arithmetic (mpmath) from the
network's float64 leaf values. An op of any arity (sum, product, max, min) whose 3-argument twin
is the left fold of its 2-argument one (checked on a grid of points with ties) is evaluated as
that fold, with the chain rule through it: sympy never sees its n-argument twin, whose
differentiation is quadratic (a sum) to exponential (max's n-way Piecewise) in n. It reads only
the graph's shape, the leaf values and the ops' sympy twins: nothing of the engine's `compute`,
`partials`, `vjp` or `dnodes`, and no float64 rounding. Its cost is linear in the network and in
each op's arity (one forward and one backward sweep for every variable at once).

The backward pass rounds: a row passes when |autodiff - exact| <= rtol*|exact| + atol + a bound
on that rounding (first order: each term of the chain rule off by a few ulps of the sum of
|terms| behind it, each addition by an ulp of the sum of |terms| in it, each operation by the
smallest subnormal), so a correct gradient passes at any scale, subnormals included; rtol covers
what the bound does not see (the engine's own forward rounding inside its local partials).

Finite differences: central, at steps h and 2h with h = eps^(1/3) * max(1, |v|); the reported
value is their Richardson extrapolation (4*D(h) - D(2h))/3, and |D(h) - D(2h)| (which is about
three times D(h)'s truncation error) plus a rounding bound is the tolerance. The rounding bound
is the forward pass's first-order error over the nodes the probes recompute: each node's
eps * (|value| + arity * sum |argument * local partial|) plus the smallest subnormal, times
|d output / d node| (the engine's local partials and adjoints only size this eps-small
allowance). Where D(h) and D(2h) disagree by more than 5% and more than rounding explains (a
function that turns within the step: tanh(2.5e10*x)), h shrinks by 8 until they agree (at most 12
times; a `step=` given is kept). Four evaluations per variable and step, each re-computing only
the nodes whose arguments changed, in topological order: at most the variable's cone (the nodes
downstream of it), and less where a value comes out the same (a saturated tanh, a perturbation
lost to rounding), which on a deep chain is most of it. A wide node (16 arguments or more) with
one argument moved is updated by its op's `update` rule where it has one (sum: out - old + new;
max, min: from the point's extreme, its ties and runner-up), O(1) instead of O(arity); such a
node's rounding allowance is then the update's, 2 eps (|out| + |old| + |new|) -- the point's own
rounding of the node is common to the four probes and cancels -- which is far tighter than a
recomputed sum's, so a wrong gradient through a wide sum fails where a full recompute's
allowance would have hidden it. A probe of one variable thus costs its cone, O(1) per wide node
in it: a dense unit of n inputs is checked in O(n), a network in O(variables * cone).

Kinks: a variable is at a kink when moving it within the finite-difference stencil switches the
branch of a relu/abs/step/sign/max/min node (or when it sits exactly on one). Finite differences
are meaningless there; the row is `KINK` and shows both one-sided derivatives, from the exact
derivative: for a kink exactly at the point, just below and just above it (1e-30 away); for a kink
inside the stencil but not at the point, at the stencil's outer points v - 2h and v + 2h, one on
each side of it (the derivative at the point itself is the exact column). It passes when the
backward pass agrees with the exact derivative (same kink convention) -- or, without the symbolic
check, when it lies between the one-sided values (those at the point included). A one-sided
derivative is forward mode from the moved variable over its cone, in 50-digit arithmetic; a wide
fold whose binary rule also associates (sum, product, max, min: checked like the fold, at every
position of four arguments) takes one moved argument in O(1), as f(prefix, f(x, suffix)) with
the point's prefix and suffix folds: n arguments tied at a max cost O(n), not n full sweeps.

sympy and mpmath are imported when a check runs, not with treenet."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import difflib
import heapq
import itertools
import math

from .derivative import scalar_root
from .errors import EvaluationError, TreenetError
from .ir import build
from .nodes import Input, Leaf, NeuralNetNode, Operation, Parameter

METHODS = ("all", "symbolic", "fd")
_EPS = 2.0 ** -52
_TINY = 2.0 ** -1074  # the smallest subnormal: no rounding is finer, whatever the scale
_DPS = 50
_PARTIAL_ULPS = 4     # an op's float64 local partial is taken to be within this many ulps
_SHRINKS = 12         # how many times finite differences may shrink the step (by 8 each)
_WIDE = 16            # from this many arguments, a probe updates a node rather than computes it


@dataclass
class Row:
    """One variable's line of the report."""
    name: str
    kind: str                 # "input" or "parameter"
    autodiff: float
    symbolic: float = None    # None when not computed (method="fd")
    fd: float = None          # None when not computed (method="symbolic") or out of the domain
    abs_error: float = 0.0    # |autodiff - reference|, the reference being symbolic, else fd
    rel_error: float = 0.0    # abs_error / |reference| (0 when both are 0)
    status: str = "ok"        # "ok", "KINK" or "FAIL"
    left: float = None        # one-sided derivatives, for KINK rows
    right: float = None
    fd_tolerance: float = None
    note: str = ""
    tolerance: float = None   # what |autodiff - symbolic| may be: rtol, atol and rounding

    @property
    def ok(self):
        return self.status != "FAIL"


class GradCheck:
    """The report: `rows` (one per variable), `.ok`, `.max_error`; `str()` is a table."""

    def __init__(self, rows, method, rtol, atol):
        self.rows, self.method, self.rtol, self.atol = rows, method, rtol, atol

    @property
    def ok(self):
        """True when no row failed (KINK rows do not fail on their own)."""
        return all(r.ok for r in self.rows)

    @property
    def max_error(self):
        """The largest |backward - exact| over the variables (finite differences with
        method="fd"); 0.0 for a network without variables."""
        return max((r.abs_error for r in self.rows), default=0.0)

    @property
    def max_rel_error(self):
        return max((r.rel_error for r in self.rows), default=0.0)

    def __getitem__(self, name):
        for r in self.rows:
            if r.name == name:
                return r
        names = [r.name for r in self.rows]
        hint = difflib.get_close_matches(str(name), names, n=1)
        raise TreenetError(f"the report has no variable {name!r}"
                           + (f"; did you mean {hint[0]!r}?" if hint else
                              f" (it has: {', '.join(names) or 'none'})"))

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def __bool__(self):
        return self.ok

    def __repr__(self):
        verdict = "ok" if self.ok else "FAILED"
        kinks = sum(r.status == "KINK" for r in self.rows)
        return (f"<GradCheck {verdict}: {len(self.rows)} variables, method={self.method}, "
                f"max error {self.max_error:.3g}" + (f", {kinks} at kinks" if kinks else "") + ">")

    def __str__(self):
        head = ["variable", "autodiff", "symbolic", "finite diff", "abs error", "rel error",
                "status"]
        lines = [head]
        for r in self.rows:
            status = r.status
            if r.status == "KINK":
                status += f"  left {_num(r.left)}, right {_num(r.right)}"
            if r.note:
                status += f"  ({r.note})"
            lines.append([r.name, _num(r.autodiff), _num(r.symbolic), _num(r.fd),
                          f"{r.abs_error:.2e}", f"{r.rel_error:.2e}", status])
        widths = [max(len(line[k]) for line in lines) for k in range(len(head) - 1)]
        out = ["  ".join(cell.ljust(w) if k == 0 else cell.rjust(w)
                         for k, (cell, w) in enumerate(zip(line, widths))) + "  " + line[-1]
               for line in lines]
        out.insert(1, "-" * len(out[0]))
        summary = (f"{'ok' if self.ok else 'FAILED'}: {len(self.rows)} variables, "
                   f"method={self.method}, max |autodiff - "
                   f"{'fd' if self.method == 'fd' else 'exact'}| = {self.max_error:.3g}")
        return "\n".join(out + [summary])


def _num(v):
    return "-" if v is None else f"{v:.10g}"


def gradcheck(node, values=None, method="all", wrt=None, component=None, rtol=1e-9, atol=1e-12,
              step=None):
    """Check the backward pass at a point: a per-variable report (see the module docstring).

    `values`: the inputs, as for `predict` (a sequence in `.inputs` order or a mapping by name; None
    keeps their current values); a mapping may also set parameters by name for the check. Every
    value is put back afterwards, `.grad` included. `method`: "all", "symbolic" (no finite
    differences) or "fd" (no sympy). `wrt`: the variables to check (names or nodes, or one of
    them), default every input and parameter; a declared input the output does not read has
    gradient 0. `component=k` checks output k of a vector output. `step`: the finite-difference
    step h (a positive number; default eps^(1/3) * max(1, |v|), shrunk where needed). A row
    passes when |autodiff - exact| <= rtol*|exact| + atol + the backward pass's rounding bound,
    and |autodiff - fd| is within the finite differences' own error estimate.

    Works at any depth and arity (nothing here recurses, and sympy only sees one op of at most
    three arguments at a time, or of the arity used where an op is not a fold)."""
    if method not in METHODS:
        raise TreenetError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    step = _checked_step(step)
    graph = node.graph
    variables = list(graph.inputs) + list(graph.parameters)
    by_name = {v.name: v for v in variables}
    chosen = _chosen(variables, by_name, wrt)
    root = scalar_root(node, component)  # also validates `component`
    saved = [(leaf, leaf.value, leaf.grad) for leaf in variables]
    try:
        _set_point(graph, by_name, values)
        return _check(graph, root, chosen, method, component, rtol, atol, step)
    except RecursionError:
        # the engine and the chain rule here are iterative; only sympy recurses, on one op's
        # formula at a time, so this is an op with thousands of arguments that is not a fold
        import sympy
        sympy.core.cache.clear_cache()  # see treenet.symbolic._convert
        raise TreenetError("an op of the network has too many arguments for sympy's recursive "
                           "algorithms (Python's recursion limit was reached inside sympy); "
                           "method='fd' checks against finite differences (using sympy only "
                           "for variables at kinks), and treenet.derivative(...) works at any "
                           "size") from None
    finally:
        for leaf, value, grad in saved:
            leaf.value, leaf.grad = value, grad


def _checked_step(step):
    if step is None:
        return None
    if isinstance(step, bool):
        raise TreenetError(f"step must be a positive number, got {step!r}")
    if not isinstance(step, (int, float)):
        try:
            step = float(step)  # a numpy scalar, say
        except (TypeError, ValueError):
            raise TreenetError(f"step must be a positive number, got {step!r}") from None
    if not (math.isfinite(step) and step > 0):
        raise TreenetError(f"step must be a positive finite number, got {step!r}")
    return float(step)


def _chosen(variables, by_name, wrt):
    """The leaves `wrt` names or is (every variable for None)."""
    if wrt is None:
        return variables
    if isinstance(wrt, (str, NeuralNetNode)):
        wrt = [wrt]
    elif isinstance(wrt, (bytes, Mapping)) or not isinstance(wrt, Iterable):
        raise TreenetError(f"wrt must be a name, an Input/Parameter node, or a list of them; "
                           f"got {wrt!r}")
    members = {id(v) for v in variables}
    chosen = []
    for w in wrt:
        if isinstance(w, str):
            leaf = by_name.get(w)
            if leaf is None:
                hint = difflib.get_close_matches(w, list(by_name), n=1)
                raise TreenetError(f"{w!r} is not an input or parameter of the network"
                                   + (f"; did you mean {hint[0]!r}?" if hint else
                                      f" (they are: {', '.join(by_name) or 'none'})"))
        elif isinstance(w, Leaf) and id(w) in members:
            leaf = w
        elif isinstance(w, NeuralNetNode):
            raise TreenetError(f"{type(w).__name__} {w.name or ''} is not an input or parameter "
                               f"of the network".replace("  ", " "))
        else:
            raise TreenetError(f"wrt must hold names or Input/Parameter nodes, got {w!r}")
        chosen.append(leaf)
    return chosen


def _set_point(graph, by_name, values):
    if values is None:
        graph.forward()
        return
    if isinstance(values, Mapping):
        params = {k: v for k, v in values.items()
                  if k in by_name and isinstance(by_name[k], Parameter)}
        for k, v in params.items():
            by_name[k].value = _parameter_value(k, v)
        values = {k: v for k, v in values.items() if k not in params}
        if not graph.inputs and not values:
            values = ()
    graph.set_inputs(values)
    graph.forward()  # the point itself must evaluate


def _parameter_value(name, v):
    try:
        x = float(v) if not isinstance(v, (bool, str, bytes)) else None
    except (TypeError, ValueError):
        x = None
    if x is None or not math.isfinite(x):
        raise EvaluationError(f"parameter {name!r}: expected a finite number, got {v!r}")
    return x


def _check(graph, root, chosen, method, component, rtol, atol, step):
    # the backward pass
    graph.zero_grad()
    if graph.vector_output:
        seed = [0.0] * len(graph.output.children)
        seed[component] = 1.0
        graph.backward(seed)
    else:
        graph.backward(1.0)
    # a declared input the output does not read is not in the graph: its gradient is 0
    auto = {id(v): float(v.grad) if id(v) in graph.index else 0.0 for v in chosen}

    # the compiled network's own IR, unless the root is a vector output's component (a new node)
    structure = graph.ir if root is graph.output else build(root)
    exact = _Exact(structure) if method != "fd" else None
    symbolic = exact.gradient(chosen) if exact else {}

    kinky = _Kinks(graph)
    at_kink = kinky.exactly_at(chosen)
    stencil = _Stencil(graph, component, kinky) if method != "symbolic" else None
    rows = []
    for v in chosen:
        a = auto[id(v)]
        s, rounding = symbolic.get(id(v), (None, None))
        row = Row(v.name, "input" if isinstance(v, Input) else "parameter", a, s)
        if s is not None:
            row.tolerance = rtol * abs(s) + atol + rounding
        exactly = id(v) in at_kink
        switched, h = False, _step(v, step)
        if method != "symbolic":
            fd, tol, switched, note, h = stencil.derivative(v, step)
            row.fd, row.fd_tolerance, row.note = fd, tol, note
        kink = exactly or switched
        ref = s if s is not None else row.fd
        if ref is not None:
            row.abs_error = abs(a - ref)
            row.rel_error = row.abs_error / abs(ref) if ref else (0.0 if a == 0 else math.inf)
        if kink:
            row.status = "KINK"
            exact = exact or _Exact(structure)
            at_point = exact.one_sided(v)
            if exactly:
                row.left, row.right = at_point
            else:  # the kink is between v - 2h and v + 2h: the derivative on either side of it
                row.left, row.right = exact.one_sided(v, 2 * h, fallback=at_point)
            if s is not None:
                agree = _within(a, s, row.tolerance)
            else:
                sides = (row.left, row.right) + at_point
                lo, hi = min(sides), max(sides)
                slack = rtol * max(abs(lo), abs(hi)) + atol
                agree = lo - slack <= a <= hi + slack
            if not agree:
                row.status = "FAIL"
        else:
            good = s is None or _within(a, s, row.tolerance)
            if row.fd is not None and not _within(a, row.fd, row.fd_tolerance):
                good = False
                row.note = (row.note + "; " if row.note else "") + "disagrees with finite " \
                                                                  "differences"
            row.status = "ok" if good else "FAIL"
        rows.append(row)
    return GradCheck(rows, method, rtol, atol)


def _within(a, b, tolerance):
    """a == b always agrees (an abs error of 0, even where the tolerance underflows)."""
    return a == b or abs(a - b) <= tolerance


class _Stencil:
    """Central finite differences, re-evaluating only the nodes whose arguments the moved variable
    changed (with the ops' `compute`, as the forward pass does): a weight of the last layer costs
    a few nodes, not the whole network."""

    def __init__(self, graph, component, kinks):
        self.graph, self.component, self.kinks = graph, component, kinks
        self.base = graph.values
        self.vals = list(self.base)  # the probes' working copy, put back after each variable
        self.parents = [[] for _ in graph.nodes]
        for i, kids in enumerate(graph.children):
            for j in set(kids or ()):
                self.parents[j].append(i)
        self.kink_set, self._base_branch = set(kinks.indices), {}
        self._moved = []
        self._updated = {}  # node -> whether its branch is unchanged, for this probe's updates
        self._positions, self._states = {}, {}
        # the nodes a probe may update rather than compute
        self.wide = {i for i, kids in enumerate(graph.children) if kids is not None and
                     len(kids) >= _WIDE and _updates(graph.nodes[i])}
        self.evaluations = 0  # node computations (the tests count them)
        self.adjoints = graph._adjoints or [0.0] * len(self.base)
        self.rounding = self._rounding_weights()

    def _rounding_weights(self):
        """Each node's first-order share of the output's rounding error: eps * (|value| + arity *
        sum |argument * partial|) + the smallest subnormal, times |d output / d node|."""
        graph, vals, adjoints = self.graph, self.base, self.adjoints
        weights = [0.0] * len(vals)
        for i, kids in enumerate(graph.children):
            if kids is None or not isinstance(vals[i], float):
                continue  # a leaf is exact; a vector output's own rounding is the scale term's
            xs = [vals[j] for j in kids]
            try:
                spread = sum(abs(x * d) for x, d in zip(xs, graph.nodes[i].partials(xs, vals[i])))
            except (NotImplementedError, ArithmeticError, ValueError, TypeError):
                spread = sum(abs(x) for x in xs)
            local = _EPS * (abs(vals[i]) + len(kids) * spread) + _TINY
            weights[i] = local * abs(adjoints[i]) if math.isfinite(local) else math.inf
        return weights

    def _output(self, vals):
        out = vals[-1]
        return out[self.component] if self.graph.vector_output else out

    def derivative(self, v, step):
        """(Richardson value, tolerance, branch switched in the stencil?, note, step used)."""
        h = _step(v, step)
        iv = self.graph.index.get(id(v))
        if iv is None:  # a declared input the output does not read
            return 0.0, 0.0, False, "", h
        for _ in range(_SHRINKS + 1):
            d1, d2, scale, switched, touched, updated = self._probe(iv, v.value, h)
            if d1 is None:
                return None, None, switched, "finite differences leave the domain", h
            trunc = abs(d1 - d2)
            # rounding differs between the probes only at the nodes they recomputed; the
            # value's share: (4*err(d1) + err(d2))/3 <= 1.5 * rounding / h. A node updated in
            # every probe carries the point's own rounding into all four, where it cancels; one
            # also computed in full in some probe differs by both.
            rounding = sum(self.rounding[i] for i in touched) + sum(updated.values())
            noise = 3 * rounding / h + 8 * _EPS * scale / h
            settled = trunc <= 0.05 * max(abs(d1), abs(d2)) or trunc <= 4 * noise
            if switched or step is not None or settled:
                break
            h /= 8  # not yet in the regime where Richardson's error estimate holds
        value = (4 * d1 - d2) / 3
        # |d1 - d2| is about 3x d1's truncation error and far more than the extrapolation's
        tolerance = 2 * trunc + noise + 1e-10 * abs(value)
        return value, tolerance, switched, "", h

    def _probe(self, iv, v0, h):
        """(D(h), D(2h), the largest |output| seen, branch switched?, the nodes recomputed); D is
        None out of the domain."""
        fs, switched, touched, updated = {}, False, set(), {}
        for k in (-2, -1, 1, 2):
            try:
                changed = self._move(iv, v0 + k * h, updated)
                if self._updated:
                    touched.update(i for i in changed if i not in self._updated)
                else:
                    touched.update(changed)
                fs[k] = self._output(self.vals)
                switched = switched or self._switched(changed)
            except (ArithmeticError, ValueError):
                return None, None, None, switched, touched, updated
            finally:
                for i in self._moved:
                    self.vals[i] = self.base[i]
            if not math.isfinite(fs[k]):
                return None, None, None, switched, touched, updated
        d1 = (fs[1] - fs[-1]) / ((v0 + h) - (v0 - h))  # the step actually taken, after rounding
        d2 = (fs[2] - fs[-2]) / ((v0 + 2 * h) - (v0 - 2 * h))
        scale = max(abs(self._output(self.base)), *(abs(x) for x in fs.values()))
        return d1, d2, scale, switched, touched, updated

    def _move(self, iv, x, updated):
        """Set node iv to x and recompute, in topological order, the nodes whose arguments
        changed: a value that comes out the same (a saturated tanh, a dead relu, a perturbation
        lost to rounding) stops the change there. A wide node with one argument moved is
        updated (its op's `update`, O(1)) rather than computed, and `updated` gets the bound on
        that update's rounding (the largest over the probes). Returns the recomputed nodes."""
        vals, base, nodes, children, parents, wide = (self.vals, self.base, self.graph.nodes,
                                                      self.graph.children, self.parents,
                                                      self.wide)
        self._moved = moved = [iv]
        self._updated = {}
        vals[iv] = x
        heap = list(parents[iv])
        queued = set(heap)
        moved_kids = {p: [iv] for p in heap if p in wide}  # wide node -> its moved arguments
        heapq.heapify(heap)
        push, pop, copysign = heapq.heappush, heapq.heappop, math.copysign
        while heap:
            i = pop(heap)
            moved.append(i)
            out = None
            if i in wide:
                kids = moved_kids.pop(i)
                if len(kids) == 1:
                    out = self._updated_value(i, kids[0], updated)
            if out is None:
                out = nodes[i].compute([vals[j] for j in children[i]])
            vals[i] = out
            was = base[i]
            # the same value stops the change; 0.0 and -0.0 are not the same to 1/x
            if out != was or (out == 0 and copysign(1.0, out) != copysign(1.0, was)):
                for p in parents[i]:
                    if p not in queued:
                        queued.add(p)
                        push(heap, p)
                    if p in wide:
                        moved_kids.setdefault(p, []).append(i)
        self.evaluations += len(moved) - 1
        return moved[1:]

    def _updated_value(self, i, j, updated):
        """Wide node i's value by its op's `update` when only its argument j moved, at one
        position; else None."""
        children, node = self.graph.children[i], self.graph.nodes[i]
        if i not in self._states:
            where = {}
            for k, c in enumerate(children):
                where.setdefault(c, []).append(k)
            self._positions[i] = where
            self._states[i] = node.update_state([self.base[c] for c in children], self.base[i])
        state, at = self._states[i], self._positions[i][j]
        if state is None or len(at) != 1:
            return None
        old, new = self.base[j], self.vals[j]
        result = node.update(state, at[0], old, new)
        if result is None:
            return None
        value, self._updated[i] = result
        # an update's contract (see ops.Add.update)
        bound = (2 * _EPS * (abs(self.base[i]) + abs(old) + abs(new)) + 2 * _TINY) * \
            abs(self.adjoints[i])
        updated[i] = max(updated.get(i, 0.0), bound)
        return value

    def _switched(self, changed):
        """Whether a recomputed node with branches is on another branch than at the point."""
        kinks, vals, base, children = self.kinks, self.vals, self.base, self.graph.children
        for i in changed:
            if i in self._updated:
                if not self._updated[i]:
                    return True
            elif i in self.kink_set:
                if i not in self._base_branch:
                    self._base_branch[i] = kinks._branch(i, [base[j] for j in children[i]],
                                                         base[i])
                if kinks._branch(i, [vals[j] for j in children[i]], vals[i]) != \
                        self._base_branch[i]:
                    return True
        return False


def _step(v, step):
    """The first finite-difference step h for variable v (the stencil is v +- h, v +- 2h)."""
    return step if step is not None else _EPS ** (1 / 3) * max(1.0, abs(v.value))


class _Kinks:
    """The nodes of a graph whose op has branches (its sympy twin has a Piecewise, Abs or sign),
    and which branch each is on."""

    _cache = {}

    def __init__(self, graph):
        self.graph = graph
        self.indices = [i for i, n in enumerate(graph.nodes)
                        if graph.children[i] is not None and self._branchy(n)]

    @classmethod
    def _branchy(cls, op):
        n = len(op.children)
        if n > 2 and _folds(op):
            n = 2  # its twin is the fold of the binary one: branchy exactly when that one is
        key = (type(op), n)
        if key not in cls._cache:
            import sympy
            syms = sympy.symbols(f"a0:{n}", real=True)
            try:
                expr = op.to_sympy(list(syms))
            except NotImplementedError:
                expr = sympy.Integer(0)
            exprs = expr if isinstance(expr, list) else [expr]
            cls._cache[key] = any(e.has(sympy.Piecewise, sympy.Abs, sympy.sign, sympy.Heaviside,
                                        sympy.Max, sympy.Min) for e in exprs)
        return cls._cache[key]

    def _branch(self, i, xs, out):
        node = self.graph.nodes[i]
        if node.piecewise_constant:
            return out
        return tuple(node.partials(xs, out))

    def signature(self, vals, indices):
        children = self.graph.children
        return [self._branch(i, [vals[j] for j in children[i]], vals[i]) for i in indices]

    def _on_kink(self, i, xs, out):
        """Whether node i's branch changes when one argument moves by one float either way; a
        wide op with an `update` rule answers each move in O(1) (see ops.Add.update)."""
        node = self.graph.nodes[i]
        state = None
        if len(xs) >= _WIDE and _updates(node):
            state = node.update_state(xs, out)
        here = None
        for k, x in enumerate(xs):
            for toward in (-math.inf, math.inf):
                y = math.nextafter(x, toward)
                moved = node.update(state, k, x, y) if state is not None else None
                if moved is not None:
                    if not moved[1]:
                        return True
                    continue
                if here is None:
                    here = self._branch(i, xs, out)
                ys = list(xs)
                ys[k] = y
                try:
                    there = self._branch(i, ys, node.compute(ys))
                except ArithmeticError:
                    continue
                if there != here:
                    return True
        return False

    def exactly_at(self, chosen):
        """The ids of the chosen variables that feed a node sitting exactly on a kink: one whose
        branch changes when one argument moves by one float either way."""
        graph = self.graph
        vals, children, nodes = graph.values, graph.children, graph.nodes
        on_kink = [i for i in self.indices
                   if self._on_kink(i, [vals[j] for j in children[i]], vals[i])]
        if not on_kink:
            return set()
        # a variable is at the kink when it reaches a node sitting on one
        depends = [set() for _ in nodes]
        wanted = {id(v) for v in chosen}
        for i, n in enumerate(nodes):
            if children[i] is None:
                if id(n) in wanted:
                    depends[i].add(id(n))
            else:
                for j in children[i]:
                    depends[i] |= depends[j]
        result = set()
        for i in on_kink:
            result |= depends[i]
        return result


class _TwinRule:
    """An op's exact local rule at one arity from its sympy twin over fresh symbols: the value
    lambdified to mpmath, and each partial sympy's diff of it (built on first use)."""

    def __init__(self, op, n):
        import sympy
        self.op = op
        self.syms = sympy.symbols(f"a0:{n}", real=True)
        self.expr = op.to_sympy(list(self.syms))
        self.value = sympy.lambdify(self.syms, self.expr, modules="mpmath")
        self._partials = [None] * n

    def _partial(self, k):
        if self._partials[k] is None:
            import sympy
            d = sympy.diff(self.expr, self.syms[k])
            if d.has(sympy.DiracDelta, sympy.Heaviside):
                # sympy's sign, Heaviside, Max... : not the engine's kink conventions
                raise TreenetError(f"sympy's derivative of {type(self.op).__name__}'s sympy "
                                   f"twin is {d}: write the twin as a Piecewise that follows "
                                   f"the engine's kink conventions")
            self._partials[k] = sympy.lambdify(self.syms, d, modules="mpmath")
        return self._partials[k]

    def partials(self, xs, wanted):
        """[d value / d xs[k] where wanted[k], else None]."""
        out = []
        for k, w in enumerate(wanted):
            if not w:
                out.append(None)
                continue
            try:
                out.append(self._partial(k)(*xs))
            except ZeroDivisionError:
                out.append(_at_point(self.op, k, xs))
        return out


class _FoldRule:
    """An op of n > 2 arguments as the left fold of its binary rule, f(f(f(a, b), c), d)...:
    the value, and the partials by the chain rule back through the fold (linear in n)."""

    def __init__(self, binary):
        self.binary = binary

    def _accumulated(self, xs):
        import mpmath
        accs = [xs[0]]
        for x in xs[1:]:
            accs.append(mpmath.mpf(self.binary.value(accs[-1], x)))
        return accs

    def value(self, *xs):
        return self._accumulated(xs)[-1]

    def partials(self, xs, wanted):
        import mpmath
        accs = self._accumulated(xs)
        out = [None] * len(xs)
        g = mpmath.mpf(1)
        for k in range(len(xs) - 1, 0, -1):
            if not g:  # nothing reaches the earlier arguments (max's unselected ones)
                for j in range(k + 1):
                    out[j] = 0 if wanted[j] else None
                return out
            left, right = self.binary.partials([accs[k - 1], xs[k]], (True, wanted[k]))
            if wanted[k]:
                out[k] = g * right
            g = g * left
        if wanted[0]:
            out[0] = g
        return out


_RULES = {}
_FOLDS = {}


def _rule(op, n):
    """The exact local rule of op with n arguments (see the module docstring), built once."""
    key = (type(op), n)
    rule = _RULES.get(key)
    if rule is None:
        rule = _FoldRule(_rule(op, 2)) if n > 2 and _folds(op) else _TwinRule(op, n)
        _RULES[key] = rule
    return rule


def _folds(op):
    """Whether op takes any number of arguments and its 3-argument twin is the left fold of its
    binary one: value and partials equal on a grid of points with ties (kinks) and zeros."""
    cls = type(op)
    if cls not in _FOLDS:
        lo, hi = cls.arity_range()
        _FOLDS[cls] = hi is None and lo <= 2 and _fold_agrees(op)
    return _FOLDS[cls]


def _fold_agrees(op):
    import mpmath
    try:
        three, fold = _TwinRule(op, 3), _FoldRule(_rule(op, 2))
        if isinstance(three.expr, list):
            return False  # a vector output
    except (NotImplementedError, TypeError, ValueError):
        return False
    compared = 0
    with mpmath.workdps(_DPS):
        grid = [mpmath.mpf(v) for v in (-1.5, 0, 0.5, 2)]
        for xs in itertools.product(grid, repeat=3):
            try:
                ours = [fold.value(*xs)] + fold.partials(list(xs), (True,) * 3)
                theirs = [three.value(*xs)] + three.partials(list(xs), (True,) * 3)
            except (ArithmeticError, ValueError, TypeError):
                continue  # out of the op's domain there
            if any(abs(mpmath.mpf(a) - mpmath.mpf(b)) > mpmath.mpf(10) ** (10 - _DPS) *
                   (1 + abs(mpmath.mpf(b))) for a, b in zip(ours, theirs)):
                return False
            compared += 1
    return compared > 0


def _nested(binary, prefix, suffix, k, y):
    """(f(P, f(y, S)), its derivative in y) for an associative f: the fold of the arguments
    with argument k set to y, P the fold of those before it and S of those after it."""
    import mpmath
    n = len(prefix)
    if k == n - 1:
        return mpmath.mpf(binary.value(prefix[k - 1], y)), binary.partials(
            [prefix[k - 1], y], (False, True))[1]
    inner = mpmath.mpf(binary.value(y, suffix[k + 1]))
    d_inner = binary.partials([y, suffix[k + 1]], (True, False))[0]
    if k == 0:
        return inner, d_inner
    outer = binary.partials([prefix[k - 1], inner], (False, True))[1]
    return mpmath.mpf(binary.value(prefix[k - 1], inner)), outer * d_inner


_ASSOCIATES = {}


def _associates(op):
    """Whether op is a fold (see _folds) whose value and partials at each position of four
    arguments equal those of the nested form _nested uses, on a grid with ties and zeros."""
    cls = type(op)
    if cls not in _ASSOCIATES:
        _ASSOCIATES[cls] = _folds(op) and _nesting_agrees(op)
    return _ASSOCIATES[cls]


def _nesting_agrees(op):
    import mpmath
    binary, fold = _rule(op, 2), _rule(op, 4)
    f = binary.value
    compared = 0
    with mpmath.workdps(_DPS):
        grid = [mpmath.mpf(v) for v in (-1.5, 0, 0.5, 2)]
        for xs in itertools.product(grid, repeat=4):
            try:
                value, partials = fold.value(*xs), fold.partials(list(xs), (True,) * 4)
                prefix, suffix = list(xs), list(xs)
                for k in range(1, 4):
                    prefix[k] = mpmath.mpf(f(prefix[k - 1], xs[k]))
                for k in range(2, -1, -1):
                    suffix[k] = mpmath.mpf(f(xs[k], suffix[k + 1]))
                nested = [_nested(binary, prefix, suffix, k, xs[k]) for k in range(4)]
            except (ArithmeticError, ValueError, TypeError):
                continue
            tol = mpmath.mpf(10) ** (10 - _DPS)
            for (v, d), p in zip(nested, partials):
                if abs(v - value) > tol * (1 + abs(value)) or abs(d - p) > tol * (1 + abs(p)):
                    return False
            compared += 1
    return compared > 0


def _at_point(op, k, xs):
    """Partial k of op at xs, with the other arguments put in before differentiating: the general
    rule can divide by 0 where the particular one does not (sympy's d/da a^b is b*a^b/a, which at
    a = 0 with b = 2 must be 2*a = 0)."""
    import mpmath
    import sympy

    def exact(v):
        return sympy.Integer(int(v)) if v == int(v) else sympy.Float(mpmath.nstr(v, _DPS), _DPS)
    syms = sympy.symbols(f"a0:{len(xs)}", real=True)
    expr = op.to_sympy(list(syms)).subs({s: exact(v) for j, (s, v) in enumerate(zip(syms, xs))
                                         if j != k})
    d = sympy.diff(expr, syms[k]).subs(syms[k], exact(xs[k]))
    return mpmath.mpf(sympy.N(d, _DPS)) if d.is_real else mpmath.mpf("nan")


class _Exact:
    """The exact derivative of a scalar network by the chain rule over its DAG, with each op's
    partials from sympy's diff of its sympy twin, evaluated with mpmath (see the module
    docstring)."""

    def __init__(self, structure):
        # the IR (treenet.ir) of the scalar root: its output is the last node
        self.nodes, self.children, self.index = structure.nodes, structure.children, \
            structure.index
        self._point = None  # (exact values, each node's users, {node: fold prefixes/suffixes})

    def _sweep(self, wanted, shift=None):
        """({index: exact derivative}, {index: bound on the backward pass's rounding}) for the
        leaves at `wanted` indices; `shift` = (index, delta) moves one leaf by delta (in 50-digit
        arithmetic) first."""
        import mpmath
        nodes, children = self.nodes, self.children
        n = len(nodes)
        with mpmath.workdps(_DPS):
            vals = [None] * n
            for i, node in enumerate(nodes):
                kids = children[i]
                if kids is None:
                    vals[i] = mpmath.mpf(node.value)
                    if shift is not None and shift[0] == i:
                        vals[i] += shift[1]
                else:
                    vals[i] = mpmath.mpf(_rule(node, len(kids)).value(*[vals[j] for j in kids]))
            reaches = [i in wanted for i in range(n)]
            for i, kids in enumerate(children):
                if kids is not None:
                    reaches[i] = any([reaches[j] for j in kids])
            adj = [mpmath.mpf(0)] * n
            adj[-1] = mpmath.mpf(1)
            # the rounding bound, in float64: it only needs to be right to a factor or so
            size, err, terms = [0.0] * n, [0.0] * n, [0] * n  # size: the sum of |terms|
            size[-1] = 1.0
            ulps = (_PARTIAL_ULPS + 1) * _EPS
            for i in range(n - 1, -1, -1):
                # adj[i] is complete: its additions round by an ulp of |terms| each
                err[i] += max(terms[i] - 1, 0) * _EPS * size[i]
                kids = children[i]
                if kids is None or not reaches[i] or not adj[i]:
                    continue
                xs = [vals[j] for j in kids]
                wanted_kids = [reaches[j] for j in kids]
                for j, d in zip(kids, _rule(nodes[i], len(kids)).partials(xs, wanted_kids)):
                    if d is None:
                        continue
                    if isinstance(d, mpmath.mpc) or not mpmath.isfinite(d):
                        raise TreenetError(f"the exact derivative of {type(nodes[i]).__name__} "
                                           f"is not a finite real number at this point")
                    adj[j] += adj[i] * d
                    term = size[i] * float(abs(d))
                    size[j] += term
                    err[j] += err[i] * float(abs(d)) + ulps * term + _TINY
                    terms[j] += 1
        return {i: adj[i] for i in wanted}, {i: err[i] for i in wanted}

    def gradient(self, leaves):
        """{id(leaf): (derivative, rounding bound)} as floats for each leaf ((0.0, 0.0) for
        leaves the output does not read)."""
        wanted = {self.index[id(v)] for v in leaves if id(v) in self.index}
        adj, err = self._sweep(wanted)
        result = {}
        for v in leaves:
            i = self.index.get(id(v))
            # doubled, as the bound is first order; an overflowed bound bounds nothing
            bound = 2 * err[i] if i is not None and math.isfinite(err[i]) else 0.0
            result[id(v)] = (0.0, 0.0) if i is None else (float(adj[i]), bound)
        return result

    def one_sided(self, leaf, delta=None, fallback=None):
        """(derivative at value - delta, at value + delta). By default delta is 1e-30 relative,
        far below float64 resolution: the one-sided derivatives at the point, which only a kink
        exactly there separates. Where value +- delta is outside the domain, `fallback`."""
        import mpmath
        i = self.index.get(id(leaf))
        if i is None:
            return 0.0, 0.0
        if delta is None:
            delta = mpmath.mpf("1e-30") * max(1, abs(leaf.value))
        try:
            below = self._tangent(i, -mpmath.mpf(delta))
            above = self._tangent(i, mpmath.mpf(delta))
        except (TreenetError, ArithmeticError, ValueError):
            if fallback is None:
                raise
            return fallback
        return float(below), float(above)

    def _at_point(self):
        """The exact values at the point and each node's users, computed once."""
        if self._point is None:
            import mpmath
            nodes, children = self.nodes, self.children
            with mpmath.workdps(_DPS):
                vals = [None] * len(nodes)
                for i, node in enumerate(nodes):
                    kids = children[i]
                    vals[i] = mpmath.mpf(node.value) if kids is None else \
                        mpmath.mpf(_rule(node, len(kids)).value(*[vals[j] for j in kids]))
            users = [[] for _ in nodes]
            for i, kids in enumerate(children):
                for j in set(kids or ()):
                    users[j].append(i)
            self._point = vals, users, {}
        return self._point

    def _tangent(self, i, delta):
        """d output / d leaf i at the point with leaf i moved by delta: forward mode over the
        nodes downstream of it, in 50-digit arithmetic (one sweep per variable at a kink costs
        its cone, not the graph; a wide fold costs O(1), see _one_moved)."""
        import mpmath
        base, users, _ = self._at_point()
        nodes, children = self.nodes, self.children
        with mpmath.workdps(_DPS):
            vals, tangent = {i: base[i] + delta}, {i: mpmath.mpf(1)}
            moved_kids = {u: [i] for u in users[i]}
            heap = list(moved_kids)
            heapq.heapify(heap)
            while heap:
                m = heapq.heappop(heap)
                kids, moved = children[m], moved_kids.pop(m)
                value, t = self._one_moved(m, moved[0], vals, tangent) \
                    if len(moved) == 1 else (None, None)
                if value is None:
                    xs = [vals.get(j, base[j]) for j in kids]
                    rule = _rule(nodes[m], len(kids))
                    value = mpmath.mpf(rule.value(*xs))
                    wanted = [j in tangent for j in kids]
                    t = mpmath.mpf(0)
                    for j, d in zip(kids, rule.partials(xs, wanted)):
                        if d is not None:
                            t += self._finite(m, d) * tangent[j]
                vals[m], tangent[m] = value, t
                if t or value != base[m]:
                    for u in users[m]:
                        if u in moved_kids:
                            moved_kids[u].append(m)
                        else:
                            moved_kids[u] = [m]
                            heapq.heappush(heap, u)
            return tangent.get(len(nodes) - 1, 0)

    def _finite(self, m, d):
        import mpmath
        if isinstance(d, mpmath.mpc) or not mpmath.isfinite(d):
            raise TreenetError(f"the exact derivative of {type(self.nodes[m]).__name__} is not "
                               f"a finite real number at this point")
        return d

    def _one_moved(self, m, j, vals, tangent):
        """(value, tangent) of a wide associative fold m whose argument j alone moved, at one
        position k: f(prefix_k-1, f(x_k, suffix_k+1)), with the prefixes and suffixes of the
        point computed once per node; (None, None) where that does not apply."""
        kids = self.children[m]
        if len(kids) <= 3 or not _associates(self.nodes[m]):
            return None, None
        import mpmath
        base, _, folds = self._at_point()
        if m not in folds:
            f = _rule(self.nodes[m], 2).value
            xs = [base[c] for c in kids]
            prefix, suffix = list(xs), list(xs)
            for k in range(1, len(xs)):
                prefix[k] = mpmath.mpf(f(prefix[k - 1], xs[k]))
            for k in range(len(xs) - 2, -1, -1):
                suffix[k] = mpmath.mpf(f(xs[k], suffix[k + 1]))
            where = {}
            for k, c in enumerate(kids):
                where.setdefault(c, []).append(k)
            folds[m] = prefix, suffix, where
        prefix, suffix, where = folds[m]
        if len(where[j]) != 1:
            return None, None
        value, d = _nested(_rule(self.nodes[m], 2), prefix, suffix, where[j][0], vals[j])
        return value, self._finite(m, d) * tangent[j]


__all__ = ["gradcheck", "GradCheck", "Row", "METHODS"]


def _updates(node):
    """Whether the op has an O(1) update rule written for its own `compute` (see ops.Add.update)."""
    return isinstance(node, Operation) and type(node).owns("update", "compute")
