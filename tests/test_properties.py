"""Property tests over seeded random programs (shared bindings, every scalar op of the registry,
`linear`, `dense` and a user `def` macro). Two references, kept apart so each test says which one
it compares against:

- gradcheck's exact column: sympy's derivative of each op's twin, chained over the DAG in 50-digit
  arithmetic (treenet.gradcheck). Cheap at any size, so it checks the backward pass and
  `derivative(...)` on N_PROGRAMS programs, together with finite differences.
- sympy's diff of the network's whole expression (`to_sympy` then `sympy.diff`, evaluated in
  30-digit arithmetic): independent of gradcheck's chain rule, but slow on nested piecewise ops, so
  it runs on N_SMALL smaller programs of the same generator, and checks the backward pass,
  `derivative(...)` and gradcheck's exact column against it.

Everything agrees to 1e-9 relative (1e-12 absolute); finite differences within their own error
estimate. No sympy result is patched: the twins follow the engine's kink conventions."""

import math
import random

from hypothesis import given, settings, strategies as st
import mpmath
import pytest
import sympy

import treenet
from treenet.ops import scalar_ops

N_PROGRAMS = 300   # against gradcheck's exact column and finite differences
N_SMALL = 300      # against sympy's diff of the whole expression
CHUNKS = 10

# Templates over sub-expressions {a}, {b}, {c}. Arguments of log, of division and of powers with
# a variable exponent are kept in their domain (away from 0), and exp's argument bounded, so
# every program evaluates; everything else is unrestricted.
TEMPLATES = [
    "{a} + {b}", "{a} + {b} + {c}", "{a} - {b}", "{a} * {b}", "{a} * {b} * {c}",
    "{a} / (1.5 + tanh({b}))", "-{a}", "{a} ^ 2", "(1.5 + tanh({a})) ^ tanh({b})",
    "relu({a})", "sigmoid({a})", "tanh({a})", "exp(tanh({a}))", "log(1.5 + tanh({a}))",
    "abs({a})", "step({a}) * {b}", "sign({a}) * {b}", "max({a}, {b})", "min({a}, {b}, {c})",
    "linear({a}, {b})", "linear(dense(2, {a}, {b}))", "neuron({a}, {b})", "p * {a} + p",
    "p(0.5) * {a}",
]


def program(seed, small=False):
    """(source, input values) of a random program: 1-4 bindings of depth 2 and an output of depth
    3, or with `small`, 0-2 bindings of depth 1 and an output of depth 2 that is never a bare
    leaf (sympy's diff of nested piecewise ops grows fast with depth)."""
    rng = random.Random(seed)
    inputs = ["x", "y", "z"][:rng.randint(1, 3)]
    lines = ["def neuron(u, v) = tanh(p*u + p*v + p)"]
    pool = list(inputs)

    def expr(depth, leaf_ok=True):
        if depth == 0 or (leaf_ok and rng.random() < 0.25):
            return rng.choice(pool + ["p", "0.5"]) if rng.random() < 0.9 else rng.choice(pool)
        t = rng.choice(TEMPLATES)
        parts = {k: expr(depth - 1) for k in "abc" if "{" + k + "}" in t}
        return "(" + t.format(**parts) + ")"

    bindings, depth, out = ((0, 2), 1, 2) if small else ((1, 4), 2, 3)
    for k in range(rng.randint(*bindings)):
        lines.append(f"h{k} = {expr(depth)}")
        pool += [f"h{k}"] * 2  # bindings are picked more often: shared sub-expressions
    lines.append(expr(out, leaf_ok=not small))
    point = {name: rng.uniform(-1.5, 1.5) for name in inputs}
    return "\n".join(lines), point


def close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def _setup(seed, small=False):
    """(source, network, point, {name: backward gradient}, {name: derivative(...) evaluated})."""
    source, point = program(seed, small)
    net = treenet.parse(source, seed=seed)
    point = {i.name: point[i.name] for i in net.inputs}
    net.predict(point)
    net.zero_grad()
    net.backward()
    backward = {leaf.name: leaf.grad for leaf in net.inputs + net.parameters}
    derivatives = treenet.gradient(net)
    net.predict(point)  # shared leaves: the derivatives read the same point
    ours = {name: d.forward() for name, d in derivatives.items()}
    return source, net, point, backward, ours


def _seeds(chunk, total, offset=0):
    return range(offset + chunk * total // CHUNKS, offset + (chunk + 1) * total // CHUNKS)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_backward_and_derivative_match_gradcheck_exact_column_and_fd(chunk):
    checked = kinks = 0
    for seed in _seeds(chunk, N_PROGRAMS):
        source, net, point, backward, ours = _setup(seed)
        report = treenet.gradcheck(net, point)
        for name in backward:
            where = f"seed {seed}, d/d{name} of\n{source}"
            row = report[name]
            assert close(backward[name], row.symbolic), where
            assert close(ours[name], row.symbolic), where
            assert row.status != "FAIL", where + "\n" + str(report)
            if row.status == "KINK":
                kinks += 1
            elif row.fd is not None:
                assert abs(row.fd - row.symbolic) <= row.fd_tolerance, where
                checked += 1
    assert checked > 2 * kinks  # kinks (mostly exact ties, max(h, h)) are the exception


SMALL_OFFSET = 100_000  # seeds of the small programs: a family apart from the programs above


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_backward_derivative_and_gradcheck_match_whole_expression_sympy_diff(chunk):
    compared = 0
    for seed in _seeds(chunk, N_SMALL, SMALL_OFFSET):
        source, net, point, backward, ours = _setup(seed, small=True)
        exact = _whole_expression_derivatives(net)
        report = treenet.gradcheck(net, point, method="symbolic")
        for name in backward:
            where = f"seed {seed}, d/d{name} of\n{source}"
            assert close(backward[name], exact[name]), where
            assert close(ours[name], exact[name]), where
            assert close(report[name].symbolic, exact[name]), where
            compared += 1
    assert compared >= N_SMALL // CHUNKS  # every program has at least one variable


def _whole_expression_derivatives(net):
    """{name: float}: sympy's diff of the network's whole expression, in 30-digit arithmetic at
    the network's current leaf values. Nothing is replaced in sympy's result."""
    expr, values = treenet.to_sympy(net, values=True)
    symbols, point = list(values), [float(v) for v in values.values()]
    out = {}
    for s in symbols:
        d = sympy.diff(expr, s)
        assert not d.has(sympy.Derivative, sympy.DiracDelta, sympy.Heaviside), d
        with mpmath.workdps(30):
            out[s.name] = float(sympy.lambdify(symbols, d, "mpmath")(*point))
    return out


@pytest.mark.parametrize("small", [False, True])
def test_programs_use_every_op_and_macro(small):
    seen = set()
    seeds = range(N_PROGRAMS) if not small else range(SMALL_OFFSET, SMALL_OFFSET + N_SMALL)
    sources = [program(seed, small)[0] for seed in seeds]
    for source in sources:
        seen |= {type(n) for n in treenet.parse(source, seed=0).graph.nodes}
    assert set(scalar_ops()) <= seen | {treenet.Linear}
    assert any("linear(" in s for s in sources) and any("dense(" in s for s in sources)
    assert any("neuron(" in s.split("\n", 1)[1] for s in sources)


# --- every op of the registry, at arbitrary points --------------------------------------------

def _op_programs():
    """One call per registered scalar op, with arguments kept in its domain (variadic calls get
    one argument more than their minimum)."""
    out = []
    for cls in scalar_ops():
        lo, _ = cls.arity_range()
        if cls.notation == "call":
            args = "x*x + 1" if cls.call == "log" else \
                ", ".join(["x", "y", "x*y"][:1 if lo <= 1 else lo + 1])
            out.append(f"{cls.call}({args})")
        elif cls.notation == "prefix":
            out.append(f"{cls.symbol}x")
        elif cls.symbol == "/":
            out.append("x / (y*y + 1)")
        elif cls.symbol == "^":
            out.append("(x*x + 1) ^ y")
        else:
            out.append(f"x {cls.symbol} y {cls.symbol} x*y" if lo == 1 else f"x {cls.symbol} y")
    return out


@pytest.mark.parametrize("source", _op_programs())
@settings(max_examples=25, deadline=None, derandomize=True)
@given(t=st.floats(-3, 3), u=st.floats(-3, 3))
def test_every_op_backward_and_derivative_match_whole_expression_sympy_diff(source, t, u):
    net = treenet.parse(source)
    point = {"x": t, "y": u}
    point = {i.name: point[i.name] for i in net.inputs}
    net.predict(point)
    net.zero_grad()
    net.backward()
    exact = _whole_expression_derivatives(net)
    for leaf in net.inputs:
        d = treenet.derivative(net, leaf.name)
        net.predict(point)
        assert close(leaf.grad, exact[leaf.name]), source
        assert close(d.forward(), exact[leaf.name]), source
