"""Property tests over seeded random programs: for every input and parameter, the backward pass,
`derivative(...)` evaluated, and sympy agree to 1e-9 relative, and finite differences agree within
their own error estimate. "sympy" is gradcheck's exact column (sympy's derivative of each op,
chained in 50-digit arithmetic) on every program, and sympy's diff of the whole expression on one
program in thirty (it is slow: about a second a program). The programs use shared bindings, every
scalar op of the registry, `linear`, `dense` and a user `def` macro."""

import math
import random

from hypothesis import given, settings, strategies as st
import pytest
import sympy

import treenet
from treenet.ops import scalar_ops

N_PROGRAMS = 300
WHOLE_EXPRESSION_EVERY = 30

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


def program(seed):
    """(source, input values) of a random program."""
    rng = random.Random(seed)
    inputs = ["x", "y", "z"][:rng.randint(1, 3)]
    lines = ["def neuron(u, v) = tanh(p*u + p*v + p)"]
    pool = list(inputs)

    def expr(depth):
        if depth == 0 or rng.random() < 0.25:
            return rng.choice(pool + ["p", "0.5"]) if rng.random() < 0.9 else rng.choice(pool)
        t = rng.choice(TEMPLATES)
        parts = {k: expr(depth - 1) for k in "abc" if "{" + k + "}" in t}
        return "(" + t.format(**parts) + ")"

    for k in range(rng.randint(1, 4)):
        lines.append(f"h{k} = {expr(2)}")
        pool += [f"h{k}"] * 2  # bindings are picked more often: shared sub-expressions
    lines.append(expr(3))
    point = {name: rng.uniform(-1.5, 1.5) for name in inputs}
    return "\n".join(lines), point


def close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


@pytest.mark.parametrize("chunk", range(10))
def test_backward_derivative_sympy_and_fd_agree(chunk):
    checked = kinks = whole = 0
    for seed in range(chunk * N_PROGRAMS // 10, (chunk + 1) * N_PROGRAMS // 10):
        source, point = program(seed)
        net = treenet.parse(source, seed=seed)
        point = {i.name: point[i.name] for i in net.inputs}
        net.predict(point)
        net.zero_grad()
        net.backward()
        leaves = net.inputs + net.parameters
        backward = {leaf.name: leaf.grad for leaf in leaves}

        derivatives = treenet.gradient(net)
        net.predict(point)  # shared leaves: the derivatives read the same point
        ours = {name: d.forward() for name, d in derivatives.items()}

        exact = {}
        if seed % WHOLE_EXPRESSION_EVERY == 0:
            exact = _whole_expression_derivatives(net)

        report = treenet.gradcheck(net, point)  # its symbolic column: sympy, op by op
        report = treenet.gradcheck(net, point)
        for leaf in leaves:
            name = leaf.name
            where = f"seed {seed}, d/d{name} of\n{source}"
            row = report[name]
            assert close(backward[name], row.symbolic), where
            assert close(ours[name], row.symbolic), where
            if exact.get(name) is not None:
                assert close(row.symbolic, exact[name]), where
                assert close(backward[name], exact[name]), where
                whole += 1
            assert row.status != "FAIL", where + "\n" + str(report)
            if row.status == "KINK":
                kinks += 1
            elif row.fd is not None:
                assert abs(row.fd - row.symbolic) <= row.fd_tolerance, where
                checked += 1
    assert checked > 2 * kinks  # kinks (mostly exact ties, max(h, h)) are the exception


def _whole_expression_derivatives(net):
    """{name: float} from sympy's diff of the network's whole expression (slow, so done on one
    program in WHOLE_EXPRESSION_EVERY). None where sympy leaves a Derivative unevaluated (sign of
    an expression it cannot prove real)."""
    expr, values = treenet.to_sympy(net, values=True)
    out = {}
    for s in values:
        # sign' is 2*DiracDelta in sympy: 0 wherever it is a number (see test_derivative)
        d = sympy.diff(expr, s).replace(sympy.DiracDelta, lambda *a: sympy.Integer(0))
        if d.has(sympy.Derivative):
            out[s.name] = None
            continue
        f = sympy.lambdify(list(values), d, "mpmath")
        out[s.name] = float(f(*[float(v) for v in values.values()]))
    return out


def test_programs_use_every_op_and_macro():
    seen = set()
    sources = [program(seed)[0] for seed in range(N_PROGRAMS)]
    for source in sources:
        seen |= {type(n) for n in treenet.parse(source, seed=0).graph.nodes}
    assert set(scalar_ops()) <= seen | {treenet.Linear}
    assert any("linear(" in s for s in sources) and any("dense(" in s for s in sources)
    assert any("neuron(" in s.split("\n", 1)[1] for s in sources)


# --- every op of the registry, at arbitrary points --------------------------------------------

def _op_programs():
    """One call per registered scalar op, with arguments kept in its domain."""
    out = []
    for cls in scalar_ops():
        lo, _ = cls.arity_range()
        if cls.notation == "call":
            args = ", ".join(["x", "y", "x*y"][:max(lo, 1) if lo > 1 else 1]) if lo <= 1 else \
                ", ".join(["x", "y", "x*y"][:lo + 1])
            if cls.call == "log":
                args = "x*x + 1"
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
def test_every_op_backward_derivative_sympy(source, t, u):
    net = treenet.parse(source)
    point = {"x": t, "y": u}
    point = {i.name: point[i.name] for i in net.inputs}
    net.predict(point)
    net.zero_grad()
    net.backward()
    expr, values = treenet.to_sympy(net, values=True)
    for leaf in net.inputs:
        s = sympy.Symbol(leaf.name, real=True)
        exact = sympy.diff(expr, s).replace(sympy.DiracDelta, lambda *a: sympy.Integer(0))
        exact = float(exact.subs({sympy.Symbol(k, real=True): v for k, v in point.items()}))
        d = treenet.derivative(net, leaf.name)
        net.predict(point)
        assert close(leaf.grad, exact), source
        assert close(d.forward(), exact), source
