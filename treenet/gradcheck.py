"""Three-way gradient check: the backward pass against the exact derivative (sympy) and central
finite differences, variable by variable.

The exact derivative is sympy's, but not by differentiating the network's whole expression: that
tree has one copy of a shared sub-expression per path, so sympy's diff swells and, past a few
dozen layers, dies (see the benchmark). Instead each op's sympy twin (`to_sympy` over fresh
symbols) is differentiated by sympy once per op and arity, and the chain rule over the DAG -- which
is exact -- combines those partials, all evaluated in 50-digit arithmetic (mpmath) from the
network's float64 leaf values. It reads only the graph's shape, the leaf values and the ops' sympy
twins: nothing of the engine's `compute`, `partials`, `vjp` or `dnodes`, and no float64 rounding.
Its cost is linear in the network (one forward and one backward sweep for every variable at once).

Finite differences: central, at steps h and 2h with h = eps^(1/3) * max(1, |v|); the reported
value is their Richardson extrapolation (4*D(h) - D(2h))/3, and |D(h) - D(2h)| (which is about
three times D(h)'s truncation error) plus a rounding bound is the tolerance. Four evaluations per
variable, each re-computing only the nodes downstream of it.

Kinks: a variable is at a kink when moving it within the finite-difference stencil switches the
branch of a relu/abs/step/sign/max/min node (or when it sits exactly on one). Finite differences
are meaningless there; the row is `KINK` and shows both one-sided derivatives, from the exact
derivative: for a kink exactly at the point, just below and just above it (1e-30 away); for a kink
inside the stencil but not at the point, at the stencil's outer points v - 2h and v + 2h, one on
each side of it (the derivative at the point itself is the exact column). It passes when the
backward pass agrees with the exact derivative (same kink convention) -- or, without the symbolic
check, when it lies between the one-sided values (those at the point included)."""

from collections.abc import Mapping
from dataclasses import dataclass
import math

import mpmath
import sympy

from .derivative import scalar_root
from .errors import TreenetError
from .graph import toposort
from .nodes import Input, Leaf, Parameter

METHODS = ("all", "symbolic", "fd")
_EPS = 2.0 ** -52
_DPS = 50


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
        raise KeyError(name)

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
    keeps their current values); a mapping may also set parameters by name for the check. Every value is put back afterwards,
    `.grad` included. `method`: "all", "symbolic" (no finite differences) or "fd" (no sympy).
    `wrt`: the variables to check (names or nodes), default every input and parameter.
    `component=k` checks output k of a vector output. A row passes when
    |autodiff - exact| <= rtol*|exact| + atol, and |autodiff - fd| is within the finite
    differences' own error estimate.

    Works at any depth (nothing here recurses, and sympy only sees one op at a time); an op with
    thousands of arguments is too large for sympy's recursion and raises TreenetError (use
    method="fd")."""
    if method not in METHODS:
        raise TreenetError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    graph = node.graph
    variables = list(graph.inputs) + list(graph.parameters)
    by_name = {v.name: v for v in variables}
    if wrt is None:
        chosen = variables
    else:
        chosen = []
        for w in ([wrt] if isinstance(wrt, (str, Leaf)) else wrt):
            leaf = by_name.get(w) if isinstance(w, str) else w
            if leaf is None or id(leaf) not in graph.index:
                raise TreenetError(f"{w!r} is not an input or parameter of the network")
            chosen.append(leaf)
    root = scalar_root(node, component)  # also validates `component`
    saved = [(leaf, leaf.value, leaf.grad) for leaf in variables]
    try:
        _set_point(graph, variables, by_name, values)
        return _check(node, graph, root, chosen, method, component, rtol, atol, step)
    except RecursionError:
        # the engine and the chain rule here are iterative; only sympy recurses, on one op's
        # formula at a time, so this is an op with thousands of arguments (its lambdified code)
        sympy.core.cache.clear_cache()  # see treenet.symbolic._convert
        raise TreenetError("an op of the network has too many arguments for sympy's recursive "
                           "algorithms (Python's recursion limit was reached inside sympy); "
                           "method='fd' checks against finite differences (using sympy only "
                           "for variables at kinks), and treenet.derivative(...) works at any "
                           "size") from None
    finally:
        for leaf, value, grad in saved:
            leaf.value, leaf.grad = value, grad


def _set_point(graph, variables, by_name, values):
    if values is None:
        graph.forward()
        return
    if isinstance(values, Mapping):
        params = {k: v for k, v in values.items()
                  if k in by_name and isinstance(by_name[k], Parameter)}
        for k, v in params.items():
            by_name[k].value = float(v)
        values = {k: v for k, v in values.items() if k not in params}
        if not graph.inputs and not values:
            values = ()
    graph.set_inputs(values)
    graph.forward()  # the point itself must evaluate


def _check(node, graph, root, chosen, method, component, rtol, atol, step):
    # the backward pass
    graph.zero_grad()
    if graph.vector_output:
        seed = [0.0] * len(graph.output.children)
        seed[component] = 1.0
        graph.backward(seed)
    else:
        graph.backward(1.0)
    auto = {id(v): float(v.grad) for v in chosen}

    exact = _Exact(root) if method != "fd" else None
    symbolic = exact.gradient(chosen) if exact else {}

    kinky = _Kinks(graph)
    at_kink = kinky.exactly_at(chosen)
    stencil = _Stencil(graph, component, kinky) if method != "symbolic" else None
    rows = []
    for v in chosen:
        a = auto[id(v)]
        s = symbolic.get(id(v))
        row = Row(v.name, "input" if isinstance(v, Input) else "parameter", a, s)
        exactly = id(v) in at_kink
        switched = False
        if method != "symbolic":
            fd, tol, switched, note = stencil.derivative(v, step)
            row.fd, row.fd_tolerance, row.note = fd, tol, note
        kink = exactly or switched
        ref = s if s is not None else row.fd
        if ref is not None:
            row.abs_error = abs(a - ref)
            row.rel_error = row.abs_error / abs(ref) if ref else (0.0 if a == 0 else math.inf)
        if kink:
            row.status = "KINK"
            exact = exact or _Exact(root)
            at_point = exact.one_sided(v)
            if exactly:
                row.left, row.right = at_point
            else:  # the kink is between v - 2h and v + 2h: the derivative on either side of it
                row.left, row.right = exact.one_sided(v, 2 * _step(v, step), fallback=at_point)
            if s is not None:
                agree = row.abs_error <= rtol * abs(s) + atol
            else:
                sides = (row.left, row.right) + at_point
                lo, hi = min(sides), max(sides)
                slack = rtol * max(abs(lo), abs(hi)) + atol
                agree = lo - slack <= a <= hi + slack
            if not agree:
                row.status = "FAIL"
        else:
            good = True
            if s is not None:
                good = row.abs_error <= rtol * abs(s) + atol
            if row.fd is not None and abs(a - row.fd) > row.fd_tolerance:
                good = False
                row.note = (row.note + "; " if row.note else "") + "disagrees with finite " \
                                                                  "differences"
            row.status = "ok" if good else "FAIL"
        rows.append(row)
    return GradCheck(rows, method, rtol, atol)


class _Stencil:
    """Central finite differences, re-evaluating only the nodes downstream of the moved variable
    (with the ops' `compute`, as the forward pass does): a weight of the last layer costs a few
    nodes, not the whole network."""

    def __init__(self, graph, component, kinks):
        self.graph, self.component, self.kinks = graph, component, kinks
        self.base = list(graph.values)
        self.parents = [[] for _ in graph.nodes]
        for i, kids in enumerate(graph.children):
            for j in set(kids or ()):
                self.parents[j].append(i)

    def _output(self, vals):
        out = vals[-1]
        return out[self.component] if self.graph.vector_output else out

    def derivative(self, v, step):
        """(Richardson value, tolerance, branch switched in the stencil?, note)."""
        graph, vals = self.graph, list(self.base)
        iv = graph.index[id(v)]
        seen, todo = {iv}, [iv]
        while todo:
            for p in self.parents[todo.pop()]:
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        seen.discard(iv)
        affected = sorted(seen)
        kink_nodes = [i for i in self.kinks.indices if i in seen]
        base_sig = self.kinks.signature(self.base, kink_nodes)
        nodes, children = graph.nodes, graph.children
        v0 = v.value
        h = _step(v, step)
        fs, switched = {}, False
        for k in (-2, -1, 1, 2):
            vals[iv] = v0 + k * h
            try:
                for i in affected:
                    vals[i] = nodes[i].compute([vals[j] for j in children[i]])
            except (ArithmeticError, ValueError):
                return None, None, switched, "finite differences leave the domain"
            fs[k] = self._output(vals)
            if not math.isfinite(fs[k]):
                return None, None, switched, "finite differences leave the domain"
            switched = switched or self.kinks.signature(vals, kink_nodes) != base_sig
        d1 = (fs[1] - fs[-1]) / ((v0 + h) - (v0 - h))  # the step actually taken, after rounding
        d2 = (fs[2] - fs[-2]) / ((v0 + 2 * h) - (v0 - 2 * h))
        value = (4 * d1 - d2) / 3
        scale = max(abs(self._output(self.base)), *(abs(x) for x in fs.values()))
        # |d1 - d2| is about 3x d1's truncation error and far more than the extrapolation's;
        # the rounding in f, amplified by 1/h, bounds the rest
        tolerance = 2 * abs(d1 - d2) + 8 * _EPS * scale / h + 1e-10 * abs(value)
        return value, tolerance, switched, ""


def _step(v, step):
    """The finite-difference step h for variable v (the stencil is v +- h, v +- 2h)."""
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
        key = (type(op), n)
        if key not in cls._cache:
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

    def exactly_at(self, chosen):
        """The ids of the chosen variables that feed a node sitting exactly on a kink: one whose
        branch changes when one argument moves by one float either way."""
        graph = self.graph
        vals, children, nodes = graph.values, graph.children, graph.nodes
        on_kink = []
        for i in self.indices:
            xs = [vals[j] for j in children[i]]
            here = self._branch(i, xs, vals[i])
            for k in range(len(xs)):
                for toward in (-math.inf, math.inf):
                    ys = list(xs)
                    ys[k] = math.nextafter(xs[k], toward)
                    try:
                        there = self._branch(i, ys, nodes[i].compute(ys))
                    except ArithmeticError:
                        continue
                    if there != here:
                        on_kink.append(i)
                        break
                else:
                    continue
                break
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


class _Exact:
    """The exact derivative of a scalar network by the chain rule over its DAG, with each op's
    partials from sympy's diff of its sympy twin, evaluated with mpmath (see the module
    docstring)."""

    _rules = {}

    def __init__(self, root):
        self.nodes, index = toposort(root)
        self.children = [None if isinstance(n, Leaf) else tuple(index[id(c)] for c in n.children)
                         for n in self.nodes]
        self.index = index

    @classmethod
    def _rule(cls, op, n):
        """(value function, [partial function per argument]) for op with n arguments, built from
        sympy once and kept."""
        key = (type(op), n)
        rule = cls._rules.get(key)
        if rule is None:
            syms = sympy.symbols(f"a0:{n}", real=True)
            expr = op.to_sympy(list(syms))
            value = sympy.lambdify(syms, expr, modules="mpmath")
            partials = [None] * n

            def partial(k, expr=expr, syms=syms, partials=partials):
                if partials[k] is None:
                    d = sympy.diff(expr, syms[k])
                    if d.has(sympy.DiracDelta, sympy.Heaviside):
                        # sympy's sign, Heaviside, Max... : not the engine's kink conventions
                        raise TreenetError(f"sympy's derivative of {type(op).__name__}'s sympy "
                                           f"twin is {d}: write the twin as a Piecewise that "
                                           f"follows the engine's kink conventions")
                    partials[k] = sympy.lambdify(syms, d, modules="mpmath")
                return partials[k]
            rule = cls._rules[key] = (value, partial)
        return rule

    def _sweep(self, wanted, shift=None):
        """{index: exact derivative} for the leaves at `wanted` indices; `shift` = (index, delta)
        moves one leaf by delta (in 50-digit arithmetic) first."""
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
                    value, _ = self._rule(node, len(kids))
                    vals[i] = mpmath.mpf(value(*[vals[j] for j in kids]))
            reaches = [i in wanted for i in range(n)]
            for i, kids in enumerate(children):
                if kids is not None:
                    reaches[i] = any(reaches[j] for j in kids)
            adj = [mpmath.mpf(0)] * n
            adj[-1] = mpmath.mpf(1)
            for i in range(n - 1, -1, -1):
                kids = children[i]
                if kids is None or not reaches[i] or not adj[i]:
                    continue
                _, partial = self._rule(nodes[i], len(kids))
                xs = [vals[j] for j in kids]
                for k, j in enumerate(kids):
                    if reaches[j]:
                        try:
                            d = partial(k)(*xs)
                        except ZeroDivisionError:
                            d = self._at_point(nodes[i], k, xs)
                        if isinstance(d, mpmath.mpc) or not mpmath.isfinite(d):
                            raise TreenetError(f"the exact derivative of "
                                               f"{type(nodes[i]).__name__} is not a finite real "
                                               f"number at this point")
                        adj[j] += adj[i] * d
        return {i: adj[i] for i in wanted}

    @staticmethod
    def _at_point(op, k, xs):
        """Partial k of op at xs, with the other arguments put in before differentiating: the
        general rule can divide by 0 where the particular one does not (sympy's d/da a^b is
        b*a^b/a, which at a = 0 with b = 2 must be 2*a = 0)."""
        def exact(v):
            return sympy.Integer(int(v)) if v == int(v) else sympy.Float(mpmath.nstr(v, _DPS), _DPS)
        syms = sympy.symbols(f"a0:{len(xs)}", real=True)
        expr = op.to_sympy(list(syms)).subs({s: exact(v) for j, (s, v) in enumerate(zip(syms, xs))
                                             if j != k})
        d = sympy.diff(expr, syms[k]).subs(syms[k], exact(xs[k]))
        return mpmath.mpf(sympy.N(d, _DPS)) if d.is_real else mpmath.mpf("nan")

    def gradient(self, leaves):
        """{id(leaf): float} for each leaf (0.0 for leaves the output does not read)."""
        wanted = {self.index[id(v)] for v in leaves if id(v) in self.index}
        adj = self._sweep(wanted)
        return {id(v): float(adj[self.index[id(v)]]) if id(v) in self.index else 0.0
                for v in leaves}

    def one_sided(self, leaf, delta=None, fallback=None):
        """(derivative at value - delta, at value + delta). By default delta is 1e-30 relative,
        far below float64 resolution: the one-sided derivatives at the point, which only a kink
        exactly there separates. Where value +- delta is outside the domain, `fallback`."""
        i = self.index.get(id(leaf))
        if i is None:
            return 0.0, 0.0
        if delta is None:
            delta = mpmath.mpf("1e-30") * max(1, abs(leaf.value))
        try:
            below = self._sweep({i}, (i, -mpmath.mpf(delta)))[i]
            above = self._sweep({i}, (i, mpmath.mpf(delta)))[i]
        except (TreenetError, ArithmeticError, ValueError):
            if fallback is None:
                raise
            return fallback
        return float(below), float(above)


__all__ = ["gradcheck", "GradCheck", "Row", "METHODS"]
